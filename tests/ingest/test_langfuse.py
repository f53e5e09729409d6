"""Langfuse exports: traces with their observations, the UI's trace download, and observations alone."""

import json

import pytest

from harness_evals.ingest import IngestError, detect_format, ingest_file
from harness_evals.ingest.langfuse import looks_like_langfuse, read_langfuse
from tests.conftest import REPO, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"
REFUND_STEPS = [
    ("llm_call", "gpt-4o", None, None, None),
    ("tool_call", "lookup_order", {"order_id": "A-17"}, {"status": "delivered", "total": 42.5}, None),
    ("llm_call", "gpt-4o", None, None, None),
    ("tool_call", "refund_order", {"order_id": "A-17", "amount": 42.5}, None, "refund limit exceeded"),
    ("llm_call", "gpt-4o", None, None, None),
]


def traces_of(path):
    parsed = list(read_langfuse(path))
    return {p.record.trace_id: p.record for p in parsed if not isinstance(p.record, str)}, [
        (p.location, p.record) for p in parsed if isinstance(p.record, str)]


def steps_of(trace):
    return [(s.type, s.name, s.arguments, s.result, s.error) for s in trace.steps]


def test_traces_with_nested_observations_become_traces_field_by_field():
    traces, refused = traces_of(FIXTURES / "langfuse_traces.jsonl")
    assert refused == [(3, "not valid JSON (Expecting ',' delimiter at column 1)")]
    refund = traces["trace-refund-1"]
    assert (refund.input, refund.output) == ("Where is my order A-17? I want a refund.",
                                             "Order A-17 was delivered; I could not refund it.")
    assert refund.timestamp.isoformat() == "2026-11-20T10:00:00+00:00"
    assert steps_of(refund) == REFUND_STEPS  # the agent observation that holds them all is the trace, not a step
    assert [s.observation_type for s in refund.steps] == ["GENERATION", "TOOL", "GENERATION", "TOOL", "GENERATION"]
    assert refund.metadata == {
        "name": "support-agent", "session": "sess-42", "user": "user-7", "tags": ["prod", "refunds"],
        "release": "2026.11.3", "version": "v5", "environment": "production", "observations": 7, "latency_ms": 9000.0,
        "tokens": 292, "errors": ["pii-filter: filter service unavailable"], "metadata": {"region": "eu"}}
    assert refund.feedback == {"scores": [{"name": "user-feedback", "value": 0, "comment": "it did not refund me",
                                           "source": "API"}], "score": 0, "comment": "it did not refund me"}
    assert refund.prompt.names == ["system", "tool:lookup_order", "tool:refund_order"]


def test_the_conversation_is_the_last_generations_with_both_calls_that_reuse_one_id():
    traces, _ = traces_of(FIXTURES / "langfuse_traces.jsonl")
    messages = traces["trace-refund-1"].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert [m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")] == ["call_1", "call_1"]
    assert messages[-1] == {"role": "assistant", "content": "Order A-17 was delivered; I could not refund it."}


def test_a_trace_without_input_takes_its_generations_and_a_tool_defined_nowhere_stays_a_step():
    traces, _ = traces_of(FIXTURES / "langfuse_traces.jsonl")
    shipping = traces["trace-ship-2"]
    assert (shipping.input, shipping.output) == ("Do you ship to Norway?", "Yes: 5 days, 9.90 EUR.")
    assert steps_of(shipping)[1] == ("tool_call", "shipping_quote", {"country": "NO"}, "5 days, 9.90 EUR", None)
    assert shipping.prompt.names == ["system"]
    assert shipping.feedback == {"scores": [{"name": "helpfulness", "value": 0.9, "source": "API"},
                                            {"name": "tone", "value": "friendly", "source": "API"}]}


def test_the_ui_trace_download_gives_the_same_trace():
    traces, refused = traces_of(FIXTURES / "langfuse_trace_download.json")
    assert (list(traces), refused) == (["trace-refund-1"], [])
    trace = traces["trace-refund-1"]
    assert steps_of(trace) == REFUND_STEPS
    assert (trace.input, trace.metadata["session"], trace.metadata["tags"], trace.feedback["score"]) == (
        "Where is my order A-17? I want a refund.", "sess-42", ["prod", "refunds"], 0)


def test_observations_exported_alone_are_grouped_by_trace_though_the_traces_interleave():
    lines = [json.loads(line)["traceId"] for line in (FIXTURES / "langfuse_observations.jsonl").read_text().splitlines()]
    assert lines[:4] == ["trace-ship-2", "trace-refund-1", "trace-ship-2", "trace-ship-2"]
    traces, refused = traces_of(FIXTURES / "langfuse_observations.jsonl")
    assert (sorted(traces), refused) == (["trace-refund-1", "trace-ship-2"], [])
    refund = traces["trace-refund-1"]
    assert steps_of(refund) == REFUND_STEPS
    assert refund.timestamp.isoformat() == "2026-11-20T10:00:00+00:00"
    assert refund.metadata == {"name": "support-agent", "user": "user-7", "tags": ["prod"], "observations": 7,
                               "tokens": 292, "errors": ["pii-filter: filter service unavailable"]}


def test_observations_of_a_trace_without_its_root_observation_are_quarantined_not_stored(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "langfuse_observations.jsonl").read_text().splitlines()]
    path = write_jsonl(tmp_path / "observations.jsonl", [row for row in rows if row["id"] != "obs-a-root"])
    traces, refused = traces_of(path)
    assert sorted(traces) == ["trace-ship-2"]  # its three observations have no parent: each a root
    assert len(refused) == 6 and {reason for _, reason in refused} == {
        "observation of trace 'trace-refund-1', not stored: the trace's root observation (one without a parent) is not "
        "in the file, and a trace is stored only whole; if the export was still being written, ingest the file again "
        "once it is complete, else export the trace with its root"}


def test_a_traces_table_export_gives_traces_without_steps_and_its_score_columns_as_feedback(tmp_path):
    rows = [{"id": "t-9", "timestamp": "2026-11-20T10:00:00.000Z", "name": "qa", "userId": None, "sessionId": "s-1",
             "release": None, "version": None, "environment": "default", "tags": [], "bookmarked": False, "public": False,
             "input": {"args": ["How do I reset my password?"], "kwargs": {}}, "output": "Use the reset link.",
             "metadata": {}, "comments": [], "correctness": [0.25], "unused-score": None}]
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(rows))  # the batch export's JSON: one list
    traces, refused = traces_of(path)
    trace = traces["t-9"]
    assert (refused, trace.input, trace.output, trace.steps) == ([], "How do I reset my password?", "Use the reset link.", [])
    assert trace.feedback == {"scores": [{"name": "correctness", "value": 0.25}], "score": 0.25}


def test_langfuse_files_are_detected_and_a_trace_with_an_id_and_input_is_not_taken_for_an_eval_case(store):
    for name in ("langfuse_traces.jsonl", "langfuse_trace_download.json", "langfuse_observations.jsonl"):
        assert detect_format(FIXTURES / name) == "langfuse"
    report = ingest_file(store, FIXTURES / "langfuse_traces.jsonl", kind="production")
    assert (report.stored, [q.line for q in report.quarantined]) == (2, [3])
    with pytest.raises(IngestError, match=r"looks like production traces \(langfuse\), not eval cases"):
        ingest_file(store, FIXTURES / "langfuse_traces.jsonl", kind="eval")


def test_a_langfuse_dataset_item_is_not_taken_for_a_trace(tmp_path):
    item = {"id": "item-1", "datasetId": "ds-1", "input": {"question": "hi"}, "expectedOutput": "hello",
            "sourceTraceId": "trace-refund-1", "status": "ACTIVE", "createdAt": "2026-11-20T10:00:00.000Z"}
    assert not looks_like_langfuse(item)
    with pytest.raises(IngestError, match="looks like an eval set"):
        ingest_file(None, write_jsonl(tmp_path / "items.jsonl", [item]), kind="production")
