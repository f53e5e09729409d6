"""The nightly flow: `run` once, `serve` on its schedules, and the `report` it writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, DaskAddress, Db, setting_help
from harness_evals.cli.output import PARTIAL_INGEST_EXIT, console, errors, print_emit, print_ingest, print_mine


def _orchestrator_logs_stay_in_prefect() -> None:
    """Prefect's and Dask's log lines go to Prefect's API only (`prefect server start` shows them);
    the terminal gets the run's summary and what a person must act on. Both read these settings
    when first imported, so this runs before that; a user's own setting wins."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


def run(
    db: Db = None,
    config: Config = None,
    full: Annotated[bool, typer.Option("--full", help="Refit the clusters, as the weekly run does")] = False,
    dask: DaskAddress = None,
    prefect_logs: Annotated[bool, typer.Option(
        "--prefect-logs", help="Print Prefect's and Dask's log lines here too (they always go to Prefect's API)")] = False,
) -> None:
    """Run the nightly flow once on the sources the settings file lists (`make run`: the bundled sample's)."""
    with invoked(config, dask=dask) as invocation:
        from harness_evals.config import check_inputs

        settings = invocation.settings
        check_inputs(settings, config)  # before Prefect starts its temporary server, which takes seconds
        if not prefect_logs:
            _orchestrator_logs_stay_in_prefect()
        from flows.nightly import check_dask, nightly

        check_dask(settings.dask)
        report = nightly(settings=settings, db=str(db), full=full)
    for ingested in report.ingested:
        print_ingest(ingested)
    for labels in report.labels:
        console.print(f"labels: {labels.applied} applied, {labels.covered} covered by an eval case, "
                      f"{labels.unchanged} unchanged, {len(labels.refused)} refused")
    print_emit(report.emitted)
    print_mine(report.mined)
    console.print(f"wrote {report.queued} queued traces to {report.queue_path}; store: {report.db}", highlight=False)
    console.print(f"report: {report.report_path}", highlight=False)
    partial = [ingested for ingested in report.ingested if ingested.quarantined]
    if partial:  # the night went on with what loaded; a scheduler or CI still tells it from a clean one
        errors.print(f"{sum(len(r.quarantined) for r in partial)} records quarantined in {len(partial)} of "
                     f"{len(report.ingested)} sources (listed above): fix them at the source", highlight=False)
        raise typer.Exit(code=PARTIAL_INGEST_EXIT)


def report_command(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help=setting_help("The HTML file to write", "report_out"))] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """A self-contained HTML report of the latest mining run: coverage map, gaps, emerging regions, flags, queue."""
    with invoked(config, report_out=out) as invocation:
        from harness_evals.registry import load_callable
        from harness_evals.report.html import write_report

        settings = invocation.settings
        namer = load_callable(settings.namer, what="namer") if settings.namer else None
        path = write_report(db, settings.report_out, redactor=invocation.redactor, namer=namer, tools=settings.tools,
                            detectors=settings.mine.detectors)
    console.print(f"report: {path}", highlight=False)


def serve(
    cron: Annotated[Optional[str], typer.Option(help=setting_help("Nightly cron", "schedule"))] = None,
    full_cron: Annotated[Optional[str], typer.Option(
        help=setting_help("Weekly full refit cron", "full_schedule"))] = None,
    db: Db = None,
    config: Config = None,
    dask: DaskAddress = None,
) -> None:
    """Serve the nightly run and the weekly full refit on their cron schedules (Ctrl-C stops both)."""
    with invoked(config, dask=dask, schedule=cron, full_schedule=full_cron) as invocation:
        from harness_evals.config import check_inputs

        settings = invocation.settings
        check_inputs(settings, config)
        from prefect import serve as serve_deployments

        from flows.nightly import nightly
    parameters = {"settings": settings.model_dump(mode="json"), "db": str(db)}
    serve_deployments(
        nightly.to_deployment(name="nightly", cron=settings.schedule, parameters=parameters),
        nightly.to_deployment(name="weekly-full", cron=settings.full_schedule, parameters={**parameters, "full": True}),
        pause_on_shutdown=False,
    )
