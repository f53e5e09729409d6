import json

import pytest

from harness_evals.suite import SuiteError, check_suite, load_suite, read_suite
from tests.conftest import write_jsonl

CASE = {"id": "c1", "input": "refund order 4", "expected": {"contains": ["refund"]}, "metadata": {}}


def test_a_suite_round_trips_through_its_json_lines(tmp_path):
    [case] = load_suite(write_jsonl(tmp_path / "s.jsonl", [CASE]))
    assert json.loads(case.to_json_line()) == CASE


def test_bad_lines_are_named_with_their_reason(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [CASE, {"id": "c2", "input": "x", "expected": {"contain": ["y"]}}, "{"])
    cases, problems = read_suite(path)
    assert [c.id for c in cases] == ["c1"]
    assert [line for line, _ in problems] == [2, 3]
    assert problems[0][1] == "expected: contain: Extra inputs are not permitted"
    with pytest.raises(SuiteError, match="line 2: expected: contain"):
        load_suite(path)


def test_check_finds_duplicates_and_sensitive_text(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [
        CASE,
        {**CASE, "input": "my card is 4111 1111 1111 1111, mail me at ana@example.com"},
        {**CASE, "id": "c3", "input": "refund order 4"},
    ])
    count, problems = check_suite(path)
    assert count == 3
    assert [(p.line, p.case_id, p.problem) for p in problems] == [
        (1, "c1", "id c1 appears 2 times"),
        (1, "c1", "id c1 appears 2 times"),
        (1, "c1", "input holds CARD (411…11)"),
        (1, "c1", "input holds EMAIL (ana…om)"),
        (1, "c1", "the same input appears in 2 cases"),
        (3, "c3", "the same input appears in 2 cases"),
    ]

