"""Run a suite against the user's agent function and report like a test runner.

The target is `module:function`, called with each case's input. It returns the answer text, or
`{"output": str, "tool_calls": [name or {"name": ...}, ...]}` so that tool checks can apply.
Async functions are awaited. An exception in the target fails that case, not the run.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness_evals.errors import UserError
from harness_evals.suite.checks import CheckResult, Grader, check_output
from harness_evals.suite.model import SuiteCase

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class CaseOutcome:
    case: SuiteCase
    status: Status
    checks: list[CheckResult]
    seconds: float
    error: str | None = None

    @property
    def failures(self) -> list[str]:
        if self.error:
            return [self.error]
        return [f"{c.check}: {c.detail}" for c in self.checks if c.passed is False]


def load_callable(spec: str, *, what: str = "--target") -> Callable[..., Any]:
    """`package.module:function`, found in the working directory as well, as pytest finds tests.

    The working directory is on `sys.path` for the import only: loading a target does not change
    where every later import in the process looks."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"{what} {spec!r}: write it as module:function, e.g. my_agent.entry:answer")
    try:
        with _working_directory_importable():
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"{what} {spec!r}: cannot import {module_name}: {error}") from error
    target = getattr(module, attribute, None)
    if not callable(target):
        raise UserError(f"{what} {spec!r}: {module_name} has no function {attribute}")
    return target


@contextmanager
def _working_directory_importable() -> Iterator[None]:
    """The working directory first on `sys.path` while the block runs; the entry is taken out
    again after, leaving whatever the imported modules added themselves."""
    directory = os.getcwd()
    if directory in sys.path:
        yield
        return
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.path.remove(directory)


def _call(function: Callable[..., Any], *args: Any) -> Any:
    result = function(*args)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def normalise_response(response: Any) -> tuple[str, list[str] | None]:
    if isinstance(response, str):
        return response, None
    if isinstance(response, dict) and "output" in response:
        calls = response.get("tool_calls")
        names = None if calls is None else [c["name"] if isinstance(c, dict) else str(c) for c in calls]
        return str(response["output"]), names
    raise TypeError(f"the target returned {type(response).__name__}; return a str or {{'output': str, 'tool_calls': [...]}}")


def run_case(case: SuiteCase, target: Callable[..., Any], *, grader: Grader | None = None) -> CaseOutcome:
    start = time.perf_counter()
    try:
        output, tool_calls = normalise_response(_call(target, case.input))
        checks = check_output(case.expected, request=case.input, output=output, tool_calls=tool_calls,
                              grader=(lambda *args: _call(grader, *args)) if grader else None)
    except Exception as error:  # the agent under test failing is a result, not a crash of the runner
        return CaseOutcome(case, "failed", [], time.perf_counter() - start, f"{type(error).__name__}: {error}")
    outcomes = {c.passed for c in checks}
    status: Status = "failed" if False in outcomes else "passed" if True in outcomes else "skipped"
    return CaseOutcome(case, status, checks, time.perf_counter() - start)


def run_suite(cases: Sequence[SuiteCase], target: Callable[..., Any], *, grader: Grader | None = None) -> list[CaseOutcome]:
    return [run_case(case, target, grader=grader) for case in cases]


def write_junit(outcomes: Sequence[CaseOutcome], path: str | Path, *, suite_name: str) -> None:
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(outcomes)),
        failures=str(sum(o.status == "failed" for o in outcomes)),
        skipped=str(sum(o.status == "skipped" for o in outcomes)),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
    )
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name=outcome.case.id, time=f"{outcome.seconds:.3f}")
        if outcome.status == "failed":
            failure = ET.SubElement(case, "failure", message="; ".join(outcome.failures))
            failure.text = f"input: {outcome.case.input}"
        elif outcome.status == "skipped":
            ET.SubElement(case, "skipped", message="; ".join(c.detail for c in outcome.checks))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


PYTEST_MODULE = '''"""Regression cases from {suite}, generated by `harness-evals suite pytest`. Regenerate, do not edit."""

import pytest

from harness_evals.suite import load_suite
from harness_evals.suite.runner import load_callable, run_case

CASES = load_suite({suite!r})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_regression(case):
    outcome = run_case(case, load_callable({target!r}), grader={grader})
    if outcome.status == "skipped":
        pytest.skip("; ".join(check.detail for check in outcome.checks))
    assert outcome.status == "passed", "; ".join(outcome.failures)
'''


def pytest_module(suite: str, *, target: str, grader: str | None = None) -> str:
    """A pytest module with one test per case of the suite, calling the target as `suite run` does."""
    return PYTEST_MODULE.format(suite=suite, target=target,
                                grader=f"load_callable({grader!r})" if grader else "None")
