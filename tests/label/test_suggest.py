"""Draft checks: exact on a small region of chat traces (call ids that repeat, a tool defined nowhere),
and how the labeller takes them."""

import json

import pytest

from harness_evals.config import SuggestSettings
from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.label.queue import enqueue, export_queue
from harness_evals.label.suggest import confident_claim, succeeded
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.mine.pipeline import mine
from harness_evals.records import QueuePick
from harness_evals.store.clusters import production_clusters
from tests.conftest import topic_traces, write_jsonl

DEFINED_TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
                 for name in ("lookup_order", "issue_refund", "send_email", "escalate")]  # issue_voucher: nowhere
REQUEST = "please refund my order 7 it arrived broken"


def chat_trace(trace_id, request, calls, answer, *, metadata=None, feedback=None, after_failure=None):
    """An OpenAI-chat trace whose every tool call has the id call_1, as τ-bench reuses ids: each
    (name, reply) is answered by the next tool message. `after_failure`: the agent's reply after
    the calls, before its last answer."""
    messages = [{"role": "system", "content": "You are a refunds agent."}, {"role": "user", "content": request}]
    for name, reply in calls:
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"order": 7}'}}
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "call_1", "name": name, "content": reply}]
    if after_failure:
        messages += [{"role": "assistant", "content": after_failure}, {"role": "user", "content": "thanks"}]
    messages.append({"role": "assistant", "content": answer})
    return {"id": trace_id, "messages": messages, "tools": DEFINED_TOOLS, "metadata": metadata or {},
            "feedback": feedback}


ok = "{}"
REGION = [  # s1..s5 succeed by each kind of signal; f1 fails by its feedback; n1 carries no outcome
    chat_trace("s1", REQUEST, [("lookup_order", ok), ("issue_refund", ok)], "Refunded order 7 to your card.",
               metadata={"reward": 1.0}),
    chat_trace("s2", "refund order 12 it arrived broken please", [("lookup_order", ok), ("issue_refund", ok),
                                                                  ("send_email", ok)], "Done, refund sent.",
               metadata={"reward": 1.0}),
    chat_trace("s3", "my order 31 arrived broken please refund it", [("lookup_order", ok), ("issue_refund", ok)],
               "Refund issued.", metadata={"success": True}),
    chat_trace("s4", "order 45 arrived broken, refund please", [("lookup_order", ok), ("issue_refund", ok),
                                                                ("send_email", ok)], "Refunded.",
               feedback={"score": 0.9}),
    chat_trace("s5", "please refund order 58, it arrived broken", [("lookup_order", ok)], "Refund on its way.",
               metadata={"reward": 1}, feedback={"score": 1}),
    chat_trace("f1", "refund my broken order 64 please", [("lookup_order", ok), ("send_email", ok), ("escalate", ok)],
               "Escalated.", metadata={"reward": 1.0}, feedback={"score": 0.2}),
    chat_trace("n1", "broken order 77 please refund", [("lookup_order", ok), ("escalate", ok)], "Escalated."),
    chat_trace("q", REQUEST, [("lookup_order", ok), ("issue_voucher", "Error: voucher service unavailable")],
               "You're welcome!", metadata={"reward": 0.0},
               after_failure="Your refund has been successfully processed."),
]


@pytest.fixture
def region(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "chat.jsonl", REGION), kind="production", format="openai-chat")
    others = [row for row in topic_traces() if not row["trace_id"].startswith("refund")]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", others), kind="production")
    report = mine(store, budget=0, embedder=HashingEmbedder(256), min_cluster_size=3, dimensions=8,
                  covered_similarity=0.9)
    clusters = production_clusters(store, report.run_id)
    cluster_id = clusters["q"]
    assert cluster_id != -1 and {clusters[row["id"]] for row in REGION} == {cluster_id}
    assert sum(1 for value in clusters.values() if value == cluster_id) == len(REGION)  # the region is these alone
    enqueue(store, [QueuePick("q", cluster_id, "the one to label", 1.0)], run_id=report.run_id)
    return store, cluster_id


def exported(store, tmp_path, **settings) -> dict:
    export_queue(store, tmp_path / "q.jsonl", **settings)
    [item] = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    return item


def test_the_region_suggests_exact_checks_and_says_where_each_came_from(region, tmp_path):
    store, cluster = region
    item = exported(store, tmp_path)
    assert [s["name"] for s in item["steps"]] == ["lookup_order", "issue_voucher"]  # call_1 twice, paired in order
    assert item["suggested"] == {
        "required_tools": ["issue_refund"],
        "forbidden_tools": ["issue_voucher"],
        "reference": "Refunded order 7 to your card.",
        "not_contains": ["has been successfully processed"],
    }
    assert item["suggested_from"] == {
        "required_tools": {"issue_refund": f"called by 4 of 5 successful traces of cluster {cluster}"},
        "forbidden_tools": {"issue_voucher": f"called by none of the 5 successful traces of cluster {cluster}"},
        "reference": f"the answer of s1, the successful trace of cluster {cluster} nearest this one (cosine 1.00)",
        "not_contains": {"has been successfully processed": (
            "the agent's reply after step 2 (issue_voucher) failed says so, and no later issue_voucher call "
            "succeeded: Error: voucher service unavailable")},
    }
    assert item["outcome"] == {"reward": 0.0, "success": None, "feedback_score": None, "succeeded": False}


def test_a_region_with_too_few_successful_traces_suggests_no_tool_checks_and_says_why(region, tmp_path):
    store, cluster = region
    item = exported(store, tmp_path, suggestions=SuggestSettings(min_successful=6))
    assert item["suggested"] == {"not_contains": ["has been successfully processed"]}
    assert item["suggested_from"]["region"] == (
        f"5 other successful traces in cluster {cluster}; tool checks and a reference need 6 (suggest.min_successful)")
    everyone = exported(store, tmp_path, suggestions=SuggestSettings(required_share=0.4))
    assert everyone["suggested"]["required_tools"] == ["issue_refund", "send_email"]  # 4 and 2 of 5


def test_the_labeller_accepts_by_copying_suggested_into_expected(region, tmp_path):
    store, _ = region
    item = exported(store, tmp_path)
    filled = write_jsonl(tmp_path / "filled.jsonl", [{**item, "expected": item["suggested"], "verdict": "fail"}])
    assert import_labels(store, filled).applied == 1
    expected, verdict = store.one("SELECT expected, verdict FROM labelling_queue WHERE trace_id = 'q'")
    assert (json.loads(expected), verdict) == (item["suggested"], "fail")


def test_a_verdict_without_expected_is_refused_not_taken_as_blank(region, tmp_path):
    store, _ = region
    item = exported(store, tmp_path)
    report = import_labels(store, write_jsonl(tmp_path / "filled.jsonl", [{**item, "verdict": "fail"}]))
    assert (report.applied, report.blank) == (0, 0)
    assert [r.reason for r in report.refused] == [
        "expected is missing: say what the agent should have done (copy `suggested` into it to take the draft "
        "checks), set covered_by to the eval case that already covers it, or set skip"]


def test_in_label_studio_the_suggestion_is_filled_in_and_submitting_it_accepts_it(region, tmp_path):
    store, _ = region
    suggested = exported(store, tmp_path)["suggested"]
    export_queue(store, tmp_path / "tasks.json", format="labelstudio")
    [task] = json.loads((tmp_path / "tasks.json").read_text())
    [prediction] = task["predictions"]
    assert json.loads(prediction["result"][0]["value"]["text"][0]) == suggested
    assert "issue_refund: called by 4 of 5" in task["data"]["suggestion_notes"]
    # Label Studio turns the pre-filled prediction into the annotation the labeller submits
    task["annotations"] = [{"result": [*prediction["result"], {"from_name": "verdict", "type": "choices",
                                                               "value": {"choices": ["fail"]}}]}]
    (tmp_path / "export.json").write_text(json.dumps([task]))
    assert import_labels(store, tmp_path / "export.json").applied == 1
    expected = store.one("SELECT expected FROM labelling_queue WHERE trace_id = 'q'")[0]
    assert json.loads(expected) == suggested


def test_success_is_every_signal_saying_so_and_none_is_unknown():
    assert succeeded(1.0, None, None) and succeeded(None, True, None) and succeeded(None, None, 0.5)
    assert succeeded(1, True, 1) is True
    assert succeeded(1.0, None, 0.2) is False and succeeded(0.0, True, None) is False
    assert succeeded(0.99, None, None) is False and succeeded(None, None, False) is False
    assert succeeded(None, None, None) is None and succeeded("1.0", "yes", None) is None


def test_a_confident_claim_is_narrow():
    failed = [{"name": "cancel", "error": "Error: locked"}]
    chat = [{"role": "tool", "content": "Error: locked"}, {"role": "assistant", "content": "It has been cancelled."}]
    assert confident_claim(failed, chat, "Bye").phrase == "has been cancelled"
    assert confident_claim(failed, None, "Your booking was successfully cancelled.").phrase == "successfully cancelled"
    retried = failed + [{"name": "cancel", "error": None}]
    assert confident_claim(retried, chat, "Bye") is None  # the tool succeeded later: the claim may be true
    sorry = [chat[0], {"role": "assistant", "content": "Sorry, it has not been cancelled; it has been locked."}]
    assert confident_claim(failed, sorry, "Bye") is None  # the reply acknowledges the trouble
    located = [chat[0], {"role": "assistant", "content": "I have located your booking and cancelled it."}]
    assert confident_claim(failed, located, "Bye") is None  # not in the claim's words
