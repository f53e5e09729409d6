"""`queue export` and `queue import`: the labelling queue out to labellers and their labels back in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db, setting_help
from harness_evals.cli.output import console, print_refused
from harness_evals.config import SuggestSettings


queue_app = typer.Typer(help="The labelling queue.", no_args_is_help=True, rich_markup_mode=None)


@queue_app.command("export")
def queue_export(
    out: Annotated[Optional[Path], typer.Option("--out", help=setting_help("File to write", "queue_out"))] = None,
    format: Annotated[str, typer.Option(
        "--format", help="jsonl, csv, labelstudio (tasks JSON), or a plugin's (README, Extending)")] = "jsonl",
    min_successful: Annotated[Optional[int], typer.Option(
        "--min-successful", help=setting_help(SuggestSettings.model_fields["min_successful"].description,
                                              "suggest.min_successful"))] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Write the queued traces, redacted, with their trajectories and draft checks (`suggested`), and
    expected/verdict/notes/skip left for the labeller."""
    with invoked(config, queue_out=out, suggest={"min_successful": min_successful}) as invocation:
        from harness_evals.label.queue import export_queue
        from harness_evals.store import Store

        settings = invocation.settings
        with Store(db, read_only=True) as store:
            count = export_queue(store, settings.queue_out, format=format, redactor=invocation.redactor,
                                 suggestions=settings.suggest,
                                 negative_feedback_below=settings.mine.detectors.negative_feedback_below)
    console.print(f"wrote {count} queued traces to {settings.queue_out}", highlight=False)


@queue_app.command("import")
def queue_import(
    path: Annotated[Path, typer.Argument(help="The exported queue, filled in: JSONL, CSV, or a Label Studio JSON export")],
    format: Annotated[str, typer.Option(
        "--format", help="auto (by extension), jsonl, csv, labelstudio, or a plugin's (README, Extending)")] = "auto",
    labeller: Annotated[Optional[str], typer.Option(help="Recorded on labels that name no labeller")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite labels that differ (never emitted ones)")] = False,
    db: Db = None,
) -> None:
    """Take labels in. Rows left blank are skipped; refused rows are listed with the reason."""
    with invoked():
        from harness_evals.label.labels import import_labels
        from harness_evals.store import Store, run_lock

        with run_lock(db), Store(db) as store:
            report = import_labels(store, path, format=format, labeller=labeller, replace=replace)
    console.print(
        f"{path}: {report.applied} labels applied, {report.covered} covered by an eval case, "
        f"{report.skipped} skipped, {report.unchanged} unchanged, {report.blank} blank, {len(report.refused)} refused",
        highlight=False,
    )
    print_refused(report.refused)
    if report.refused:
        raise typer.Exit(code=1)
