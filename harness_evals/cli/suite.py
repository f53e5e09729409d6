"""`emit` writes a regression suite; `suite check/run/pytest/export` use one, on the core install only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness_evals.cli.invocation import invoked
from harness_evals.cli.options import Config, Db, setting_help
from harness_evals.cli.output import console, errors, print_emit


suite_app = typer.Typer(help="Regression suites: check, run in CI, export. Needs only the core install.",
                        no_args_is_help=True, rich_markup_mode=None)


def emit(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help=setting_help("Folder for the suite and its manifest", "suite_dir"))] = None,
    name: Annotated[Optional[str], typer.Option(
        help=setting_help("Suite name: <out>/<name>.jsonl", "suite_name"))] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Write labelled traces as a versioned regression suite (requests redacted; a label holding a
    secret or personal data stops it). A version names one content per suite name and store,
    whichever folder it is written to."""
    with invoked(config, suite_dir=out, suite_name=name) as invocation:
        from harness_evals.suite.emit import emit_suite
        from harness_evals.store import Store, run_lock

        settings = invocation.settings
        with run_lock(db), Store(db) as store:
            report = emit_suite(store, settings.suite_dir, name=settings.suite_name, redactor=invocation.redactor)
    print_emit(report)


@suite_app.command("check")
def suite_check(suite: Annotated[Path, typer.Argument(help="A suite JSONL file")], config: Config = None) -> None:
    """Schema, duplicates, and secrets or personal data in case text ([redact] allow applies). Exit 1 on any problem."""
    with invoked(config) as invocation:
        from harness_evals.suite import check_suite

        count, problems = check_suite(suite, rules=invocation.settings.redact)
    for problem in problems:
        who = f" ({problem.case_id})" if problem.case_id else ""
        errors.print(f"  line {problem.line}{who}: {problem.problem}", highlight=False, markup=False)
    console.print(f"{suite}: {count} cases, {len(problems)} problems", highlight=False)
    if problems:
        raise typer.Exit(code=1)


@suite_app.command("run")
def suite_run(
    suite: Annotated[Path, typer.Argument(help="A suite JSONL file")],
    target: Annotated[str, typer.Option(
        help="Your agent: module:function, called with each case's input, or its messages if it has a `messages` "
             "parameter; returns the answer, or {'output': ..., 'tool_calls': [...]} (README, Suites)")],
    junit: Annotated[Optional[Path], typer.Option(help="Write a JUnit XML report here")] = None,
    grader: Annotated[Optional[str], typer.Option(help="module:function(input, output, rubric) -> bool for rubrics")] = None,
) -> None:
    """Call the target on every case and apply its checks. Exit 1 if any case fails."""
    with invoked():
        from harness_evals.registry import load_callable
        from harness_evals.suite import load_suite
        from harness_evals.suite.runner import run_suite, write_junit

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
    target: Annotated[str, typer.Option(help="Your agent: module:function, called as `suite run` calls it")],
    out: Annotated[Path, typer.Option("--out", help="The test module to write, e.g. tests/test_regression.py")],
    grader: Annotated[Optional[str], typer.Option(help="module:function(input, output, rubric) -> bool for rubrics")] = None,
) -> None:
    """Write a pytest module with one test per case, for suites that run inside your test suite."""
    with invoked():
        from harness_evals.suite import load_suite
        from harness_evals.suite.runner import pytest_module

        count = len(load_suite(suite))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(pytest_module(suite, out=out, target=target, grader=grader), encoding="utf-8")
    console.print(f"wrote {out}: {count} cases from {suite}", highlight=False)


@suite_app.command("export")
def suite_export(
    suite: Annotated[Path, typer.Argument(help="A suite JSONL file")],
    format: Annotated[str, typer.Option(
        "--format", help="inspect (Inspect AI dataset JSONL), promptfoo (tests YAML), or a plugin's (README, Extending)")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
) -> None:
    """Write the suite for the harness your CI already runs."""
    with invoked():
        from harness_evals.suite.export import export_suite

        count = export_suite(suite, out, format=format)
    console.print(f"wrote {count} cases to {out} ({format})", highlight=False)
