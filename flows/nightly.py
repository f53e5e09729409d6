"""The nightly flow: ingest new traces, take in labels, emit the suite, mine, export the queue, report.

Labels are emitted before mining, so tonight's mining already counts yesterday's labels as
covered. Tasks open the store themselves: a DuckDB connection does not travel between tasks.
Only the I/O tasks retry; none is cached, since each reads or writes the store.

Mining is a subflow with its own task runner: with `dask` set (settings or `--dask`), its
encoding and cluster-placement chunks run as tasks on that Dask cluster, while the store is
read and written by this process alone (DuckDB has one writer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from harness_evals.config import (
    DASK_EXTRA_HINT, MineSettings, Settings, Source, SuggestSettings, ToolSettings, load_settings)
from harness_evals.mine.embed import MissingDependencyError
from harness_evals.errors import UserError
from harness_evals.suite.emit import EmitReport, emit_suite
from harness_evals.ingest import IngestReport, available_cpus, ingest_file
from harness_evals.label.labels import LabelReport, import_labels
from harness_evals.label.queue import export_queue
from harness_evals.mine.pipeline import MineReport, mine
from harness_evals.mine.signals import DetectorSettings
from harness_evals.prompts.assembly import PromptContract, load_contract
from harness_evals.redact import RedactionRules, Redactor
from harness_evals.registry import load_callable
from harness_evals.report.html import write_report
from harness_evals.store import Store, resolve_db_path, run_lock


def failing_quietly_on_user_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A mistake the user must fix ends the flow run Failed with its one-line message, which says
    the fix, instead of Prefect logging a traceback of the engine's frames; the caller still gets
    the error raised. For flows only: a task that returns a Failed state does not raise in its
    flow, which would carry on past it."""

    @functools.wraps(fn)
    def quietly(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as error:
            return Failed(message=str(error), data=error)

    return quietly


def unless_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O trouble, not a mistake the user must fix: retrying a missing file only delays its message."""
    return not isinstance(state.data, UserError)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=unless_user_error, cache_policy=NO_CACHE)
def ingest_source(db: str, source: Source, rules: RedactionRules) -> IngestReport:
    redactor = None if rules.keep_raw else Redactor(rules)
    with Store(db) as store:
        return ingest_file(store, source.path, kind=source.kind, format=source.format, redactor=redactor,
                           input_var=source.input_var, workers=available_cpus())


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=unless_user_error, cache_policy=NO_CACHE)
def import_label_file(db: str, path: str) -> LabelReport:
    with Store(db) as store:
        return import_labels(store, path)


@task(cache_policy=NO_CACHE)
def emit(db: str, out_dir: str, name: str, rules: RedactionRules) -> EmitReport:
    with Store(db) as store:
        return emit_suite(store, out_dir, name=name, redactor=Redactor(rules))


@task(cache_policy=NO_CACHE, task_run_name="{fn.__name__}")
def run_chunk(fn: Callable[[Any], Any], chunk: Any) -> Any:
    return fn(chunk)


def on_task_runner(fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Any]:
    """records.MapChunks over the flow's task runner: every chunk is submitted at once, and the
    results come back in order, so the store takes each as soon as it and those before it are done."""
    for future in run_chunk.map(unmapped(fn), list(chunks)):
        yield future.result()


@flow(name="harness-evals-mine")
@failing_quietly_on_user_error
def mine_flow(db: str, settings: MineSettings, rules: RedactionRules, full: bool,
              contract: PromptContract | None, distributed: bool) -> MineReport:
    """The mining itself runs in the subflow, not in a task of it: a task would log a traceback
    for a mistake the user must fix (no production traces, say) before the flow's one line."""
    logger = get_run_logger()
    with Store(db) as store:
        return mine(store, **dict(settings), redaction=rules, full=full, prompt_contract=contract,
                    progress=lambda done, total: logger.info(f"embedded {done}/{total}"),
                    map_chunks=on_task_runner if distributed else map)


class DaskUnreachable(UserError):
    """No Dask scheduler answers at the configured address."""


def check_dask(address: str | None, *, timeout: float = 10) -> None:
    """Fail before anything runs, with the fix, rather than half-way with a traceback: prefect-dask
    missing, or no scheduler answering at the address."""
    if address is None:
        return
    _dask_task_runner_class()
    if address == "local":
        return
    from distributed import Client

    try:
        Client(address, timeout=timeout).close()
    except OSError as error:
        raise DaskUnreachable(f"no Dask scheduler answers at {address} ({error}): start one there (`dask scheduler`), "
                              "fix the address, or leave --dask out to mine in this process") from None


def task_runner_for(dask: str | None) -> TaskRunner:
    """Prefect's DaskTaskRunner on the cluster at `dask` ("local": a temporary one on this machine),
    or the default runner, under which the chunks run one after another in this process."""
    if dask is None:
        return ThreadPoolTaskRunner()
    runner = _dask_task_runner_class()
    return runner() if dask == "local" else runner(address=dask)


def _dask_task_runner_class() -> type[TaskRunner]:
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as error:
        raise MissingDependencyError(f"running on Dask needs prefect-dask: {DASK_EXTRA_HINT}") from error
    return DaskTaskRunner


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=unless_user_error, cache_policy=NO_CACHE)
def export(db: str, out: str, rules: RedactionRules, suggestions: SuggestSettings,
           negative_feedback_below: float) -> int:
    with Store(db) as store:
        return export_queue(store, out, redactor=Redactor(rules), suggestions=suggestions,
                            negative_feedback_below=negative_feedback_below)


@task(cache_policy=NO_CACHE)
def report(db: str, out: str, rules: RedactionRules, namer: str | None, tools: ToolSettings,
           detectors: DetectorSettings) -> str:
    return str(write_report(db, out, redactor=Redactor(rules), namer=load_callable(namer, what="namer") if namer else None,
                            tools=tools, detectors=detectors))


@dataclass(frozen=True)
class NightlyReport:
    db: str
    ingested: list[IngestReport]
    labels: list[LabelReport]
    emitted: EmitReport
    mined: MineReport
    queue_path: str
    queued: int
    report_path: str


@flow(name="harness-evals-nightly", log_prints=True)
@failing_quietly_on_user_error
def nightly(settings: Settings | None = None, db: str | None = None, full: bool = False) -> NightlyReport:
    """`full`: refit the clusters on everything (the weekly run); otherwise a night extends the
    last fit unless it has gone stale. One run at a time per database (`run_lock`)."""
    settings = settings or load_settings()
    db_path = str(resolve_db_path(db, settings.db))
    check_dask(settings.dask)
    if settings.namer:
        load_callable(settings.namer, what="namer")  # a wrong name fails now, not after a night's mining
    with run_lock(db_path):
        ingested = [ingest_source(db_path, source, settings.redact) for source in settings.sources]
        labels = [import_label_file(db_path, str(path)) for path in settings.labels]
        emitted = emit(db_path, str(settings.suite_dir), settings.suite_name, settings.redact)
        contract = load_contract(settings.prompt_contract) if settings.prompt_contract else None
        mining = mine_flow.with_options(task_runner=task_runner_for(settings.dask))
        mined = mining(db_path, settings.mine, settings.redact, full, contract, settings.dask is not None)
        queued = export(db_path, str(settings.queue_out), settings.redact, settings.suggest,
                        settings.mine.detectors.negative_feedback_below)
        report_path = report(db_path, str(settings.report_out), settings.redact, settings.namer, settings.tools,
                             settings.mine.detectors)
    return NightlyReport(db_path, ingested, labels, emitted, mined, str(settings.queue_out), queued, report_path)
