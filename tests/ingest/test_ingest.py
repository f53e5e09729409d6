import json

import pytest

from harness_evals.errors import UserError
from harness_evals.ingest import IngestError, detect_format, ingest_file
from harness_evals.redact import Redactor
from tests.conftest import SAMPLE, trace, write_jsonl


def stored_ids(store, table="traces", column="trace_id"):
    return [row[0] for row in store.con.execute(f"SELECT {column} FROM {table} ORDER BY 1").fetchall()]


def test_a_broken_line_is_quarantined_with_its_number_and_the_rest_loads(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "first"), '{"trace_id": "b", "input": ', trace("c", "third")])
    report = ingest_file(store, path, kind="production")
    assert (report.stored, report.unchanged, len(report.quarantined)) == (2, 0, 1)
    assert report.quarantined[0].line == 2
    assert report.quarantined[0].reason.startswith("not valid JSON")
    assert stored_ids(store) == ["a", "c"]
    assert store.con.execute("SELECT source, line, raw FROM quarantine").fetchall() == [
        (str(path), 2, '{"trace_id": "b", "input": ')
    ]


def test_a_record_that_breaks_the_schema_is_quarantined_with_the_field(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "ok"), {"trace_id": "b", "timestamp": None, "input": "  "},
                                              {"trace_id": "c", "input": "x", "timestamp": "not a time"}, [1, 2]])
    report = ingest_file(store, path, kind="production", format="canonical")
    reasons = {q.line: q.reason for q in report.quarantined}
    assert reasons[2] == "input: input is empty: a trace needs the user's request to be mined"
    assert reasons[3].startswith("timestamp: 'not a time' is not a timestamp this reads: use ISO 8601")
    assert reasons[4] == "expected a JSON object, got list"
    assert stored_ids(store) == ["a"]


def test_a_quarantine_reason_is_one_line_even_when_the_field_it_names_holds_a_line_break(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "ok"), trace("b", "ok", **{"note\nfrom the exporter": 1})])
    [refused] = ingest_file(store, path, kind="production").quarantined
    assert refused.reason == "note\\nfrom the exporter: Extra inputs are not permitted"


def test_reingesting_the_same_file_changes_nothing(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "one"), trace("b", "two")])
    first = ingest_file(store, path, kind="production")
    before = store.con.execute("SELECT * FROM traces ORDER BY trace_id").fetchall()
    second = ingest_file(store, path, kind="production")
    assert (first.stored, second.stored, second.unchanged, len(second.quarantined)) == (2, 0, 0, 0)
    assert second.from_line == 3  # read on from the watermark: nothing new
    assert store.con.execute("SELECT * FROM traces ORDER BY trace_id").fetchall() == before


def test_a_growing_log_is_read_from_where_the_last_ingest_stopped(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "one"), trace("b", "two")])
    ingest_file(store, path, kind="production")
    with path.open("a") as handle:
        handle.write(json.dumps(trace("c", "three")) + "\n" + "{broken\n" + json.dumps(trace("d", "four"))[:20])
    report = ingest_file(store, path, kind="production")
    assert (report.from_line, report.stored, report.unchanged) == (3, 1, 0)
    assert [(q.line, q.reason.split(" (")[0]) for q in report.quarantined] == [(4, "not valid JSON"), (5, "not valid JSON")]
    with path.open("a") as handle:  # the writer finishes its last line: it is read again, whole
        handle.write(json.dumps(trace("d", "four"))[20:] + "\n")
    report = ingest_file(store, path, kind="production")
    assert (report.from_line, report.stored, report.quarantined) == (5, 1, [])
    assert stored_ids(store) == ["a", "b", "c", "d"]


def test_a_rewritten_file_is_read_from_the_start(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "one"), trace("b", "two")])
    ingest_file(store, path, kind="production")
    write_jsonl(path, [trace("x", "rotated log"), trace("a", "one")])
    report = ingest_file(store, path, kind="production")
    assert (report.from_line, report.stored, report.unchanged) == (1, 1, 1)


def test_a_changed_record_under_a_stored_id_is_quarantined_and_the_stored_one_kept(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "a.jsonl", [trace("a", "original")]), kind="production")
    report = ingest_file(store, write_jsonl(tmp_path / "b.jsonl", [trace("a", "changed")]), kind="production")
    assert report.stored == 0
    assert "already stored with different content" in report.quarantined[0].reason
    assert store.con.execute("SELECT input FROM traces").fetchall() == [("original",)]


def test_the_same_id_twice_in_one_file_keeps_the_first(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "one"), trace("a", "one"), trace("a", "two")])
    report = ingest_file(store, path, kind="production")
    assert (report.stored, report.unchanged, [q.line for q in report.quarantined]) == (1, 1, [3])


def test_timestamps_without_a_zone_are_taken_as_utc(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{**trace("a", "x"), "timestamp": "2026-11-20T10:00:00"}])
    ingest_file(store, path, kind="production")
    assert store.con.execute("SELECT epoch(timestamp) FROM traces").fetchone()[0] == 1795168800


def test_eval_cases_are_stored_with_their_expected_answer(store, tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [{"id": "e1", "input": "refund please", "expected": {"tool": "refund"}},
                                              {"id": "e2"}])
    report = ingest_file(store, path, kind="eval")
    assert report.stored == 1 and report.quarantined[0].reason == "input: Field required"
    assert store.con.execute("SELECT case_id, expected::VARCHAR FROM eval_cases").fetchall() == [
        ("e1", '{"tool": "refund"}')
    ]


def test_eval_fields_of_other_formats_go_to_metadata_unless_they_clash_with_it_in_our_own_format(store, tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [
        {"id": "e1", "input": "refund please", "target": ["refund"], "metadata": {"suite": "smoke"}, "difficulty": 2},
        {"id": "e2", "input": "reset my password", "category": "account", "metadata": {"category": "login"}},
    ])
    report = ingest_file(store, path, kind="eval", format="eval-case")
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (2, "category given both as a field and in metadata: keep one")]
    assert store.con.execute("SELECT case_id, expected::VARCHAR, metadata::VARCHAR FROM eval_cases").fetchall() == [
        ("e1", '["refund"]', '{"suite": "smoke", "difficulty": 2}')]


def test_format_is_detected_from_the_first_record(tmp_path):
    assert detect_format(write_jsonl(tmp_path / "c.jsonl", [trace("a", "x")])) == "canonical"
    chat = write_jsonl(tmp_path / "o.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    assert detect_format(chat) == "openai-chat"
    with pytest.raises(IngestError, match="pass --format"):
        detect_format(write_jsonl(tmp_path / "u.jsonl", [{"something": "else"}]))


def test_a_missing_file_and_an_unknown_format_are_user_errors(store, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest_file(store, tmp_path / "absent.jsonl", kind="production")
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "x")])
    with pytest.raises(UserError, match="^unknown trace format 'parquet': choose one of otlp, tau-bench, tau2, mint, "
                       r"langfuse, langsmith, phoenix, openai-chat, canonical, auto \(detect it from the first record\), or name a module:function$"):
        ingest_file(store, path, kind="production", format="parquet")


def test_the_bundled_sample_loads_without_loss(store):
    reports = [
        ingest_file(store, SAMPLE / "traces.jsonl", kind="production"),
        ingest_file(store, SAMPLE / "chat_traces.jsonl", kind="production"),
        ingest_file(store, SAMPLE / "evals.jsonl", kind="eval"),
    ]
    assert [(r.format, r.stored, len(r.quarantined)) for r in reports] == [
        ("canonical", 200, 0), ("openai-chat", 80, 0), ("eval-case", 25, 0)
    ]
    steps = json.loads(store.con.execute("SELECT steps FROM traces WHERE trace_id = 'tau-airline-00-0'").fetchone()[0])
    assert steps[0]["name"] == "get_user_details" and steps[0]["arguments"] == {"user_id": "mia_li_3668"}
    # τ-bench reused two call ids in this trajectory: each step keeps the reply to its own call
    assert [(step["name"], step["result"][:17]) for step in steps] == [
        ("get_user_details", '{"name": {"first_'), ("search_direct_flight", '[{"flight_number"'),
        ("search_onestop_flight", '[[{"flight_number'), ("calculate", "255.0"),
        ("book_reservation", "Error: payment am"), ("think", ""), ("calculate", "55.0"),
        ("book_reservation", '{"reservation_id"'),
    ]


def test_no_raw_stores_redacted_text_and_reingesting_still_changes_nothing(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [
        trace("t1", "mail ana@example.com", output="done, ana@example.com",
              steps=[{"name": "send", "arguments": {"to": "ana@example.com"}}]),
    ])
    assert ingest_file(store, path, kind="production", redactor=Redactor()).stored == 1
    assert store.one("SELECT input, output, steps FROM traces") == (
        "mail <EMAIL_1>", "done, <EMAIL_1>",
        '[{"type": "tool_call", "name": "send", "arguments": {"to": "<EMAIL_1>"}, "result": null, "error": null}]',
    )
    copy = tmp_path / "copy.jsonl"  # another source, so no watermark: its records are compared by raw content
    copy.write_bytes(path.read_bytes())
    assert ingest_file(store, copy, kind="production", redactor=Redactor()).unchanged == 1


def test_a_file_that_stored_nothing_is_told_by_its_first_reason(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"trace_id": "a", "input": "x"}, "{oops"])
    report = ingest_file(store, path, kind="production")
    assert report.stored_nothing
    assert report.why_nothing_stored() == (
        f"{path}: nothing stored: all 2 records were quarantined, the first (line 1) as: timestamp: Field required; "
        "fix the records and ingest again (each reason is in the quarantine table)")
    assert not ingest_file(store, write_jsonl(tmp_path / "u.jsonl", [trace("b", "y"), "{oops"]),
                           kind="production").stored_nothing


@pytest.mark.parametrize("fixture, expected", [
    ("otlp_genai.json", "otlp"), ("otlp_openinference.jsonl", "otlp"), ("tau_bench_airline.json", "tau-bench"),
    ("tau2_telecom.json", "tau2"), ("mint_gsm8k.jsonl", "mint"), ("langfuse_traces.jsonl", "langfuse"),
    ("langfuse_trace_download.json", "langfuse"), ("langfuse_observations.jsonl", "langfuse"),
    ("langsmith_runs.jsonl", "langsmith"), ("langsmith_runs.parquet", "langsmith"),
    ("phoenix_spans.jsonl", "phoenix"), ("phoenix_spans.parquet", "phoenix"),
    ("../../data/sample/traces.jsonl", "canonical"), ("../../data/sample/chat_traces.jsonl", "openai-chat"),
])
def test_every_fixture_is_claimed_by_its_own_format_and_no_other(fixture, expected):
    from harness_evals.ingest import CATCH_ALL_FORMAT, TRACE_FORMATS, _claims
    from harness_evals.ingest.framing import first_value
    from tests.conftest import REPO

    path = REPO / "tests" / "fixtures" / fixture
    first = first_value(path)
    claims = [name for name, trace_format in TRACE_FORMATS.items()
              if name != CATCH_ALL_FORMAT and _claims(trace_format, first)]
    assert (detect_format(path), claims) == (expected, [] if expected == "canonical" else [expected])
