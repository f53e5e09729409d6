"""The store as a whole: `status`, and its Parquet backup (`export`, `restore`)."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Db
from harness_evals.cli.output import console, errors, failing


def status(
    runs: Annotated[int, typer.Option(help="How many of the latest runs to list")] = 10,
    db: Db = None,
) -> None:
    """The latest runs, the coverage trend, tonight's emerging regions and the queue."""
    with invoked():
        from harness_evals.report.workspace import Workspace, coverage_series

        with Workspace(db) as workspace:
            every_run = workspace.runs().to_pylist()
            trend = workspace.trend().to_pylist()
            emerging = workspace.emerging().to_pylist() if trend else []
            queue = workspace.queue_sizes()
            if workspace.store.snapshot:
                errors.print(_read_from_a_copy(workspace.store, every_run), highlight=False, markup=False)
    recent = every_run[-runs:]
    table = Table(title="Latest runs")
    for column in ("run", "kind", "status", "started (UTC)"):
        table.add_column(column)
    for row in reversed(recent):
        table.add_row(row["run_id"], row["kind"], row["status"], f"{row['started_at']:%Y-%m-%d %H:%M}")
    console.print(table)
    for series, rows in coverage_series(trend[-runs:]):  # figures compare within a ruler and view only
        table = Table(title=f"Coverage of production traffic by the eval set: ruler {series.ruler}, view {series.view}")
        for column in ("mined (UTC)", "mode", "traces", "new", "covered", "risk-weighted", "failing", "emerging",
                       "queued"):
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(f"{row['started_at']:%Y-%m-%d %H:%M}", row["mode"] or "full", str(row["traces"]),
                          str(row["new_traces"] or 0), f"{row['covered_traffic']:.0%}",
                          "" if row["risk_covered_traffic"] is None else f"{row['risk_covered_traffic']:.0%}",
                          failing(row["failed_traces"], row["outcome_traces"]), str(row["emerging"]),
                          str(row["queued"]))
        console.print(table)
    if emerging:
        table = Table(title="Emerging regions (latest mining run)")
        for column in ("cluster", "event", "traces", "before", "covered", "failing", "example"):
            table.add_column(column)
        for row in emerging:
            table.add_row(str(row["cluster_id"]), row["event"], str(row["size"]), str(row["previous_size"]),
                          f"{row['coverage']:.0%}", failing(row["failed_count"], row["outcome_count"]),
                          (row["input"] or "")[:80])
        console.print(table)
    else:
        console.print("no emerging regions in the latest mining run", highlight=False)
    console.print("queue: " + (", ".join(f"{count} {state}" for state, count in sorted(queue.items())) or "empty"),
                  highlight=False)


def _read_from_a_copy(store, runs: list[dict]) -> str:
    """Status reads a copy: say so, naming the run that has the store open for writing."""
    snapshot = store.snapshot
    pid = f"pid {snapshot.writer_pid}" if snapshot.writer_pid else "pid unknown"
    running = [f"{run['kind']} run {run['run_id']} ({pid}, started "
               f"{run['started_at'].astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
               for run in runs if run["status"] == "running"]
    writer = ", ".join(running) or f"another process ({pid})"
    return (f"{store.path} is being written by {writer}: this is the store as of {snapshot.taken_at:%H:%M:%S} UTC, "
            "from a copy")


def export_command(
    parquet: Annotated[Path, typer.Option("--parquet", help="A new or empty folder for the backup")],
    db: Db = None,
) -> None:
    """Back the whole store up as Parquet files (one per table), with a manifest of row counts."""
    with invoked():
        from harness_evals.backup import export_parquet
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            counts = export_parquet(store, parquet)
    console.print(f"backed up {sum(counts.values())} rows of {len(counts)} tables to {parquet}", highlight=False)


def restore(
    backup: Annotated[Path, typer.Argument(help="A folder written by `export --parquet`")],
    db: Annotated[Path, typer.Option("--db", help="The new database file to create (never an existing one)")],
) -> None:
    """Rebuild a database file from a Parquet backup, checking every table's row count."""
    with invoked():
        from harness_evals.backup import restore_parquet

        counts = restore_parquet(backup, db)
    console.print(f"restored {sum(counts.values())} rows of {len(counts)} tables into {db}", highlight=False)
