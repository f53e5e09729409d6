from harness_evals.suite.checks import check_output
from harness_evals.suite.model import Expected


def outcome(expected, output="", tool_calls=None, grader=None):
    return [(r.check, r.passed) for r in check_output(expected, request="q", output=output, tool_calls=tool_calls,
                                                       grader=grader)]


def test_text_checks():
    expected = Expected(equals="Refund issued.", contains=["refund"], not_contains=["sorry"], regex=r"\bissued\b")
    assert outcome(expected, " Refund issued. ") == [
        ("equals", True), ("contains", True), ("not_contains", True), ("regex", True)
    ]
    assert outcome(expected, "Sorry, no REFUND") == [
        ("equals", False), ("contains", True), ("not_contains", False), ("regex", False)
    ]


def test_json_schema_check():
    expected = Expected(json_schema={"type": "object", "required": ["order_id"]})
    assert outcome(expected, '{"order_id": 4}') == [("json_schema", True)]
    assert outcome(expected, '{"id": 4}') == [("json_schema", False)]
    [result] = check_output(expected, request="q", output="not json", tool_calls=None)
    assert (result.passed, result.detail.startswith("output is not JSON")) == (False, True)


def test_an_empty_json_schema_is_the_check_that_the_answer_is_any_json():
    expected = Expected(json_schema={})
    assert outcome(expected, '["refund", 4]') == [("json_schema", True)]
    assert outcome(expected, "Refund issued.") == [("json_schema", False)]


def test_tool_checks_need_the_tool_calls():
    expected = Expected(required_tools=["lookup"], forbidden_tools=["transfer_to_human"])
    assert outcome(expected, "ok", ["lookup", "reply"]) == [("required_tools", True), ("forbidden_tools", True)]
    assert outcome(expected, "ok", ["transfer_to_human"]) == [("required_tools", False), ("forbidden_tools", False)]
    assert outcome(expected, "ok", None) == [("tools", False)]


def test_a_rubric_is_graded_when_a_grader_is_given_and_skipped_otherwise():
    expected = Expected(rubric="apologises")
    assert outcome(expected, "sorry") == [("rubric", None)]
    assert outcome(expected, "sorry", grader=lambda q, out, rubric: "sorry" in out) == [("rubric", True)]
    assert outcome("a reference answer") == [("reference", None)]
