"""`mine` and what it found: `flags`."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db, setting_help
from harness_evals.cli.output import console, errors, print_mine
from harness_evals.config import MineSettings


def _mine_flag(name: str, **unset: str) -> Any:
    return typer.Option(help=setting_help(MineSettings.model_fields[name].description, f"mine.{name}", **unset))


def mine_command(
    budget: Annotated[Optional[int], _mine_flag("budget")] = None,
    db: Db = None,
    embedder: Annotated[Optional[str], _mine_flag("embedder")] = None,
    view: Annotated[Optional[str], _mine_flag("view")] = None,
    min_cluster_size: Annotated[Optional[int], _mine_flag("min_cluster_size")] = None,
    dimensions: Annotated[Optional[int], _mine_flag("dimensions")] = None,
    covered_similarity: Annotated[
        Optional[float], _mine_flag("covered_similarity", unset="calibrated from the eval set")] = None,
    seed: Annotated[Optional[int], _mine_flag("seed")] = None,
    clusterer: Annotated[Optional[str], _mine_flag("clusterer")] = None,
    coverage_judge: Annotated[Optional[str], _mine_flag("coverage_judge")] = None,
    full: Annotated[bool, typer.Option("--full", help="Refit the clusters even if the last fit could be extended")] = False,
    refit_ruler: Annotated[bool, typer.Option(
        "--refit-ruler", help="Calibrate a new coverage ruler even if the eval set has hardly changed")] = False,
    config: Config = None,
) -> None:
    """Embed, cluster, score coverage against the eval set and fill the labelling queue.

    A flag given wins over the settings file's [mine] section, which wins over the defaults.
    Silent-failure detectors are configured under [mine.detectors] in the settings file, redaction
    of the embedded text under [redact]."""
    with invoked(config, mine={
            "budget": budget, "embedder": embedder, "view": view, "min_cluster_size": min_cluster_size,
            "dimensions": dimensions, "covered_similarity": covered_similarity, "seed": seed, "clusterer": clusterer,
            "coverage_judge": coverage_judge}) as invocation:
        from rich.progress import Progress

        from harness_evals.mine.pipeline import mine
        from harness_evals.prompts.assembly import load_contract
        from harness_evals.store import Store, run_lock

        settings = invocation.settings
        with run_lock(db), Store(db) as store, Progress(console=errors, transient=True) as bar:
            task = bar.add_task("embedding", total=None)
            report = mine(
                store, **dict(settings.mine), redaction=settings.redact, full=full, refit_ruler=refit_ruler,
                prompt_contract=load_contract(settings.prompt_contract) if settings.prompt_contract else None,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    print_mine(report)


def flags(
    run_id: Annotated[Optional[str], typer.Option("--run", help="A mining run [default: the latest]")] = None,
    detector: Annotated[Optional[str], typer.Option(help="Only this detector")] = None,
    limit: Annotated[int, typer.Option(help="At most this many traces listed")] = 50,
    db: Db = None,
) -> None:
    """Silent-failure flags of a mining run: counts per detector, then the flagged traces."""
    with invoked():
        from harness_evals.report.workspace import Workspace

        with Workspace(db) as workspace:
            run_id = workspace.mine_run(run_id)
            rows = [row for row in workspace.flags(run_id).to_pylist() if not detector or row["detector"] == detector]
    counts = Counter(row["detector"] for row in rows).most_common()  # rows come ordered by detector: ties stay so
    summary = ", ".join(f"{name} {count}" for name, count in counts) or "none"
    console.print(f"mine run {run_id}: {len(rows)} flags ({summary})", highlight=False)
    table = Table()
    for column in ("trace", "cluster", "detector", "reason"):
        table.add_column(column)
    for row in rows[:limit]:
        table.add_row(row["trace_id"], "noise" if row["cluster_id"] == -1 else str(row["cluster_id"]), row["detector"],
                      row["reason"])
    if rows:
        console.print(table)
