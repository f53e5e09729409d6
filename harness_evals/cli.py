"""The harness-evals command line. Heavy imports happen inside the commands that need them."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness_evals.config import MineSettings, Settings, Source
from harness_evals.errors import UserError
from harness_evals.redact import RedactionRules

# Help is plain text: as rich markup, "[default: 20, or [mine] budget]" would vanish as a tag.
app = typer.Typer(
    help="Mine production agent traces for what the eval set misses.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
queue_app = typer.Typer(help="The labelling queue.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(queue_app, name="queue")
suite_app = typer.Typer(help="Regression suites: check, run in CI, export. Needs only the core install.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(suite_app, name="suite")
prompts_app = typer.Typer(help="Assembled prompts: snapshots, diffs across releases, contracts.", no_args_is_help=True,
                          rich_markup_mode=None)
app.add_typer(prompts_app, name="prompts")
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

# Eager: parsed before every other option, so the --db callback below can read the file it names.
Config = Annotated[Optional[Path], typer.Option(
    "--config", is_eager=True,
    help="Settings file [default: $HARNESS_EVALS_CONFIG, then ./harness-evals.toml if present]")]


def _setting_help(text: str, key: str, *, unset: str = "unset") -> str:
    """The help of a flag that overrides the settings file's `key` ("suite_dir", "mine.budget"),
    with the default as the settings model holds it; `unset` says what a default of None means."""
    section, _, name = key.rpartition(".")
    default = {"": Settings, "mine": MineSettings, "redact": RedactionRules}[section].model_fields[name].default
    return f"{text} [default: {unset if default is None else default}, or {f'[{section}] ' if section else ''}{name}]"


def _mine_flag(name: str, **unset: str) -> Any:
    return typer.Option(help=_setting_help(MineSettings.model_fields[name].description, f"mine.{name}", **unset))


DaskAddress = Annotated[Optional[str], typer.Option(
    "--dask", metavar="ADDRESS",
    help=_setting_help("Encode and place into clusters on this Dask scheduler (tcp://host:8786), or 'local'", "dask",
                       unset="in this process"))]


MINING_MODULES = {"duckdb", "pyarrow", "numpy", "sklearn", "hdbscan", "prefect", "sentence_transformers", "torch"}


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Errors a user can fix become one red line and exit code 2, not a traceback."""
    try:
        yield
    except UserError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)  # "[redact]" is text, not markup
        raise typer.Exit(code=2) from None
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in MINING_MODULES:
            raise
        errors.print(
            f"[bold red]error:[/] this command needs {error.name}, part of the mining extra: "
            "pip install 'harness-evals[mine]'",
            highlight=False,
        )
        raise typer.Exit(code=2) from None


def _layered_db(ctx: typer.Context, db: Optional[Path]) -> Path:
    """Every command's database, layered in one place (`resolve_db_path`): --db, then
    $HARNESS_EVALS_DB, then the settings file's db (the command's --config, else what
    `load_settings` finds), then data/harness.duckdb."""
    with _reported_errors():
        from harness_evals.config import load_settings
        from harness_evals.store import resolve_db_path

        return resolve_db_path(db, load_settings(ctx.params.get("config")).db)


# A command's `db: Db = None` only tells typer the flag may be left out: the callback fills it in.
Db = Annotated[Path, typer.Option(
    "--db", callback=_layered_db, show_default=False,
    help="DuckDB file [default: $HARNESS_EVALS_DB, then db in the settings file, then data/harness.duckdb]")]


PARTIAL_INGEST_EXIT = 1  # some records quarantined, the rest stored; 2 (a UserError) when nothing is stored


def _print_ingest(report) -> None:
    colour = "yellow" if report.quarantined else "green"
    console.print(
        f"[{colour}]{report.source}[/] ({report.kind}, {report.format}): {report.stored} stored, "
        f"{report.unchanged} unchanged, {len(report.quarantined)} quarantined"
        + (f" (read on from line {report.from_line}: the lines before were ingested already)"
           if report.from_line > 1 else "")
        + (": a partial load, the quarantined records are not stored (reasons below and in the quarantine table)"
           if report.quarantined else ""),
        highlight=False,
    )
    _print_refused(report.quarantined)


def _print_refused(items, limit: int = 20) -> None:
    for item in items[:limit]:
        errors.print(f"  line {item.line}: {item.reason}", highlight=False, markup=False)
    if len(items) > limit:
        errors.print(f"  … and {len(items) - limit} more", highlight=False)


def _print_mine(report, limit: int = 10) -> None:
    console.print(
        f"mine run {report.run_id}: {report.traces} traces, {report.eval_cases} eval cases; "
        f"embedded {report.embedded} new texts ({report.cached} cached); {report.clusters} clusters, "
        f"{report.noise} traces in no cluster; eval set covers {report.covered_traffic:.0%} of traffic "
        f"(covered: an eval case within cosine {report.covered_similarity:.2f})",
        highlight=False,
    )
    console.print(f"{report.mode} clustering: {report.mode_reason}; {report.new_traces} traces new since the last run; "
                  f"emerging regions: {', '.join(map(str, report.emerging)) or 'none'}", highlight=False)
    table = Table(title="Largest coverage gaps")
    for column in ("cluster", "production", "eval cases", "covered", "gap", "flagged", "queued now"):
        table.add_column(column, justify="right")
    queued = {}
    for pick in report.picks:
        queued[pick.cluster_id] = queued.get(pick.cluster_id, 0) + 1
    for row in report.coverage[:limit]:
        name = "noise" if row.cluster_id == -1 else f"{row.cluster_id}{' (emerging)' if row.emerging else ''}"
        table.add_row(name, str(row.production_count), str(row.eval_count), f"{row.coverage:.0%}",
                      f"{row.gap_score:.1f}", str(row.flagged_count), str(queued.get(row.cluster_id, 0)))
    console.print(table)
    console.print(f"queued {len(report.picks)} traces for labelling", highlight=False)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A JSONL file")],
    kind: Annotated[str, typer.Option(
        help="production (traces) or eval (existing eval cases)")] = Source.model_fields["kind"].default,
    format: Annotated[str, typer.Option(
        "--format", help="auto, canonical, openai-chat, otlp, tau-bench, tau2, mint, or a plugin's "
        "(README, Extending) (production only)",
    )] = Source.model_fields["format"].default,
    keep_raw: Annotated[Optional[bool], typer.Option(
        "--raw/--no-raw", help=_setting_help("Store the raw text beside the redacted (--no-raw: redacted text only)",
                                             "redact.keep_raw"))] = None,
    workers: Annotated[Optional[int], typer.Option(
        help="Processes parsing a large JSON-lines file [default: one per CPU]", min=1)] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Load a trace file; broken records are quarantined with their reason, the rest is stored.
    Exits 0 on a clean load, 1 when some records were quarantined, 2 when nothing was stored."""
    with _reported_errors():
        from harness_evals.config import load_settings, with_flags
        from harness_evals.ingest import IngestError, available_cpus, ingest_file
        from harness_evals.redact import Redactor
        from harness_evals.store import Store, run_lock

        rules = with_flags(load_settings(config), redact={"keep_raw": keep_raw}).redact
        redactor = None if rules.keep_raw else Redactor(rules)
        with run_lock(db), Store(db) as store:
            report = ingest_file(store, path, kind=kind, format=format, redactor=redactor,
                                 workers=workers or available_cpus())
        if report.stored_nothing:
            raise IngestError(report.why_nothing_stored())
    _print_ingest(report)
    if report.quarantined:
        raise typer.Exit(code=PARTIAL_INGEST_EXIT)


@app.command(name="mine")
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
    full: Annotated[bool, typer.Option("--full", help="Refit the clusters even if the last fit could be extended")] = False,
    config: Config = None,
) -> None:
    """Embed, cluster, score coverage against the eval set and fill the labelling queue.

    A flag given wins over the settings file's [mine] section, which wins over the defaults.
    Silent-failure detectors are configured under [mine.detectors] in the settings file, redaction
    of the embedded text under [redact]."""
    with _reported_errors():
        from rich.progress import Progress

        from harness_evals.config import load_settings, with_flags
        from harness_evals.pipeline import mine
        from harness_evals.prompts import load_contract
        from harness_evals.store import Store, run_lock

        settings = with_flags(load_settings(config), mine={
            "budget": budget, "embedder": embedder, "view": view, "min_cluster_size": min_cluster_size,
            "dimensions": dimensions, "covered_similarity": covered_similarity, "seed": seed})
        with run_lock(db), Store(db) as store, Progress(console=errors, transient=True) as bar:
            task = bar.add_task("embedding", total=None)
            report = mine(
                store, **dict(settings.mine), redaction=settings.redact, full=full,
                prompt_contract=load_contract(settings.prompt_contract) if settings.prompt_contract else None,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    _print_mine(report)


@app.command()
def flags(
    run_id: Annotated[Optional[str], typer.Option("--run", help="A mining run [default: the latest]")] = None,
    detector: Annotated[Optional[str], typer.Option(help="Only this detector")] = None,
    limit: Annotated[int, typer.Option(help="At most this many traces listed")] = 50,
    db: Db = None,
) -> None:
    """Silent-failure flags of a mining run: counts per detector, then the flagged traces."""
    with _reported_errors():
        from harness_evals.workspace import Workspace

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


@queue_app.command("export")
def queue_export(
    out: Annotated[Optional[Path], typer.Option("--out", help=_setting_help("File to write", "queue_out"))] = None,
    format: Annotated[str, typer.Option(
        "--format", help="jsonl, csv, labelstudio (tasks JSON), or a plugin's (README, Extending)")] = "jsonl",
    db: Db = None,
    config: Config = None,
) -> None:
    """Write the queued traces, redacted, with expected/verdict/notes/skip left for the labeller."""
    with _reported_errors():
        from harness_evals.config import load_settings, with_flags
        from harness_evals.labelling import export_queue
        from harness_evals.redact import Redactor
        from harness_evals.store import Store

        settings = with_flags(load_settings(config), queue_out=out)
        with Store(db, read_only=True) as store:
            count = export_queue(store, settings.queue_out, format=format, redactor=Redactor(settings.redact))
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
    with _reported_errors():
        from harness_evals.labelling import import_labels
        from harness_evals.store import Store, run_lock

        with run_lock(db), Store(db) as store:
            report = import_labels(store, path, format=format, labeller=labeller, replace=replace)
    console.print(
        f"{path}: {report.applied} labels applied, {report.skipped} skipped, {report.unchanged} unchanged, "
        f"{report.blank} blank, {len(report.refused)} refused",
        highlight=False,
    )
    _print_refused(report.refused)
    if report.refused:
        raise typer.Exit(code=1)


@app.command()
def emit(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help=_setting_help("Folder for the suite and its manifest", "suite_dir"))] = None,
    name: Annotated[Optional[str], typer.Option(
        help=_setting_help("Suite name: <out>/<name>.jsonl", "suite_name"))] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Write labelled traces as a versioned regression suite (requests redacted; a label holding a
    secret or personal data stops it). A version names one content per suite name and store,
    whichever folder it is written to."""
    with _reported_errors():
        from harness_evals.config import load_settings, with_flags
        from harness_evals.emit import emit_suite
        from harness_evals.redact import Redactor
        from harness_evals.store import Store, run_lock

        settings = with_flags(load_settings(config), suite_dir=out, suite_name=name)
        with run_lock(db), Store(db) as store:
            report = emit_suite(store, settings.suite_dir, name=settings.suite_name, redactor=Redactor(settings.redact))
    _print_emit(report)


def _print_emit(report) -> None:
    manifest = report.manifest
    console.print(
        f"suite {manifest.name} v{manifest.version}: {manifest.cases} cases ({report.new_cases} new, "
        f"{report.skipped_duplicates} already in the eval set) -> {report.suite_path}",
        highlight=False,
    )


@suite_app.command("check")
def suite_check(suite: Annotated[Path, typer.Argument(help="A suite JSONL file")], config: Config = None) -> None:
    """Schema, duplicates, and secrets or personal data in case text ([redact] allow applies). Exit 1 on any problem."""
    with _reported_errors():
        from harness_evals.config import load_settings
        from harness_evals.suite import check_suite

        count, problems = check_suite(suite, rules=load_settings(config).redact)
    for problem in problems:
        who = f" ({problem.case_id})" if problem.case_id else ""
        errors.print(f"  line {problem.line}{who}: {problem.problem}", highlight=False, markup=False)
    console.print(f"{suite}: {count} cases, {len(problems)} problems", highlight=False)
    if problems:
        raise typer.Exit(code=1)


@suite_app.command("run")
def suite_run(
    suite: Annotated[Path, typer.Argument(help="A suite JSONL file")],
    target: Annotated[str, typer.Option(help="Your agent: module:function, called with each case's input")],
    junit: Annotated[Optional[Path], typer.Option(help="Write a JUnit XML report here")] = None,
    grader: Annotated[Optional[str], typer.Option(help="module:function(input, output, rubric) -> bool for rubrics")] = None,
) -> None:
    """Call the target on every case and apply its checks. Exit 1 if any case fails."""
    with _reported_errors():
        from harness_evals.suite import load_suite
        from harness_evals.suite.runner import load_callable, run_suite, write_junit

        cases = load_suite(suite)
        outcomes = run_suite(cases, load_callable(target), grader=load_callable(grader) if grader else None)
    if junit:
        write_junit(outcomes, junit, suite_name=suite.stem)
    for outcome in outcomes:
        if outcome.status == "failed":
            errors.print(f"FAILED {outcome.case.id}: {'; '.join(outcome.failures)}", highlight=False, markup=False)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("passed", "failed", "skipped")}
    console.print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped", highlight=False)
    if counts["failed"]:
        raise typer.Exit(code=1)


@suite_app.command("pytest")
def suite_pytest(
    suite: Annotated[Path, typer.Argument(help="A suite JSONL file")],
    target: Annotated[str, typer.Option(help="Your agent: module:function, called with each case's input")],
    out: Annotated[Path, typer.Option("--out", help="The test module to write, e.g. tests/test_regression.py")],
    grader: Annotated[Optional[str], typer.Option(help="module:function(input, output, rubric) -> bool for rubrics")] = None,
) -> None:
    """Write a pytest module with one test per case, for suites that run inside your test suite."""
    with _reported_errors():
        from harness_evals.suite import load_suite
        from harness_evals.suite.runner import pytest_module

        count = len(load_suite(suite))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(pytest_module(str(suite), target=target, grader=grader), encoding="utf-8")
    console.print(f"wrote {out}: {count} cases from {suite}", highlight=False)


@suite_app.command("export")
def suite_export(
    suite: Annotated[Path, typer.Argument(help="A suite JSONL file")],
    format: Annotated[str, typer.Option(
        "--format", help="inspect (Inspect AI dataset JSONL), promptfoo (tests YAML), or a plugin's (README, Extending)")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
) -> None:
    """Write the suite for the harness your CI already runs."""
    with _reported_errors():
        from harness_evals.suite.export import export_suite

        count = export_suite(suite, out, format=format)
    console.print(f"wrote {count} cases to {out} ({format})", highlight=False)


def _orchestrator_logs_stay_in_prefect() -> None:
    """Prefect's and Dask's log lines go to Prefect's API only (`prefect server start` shows them);
    the terminal gets the run's summary and what a person must act on. Both read these settings
    when first imported, so this runs before that; a user's own setting wins."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


@app.command()
def run(
    db: Db = None,
    config: Config = None,
    full: Annotated[bool, typer.Option("--full", help="Refit the clusters, as the weekly run does")] = False,
    dask: DaskAddress = None,
    prefect_logs: Annotated[bool, typer.Option(
        "--prefect-logs", help="Print Prefect's and Dask's log lines here too (they always go to Prefect's API)")] = False,
) -> None:
    """Run the nightly flow once on the sources the settings file lists (`make run`: the bundled sample's)."""
    with _reported_errors():
        from harness_evals.config import check_inputs, load_settings, with_flags

        settings = with_flags(load_settings(config), dask=dask)
        check_inputs(settings, config)  # before Prefect starts its temporary server, which takes seconds
        if not prefect_logs:
            _orchestrator_logs_stay_in_prefect()
        from flows.nightly import check_dask, nightly

        check_dask(settings.dask)
        report = nightly(settings=settings, db=str(db), full=full)
    for ingested in report.ingested:
        _print_ingest(ingested)
    for labels in report.labels:
        console.print(f"labels: {labels.applied} applied, {labels.unchanged} unchanged, {len(labels.refused)} refused")
    _print_emit(report.emitted)
    _print_mine(report.mined)
    console.print(f"wrote {report.queued} queued traces to {report.queue_path}; store: {report.db}", highlight=False)
    console.print(f"report: {report.report_path}", highlight=False)
    partial = [ingested for ingested in report.ingested if ingested.quarantined]
    if partial:  # the night went on with what loaded; a scheduler or CI still tells it from a clean one
        errors.print(f"{sum(len(r.quarantined) for r in partial)} records quarantined in {len(partial)} of "
                     f"{len(report.ingested)} sources (listed above): fix them at the source", highlight=False)
        raise typer.Exit(code=PARTIAL_INGEST_EXIT)


@app.command(name="report")
def report_command(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help=_setting_help("The HTML file to write", "report_out"))] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """A self-contained HTML report of the latest mining run: coverage map, gaps, emerging regions, flags, queue."""
    with _reported_errors():
        from harness_evals.config import load_settings, with_flags
        from harness_evals.redact import Redactor
        from harness_evals.registry import load_callable
        from harness_evals.report import write_report

        settings = with_flags(load_settings(config), report_out=out)
        namer = load_callable(settings.namer, what="namer") if settings.namer else None
        path = write_report(db, settings.report_out, redactor=Redactor(settings.redact), namer=namer)
    console.print(f"report: {path}", highlight=False)


@app.command()
def status(
    runs: Annotated[int, typer.Option(help="How many of the latest runs to list")] = 10,
    db: Db = None,
) -> None:
    """The latest runs, the coverage trend, tonight's emerging regions and the queue."""
    with _reported_errors():
        from harness_evals.workspace import Workspace

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
    table = Table(title="Coverage of production traffic by the eval set")
    for column in ("mined (UTC)", "mode", "traces", "new", "covered", "risk-weighted", "emerging", "queued"):
        table.add_column(column, justify="right")
    for row in trend[-runs:]:
        table.add_row(f"{row['started_at']:%Y-%m-%d %H:%M}", row["mode"] or "full", str(row["traces"]), str(row["new_traces"] or 0),
                      f"{row['covered_traffic']:.0%}", "" if row["risk_covered_traffic"] is None
                      else f"{row['risk_covered_traffic']:.0%}", str(row["emerging"]), str(row["queued"]))
    console.print(table)
    if emerging:
        table = Table(title="Emerging regions (latest mining run)")
        for column in ("cluster", "event", "traces", "before", "covered", "example"):
            table.add_column(column)
        for row in emerging:
            table.add_row(str(row["cluster_id"]), row["event"], str(row["size"]), str(row["previous_size"]),
                          f"{row['coverage']:.0%}", (row["input"] or "")[:80])
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


@prompts_app.command("list")
def prompts_list(db: Db = None) -> None:
    """Each distinct assembled prompt: its traffic, releases, when first and last seen, its blocks."""
    with _reported_errors():
        from harness_evals.snapshots import list_assemblies
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
    with _reported_errors():
        from harness_evals.snapshots import diff
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
    with _reported_errors():
        from harness_evals.config import load_settings
        from harness_evals.prompts import load_contract
        from harness_evals.snapshots import check
        from harness_evals.store import Store

        path = contract or load_settings(config).prompt_contract
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
    with _reported_errors():
        from harness_evals.snapshots import write_snapshots
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            written = write_snapshots(store, out)
    console.print(f"wrote {len(written)} assemblies to {out}", highlight=False)


@app.command(name="export")
def export_command(
    parquet: Annotated[Path, typer.Option("--parquet", help="A new or empty folder for the backup")],
    db: Db = None,
) -> None:
    """Back the whole store up as Parquet files (one per table), with a manifest of row counts."""
    with _reported_errors():
        from harness_evals.backup import export_parquet
        from harness_evals.store import Store

        with Store(db, read_only=True) as store:
            counts = export_parquet(store, parquet)
    console.print(f"backed up {sum(counts.values())} rows of {len(counts)} tables to {parquet}", highlight=False)


@app.command()
def restore(
    backup: Annotated[Path, typer.Argument(help="A folder written by `export --parquet`")],
    db: Annotated[Path, typer.Option("--db", help="The new database file to create (never an existing one)")],
) -> None:
    """Rebuild a database file from a Parquet backup, checking every table's row count."""
    with _reported_errors():
        from harness_evals.backup import restore_parquet

        counts = restore_parquet(backup, db)
    console.print(f"restored {sum(counts.values())} rows of {len(counts)} tables into {db}", highlight=False)


@app.command()
def serve(
    cron: Annotated[Optional[str], typer.Option(help=_setting_help("Nightly cron", "schedule"))] = None,
    full_cron: Annotated[Optional[str], typer.Option(
        help=_setting_help("Weekly full refit cron", "full_schedule"))] = None,
    db: Db = None,
    config: Config = None,
    dask: DaskAddress = None,
) -> None:
    """Serve the nightly run and the weekly full refit on their cron schedules (Ctrl-C stops both)."""
    with _reported_errors():
        from harness_evals.config import check_inputs, load_settings, with_flags

        settings = with_flags(load_settings(config), dask=dask, schedule=cron, full_schedule=full_cron)
        check_inputs(settings, config)
        from prefect import serve as serve_deployments

        from flows.nightly import nightly
    parameters = {"settings": settings.model_dump(mode="json"), "db": str(db)}
    serve_deployments(
        nightly.to_deployment(name="nightly", cron=settings.schedule, parameters=parameters),
        nightly.to_deployment(name="weekly-full", cron=settings.full_schedule, parameters={**parameters, "full": True}),
        pause_on_shutdown=False,
    )


if __name__ == "__main__":
    app()
