"""Write a suite for the harnesses CI already runs: Inspect AI datasets and promptfoo tests.

Each format is a function `(cases) -> text` in SUITE_FORMATS; one from outside the package is an
entry point in `harness_evals.suite_formats`, or `module:function`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness_evals.registry import Registry
from harness_evals.suite.model import Expected, SuiteCase, expected_json, load_suite


def _target(expected: Expected | str) -> str | list[str]:
    if isinstance(expected, str):
        return expected
    for text in (expected.equals, expected.reference, expected.rubric):
        if text:
            return text
    return list(expected.contains)


def to_inspect(cases: Sequence[SuiteCase]) -> str:
    """Inspect AI dataset JSONL (`json_dataset` reads it): input, target, id, metadata with the checks."""
    lines = []
    for case in cases:
        record = {
            "id": case.id,
            "input": case.input,
            "target": _target(case.expected),
            "metadata": {**case.metadata, "checks": expected_json(case.expected)},
        }
        lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    return "".join(lines)


def _asserts(expected: Expected | str) -> list[dict[str, Any]]:
    if isinstance(expected, str):
        return [{"type": "llm-rubric", "value": f"The answer agrees with this reference answer: {expected}"}]
    asserts: list[dict[str, Any]] = []
    if expected.equals is not None:
        asserts.append({"type": "equals", "value": expected.equals})
    asserts += [{"type": "icontains", "value": text} for text in expected.contains]
    asserts += [{"type": "not-icontains", "value": text} for text in expected.not_contains]
    if expected.regex is not None:
        asserts.append({"type": "regex", "value": expected.regex})
    if expected.json_schema is not None:
        asserts.append({"type": "is-json", "value": expected.json_schema})
    if expected.rubric is not None:
        asserts.append({"type": "llm-rubric", "value": expected.rubric})
    return asserts


def to_promptfoo(cases: Sequence[SuiteCase]) -> str:
    """promptfoo test cases (YAML list, for `tests: file://...`). Tool checks have no promptfoo
    assertion that does not depend on the provider, so they travel in each test's metadata."""
    import yaml

    tests = []
    for case in cases:
        test: dict[str, Any] = {"description": case.id, "vars": {"input": case.input}}
        asserts = _asserts(case.expected)
        if asserts:
            test["assert"] = asserts
        test["metadata"] = {"case_id": case.id, "checks": json.dumps(expected_json(case.expected), sort_keys=True)}
        tests.append(test)
    return yaml.safe_dump(tests, sort_keys=False, allow_unicode=True, width=1000)


SuiteWriter = Callable[[Sequence[SuiteCase]], str]
SUITE_FORMATS: Registry[SuiteWriter] = Registry("suite format", "harness_evals.suite_formats",
                                                {"inspect": to_inspect, "promptfoo": to_promptfoo})


def export_suite(suite: str | Path, out: str | Path, *, format: str) -> int:
    """Write the suite file's cases to `out` in a SUITE_FORMATS format; the number of cases."""
    write = SUITE_FORMATS.get(format)
    cases = load_suite(suite)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(write(cases), encoding="utf-8")
    return len(cases)
