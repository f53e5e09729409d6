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
from collections.abc import Callable, Sequence
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


def load_callable(spec: str) -> Callable[..., Any]:
    """`package.module:function`, imported with the working directory on the path, as pytest does."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"--target {spec!r}: write it as module:function, e.g. my_agent.entry:answer")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"--target {spec!r}: cannot import {module_name}: {error}") from error
    target = getattr(module, attribute, None)
    if not callable(target):
        raise UserError(f"--target {spec!r}: {module_name} has no function {attribute}")
    return target


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
