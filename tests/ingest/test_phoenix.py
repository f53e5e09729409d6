"""Phoenix span dataframes, as `get_spans_dataframe()` saves them: OpenInference spans read as OTLP's are."""

import json

import pyarrow.parquet as pq

from harness_evals.ingest import detect_format, ingest_file
from harness_evals.ingest.phoenix import read_phoenix
from tests.conftest import REPO, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"
PARIS, OSLO = "946e6aee17118787c857624cd8ca07ab", "02c0eb2bd9c651db9911305259c8c4e3"


def traces_of(path):
    parsed = list(read_phoenix(path))
    return {p.record.trace_id: p.record for p in parsed if not isinstance(p.record, str)}, [
        (p.location, p.record) for p in parsed if isinstance(p.record, str)]


def test_a_spans_dataframe_saved_as_parquet_gives_one_trace_per_trace_id_field_by_field():
    assert pq.ParquetFile(FIXTURES / "phoenix_spans.parquet").metadata.num_row_groups == 3
    traces, refused = traces_of(FIXTURES / "phoenix_spans.parquet")
    assert (sorted(traces), refused) == (sorted([PARIS, OSLO]), [])
    oslo = traces[OSLO]
    assert (oslo.input, oslo.output) == ("Will it rain in Oslo?",
                                         "I could not get the current weather for Oslo, but rain is forecast.")
    assert oslo.timestamp.isoformat() == "2026-12-02T01:35:45.212994+00:00"
    assert [(s.type, s.name, s.arguments, s.result, s.error) for s in oslo.steps] == [
        ("llm_call", "gpt-4o-mini", None, None, None),
        ("tool_call", "get_weather", {"city": "Oslo"}, None, "weather service timed out"),
        ("tool_call", "get_forecast", {"city": "Oslo"}, '{"forecast": "rain"}', None),
        ("llm_call", "gpt-4o-mini", None, None, None),
    ]
    assert oslo.metadata == {"service": None, "agent": None, "root_span": "travel_agent", "spans": 5, "latency_ms": 71.762,
                             "tokens": 104, "error": None, "session": "session-7", "user": "user-3", "tags": ["beta"],
                             "metadata": {"app_version": "1.4.0"}, "release": "1.4.0"}


def test_tool_arguments_are_the_spans_input_not_the_tools_parameter_schema():
    traces, _ = traces_of(FIXTURES / "phoenix_spans.parquet")
    [weather] = [s for s in traces[PARIS].steps if s.type == "tool_call"]
    assert (weather.name, weather.arguments, weather.result) == ("get_weather", {"city": "Paris"},
                                                                 '{"temp_c": 12, "sky": "cloudy"}')


def test_a_tool_no_model_was_given_is_a_step_but_not_in_the_assembled_prompt():
    traces, _ = traces_of(FIXTURES / "phoenix_spans.parquet")
    assert traces[OSLO].prompt.names == ["system", "tool:get_weather"]
    assert "get_forecast" in [s.name for s in traces[OSLO].steps]


def test_the_json_lines_dataframe_gives_the_same_traces_to_the_millisecond():
    from_lines, refused = traces_of(FIXTURES / "phoenix_spans.jsonl")
    from_parquet, _ = traces_of(FIXTURES / "phoenix_spans.parquet")
    assert refused == []
    for trace_id, trace in from_parquet.items():
        same = from_lines[trace_id]
        assert (same.input, same.output, same.steps, same.prompt) == (trace.input, trace.output, trace.steps, trace.prompt)
        assert same.timestamp.isoformat(timespec="milliseconds") == trace.timestamp.isoformat(timespec="milliseconds")


def test_spans_of_traces_that_interleave_and_a_json_list_of_records_are_grouped_all_the_same(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "phoenix_spans.jsonl").read_text().splitlines()]
    oslo = [r for r in rows if r["context.trace_id"] == OSLO]
    paris = [r for r in rows if r["context.trace_id"] == PARIS]
    interleaved = [row for pair in zip(oslo, paris) for row in pair] + oslo[len(paris):]
    assert [r["context.trace_id"] for r in interleaved][:3] == [OSLO, PARIS, OSLO]
    by_lines, _ = traces_of(write_jsonl(tmp_path / "interleaved.jsonl", interleaved))
    records = tmp_path / "records.json"  # to_json(orient="records") without lines: one JSON list
    records.write_text(json.dumps(interleaved, indent=1))
    by_list, _ = traces_of(records)
    expected, _ = traces_of(FIXTURES / "phoenix_spans.jsonl")
    dump = lambda traces: {key: t.model_dump() for key, t in traces.items()}
    assert dump(by_lines) == dump(by_list) == dump(expected)


def test_spans_are_detected_and_ingested(store):
    assert (detect_format(FIXTURES / "phoenix_spans.parquet"), detect_format(FIXTURES / "phoenix_spans.jsonl")) == (
        "phoenix", "phoenix")
    report = ingest_file(store, FIXTURES / "phoenix_spans.parquet", kind="production")
    assert (report.stored, report.quarantined) == (2, [])
    assert store.con.execute("SELECT trace_id, metadata->>'session', steps->>'$[1].error' FROM traces ORDER BY 1").fetchall() == [
        (OSLO, "session-7", "weather service timed out"), (PARIS, "session-7", None)]


def test_spans_of_a_trace_without_its_root_span_are_quarantined_not_stored(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "phoenix_spans.jsonl").read_text().splitlines()]
    path = write_jsonl(tmp_path / "spans.jsonl", [r for r in rows if r["context.trace_id"] != OSLO or r["parent_id"]])
    traces, refused = traces_of(path)
    assert sorted(traces) == [PARIS]
    assert len(refused) == sum(r["context.trace_id"] == OSLO for r in rows) - 1
    assert refused[0][1].startswith(f"span of trace {OSLO!r}, not stored: the trace's root span (one without a parent)")
