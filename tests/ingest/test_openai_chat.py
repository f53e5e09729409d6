import pytest

from harness_evals.ingest.openai_chat import looks_like_openai_chat, read_openai_chat

RECORD = {
    "id": "conv-1",
    "created": 1795168800,
    "messages": [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": [{"type": "text", "text": "Cancel order 42"}, {"type": "image_url"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "cancel_order", "arguments": "{\"order\": 42}"}},
            {"id": "call_2", "type": "function", "function": {"name": "notify", "arguments": "{not json"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\": \"cancelled\"}"},
        {"role": "assistant", "content": "Order 42 is cancelled."},
    ],
    "metadata": {"release": "r1"},
}


def test_tool_calls_become_steps_paired_with_their_results():
    trace = read_openai_chat(RECORD)
    assert trace.trace_id == "conv-1"
    assert trace.input == "Cancel order 42"
    assert trace.output == "Order 42 is cancelled."
    assert [(s.name, s.arguments, s.result) for s in trace.steps] == [
        ("cancel_order", {"order": 42}, '{"status": "cancelled"}'),
        ("notify", "{not json", None),
    ]
    assert trace.timestamp.isoformat() == "2026-11-20T10:00:00+00:00"
    assert trace.metadata == {"release": "r1"} and trace.messages == RECORD["messages"]


def test_a_record_without_id_gets_a_stable_id_from_its_content():
    record = {"messages": RECORD["messages"]}
    assert read_openai_chat(record).trace_id == read_openai_chat(dict(record)).trace_id
    assert read_openai_chat(record).trace_id.startswith("chat-")
    other = {"messages": RECORD["messages"][:2]}
    assert read_openai_chat(other).trace_id != read_openai_chat(record).trace_id


def test_a_conversation_with_no_user_text_is_refused():
    with pytest.raises(ValueError, match="no user message"):
        read_openai_chat({"messages": [{"role": "assistant", "content": "hello"}]})


def test_detection():
    assert looks_like_openai_chat(RECORD)
    assert not looks_like_openai_chat({"input": "x", "messages": []})
