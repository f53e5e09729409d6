"""Apply a case's checks to what the agent under test did."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness_evals.suite.model import Expected

Grader = Callable[[str, str, str], bool]  # (input, output, rubric) -> passed


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool | None  # None: skipped, e.g. a rubric with no grader
    detail: str = ""


def check_output(
    expected: Expected | str,
    *,
    request: str,
    output: str,
    tool_calls: Sequence[str] | None,
    grader: Grader | None = None,
) -> list[CheckResult]:
    if isinstance(expected, str):
        expected = Expected(reference=expected)
    results = []
    if expected.equals is not None:
        results.append(CheckResult("equals", output.strip() == expected.equals.strip(),
                                   f"output is not {expected.equals!r}"))
    for text in expected.contains:
        results.append(CheckResult("contains", text.lower() in output.lower(), f"output lacks {text!r}"))
    for text in expected.not_contains:
        results.append(CheckResult("not_contains", text.lower() not in output.lower(), f"output has {text!r}"))
    if expected.regex is not None:
        results.append(CheckResult("regex", re.search(expected.regex, output) is not None,
                                   f"output does not match /{expected.regex}/"))
    if expected.json_schema is not None:
        results.append(_check_json_schema(output, expected.json_schema))
    if expected.required_tools or expected.forbidden_tools:
        results += _check_tools(expected, tool_calls)
    if expected.rubric is not None:
        if grader is None:
            results.append(CheckResult("rubric", None, "no --grader given for the model-graded rubric"))
        else:
            results.append(CheckResult("rubric", bool(grader(request, output, expected.rubric)),
                                       "the grader failed the rubric"))
    if not results:
        results.append(CheckResult("reference", None, "a reference answer alone needs a grader or a person"))
    return results


def _check_json_schema(output: str, schema: dict) -> CheckResult:
    import jsonschema

    try:
        jsonschema.validate(json.loads(output), schema)
    except json.JSONDecodeError as error:
        return CheckResult("json_schema", False, f"output is not JSON: {error.msg}")
    except jsonschema.ValidationError as error:
        return CheckResult("json_schema", False, f"output breaks the schema: {error.message}")
    return CheckResult("json_schema", True)


def _check_tools(expected: Expected, tool_calls: Sequence[str] | None) -> list[CheckResult]:
    if tool_calls is None:
        return [CheckResult("tools", False, "the target reported no tool calls: return "
                            "{'output': ..., 'tool_calls': [names]} to check tools ([] if it called none)")]
    called = set(tool_calls)
    results = [CheckResult("required_tools", name in called, f"{name} was not called")
               for name in expected.required_tools]
    results += [CheckResult("forbidden_tools", name not in called, f"{name} was called")
                for name in expected.forbidden_tools]
    return results
