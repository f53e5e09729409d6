"""`prompts list/diff/check/snapshot`: the assembled prompts the traces carry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db
from harness_evals.cli.output import console, errors
from harness_evals.errors import UserError


prompts_app = typer.Typer(help="Assembled prompts: snapshots, diffs across releases, contracts.", no_args_is_help=True,
                          rich_markup_mode=None)


@prompts_app.command("list")
def prompts_list(db: Db = None) -> None:
    """Each distinct assembled prompt: its traffic, releases, when first and last seen, its blocks."""
    with invoked():
        from harness_evals.prompts.snapshots import list_assemblies
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            stats = list_assemblies(store)
    if not stats:
        console.print("no assembled prompts stored: the traces carry no system messages or tool definitions "
                      "(see the README, Assembled prompts)", highlight=False)
        return
    table = Table()
    for column in ("assembly", "traces", "share", "releases", "first seen", "last seen", "blocks"):
        table.add_column(column)
    for item in stats:
        table.add_row(item.digest[:12], str(item.traces), f"{item.share:.0%}", ", ".join(item.releases),
                      item.first_seen or "", item.last_seen or "", ", ".join(item.assembly.names))
    console.print(table)


@prompts_app.command("diff")
def prompts_diff(
    before: Annotated[str, typer.Option("--from", help="The earlier release")],
    after: Annotated[str, typer.Option("--to", help="The later release")],
    db: Db = None,
) -> None:
    """Assemblies that appeared, vanished or changed between two releases, a unified diff per block,
    and the clusters whose traffic got the new prompt."""
    with invoked():
        from harness_evals.prompts.snapshots import diff
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            changes = diff(store, before=before, after=after)
    if not changes:
        console.print(f"{before} -> {after}: the same assemblies", highlight=False)
    for change, affected in changes:
        which = {"appeared": change.after, "vanished": change.before}.get(change.status)
        which = which[:12] if which else f"{change.before[:12]} -> {change.after[:12]}"
        clusters = ", ".join(f"{cluster} ({count})" for cluster, count in affected.most_common())
        console.print(f"[bold]{change.status}[/] {which} (share of its release's traffic {change.traffic_before:.0%}"
                      f" -> {change.traffic_after:.0%})" + (f"; clusters: {clusters}" if clusters else ""),
                      highlight=False)
        for block_diff in change.block_diffs:
            console.print(block_diff, highlight=False, markup=False, end="")


@prompts_app.command("check")
def prompts_check(
    contract: Annotated[Optional[Path], typer.Option(help="Contract file [default: prompt_contract in settings]")] = None,
    limit: Annotated[int, typer.Option(help="At most this many violations listed")] = 20,
    db: Db = None,
    config: Config = None,
) -> None:
    """Traces whose assembled prompt breaks the contract, counted per rule, cluster and release. Exit 1 on any."""
    with invoked(config) as invocation:
        from harness_evals.prompts.assembly import load_contract
        from harness_evals.prompts.snapshots import check
        from harness_evals.store import Store

        path = contract or invocation.settings.prompt_contract
        if path is None:
            raise UserError("no contract: pass --contract FILE, or set prompt_contract in harness-evals.toml")
        rules = load_contract(path)
        with Store(db, read_only=True) as store:
            found = check(store, rules)
    if not found:
        console.print(f"{path}: every traced assembly keeps the contract", highlight=False)
        return
    for title, key in (("rule", lambda v: v.problem), ("cluster", lambda v: "none" if v.cluster_id in (None, -1)
                                                                                   else str(v.cluster_id)),
                       ("release", lambda v: v.release or "unknown")):
        counts = Counter(key(v) for v in found)
        errors.print(f"by {title}: " + ", ".join(f"{name} ({count})" for name, count in counts.most_common()),
                     highlight=False, markup=False)
    for violation in found[:limit]:
        errors.print(f"  {violation.trace_id} ({violation.release or 'no release'}, assembly {violation.digest[:12]}): "
                     f"{violation.problem}", highlight=False, markup=False)
    console.print(f"{len(found)} violations in {len({v.trace_id for v in found})} traces", highlight=False)
    raise typer.Exit(code=1)


@prompts_app.command("snapshot")
def prompts_snapshot(
    out: Annotated[Path, typer.Option("--out", help="Folder to write, one file per assembly and index.json")],
    db: Db = None,
) -> None:
    """Write every assembly as a file to commit and review; unchanged traffic changes no byte."""
    with invoked():
        from harness_evals.prompts.snapshots import write_snapshots
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            written = write_snapshots(store, out)
    console.print(f"wrote {len(written)} assemblies to {out}", highlight=False)
