from harness_evals.ingest import detect_format, ingest_file
from harness_evals.ingest.otlp import read_otlp
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def test_genai_spans_become_one_trace_in_tree_order():
    parsed = list(read_otlp(FIXTURES / "otlp_genai.json"))
    traces = {p.record.trace_id: p.record for p in parsed if not isinstance(p.record, str)}
    trace = traces["5b8efff798038103d269b633813fc60c"]
    assert trace.input == "Book me a flight to Lisbon next Friday"
    assert trace.output == "Booked TP123 for Friday."
    assert [(s.type, s.name, s.error) for s in trace.steps] == [
        ("llm_call", "gpt-4o", None),
        ("tool_call", "search_flights", None),
        ("subagent_call", "payments", None),
        ("tool_call", "charge_card", "card declined"),
        ("tool_call", "book_flight", None),
    ]
    assert trace.steps[1].arguments == {"destination": "LIS", "date": "2026-11-27"}
    assert trace.steps[1].result == '[{"flight": "TP123"}]'
    assert trace.timestamp.isoformat() == "2026-11-20T10:00:00+00:00"
    assert trace.metadata == {"service": "travel-agent", "agent": "travel_planner", "root_span": "invoke_agent travel_planner",
                              "spans": 6, "latency_ms": 5000.0, "tokens": 138, "error": None}


def test_a_trace_with_no_user_message_is_refused_with_the_attributes_looked_at():
    [refused] = [p for p in read_otlp(FIXTURES / "otlp_genai.json") if isinstance(p.record, str)]
    assert refused.record.startswith("no user message in any span")


def test_openinference_spans_grouped_across_lines_and_bad_lines_named():
    parsed = list(read_otlp(FIXTURES / "otlp_openinference.jsonl"))
    reasons = sorted((p.location, p.record) for p in parsed if isinstance(p.record, str))
    assert reasons == [(2, "span without a traceId"), (3, "not valid JSON (Expecting value at column 1)")]
    [trace] = [p.record for p in parsed if not isinstance(p.record, str)]
    assert (trace.trace_id, trace.input, trace.output) == (
        "4bf92f3577b34da6a3ce929d0e0e4736", "What's the weather in Paris?", "It is 12°C and cloudy in Paris."
    )
    assert [(s.type, s.name, s.arguments) for s in trace.steps] == [
        ("llm_call", "gpt-4o-mini", None), ("tool_call", "get_weather", {"city": "Paris"})
    ]


def test_otlp_is_detected_and_ingested_with_counts_that_add_up(store):
    assert detect_format(FIXTURES / "otlp_genai.json") == "otlp"
    assert detect_format(FIXTURES / "otlp_openinference.jsonl") == "otlp"
    report = ingest_file(store, FIXTURES / "otlp_openinference.jsonl", kind="production")
    assert (report.stored, len(report.quarantined)) == (1, 2)


def test_tool_spans_that_share_a_tool_call_id_keep_their_own_results():
    from harness_evals.ingest.otlp import spans_to_trace

    def span(span_id, parent, start, attrs):
        return {"traceId": "t1", "spanId": span_id, "parentSpanId": parent, "name": span_id,
                "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1),
                "attributes": [{"key": key, "value": {"stringValue": value}} for key, value in attrs.items()]}

    def tool(name, result):
        return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.call.id": "call_B",
                "gen_ai.tool.call.result": result}

    trace = spans_to_trace("t1", [
        span("root", None, 1, {"gen_ai.operation.name": "invoke_agent", "input.value": "find flights"}),
        span("s1", "root", 2, tool("search_direct_flight", "[]")),
        span("s2", "root", 3, tool("search_onestop_flight", '[["HAT057"]]')),
    ])
    assert [(s.name, s.result) for s in trace.steps] == [("search_direct_flight", "[]"),
                                                         ("search_onestop_flight", '[["HAT057"]]')]
