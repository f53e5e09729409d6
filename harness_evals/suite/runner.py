"""Run a suite against the user's agent function and report like a test runner.

The target is `module:function`. A function with a parameter named `messages` gets the case's
conversation there (`SuiteCase.conversation()`: the messages so far, or the input as the one user
message), and its input as the first argument if it takes one before `messages`; any other
function is called with the input alone. It plays the agent's next turn and returns the answer text, or the answer
with the tool calls it made: `{"output": str, "tool_calls": [...]}` or an object with `output`
and `tool_calls` attributes, each call a name, `{"name": ...}`, an OpenAI chat call
(`{"function": {"name": ...}}`) or an object with `name` or `function`. Tool checks need the
calls: a target that reports none fails them, saying so (report `[]` for "called no tool").
Async functions are awaited. An exception in the target fails that case, not the run.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness_evals.registry import load_callable  # noqa: F401  the generated pytest modules import it from here
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


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def call_target(target: Callable[..., Any], case: SuiteCase) -> Any:
    """The target's response to the case, called as the module docstring says."""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin or C function: no signature to read
        parameters = {}
    if "messages" not in parameters or parameters["messages"].kind is inspect.Parameter.POSITIONAL_ONLY:
        return _call(target, case.input)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    # Only a parameter before `messages` takes the input: one after it (`temperature=0.0`) would get it
    # as `messages`, given twice then.
    before = list(parameters).index("messages")
    takes_input = any(p.kind in positional for p in list(parameters.values())[:before])
    return _call(target, *([case.input] if takes_input else []), messages=case.conversation())


def normalise_response(response: Any) -> tuple[str, list[str] | None]:
    """(answer, names of the tools called, or None when the target reported no calls)."""
    if isinstance(response, str):
        return response, None
    if isinstance(response, dict) and "output" in response:
        output, calls = response["output"], response.get("tool_calls")
    elif hasattr(response, "output") and not isinstance(response, dict):
        output, calls = response.output, getattr(response, "tool_calls", None)
    else:
        raise TypeError(f"the target returned {type(response).__name__}; return a str, or "
                        "{'output': str, 'tool_calls': [...]} (or an object with those attributes)")
    return str(output), None if calls is None else [_tool_name(call) for call in calls]


def _tool_name(call: Any) -> str:
    if isinstance(call, dict):
        function = call.get("function")
        name = call.get("name") or (function.get("name") if isinstance(function, dict) else function)
    else:
        function = getattr(call, "function", None)
        name = call if isinstance(call, str) else getattr(call, "name", None) or getattr(function, "name", function)
    if not isinstance(name, str) or not name:
        raise TypeError(f"a tool call the target reported has no name: {call!r}")
    return name


def run_case(case: SuiteCase, target: Callable[..., Any], *, grader: Grader | None = None) -> CaseOutcome:
    start = time.perf_counter()
    try:
        output, tool_calls = normalise_response(call_target(target, case))
        checks = check_output(case.expected, request=case.input, output=output, tool_calls=tool_calls,
                              grader=(lambda *args: _call(grader, *args)) if grader else None)
    except Exception as error:  # the agent under test failing is a result, not a crash of the runner
        return CaseOutcome(case, "failed", [], time.perf_counter() - start, f"{type(error).__name__}: {error}")
    return CaseOutcome(case, verdict(checks), checks, time.perf_counter() - start)


def verdict(checks: Sequence[CheckResult]) -> Status:
    """Failed if a check failed, passed if one passed and none failed, else skipped (nothing could be applied)."""
    outcomes = {c.passed for c in checks}
    return "failed" if False in outcomes else "passed" if True in outcomes else "skipped"


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

from pathlib import Path

import pytest

from harness_evals.suite import load_suite
from harness_evals.suite.runner import load_callable, run_case

CASES = load_suite(Path(__file__).resolve().parent / {relative!r})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_regression(case):
    outcome = run_case(case, load_callable({target!r}), grader={grader})
    if outcome.status == "skipped":
        pytest.skip("; ".join(check.detail for check in outcome.checks))
    assert outcome.status == "passed", "; ".join(outcome.failures)
'''


def pytest_module(suite: str | Path, *, out: str | Path, target: str, grader: str | None = None) -> str:
    """The pytest module to write at `out`: one test per case of the suite, calling the target as
    `suite run` does. It finds the suite relative to itself, so pytest runs it from any folder."""
    relative = Path(os.path.relpath(Path(suite).resolve(), Path(out).resolve().parent)).as_posix()
    return PYTEST_MODULE.format(suite=suite, relative=relative, target=target,
                                grader=f"load_callable({grader!r})" if grader else "None")
