import json

from tests.conftest import write_jsonl


def test_deepeval_goldens_saved_by_deepeval_keep_their_expected_output_and_tools(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("deepeval_goldens.json"))
    assert (report.format, report.stored, report.quarantined) == ("deepeval", 2, [])
    assert [{key: case[key] for key in ("input", "expected", "metadata", "messages")} for case in cases] == [
        {"input": "I was charged twice for order 1042, can I get one refunded?",
         "expected": {"required_tools": ["lookup_order", "issue_refund"],
                      "reference": "The duplicate charge on order 1042 is refunded to the original card."},
         "metadata": {"suite": "billing", "priority": "high",
                      "context": ["Duplicate charges are refunded within 5 business days."],
                      "comments": "from a support escalation",
                      "expected_tools": [{"name": "lookup_order", "type": "FUNCTION",
                                          "inputParameters": {"order_id": "1042"}},
                                         {"name": "issue_refund", "type": "FUNCTION"}]},
         "messages": None},
        {"input": "What is your returns window?", "expected": "30 days from delivery.",
         "metadata": {"retrieval_context": ["Returns are accepted within 30 days of delivery."],
                      "name": "returns-window"},
         "messages": None},
    ]


def test_a_conversational_golden_is_quarantined_saying_why_and_the_goldens_around_it_load(tmp_path, ingest_eval):
    path = tmp_path / "goldens.json"
    path.write_text(json.dumps([
        {"input": "What is your returns window?", "expected_output": "30 days."},
        {"scenario": "A customer wants a refund", "turns": [{"role": "user", "content": "refund"}],
         "expected_outcome": "refunded", "additional_metadata": None},
    ]))
    report, cases = ingest_eval(path)
    assert [case["input"] for case in cases] == ["What is your returns window?"]
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (2, "input: none: a multi-turn ConversationalGolden (scenario, turns) is not read; "
            "write its request as a golden's input")]
    jsonl = write_jsonl(tmp_path / "goldens.jsonl", [{"input": "Do you ship abroad?", "expected_output": "Yes."}])
    assert ingest_eval(jsonl)[1][0]["expected"] == "Yes."
