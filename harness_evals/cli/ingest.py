"""`ingest`: load a trace or eval file into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db, setting_help
from harness_evals.cli.output import PARTIAL_INGEST_EXIT, print_ingest
from harness_evals.config import Source


def ingest(
    path: Annotated[Path, typer.Argument(help="A trace file (JSON lines, JSON or Parquet), or an eval set (JSON lines, JSON, YAML or CSV)")],
    kind: Annotated[str, typer.Option(
        help="production (traces) or eval (existing eval cases)")] = Source.model_fields["kind"].default,
    format: Annotated[str, typer.Option(
        "--format", help="auto; for production: canonical, openai-chat, otlp, langfuse, langsmith, phoenix, tau-bench, "
        "tau2, mint; for eval: "
        "promptfoo, inspect, openai-evals, langsmith, langfuse, braintrust, deepeval, eval-case; or a plugin's "
        "(README, Extending)",
    )] = Source.model_fields["format"].default,
    input_var: Annotated[Optional[str], typer.Option(
        "--input-var", help="The var of a promptfoo test that is the request, when its tests have several")] = None,
    keep_raw: Annotated[Optional[bool], typer.Option(
        "--raw/--no-raw", help=setting_help("Store the raw text beside the redacted (--no-raw: redacted text only)",
                                             "redact.keep_raw"))] = None,
    workers: Annotated[Optional[int], typer.Option(
        help="Processes parsing a large JSON-lines file [default: one per CPU]", min=1)] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Load a trace file or an eval set; broken records are quarantined with their reason, the rest is stored.
    Exits 0 on a clean load, 1 when some records were quarantined, 2 when nothing was stored."""
    with invoked(config, redact={"keep_raw": keep_raw}) as invocation:
        from harness_evals.ingest import IngestError, available_cpus, ingest_file
        from harness_evals.store import Store, run_lock

        redactor = None if invocation.settings.redact.keep_raw else invocation.redactor
        with run_lock(db), Store(db) as store:
            report = ingest_file(store, path, kind=kind, format=format, redactor=redactor, input_var=input_var,
                                 workers=workers or available_cpus())
        if report.stored_nothing:
            raise IngestError(report.why_nothing_stored())
    print_ingest(report)
    if report.quarantined:
        raise typer.Exit(code=PARTIAL_INGEST_EXIT)
