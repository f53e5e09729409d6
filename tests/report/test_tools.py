"""The tool report: usage per tool and subagent, and each kind of misuse finding, on traffic with
misuse planted, on τ-bench and τ²-bench fixtures, and from the command line."""

import json

import pytest

from harness_evals.ingest import ingest_file
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.report.tools import argument_problems, argument_shape, tool_report
from harness_evals.report.workspace import Workspace
from tests.conftest import trace, write_jsonl
from tests.test_cli import FIXTURES, invoke

SYSTEM = "You help ACME customers.\n# Policy\nNever share card numbers.\n# Refunds\nFollow the Policy for refunds."


def definition(name: str, description: str, properties: dict, required: tuple = ()) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": list(required)}}}


def described(kind: str) -> dict:
    return {"type": kind, "description": f"a {kind}"}


TOOLS = [
    definition("lookup_order", "Look up an order by its id. Use it before any refund.",
               {"order_id": described("string")}, ("order_id",)),
    definition("issue_refund", "Refund an order.", {"order_id": described("string"), "amount": {"type": "number"}},
               ("order_id", "amount")),
    definition("search_orders", "Search orders by the customer's email. Use it when there is no order id.",
               {"email": described("string")}, ("email",)),
    definition("find_orders", "Find orders by email or name. Use it when search_orders finds nothing.",
               {"email": described("string"), "name": described("string")}),
    definition("export_orders", "Export orders as CSV. Use it only when asked for an export.", {}),
]


def chat(trace_id: str, calls: list, *, release: str = "2026.11.1", reward: float = 1.0, tools: list = TOOLS,
         system: str = SYSTEM, request: str | None = None, created: str = "2026-11-20T10:00:00Z") -> dict:
    """A chat log as an OpenAI-style app writes it: the tools it offered, each call and its reply."""
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": request or f"I need help with my order ({trace_id})"}]
    for number, (name, arguments, reply) in enumerate(calls):
        messages += [{"role": "assistant", "content": None, "tool_calls": [
                         {"id": f"call_{number}", "type": "function",
                          "function": {"name": name, "arguments": json.dumps(arguments)}}]},
                     {"role": "tool", "tool_call_id": f"call_{number}", "content": reply}]
    messages.append({"role": "assistant", "content": "All done."})
    return {"id": trace_id, "created": created, "metadata": {"release": release, "reward": reward}, "tools": tools,
            "messages": messages}


FOUND = '{"order_id": "#W300", "status": "delivered"}'
PLANTED = (
    # a parameter misnamed: unknown and missing at once, and every such call fails
    [chat(f"misnamed-{n}", [("lookup_order", {"orderId": f"#W10{n}"}, "Error: order_id is required")], reward=0.0)
     for n in range(4)]
    # an amount given as text
    + [chat(f"text-amount-{n}", [("lookup_order", {"order_id": f"#W20{n}"}, FOUND),
                                 ("issue_refund", {"order_id": f"#W20{n}", "amount": "12.50"}, '{"refunded": true}')])
       for n in range(3)]
    # one search comes back empty, the other is called next with the same email
    + [chat(f"fallback-{n}", [("search_orders", {"email": "jane.doe@example.com"}, "[]"),
                              ("find_orders", {"email": "jane.doe@example.com"}, f"[{FOUND}]")]) for n in range(3)]
    # a tool the prompt does not define
    + [chat(f"undefined-{n}", [("lookup_order", {"order_id": f"#W40{n}"}, FOUND),
                               ("cancel_order", {"order_id": f"#W40{n}"}, '{"cancelled": true}')]) for n in range(3)]
    # an id given as a number: twice only, not yet a pattern
    + [chat(f"rare-{n}", [("lookup_order", {"order_id": 501 + n}, FOUND)]) for n in range(2)]
)


@pytest.fixture
def planted(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "chat.jsonl", PLANTED), kind="production")
    return store


def cited(report) -> list[tuple]:
    return [(f.kind, f.tools, f.traces, f.trace_ids) for f in report.findings]


def test_each_planted_misuse_is_found_once_it_has_shown_up_three_times_with_its_traces(planted):
    report = tool_report(planted)
    everyone = tuple(sorted(row["id"] for row in PLANTED)[:5])
    misnamed = tuple(f"misnamed-{n}" for n in range(4))
    assert cited(report) == [
        ("unused", ("export_orders",), 15, everyone),
        ("no_when_to_use", ("issue_refund",), 15, everyone),
        ("undescribed_parameters", ("issue_refund",), 15, everyone),
        ("unknown_argument", ("lookup_order",), 4, misnamed),
        ("missing_argument", ("lookup_order",), 4, misnamed),
        ("error_shape", ("lookup_order",), 4, misnamed),
        ("wrong_type", ("issue_refund",), 3, tuple(f"text-amount-{n}" for n in range(3))),
        ("confusion", ("search_orders", "find_orders"), 3, tuple(f"fallback-{n}" for n in range(3))),
        ("undefined", ("cancel_order",), 3, tuple(f"undefined-{n}" for n in range(3))),
    ]
    what = {f.kind: f.what for f in report.findings}
    assert what["unknown_argument"] == (
        "lookup_order is called with orderId, a name its definition does not have: 4 calls in 4 traces")
    assert what["wrong_type"] == (
        "issue_refund's amount is given as string, not the type its definition says: 3 calls in 3 traces")
    assert what["error_shape"] == ("lookup_order fails in 4 of 4 traces calling it shaped {orderId: #a9}, against 0 "
                                   "of 8 calling it with other shapes")
    assert what["confusion"] == ("search_orders came back empty, then find_orders was called with similar arguments: "
                                 "3 times in 3 traces; names 58% alike, descriptions 56% alike")
    assert what["undefined"] == (
        "cancel_order is called in 3 traces whose prompt does not define it; no prompt defines it")
    assert what["no_when_to_use"] == ('Tools described by what they do, not when to use them (1): issue_refund '
                                      '("Refund an order.") (each in the prompt of 15 traces)')
    assert all(f.started == "2026.11.1" for f in report.findings)
    confusion = next(f for f in report.findings if f.kind == "confusion")
    assert confusion.example == {"search_orders": {"email": "<EMAIL_1>"}, "find_orders": {"email": "<EMAIL_1>"}}
    # the number given for an id is a pattern once two traces count as enough
    assert ("wrong_type", ("lookup_order",), 2, ("rare-0", "rare-1")) in cited(tool_report(planted, min_traces=2))


def test_usage_counts_calls_traces_errors_empty_results_and_the_last_call_before_a_failure(planted):
    rows = {row.name: row for row in tool_report(planted).usage}
    assert [(name, row.calls, row.traces, row.errors, row.empty, row.last_before_failure, row.defined)
            for name, row in rows.items()] == [
        ("lookup_order", 12, 12, 4, 0, 4, True),
        ("cancel_order", 3, 3, 0, 0, 0, False),
        ("find_orders", 3, 3, 0, 0, 0, True),
        ("issue_refund", 3, 3, 0, 0, 0, True),
        ("search_orders", 3, 3, 0, 3, 0, True),
    ]
    assert rows["lookup_order"].error_rate == pytest.approx(4 / 12)
    assert rows["lookup_order"].failure_share == pytest.approx(4 / 12)


def test_a_call_repeated_right_after_itself_is_a_pattern_once_three_traces_show_it(store, tmp_path):
    again = ("lookup_order", {"order_id": "#W7"}, FOUND)
    rows = [chat(f"loop-{n}", [again] * (n + 2)) for n in range(3)]
    rows += [chat("once-more", [again, ("lookup_order", {"order_id": "#W8"}, FOUND), again])]  # not back to back
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    [repeated] = [f for f in tool_report(store).findings if f.kind == "repeated"]
    assert (repeated.tools, repeated.traces, repeated.trace_ids, repeated.example) == (
        ("lookup_order",), 3, ("loop-0", "loop-1", "loop-2"), {"order_id": "#W7"})
    assert repeated.what == ("lookup_order is called again with the same arguments right after itself: 6 times in 3 "
                             "traces, up to 3 in one")
    assert [(u.name, u.calls, u.repeated) for u in tool_report(store).usage] == [("lookup_order", 12, 6)]


def test_arguments_are_read_against_the_json_schema_of_the_definition():
    schema = TOOLS[1]["function"]
    assert argument_problems({"order_id": "#W1", "amount": 12}, schema) == []
    assert argument_problems({"order_id": "#W1", "amount": True, "note": "x"}, schema) == [
        ("unknown_argument", "note", ""), ("wrong_type", "amount", "boolean")]
    assert argument_problems("refund #W1", schema) == [("wrong_type", "(arguments)", "string")]
    assert argument_problems(None, schema) == [("missing_argument", "order_id", ""), ("missing_argument", "amount", "")]
    assert argument_shape({"date": "2024-05-20", "origin": "JFK", "note": "as soon as possible"}) == (
        "{date: 9-9-9, note: text, origin: a}")


def test_the_descriptions_of_confused_tools_are_compared_by_an_embedder_when_one_is_given(planted):
    confusion = next(f for f in tool_report(planted, embedder=HashingEmbedder(64)).findings if f.kind == "confusion")
    assert confusion.what.startswith("search_orders came back empty, then find_orders")
    assert "descriptions 56% alike (cosine 0." in confusion.what


def mining_run(store, clusters: dict[str, int]) -> str:
    """A mining run that placed these traces into these regions, as `mine` records one."""
    with store.run("mine", {}) as run:
        store.insert("cluster_assignments", {
            "run_id": [run.run_id] * len(clusters), "item_kind": ["production"] * len(clusters),
            "item_id": list(clusters), "cluster_id": list(clusters.values()),
            "outlier_score": [0.0] * len(clusters), "probability": [1.0] * len(clusters)})
    return run.run_id


def steps(*names: str) -> list[dict]:
    return [{"type": "subagent_call" if name == "refunds" else "tool_call", "name": name, "arguments": {},
             "result": "ok"} for name in names]


def test_reach_names_a_region_that_rarely_calls_a_subagent_the_rest_of_the_traffic_calls(store, tmp_path):
    rows = [trace(f"r7-{n:02}", f"money back for order {n}", steps=steps("lookup_order", *["refunds"] * (n < 2)))
            for n in range(41)]
    rows += [trace(f"r8-{n:02}", f"refund order {n}", steps=steps("lookup_order", *["refunds"] * (n < 35)))
             for n in range(60)]
    rows += [trace(f"r9-{n}", f"refund parcel {n}", steps=steps("lookup_order")) for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    mining_run(store, {row["trace_id"]: int(row["trace_id"][1]) for row in rows})
    report = tool_report(store)
    # region 9 calls it in 0 of 3 traces: half as often, but three traces cannot tell that from chance
    assert cited(report) == [("reach", ("refunds",), 39, ("r7-02", "r7-03", "r7-04", "r7-05", "r7-06"))]
    assert report.findings[0].what == ("the refunds subagent is invoked in 2 of 41 traces of region 7, against 58% "
                                       "elsewhere (35 of 60): far less often")
    assert report.findings[0].counts["p_adjusted"] < 1e-6
    assert [(row.name, row.kind, row.traces) for row in report.usage] == [("lookup_order", "tool", 104),
                                                                           ("refunds", "subagent", 37)]


def test_reach_says_how_many_of_the_traces_that_go_their_own_way_failed(store, tmp_path):
    # region 7 skips the refunds subagent; 30 of the 39 that skip it fail, against 40 of the 101 traces in all
    rows = [trace(f"r7-{n:02}", f"money back for order {n}", steps=steps("lookup_order", *["refunds"] * (n < 2)),
                  metadata={"reward": 0.0 if 2 <= n < 32 else 1.0}) for n in range(41)]
    rows += [trace(f"r8-{n:02}", f"refund order {n}", steps=steps("lookup_order", *["refunds"] * (n < 35)),
                   metadata={"reward": 0.0 if n >= 50 else 1.0}) for n in range(60)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    mining_run(store, {row["trace_id"]: int(row["trace_id"][1]) for row in rows})
    finding = tool_report(store).findings[0]
    assert finding.what == ("the refunds subagent is invoked in 2 of 41 traces of region 7, against 58% elsewhere "
                            "(35 of 60): far less often; 30 of those 39 failed, against 40% of all traces")
    assert (finding.traces, finding.counts["failed"]) == (39, 30)


def test_a_release_is_compared_with_the_one_before_and_what_shifted_is_named(store, tmp_path):
    rows = [chat(f"a{n}", [("lookup_order", {"order_id": f"#W{n}"}, FOUND)], release="2026.11.1") for n in range(10)]
    rows += [chat(f"b{n}", [("lookup_order", {"order_id": f"#W{n}"}, "Error: timeout" if n < 8 else FOUND)],
                  release="2026.11.2", created="2026-11-21T10:00:00Z") for n in range(10)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    report = tool_report(store, release="2026.11.2")
    assert (report.release, report.previous_release, report.traces) == ("2026.11.2", "2026.11.1", 10)
    shifts = [f for f in report.findings if f.kind == "shift"]
    assert [(f.tools, f.what, f.trace_ids, f.started) for f in shifts] == [
        (("lookup_order",), "lookup_order fails in 8 of 10 traces calling it in 2026.11.2, against 0 of 10 in 2026.11.1",
         tuple(f"b{n}" for n in range(5)), "2026.11.2")]
    looping = [chat(f"c{n}", [("lookup_order", {"order_id": "#W1"}, FOUND)] * 2, release="2026.11.3",
                    created="2026-11-22T10:00:00Z") for n in range(10)]
    ingest_file(store, write_jsonl(tmp_path / "looping.jsonl", looping), kind="production")
    assert [f.what for f in tool_report(store, release="2026.11.3").findings if f.kind == "shift"] == [
        "lookup_order repeats itself in 10 of 10 traces calling it in 2026.11.3, against 0 of 10 in 2026.11.2",
        "lookup_order fails in 0 of 10 traces calling it in 2026.11.3, against 8 of 10 in 2026.11.2"]
    assert tool_report(store, release="2026.11.1").previous_release is None
    with pytest.raises(Exception, match=r"no trace of release '2026.12'; releases: 2026.11.1, 2026.11.2"):
        tool_report(store, release="2026.12")


def tau_bench_with_definitions(tmp_path):
    """The τ-bench fixture as its app would log it: the chat, and τ-bench's own tool definitions."""
    tools = json.loads((FIXTURES / "tau_bench_airline_tools.json").read_text())
    records = json.loads((FIXTURES / "tau_bench_airline.json").read_text())
    return write_jsonl(tmp_path / "tau.jsonl", [
        {"id": f"tau-airline-{r['task_id']}-{r['trial']}", "messages": r["traj"], "tools": tools,
         "metadata": {"reward": r["reward"], "release": "2024.06"}} for r in records])


def test_tau_bench_usage_and_the_lints_of_its_own_tool_definitions(store, tmp_path):
    ingest_file(store, tau_bench_with_definitions(tmp_path), kind="production")
    report = tool_report(store)
    assert report.findings == []  # two trajectories: nothing has shown up three times
    assert [(u.name, u.calls, u.traces, u.errors, u.empty, u.repeated, u.last_before_failure)
            for u in report.usage] == [
        ("get_reservation_details", 3, 1, 0, 0, 0, 0), ("book_reservation", 2, 1, 1, 0, 0, 1),
        ("calculate", 2, 1, 0, 0, 0, 0), ("get_user_details", 2, 2, 0, 0, 0, 0),
        ("think", 2, 2, 0, 0, 0, 0),  # the scratchpad returns nothing by design: not an empty result
        ("search_direct_flight", 1, 1, 0, 0, 0, 0), ("search_onestop_flight", 1, 1, 0, 0, 0, 0),
        ("update_reservation_flights", 1, 1, 0, 0, 0, 1)]
    both = ("tau-airline-0-0", "tau-airline-5-0")
    report = tool_report(store, min_traces=2)
    assert cited(report) == [
        ("unused", ("cancel_reservation", "list_all_airports", "send_certificate", "transfer_to_human_agents",
                    "update_reservation_baggages", "update_reservation_passengers"), 2, both),
        ("no_when_to_use", ("book_reservation", "calculate", "cancel_reservation", "get_reservation_details",
                            "get_user_details", "list_all_airports", "search_direct_flight", "search_onestop_flight",
                            "send_certificate", "update_reservation_baggages", "update_reservation_flights",
                            "update_reservation_passengers"), 2, both),
        ("undescribed_parameters", ("book_reservation", "update_reservation_flights"), 2, both)]
    assert report.findings[2].what == ("Tools with parameters that have no description (2): book_reservation (cabin, "
                                       "flight_type, insurance), update_reservation_flights (cabin) (each in the "
                                       "prompt of 2 traces)")
    assert ('search_onestop_flight ("Search direct flights between two cities on a specific date.")'
            in report.findings[1].what)  # τ-bench describes its one-stop search as a direct one


def test_tau2_telecom_counts_the_agents_calls_and_not_the_customers(store):
    ingest_file(store, FIXTURES / "tau2_telecom.json", kind="production")
    report = tool_report(store, min_traces=1)
    assert [(u.name, u.calls, u.traces, u.errors, u.last_before_failure, u.defined) for u in report.usage] == [
        ("get_details_by_id", 5, 2, 0, 0, None), ("get_customer_by_phone", 2, 2, 0, 0, None),
        ("enable_roaming", 1, 1, 0, 0, None)]  # toggle_airplane_mode and the rest are the customer's phone
    assert (report.traces, report.failed, report.definitions_seen, report.findings) == (2, 0, False, [])


def test_workspace_tools_is_the_report_a_notebook_reads(planted):
    path = planted.path
    planted.close()
    with Workspace(path) as workspace:
        report = workspace.tools(min_traces=4)
    assert [(f.kind, f.traces) for f in report.findings] == [
        ("unused", 15), ("no_when_to_use", 15), ("undescribed_parameters", 15), ("unknown_argument", 4),
        ("missing_argument", 4), ("error_shape", 4)]
    assert report.findings[3].example == {"orderId": "#W100"}


def test_the_tools_command_prints_the_tables_and_json_and_names_a_wrong_release_in_one_line(planted, tmp_path):
    db = planted.path
    planted.close()
    result = invoke("tools", "--db", db)
    assert result.exit_code == 0, result.output
    assert "15 traces of the store (no mining run yet: no regions); 4 failed" in result.output
    assert "lookup_order is called with orderId, a name its definition does not have: 4 calls in 4 traces" in (
        result.output)
    assert "since 2026.11.1; e.g. misnamed-0, misnamed-1, misnamed-2" in result.output
    result = invoke("tools", "--db", db, "--json", "--min-traces", "4")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [f["kind"] for f in report["findings"]] == [
        "unused", "no_when_to_use", "undescribed_parameters", "unknown_argument", "missing_argument", "error_shape"]
    assert report["usage"][0]["name"] == "lookup_order" and report["usage"][0]["error_rate"] == pytest.approx(1 / 3)
    result = invoke("tools", "--db", db, "--release", "2027.1")
    assert (result.exit_code, result.output.strip()) == (
        2, "error: no trace of release '2027.1'; releases: 2026.11.1")
    result = invoke("tools", "--db", db, "--run", "20990101T000000-abcdef")
    assert result.exit_code == 2 and result.output.startswith("error: no mining run '20990101T000000-abcdef'")


def test_a_definition_of_another_shape_than_json_schema_is_read_as_absent_not_a_crash(store, tmp_path):
    odd = [{"type": "function", "function": {"name": "lookup_order", "description": ["Look up", "an order"],
                                             "parameters": '{"type": "object"}'}},
           {"type": "function", "function": {"name": "issue_refund", "description": "Refund an order.",
                                             "parameters": {"type": "object", "properties": ["order_id"],
                                                            "required": "order_id"}}},
           {"type": "function", "function": {"name": "search_orders", "description": "Use it when asked.",
                                             "parameters": {"type": "object", "properties": {"email": {}},
                                                            "additionalProperties": {}}}}]
    rows = [chat(f"odd-{n}", [("lookup_order", {"order_id": f"#W{n}"}, FOUND),
                              ("issue_refund", {"order_id": f"#W{n}"}, '{"refunded": true}'),
                              ("search_orders", {"email": "a@b.co", "page": 2}, "[]")], tools=odd) for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "odd.jsonl", rows), kind="production")
    report = tool_report(store)
    # required as a string is no list of names; a schema for more names allows page; nothing to crash on
    assert {f.kind for f in report.findings} == {"no_when_to_use", "undescribed_parameters"}
    assert next(f for f in report.findings if f.kind == "no_when_to_use").what == (
        "Tools described by what they do, not when to use them (2): issue_refund (\"Refund an order.\"), "
        "lookup_order ((no description)) (each in the prompt of 3 traces)")


def test_a_finding_quotes_no_secret_of_a_description(store, tmp_path):
    tools = [definition("lookup_order", "Look up an order; escalate to jane.doe@example.com.",
                        {"order_id": described("string")}, ("order_id",))]
    rows = [chat(f"t{n}", [("lookup_order", {"order_id": f"#W{n}"}, FOUND)], tools=tools) for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    what = next(f.what for f in tool_report(store).findings if f.kind == "no_when_to_use")
    assert "jane.doe@example.com" not in what and "<EMAIL_1>" in what


def test_one_trace_retrying_a_failing_call_is_one_failure_not_a_shift(store, tmp_path):
    rows = [chat(f"a{n}", [("lookup_order", {"order_id": f"#W{n}"}, FOUND)]) for n in range(10)]
    rows += [chat(f"b{n}", [("lookup_order", {"order_id": f"#W{n}"}, "Error: timeout" if n < 3 else FOUND)]
                  * (14 if n < 3 else 1), release="2026.11.2", created="2026-11-21T10:00:00Z") for n in range(10)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    # 42 failed calls of 49, but 3 traces of 10 against 0 of 10: chance, at these counts
    assert [f for f in tool_report(store, release="2026.11.2").findings if f.counts.get("metric") == "errors"] == []


def test_a_releases_finding_quotes_what_its_own_traces_did(store, tmp_path):
    rows = [chat(f"a{n}", [("issue_refund", {"order_id": f"#W{n}", "amount": "12.50"}, "{}")]) for n in range(3)]
    rows += [chat(f"b{n}", [("issue_refund", {"order_id": f"#W{n}", "amount": True}, "{}")], release="2026.11.2",
                  created="2026-11-21T10:00:00Z") for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    finding = next(f for f in tool_report(store, release="2026.11.2").findings if f.kind == "wrong_type")
    assert finding.what.startswith("issue_refund's amount is given as boolean, not the type")
    assert (finding.trace_ids, finding.example) == (("b0", "b1", "b2"), {"order_id": "#W0", "amount": True})


def test_releases_without_timestamps_are_ordered_by_name():
    from harness_evals.report.tools import TracedCalls, release_order

    def traced(release, timestamp):
        return TracedCalls("t", release, timestamp, [], None, [], None, None, None)

    from datetime import datetime
    assert release_order([traced("2024.07", datetime(2024, 7, 1)), traced("2024.06", None)]) == ["2024.06", "2024.07"]
    assert release_order([traced("2024.10", datetime(2024, 6, 1)), traced("2024.9", datetime(2024, 7, 1))]) == [
        "2024.10", "2024.9"]


def test_release_and_tool_names_print_as_they_are_not_as_rich_markup(store, tmp_path):
    rows = [chat(f"a{n}", [("lookup[/x]", {"order_id": f"#W{n}"}, FOUND)], release="2026.11[rc1]") for n in range(3)]
    rows += [chat(f"b{n}", [("lookup[/x]", {"order_id": f"#W{n}"}, FOUND)], release="2026.12[/rc]",
                  created="2026-11-21T10:00:00Z") for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    db = store.path
    store.close()
    result = invoke("tools", "--db", db, "--release", "2026.12[/rc]")
    assert result.exit_code == 0, result.output
    assert "release 2026.12[/rc]; 0 failed" in result.output and "compared with 2026.11[rc1]" in result.output
    assert "lookup[/x]" in result.output
