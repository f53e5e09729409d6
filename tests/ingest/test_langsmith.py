"""LangSmith run exports: runs of one trace gathered from anywhere in the file, the root run the trace."""

import json

import pyarrow.parquet as pq

from harness_evals.ingest import detect_format, ingest_file
from harness_evals.ingest.grouping import grouped_rows
from harness_evals.ingest.langsmith import read_langsmith, runs_to_trace
from tests.conftest import REPO, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"
REFUND, SHIPPING = "01a23469-e8b0-74f6-8c9d-0a83596ce83e", "01a23469-e8bc-746f-9a9e-a0acb882bb2b"


def traces_of(path, **read):
    parsed = list(read_langsmith(path, **read))
    return {p.record.trace_id: p.record for p in parsed if not isinstance(p.record, str)}, [
        (p.location, p.record) for p in parsed if isinstance(p.record, str)]


def test_a_trace_is_its_root_run_and_every_other_run_a_step_in_tree_order():
    traces, refused = traces_of(FIXTURES / "langsmith_runs.jsonl")
    assert (sorted(traces), refused) == (sorted([REFUND, SHIPPING]), [])
    refund = traces[REFUND]
    assert (refund.input, refund.output) == ("Where is my order A-17? I want a refund.",
                                             "Your order A-17 was delivered. I could not refund it: the refund limit was exceeded.")
    assert refund.timestamp.isoformat() == "2026-12-02T01:41:25.808956+00:00"
    assert [(s.type, s.name, s.run_type) for s in refund.steps] == [
        ("llm_call", "GenericFakeChatModel", "llm"), ("tool_call", "lookup_order", "tool"),
        ("llm_call", "GenericFakeChatModel", "llm"), ("tool_call", "refund_order", "tool"),
        ("llm_call", "GenericFakeChatModel", "llm"),
    ]
    lookup, refund_call = refund.steps[1], refund.steps[3]
    assert (lookup.arguments, lookup.result, lookup.error) == (
        {"order_id": "A-17"}, '{"order_id": "A-17", "status": "delivered", "total": 42.5}', None)
    assert (refund_call.arguments, refund_call.result) == ({"order_id": "A-17", "amount": 42.5}, None)
    assert refund_call.error.startswith("ValueError('refund limit exceeded for A-17')Traceback")
    assert refund.metadata == {"run_name": "support_agent", "tags": ["prod"], "session": "thread-9", "release": "v2.3.1",
                               "runs": 6, "latency_ms": 9.014,
                               "metadata": {"revision_id": "v2.3.1", "thread_id": "thread-9"}}
    assert refund.feedback == {"stats": {"user_score": {"n": 1, "avg": 0.0, "stdev": 0.0, "errors": 0, "values": {}}},
                               "score": 0.0}


def test_the_conversation_keeps_both_calls_that_reuse_one_id_and_the_failed_reply():
    traces, _ = traces_of(FIXTURES / "langsmith_runs.jsonl")
    messages = traces[REFUND].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert [m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")] == ["call_1", "call_1"]
    assert messages[5] == {"role": "tool", "content": "Error: refund limit exceeded for A-17", "tool_call_id": "call_1",
                           "status": "error"}


def test_a_tool_the_model_was_never_given_is_a_step_but_not_in_the_assembled_prompt():
    traces, _ = traces_of(FIXTURES / "langsmith_runs.jsonl")
    shipping = traces[SHIPPING]
    assert [(s.name, s.arguments, s.result) for s in shipping.steps if s.type == "tool_call"] == [
        ("shipping_quote", {"country": "NO"}, "5 days, 9.90 EUR")]
    assert shipping.prompt.names == ["system", "tool:lookup_order", "tool:refund_order"]
    assert (shipping.metadata["release"], shipping.metadata["tags"], shipping.feedback) == ("v2.3.2", ["shipping", "prod"], None)


def test_a_bulk_export_parquet_file_over_several_row_groups_gives_the_same_traces():
    assert pq.ParquetFile(FIXTURES / "langsmith_runs.parquet").metadata.num_row_groups == 4
    from_parquet, refused = traces_of(FIXTURES / "langsmith_runs.parquet")
    from_lines, _ = traces_of(FIXTURES / "langsmith_runs.jsonl")
    assert refused == []
    assert {key: t.model_dump() for key, t in from_parquet.items()} == {key: t.model_dump() for key, t in from_lines.items()}


def test_a_root_run_written_after_another_trace_still_joins_its_trace():
    rows = [json.loads(line) for line in (FIXTURES / "langsmith_runs.jsonl").read_text().splitlines()]
    assert [r["trace_id"] for r in rows][-2:] == [SHIPPING, REFUND] and rows[-1]["parent_run_id"] is None
    traces, _ = traces_of(FIXTURES / "langsmith_runs.jsonl")
    assert traces[REFUND].metadata["runs"] == 6


def test_past_the_held_rows_limit_a_trace_is_quarantined_whole_and_its_sorted_export_stores_it(store, tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "langsmith_runs.jsonl").read_text().splitlines()]
    parsed = list(grouped_rows(write_jsonl(tmp_path / "runs.jsonl", rows), trace_id_of=lambda run: run.get("trace_id"),
                               is_root=lambda run: not run.get("parent_run_id"), build=runs_to_trace, what="run",
                               id_columns=["trace_id"], max_held_rows=3))
    refused = [(p.location, p.record) for p in parsed if isinstance(p.record, str)]
    assert [location for location, _ in refused] == [1, 2, 3, 4, 5, 10]  # every run of the refund trace, none stored
    assert refused[0][1] == (f"run of trace {REFUND!r}, not stored: its rows lie so far apart that over 3 rows of "
                             "unfinished traces had to be held; sort the export by trace id and ingest it again")
    assert [(p.record.trace_id, p.record.metadata["runs"]) for p in parsed if not isinstance(p.record, str)] == [
        (SHIPPING, 4)]
    rows.sort(key=lambda run: run["trace_id"])
    report = ingest_file(store, write_jsonl(tmp_path / "sorted.jsonl", rows), kind="production", format="langsmith")
    assert (report.stored, report.quarantined) == (2, [])
    assert store.one("SELECT metadata->>'runs' FROM traces WHERE trace_id = ?", [REFUND]) == ("6",)


def test_a_trace_read_before_its_root_run_was_written_is_not_stored_until_the_file_holds_it_whole(store, tmp_path):
    lines = (FIXTURES / "langsmith_runs.jsonl").read_text().splitlines(keepends=True)
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(lines[:6]))  # as a tracer writes runs, children first: no root run yet
    early = ingest_file(store, path, kind="production")
    assert (early.stored, [q.line for q in early.quarantined]) == (0, [1, 2, 3, 4, 5, 6])
    assert early.quarantined[0].reason == (
        f"run of trace {REFUND!r}, not stored: the trace's root run (one without a parent) is not in the file, and a "
        "trace is stored only whole; if the export was still being written, ingest the file again once it is "
        "complete, else export the trace with its root")
    path.write_text("".join(lines))
    whole = ingest_file(store, path, kind="production")
    assert (whole.stored, whole.quarantined) == (2, [])
    assert store.con.execute("SELECT trace_id, metadata->>'runs' FROM traces ORDER BY 1").fetchall() == [
        (REFUND, "6"), (SHIPPING, "4")]


def test_runs_are_detected_ingested_and_read_whole_again(store, tmp_path):
    path = FIXTURES / "langsmith_runs.jsonl"
    assert (detect_format(path), detect_format(FIXTURES / "langsmith_runs.parquet")) == ("langsmith", "langsmith")
    first = ingest_file(store, path, kind="production")
    again = ingest_file(store, path, kind="production")
    assert (first.stored, again.from_line, again.stored, again.unchanged) == (2, 1, 0, 2)
    assert store.con.execute("SELECT trace_id, steps->>'$[3].error' LIKE 'ValueError%', feedback->>'score' FROM traces "
                             "ORDER BY 1").fetchall() == [(REFUND, True, "0.0"), (SHIPPING, None, None)]


def test_a_run_without_a_trace_id_or_a_request_is_quarantined_with_its_reason(tmp_path):
    root = {"id": "r1", "parent_run_id": None, "run_type": "chain", "name": "agent", "inputs": {}, "dotted_order": "x"}
    child = {"id": "r3", "parent_run_id": "r1", "run_type": "tool", "name": "lookup", "inputs": {}, "dotted_order": "y"}
    path = write_jsonl(tmp_path / "runs.jsonl", [{**root, "trace_id": "t1"}, child])
    _, refused = traces_of(path)
    assert refused == [(1, "no request: the root run's inputs are empty and no LLM run has a user message"),
                       (2, "run without a trace id")]


def test_a_langsmith_example_is_not_taken_for_a_run():
    from harness_evals.ingest.langsmith import looks_like_langsmith

    assert not looks_like_langsmith({"id": "e1", "inputs": {"question": "hi"}, "outputs": {"answer": "hello"},
                                     "dataset_id": "d1", "created_at": "2026-11-20T10:00:00Z"})
