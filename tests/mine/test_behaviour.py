"""Behaviour coverage: a trace covered by an eval case that states tools, whose path differs, is flagged."""

from dataclasses import replace

import pytest

from harness_evals import Workspace
from harness_evals.ingest import ingest_file
from harness_evals.mine.behaviour import ToolPath, path_difference, tool_paths
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.mine.pipeline import mine, prepare, read_traffic
from harness_evals.mine.signals import DetectorSettings, agent_tools
from harness_evals.redact import RedactionRules
from harness_evals.store import Store
from tests.conftest import trace, write_jsonl

SETTINGS = dict(min_cluster_size=3, dimensions=8, covered_similarity=0.75, seed=0)


def call(name: str, **extra) -> dict:
    return {"type": "tool_call", "name": name, "arguments": {"order_id": "#W2378156"},
            "result": '{"status": "delivered"}', **extra}


ORDER = "where is my order #W2378156 it has not arrived"  # at cosine 0.81 from e-order's request (HashingEmbedder)
EVALS = [
    {"id": "e-order", "input": "where is my order #W2378156",
     "expected": {"required_tools": ["lookup_order"], "contains": ["arriv"]}},
    # a tool defined nowhere: no agent has it
    {"id": "e-exchange", "input": "exchange the keyboard in my order for a clicky one",
     "expected": {"required_tools": ["exchange_items_v2"], "forbidden_tools": ["cancel_order"]}},
    {"id": "e-refund", "input": "refund my broken headphones", "expected": "A refund to the card on file."},
    {"id": "e-tools", "input": "cancel my order please", "expected": {"tools": ["cancel_order"]}},  # not a check
]
TRACES = [
    # calls lookup_order, twice with the same call, as agents retrying do
    trace("order-0", ORDER, steps=[call("lookup_order"), call("lookup_order")]),
    trace("order-1", ORDER, steps=[call("get_user_details"), call("lookup_order")]),
    trace("order-2", ORDER, steps=[call("search_faq")]),  # answers from the FAQ: never looks the order up
    trace("order-3", ORDER, steps=[{"type": "llm_call", "name": "lookup_order"}]),  # a model call is no tool call
    trace("order-4", ORDER, steps=[call("lookup_order", requestor="user")]),  # the customer's own call (τ²-bench)
    trace("exchange-0", "exchange the keyboard in my order for a clicky one",
          steps=[call("get_order_details"), call("exchange_delivered_order_items"), call("cancel_order")]),
    trace("refund-0", "refund my broken headphones", steps=[call("refund")]),
    trace("cancel-0", "cancel my order please", steps=[call("get_order_details")]),
]


@pytest.fixture
def db(tmp_path):
    with Store(tmp_path / "h.duckdb") as store:
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [*TRACES, TRACES[0]]), kind="production")  # order-0 twice
        ingest_file(store, write_jsonl(tmp_path / "e.jsonl", EVALS), kind="eval")
    return tmp_path / "h.duckdb"


def mined(db, **settings):
    with Store(db) as store:
        return mine(store, embedder=HashingEmbedder(64), **{**SETTINGS, **settings})


def prepared_tonight(store: Store):
    """What the next run's prepare stage would give: the calls of each trace it reads whole."""
    return prepare(store, read_traffic(store, view="intent"), redaction=RedactionRules(), detectors=DetectorSettings(),
                   prompt_contract=None)


def path_flags(db) -> dict[str, str]:
    with Workspace(db) as workspace:
        return {row["trace_id"]: row["reason"] for row in workspace.flags().to_pylist()
                if row["detector"] == "path_differs"}


def test_a_covered_trace_whose_path_differs_from_its_cases_is_flagged_with_the_case_and_the_tools(db):
    report = mined(db, budget=0)
    with Workspace(db) as workspace:
        covering = {row["item_id"]: row["covering_case_id"] for row in workspace.assignments().to_pylist()}
    assert {trace_id: covering[trace_id] for trace_id in ("order-0", "order-2", "exchange-0", "refund-0", "cancel-0")
            } == {"order-0": "e-order", "order-2": "e-order", "exchange-0": "e-exchange", "refund-0": "e-refund",
                  "cancel-0": "e-tools"}
    assert path_flags(db) == {
        "order-2": "covered by eval case e-order, whose path differs: required lookup_order never called",
        "order-3": "covered by eval case e-order, whose path differs: required lookup_order never called",
        "order-4": "covered by eval case e-order, whose path differs: required lookup_order never called",
        "exchange-0": ("covered by eval case e-exchange, whose path differs: required exchange_items_v2 never "
                       "called; forbidden cancel_order called"),
    }
    with Workspace(db) as workspace:  # counted as flags, like the detectors'
        assert sum(row["flagged_count"] for row in workspace.clusters().to_pylist()) == 4
        assert workspace.summary()["flagged"] == 4
    assert report.traces == 8  # order-0's repeated line is one trace


def test_a_trace_whose_path_differs_is_queued_though_covered_and_its_reason_says_so(db):
    report = mined(db, budget=8)
    reasons = {pick.trace_id: pick.reason for pick in report.picks}
    # order-2, -3 and -4 ask the same words: one label stands for the three; the rest keep to their case's path
    assert set(reasons) == {"order-2", "exchange-0"}
    assert reasons["order-2"].startswith("covered by eval case e-order at 0.81 (cosine 0.75, reach linked at 0.70, "
                                         "ruler r1), but flagged; flagged: path_differs; stands for 3 traces alike")
    assert reasons["exchange-0"].startswith("covered by eval case e-exchange at 1.00 (cosine 0.75, reach linked at "
                                            "0.70, ruler r1), but flagged; flagged: path_differs; stands for 1 trace "
                                            "alike")


def test_path_differs_is_checked_afresh_when_the_covering_case_changes_without_reading_a_trace_again(db, tmp_path):
    mined(db, budget=0)
    before = path_flags(db)
    assert "order-2" in before and "order-0" not in before
    # a case nearer the order requests (cosine 0.97), which expects an answer from the FAQ
    faq = {"id": "e-order-faq", "input": ORDER + " yet", "expected": {"required_tools": ["search_faq"]}}
    with Store(db) as store:
        ingest_file(store, write_jsonl(tmp_path / "faq.jsonl", [faq]), kind="eval")
        prepared = prepared_tonight(store)
    assert prepared.tools == {}  # every trace's calls were kept by the first run: none is read whole again
    mined(db, budget=0)
    with Workspace(db) as workspace:
        covering = {row["item_id"]: row["covering_case_id"] for row in workspace.assignments().to_pylist()}
    assert {covering[f"order-{n}"] for n in range(5)} == {"e-order-faq"}
    differs = "covered by eval case e-order-faq, whose path differs: required search_faq never called"
    # order-2's flag of the first run is not carried: it keeps to its new case's path; the others do not
    assert path_flags(db) == {"order-0": differs, "order-1": differs, "order-3": differs, "order-4": differs,
                              "exchange-0": before["exchange-0"]}


def test_a_store_whose_calls_were_not_kept_reads_each_trace_once_more_and_flags_the_same(db):
    mined(db, budget=0)
    before = path_flags(db)
    with Store(db) as store:  # as after the upgrade that started keeping them
        store.con.execute("DELETE FROM trace_tools")
        prepared = prepared_tonight(store)
    assert prepared.tools["order-0"] == ("lookup_order",) and len(prepared.tools) == 8
    mined(db, budget=0)
    assert path_flags(db) == before
    with Store(db, read_only=True) as store:
        assert store.one("SELECT count(*) FROM trace_tools") == (8,)


def test_only_the_agents_tool_and_subagent_calls_count_each_once_in_order():
    steps = [call("lookup_order"), {"type": "llm_call", "name": "gpt-4o"}, call("toggle_data", requestor="user"),
             {"type": "subagent_call", "name": "billing_agent"}, call("lookup_order"), call("refund")]
    assert agent_tools(steps) == ("lookup_order", "billing_agent", "refund")


def test_a_case_states_a_path_only_through_required_or_forbidden_tools():
    paths = tool_paths([("a", {"required_tools": ["x", "x"], "forbidden_tools": []}), ("b", "x"),
                        ("c", {"tools": ["x"]}), ("d", {"forbidden_tools": ["y", 3, ""]}),
                        ("e", {"required_tools": "x"})])
    assert paths == {"a": ToolPath(("x",), ()), "d": ToolPath((), ("y",))}
    assert path_difference("a", paths["a"], ["x", "y"]) is None
    assert path_difference("d", paths["d"], ["y"]) == "covered by eval case d, whose path differs: forbidden y called"
    assert path_difference("d", replace(paths["d"], required=("x",)), []) == \
        "covered by eval case d, whose path differs: required x never called"
