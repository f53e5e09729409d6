"""Regression suites: the format, checks, runner, exporters and a pre-share scan.

Everything here runs on the core install (`pip install harness-evals`): no torch, no DuckDB.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness_evals.redact import Redactor, RedactionRules
from harness_evals.suite.model import (SUITE_FORMAT, Expected, SuiteCase, SuiteError, expected_json, load_suite,
                                        read_suite)

__all__ = ["SUITE_FORMAT", "Expected", "SuiteCase", "SuiteError", "SuiteProblem", "check_suite", "load_suite",
           "read_suite"]


@dataclass(frozen=True)
class SuiteProblem:
    line: int
    case_id: str | None
    problem: str


def check_suite(path: str | Path, *, rules: RedactionRules | None = None) -> tuple[int, list[SuiteProblem]]:
    """Schema, duplicate ids and inputs, and secrets or personal data in case text (messages included)."""
    redactor = Redactor(rules)
    cases, unreadable = read_suite(path)
    problems = [SuiteProblem(line, None, reason) for line, reason in unreadable]
    lines = _line_numbers(path)
    ids = Counter(case.id for case in cases)
    inputs = Counter(_what_the_agent_gets(case) for case in cases)
    for case in cases:
        line = lines.get(case.id, 0)
        if ids[case.id] > 1:
            problems.append(SuiteProblem(line, case.id, f"id {case.id} appears {ids[case.id]} times"))
        if (count := inputs[_what_the_agent_gets(case)]) > 1:
            what = "input" if case.messages is None else "conversation"
            problems.append(SuiteProblem(line, case.id, f"the same {what} appears in {count} cases"))
        for field, value in (("input", case.input), ("expected", expected_json(case.expected)),
                             ("messages", case.messages and case.conversation())):
            for finding in redactor.find_in(value):
                problems.append(SuiteProblem(line, case.id, f"{field} holds {finding.kind} ({finding.excerpt})"))
    return len(cases), sorted(problems, key=lambda p: (p.line, p.problem))


def _what_the_agent_gets(case: SuiteCase) -> str:
    """Its input, or for a multi-turn case its conversation: cases opening alike can test different turns."""
    return case.input if case.messages is None else json.dumps(case.conversation(), sort_keys=True)


def _line_numbers(path: str | Path) -> dict[str, int]:
    """First line of each case id, read leniently (for messages only)."""
    numbers: dict[str, int] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                numbers.setdefault(str(json.loads(raw).get("id")), line)
            except (ValueError, AttributeError):
                continue
    return numbers
