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


def call(call_id, name, arguments="{}"):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]}


def reply(call_id, name, content):
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def test_a_reused_tool_call_id_pairs_each_reply_with_the_call_it_answers():
    # τ-bench reuses ids within one conversation: B answers a direct search, then a one-stop search
    trace = read_openai_chat({"messages": [
        {"role": "user", "content": "Book me a one-way flight from JFK to SEA"},
        call("call_A", "get_user_details"), reply("call_A", "get_user_details", '{"name": "Mia Li"}'),
        call("call_B", "search_direct_flight"), reply("call_B", "search_direct_flight", "[]"),
        call("call_B", "search_onestop_flight"), reply("call_B", "search_onestop_flight", '[["HAT057", "HAT136"]]'),
        call("call_A", "book_reservation"),
        reply("call_A", "book_reservation", "Error: payment amount does not add up"),
        {"role": "assistant", "content": "Sorry, the booking failed."},
    ]})
    assert [(s.name, s.result, s.error) for s in trace.steps] == [
        ("get_user_details", '{"name": "Mia Li"}', None),
        ("search_direct_flight", "[]", None),
        ("search_onestop_flight", '[["HAT057", "HAT136"]]', None),
        ("book_reservation", "Error: payment amount does not add up", "Error: payment amount does not add up"),
    ]


def test_parallel_calls_under_one_id_are_answered_in_order_and_a_reply_never_answers_a_later_call():
    parallel = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_X", "type": "function", "function": {"name": "lookup", "arguments": '{"n": 1}'}},
        {"id": "call_X", "type": "function", "function": {"name": "lookup", "arguments": '{"n": 2}'}},
    ]}
    trace = read_openai_chat({"messages": [
        {"role": "user", "content": "look up 1, 2 and 3"},
        reply("call_X", "lookup", "a stray reply before any call"),
        parallel, reply("call_X", "lookup", "one"), reply("call_X", "lookup", "two"),
        call("call_X", "lookup", '{"n": 3}'),
    ]})
    assert [(s.arguments, s.result) for s in trace.steps] == [({"n": 1}, "one"), ({"n": 2}, "two"), ({"n": 3}, None)]
