from tests.conftest import write_jsonl


CHAT = [{"role": "system", "content": "You are the airline's assistant."},
        {"role": "user", "content": "I need to move my flight to Friday."},
        {"role": "assistant", "content": "Which booking is it?"},
        {"role": "user", "content": "Booking ZX81K."}]


def test_langsmith_examples_render_their_inputs_and_keep_outputs_and_a_chat(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("langsmith_examples.jsonl"))
    assert (report.format, report.stored, report.quarantined) == ("langsmith", 2, [])
    assert cases == [
        {"id": "6d2c1a9e-4f1b-4b8e-9c3a-2f5d7e8a1b01", "input": "How do I change the email on my account?",
         "expected": {"answer": "Go to Settings, then Account, then Email."}, "messages": None,
         "metadata": {"dataset_split": ["base"], "dataset_id": "f1e2d3c4-b5a6-4789-8abc-def012345678",
                      "created_at": "2026-11-12T10:00:00.000000+00:00",
                      "modified_at": "2026-11-12T10:00:00.000000+00:00",
                      "inputs": {"question": "How do I change the email on my account?"}}},
        {"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c02", "input": "I need to move my flight to Friday.\n\nBooking ZX81K.",
         "expected": {"message": {"role": "assistant", "content": "Booking ZX81K is moved to Friday's 09:40 flight."}},
         "messages": CHAT,
         "metadata": {"dataset_split": ["base", "multi-turn"], "dataset_id": "f1e2d3c4-b5a6-4789-8abc-def012345678",
                      "created_at": "2026-11-12T10:05:00.000000+00:00",
                      "modified_at": "2026-11-13T16:30:00.000000+00:00",
                      "source_run_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "inputs": {"messages": CHAT}}},
    ]


def test_an_example_s_langchain_messages_are_read_as_a_chat_in_either_form(tmp_path, ingest_eval):
    as_dicts = [{"type": "system", "content": "You are the airline's assistant."},
                {"type": "human", "content": "I need to move my flight to Friday."},
                {"type": "ai", "content": "Which booking is it?"}, {"type": "human", "content": "Booking ZX81K."}]
    serialized = [{"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", f"{kind}Message"],
                   "kwargs": {"content": m["content"], "type": m["type"]}}
                  for kind, m in zip(("System", "Human", "AI", "Human"), as_dicts, strict=True)]
    path = write_jsonl(tmp_path / "examples.jsonl", [
        {"id": f"e{n}", "dataset_id": "d1", "inputs": {"messages": messages}, "outputs": {"answer": "Done."}}
        for n, messages in enumerate((as_dicts, serialized))])
    report, cases = ingest_eval(path)
    assert (report.format, report.quarantined) == ("langsmith", [])
    assert [(case["input"], case["messages"]) for case in cases] == [
        ("I need to move my flight to Friday.\n\nBooking ZX81K.", CHAT)] * 2
