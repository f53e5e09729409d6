"""`tools` and `review`: how the agent uses its tools, and what to read the day after a release."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db, setting_help
from harness_evals.cli.output import console
from harness_evals.config import ReviewSettings, ToolSettings

RunOption = Annotated[Optional[str], typer.Option(
    "--run", help="A mining run, for regions and flags [default: the latest]")]
MinTraces = Annotated[Optional[int], typer.Option(help=setting_help(
    ToolSettings.model_fields["min_traces"].description, "tools.min_traces"))]


def tools(
    release: Annotated[Optional[str], typer.Option(
        help="Only this release's traces, compared with the release before it")] = None,
    run_id: RunOption = None,
    min_traces: MinTraces = None,
    embedder: Annotated[Optional[str], typer.Option(help=(
        "Also compare the descriptions of confused tools by this embedder's cosine: minilm, hashing, ... "
        "[default: by text only]"))] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many findings printed")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON, for machines")] = False,
    db: Db = None,
    config: Config = None,
) -> None:
    """How the agent uses each tool and subagent in a mining run's traces, and the misuse patterns
    that have shown up in --min-traces traces: argument use against the definitions, the shapes
    errors follow, confused tools, reach per region, definition lints; most traces touched first."""
    with invoked(config, tools={"min_traces": min_traces}) as invocation:
        from harness_evals.mine.embed import get_embedder
        from harness_evals.report.tools import tool_report
        from harness_evals.store import Store

        settings = invocation.settings
        with Store(db, read_only=True) as store:
            report = tool_report(store, run_id=run_id, release=release, **dict(settings.tools),
                                 detectors=settings.mine.detectors, redactor=invocation.redactor,
                                 embedder=get_embedder(embedder) if embedder else None)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str))
        return
    print_tools(report, limit=limit)


def print_tools(report, *, limit: int) -> None:
    scope = f"mining run {report.run_id}" if report.run_id else "the store (no mining run yet: no regions)"
    console.print(f"{report.traces} traces of {scope}" + (f", release {report.release}" if report.release else "")
                  + f"; {report.failed} failed (reward below 1, negative feedback or a flag)"
                  + (f"; compared with {report.previous_release}" if report.previous_release else
                     " (the first release: nothing before it to compare with)" if report.release else ""),
                  highlight=False, markup=False)
    if not report.definitions_seen:
        console.print("no prompt of these traces defines its tools: argument use and definition lints need the "
                      "definitions (README, Assembled prompts)", highlight=False)
    table = Table(title="Tools and subagents")
    table.add_column("tool", overflow="fold")
    for column in ("kind", "calls", "traces", "errors", "empty", "repeated", "last before a failure"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for row in report.usage:
        table.add_row(Text(row.name + ("" if row.defined is not False else " (undefined)")), row.kind, str(row.calls),
                      str(row.traces), f"{row.errors} ({row.error_rate:.0%})", f"{row.empty} ({row.empty_rate:.0%})",
                      f"{row.repeated} ({row.repeated_rate:.0%})",
                      f"{row.last_before_failure} ({row.failure_share:.0%})")
    console.print(table)
    if not report.findings:
        console.print(f"no pattern has shown up in {report.min_traces} traces yet", highlight=False)
        return
    table = Table(title=f"Findings, each seen in at least {report.min_traces} traces ({len(report.findings)})")
    table.add_column("traces", justify="right")
    table.add_column("kind")
    table.add_column("finding", ratio=1)
    for finding in report.findings[:limit]:
        evidence = f"since {finding.started or 'no release'}; e.g. {', '.join(finding.trace_ids[:3])}"
        table.add_row(str(finding.traces), finding.kind, Text(finding.what + "\n") + Text(evidence, style="dim"))
    console.print(table)
    if len(report.findings) > limit:
        console.print(f"… and {len(report.findings) - limit} more (--limit, or --json for all)", highlight=False)


def review(
    release: Annotated[str, typer.Option(help="The release whose changes to read")],
    n: Annotated[Optional[int], typer.Option(
        "--n", help=setting_help(ReviewSettings.model_fields["n"].description, "review.n"))] = None,
    out: Annotated[Optional[Path], typer.Option(
        help=setting_help("Folder for <release>.jsonl and <release>.html", "review.out"))] = None,
    queue: Annotated[bool, typer.Option(
        "--queue", help="Also put them into the labelling queue (a trace enters it once, ever)")] = False,
    run_id: RunOption = None,
    min_traces: MinTraces = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """The trajectories of a release that went through what it changed: a prompt block or tool
    definition changed since the release before, a tool whose behaviour shifted, a region new since
    it. Flagged ones first, spread across regions, each with why; written as JSONL and one HTML page."""
    with invoked(config, tools={"min_traces": min_traces}, review={"n": n, "out": out}) as invocation:
        from harness_evals.report.review import queue_reading_list, reading_list, write_reading_list
        from harness_evals.store import Store, run_lock

        settings = invocation.settings
        queued = None
        with run_lock(db) if queue else nullcontext(), Store(db, read_only=not queue) as store:
            reading = reading_list(store, release=release, n=settings.review.n, run_id=run_id,
                                   **dict(settings.tools), detectors=settings.mine.detectors,
                                   redactor=invocation.redactor)
            jsonl, html = write_reading_list(store, reading, settings.review.out, redactor=invocation.redactor)
            if queue:
                with store.run("review", {"release": release, "n": settings.review.n}) as run:
                    queued = queue_reading_list(store, reading, run_id=reading.run_id or run.run_id)
                    run.summary = {"release": release, "readings": len(reading.readings), "queued": queued}
    console.print(f"{release} against {reading.previous_release}: {reading.candidates} traces went through what "
                  f"changed; {len(reading.readings)} to read -> {jsonl}, {html}"
                  + (f"; queued {queued} (the others were queued before)" if queued is not None else ""),
                  highlight=False, markup=False)
    for line in reading.changes:
        console.print(f"  {line}", highlight=False, markup=False)
    for position, item in enumerate(reading.readings, start=1):
        region = "no region" if item.cluster_id in (None, -1) else f"region {item.cluster_id}"
        flags = f" [flagged: {', '.join(item.flags)}]" if item.flags else ""
        console.print(f"{position:>3}. {item.trace_id} ({region}){flags}: {'; '.join(item.reasons)}",
                      highlight=False, markup=False)
