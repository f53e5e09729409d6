import json
from pathlib import Path

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



def test_a_suite_written_before_messages_reads_and_writes_as_it_was(tmp_path):
    written_by_format_1 = (Path(__file__).parent / "golden" / "regression.jsonl").read_text()
    path = tmp_path / "old.jsonl"
    path.write_text(written_by_format_1)
    assert "".join(case.to_json_line() for case in load_suite(path)) == written_by_format_1


def test_a_conversation_must_end_where_the_agent_acts(tmp_path):
    turn = [{"role": "user", "content": "refund order 4"}, {"role": "assistant", "content": "Done."}]
    cases, problems = read_suite(write_jsonl(tmp_path / "s.jsonl", [{**CASE, "messages": turn}, {**CASE, "messages": []}]))
    assert cases == []
    assert [reason.split(":")[0] for _, reason in problems] == ["messages ends with an assistant message",
                                                                 "messages is empty"]


def test_check_scans_the_conversation_and_tells_conversations_apart(tmp_path):
    opening = {"role": "user", "content": "refund order 4"}
    path = write_jsonl(tmp_path / "s.jsonl", [
        {**CASE, "messages": [opening, {"role": "assistant", "content": "Which card?"},
                              {"role": "user", "content": "the one ending 4111 1111 1111 1111"}]},
        {**CASE, "id": "c2", "messages": [opening]},
    ])
    _, problems = check_suite(path)
    assert [(p.case_id, p.problem) for p in problems] == [("c1", "messages holds CARD (411…11)")]
