"""The queue shows the trajectory: τ-bench and τ²-bench fixtures ingested, mined, and exported in each
format, each item's conversation and steps in order as the source file has them."""

import csv
import json
import re
import xml.etree.ElementTree as ElementTree

import pytest

from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.label.queue import LABEL_STUDIO_CONFIG, enqueue, export_queue
from harness_evals.mine.pipeline import mine
from harness_evals.records import QueuePick
from harness_evals.redact import RedactionRules, Redactor
from harness_evals.store.clusters import production_clusters
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
NO_REDACTION = Redactor(RedactionRules(kinds=[]))
FORMATS = {"jsonl": "q.jsonl", "csv": "q.csv", "labelstudio": "q.json"}


def source_trajectories() -> dict[str, tuple[list[str], list[tuple[str, object, str, bool]]]]:
    """From the fixture files themselves, by what the trace id starts with: the roles of the
    conversation (system prompt left out) and each tool call's (name, arguments, reply, failed),
    in order. In both files every reply follows its call in the order the calls were made."""
    found = {}
    for record in json.loads((FIXTURES / "tau_bench_airline.json").read_text()):
        messages = [m for m in record["traj"] if m["role"] != "system"]
        calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for m in messages
                 for c in m.get("tool_calls") or []]
        replies = [m["content"] for m in messages if m["role"] == "tool"]
        found[f"tau-{record['task_id']}-{record['trial']}-"] = (
            [m["role"] for m in messages],
            [(name, arguments, reply, reply.startswith("Error")) for (name, arguments), reply in zip(calls, replies,
                                                                                                  strict=True)])
    for simulation in json.loads((FIXTURES / "tau2_telecom.json").read_text())["simulations"]:
        messages = simulation["messages"]
        calls = [(c["name"], c["arguments"]) for m in messages for c in m.get("tool_calls") or []]
        replies = [(m["content"], m["error"]) for m in messages if m["role"] == "tool"]
        found[simulation["id"]] = (
            [m["role"] for m in messages
             if (m.get("content") or "").strip() or m.get("tool_calls") or m["role"] == "tool"],
            [(name, arguments, reply, failed) for (name, arguments), (reply, failed) in zip(calls, replies,
                                                                                            strict=True)])
    return found


@pytest.fixture
def mined(store, embedder):
    for name in ("tau_bench_airline.json", "tau2_telecom.json"):
        assert ingest_file(store, FIXTURES / name, kind="production").stored == 2
    report = mine(store, budget=4, embedder=embedder, min_cluster_size=2, dimensions=2, covered_similarity=0.9)
    picked = {pick.trace_id for pick in report.picks}
    clusters = production_clusters(store, report.run_id)
    enqueue(store, [QueuePick(trace_id, clusters[trace_id], "every fixture trace", 0.0)
                    for trace_id in sorted(clusters) if trace_id not in picked], run_id=report.run_id)
    return store


def exported_items(store, tmp_path, format, redactor=NO_REDACTION) -> list[dict]:
    """The items of the export as structured fields, whatever the format."""
    path = tmp_path / FORMATS[format]
    assert export_queue(store, path, format=format, redactor=redactor) == 4
    if format == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if format == "csv":
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        structured = ("metadata", "conversation", "steps", "flags", "outcome", "suggested", "suggested_from")
        return [{**row, **{name: json.loads(row[name]) for name in structured}} for row in rows]
    return [task["data"] for task in json.loads(path.read_text())]


@pytest.mark.parametrize("format", list(FORMATS))
def test_each_item_carries_its_conversation_and_steps_in_order_as_the_source_file_has_them(mined, tmp_path, format):
    source = source_trajectories()
    items = exported_items(mined, tmp_path, format)
    assert len(items) == len(source) == 4
    for item in items:
        [(roles, calls)] = [value for prefix, value in source.items() if item["trace_id"].startswith(prefix)]
        assert [turn["role"] for turn in item["conversation"]] == roles
        assert [(s["type"], s["name"], s["arguments"], s["result"], bool(s["error"])) for s in item["steps"]] == [
            ("tool_call", name, arguments, reply, failed) for name, arguments, reply, failed in calls]
        assert [s["error"] for s in item["steps"] if s["error"]] == [reply for _, _, reply, failed in calls if failed]
        assert item["outcome"]["reward"] in (0.0, 1.0)
        assert item["outcome"]["succeeded"] is (item["outcome"]["reward"] == 1.0)
        if item["cluster_id"] == -1:
            assert item["suggested_from"]["region"] == "in no region: no tool checks or reference"
    tau = next(item for item in items if item["trace_id"].startswith("tau-0-0-"))
    assert [s["name"] for s in tau["steps"]][4:8] == ["book_reservation", "think", "calculate", "book_reservation"]
    assert tau["steps"][4]["error"].startswith("Error: payment amount does not add up")
    assert tau["flags"] == [{"detector": "error_then_confident_answer",
                             "reason": "book_reservation failed, and the final answer does not say so"}]
    assert any(s.get("requestor") == "user" for item in items for s in item["steps"])  # the τ²-bench customer's own


def test_the_readable_forms_show_the_same_steps_in_the_same_order(mined, tmp_path):
    items = {item["trace_id"]: item for item in exported_items(mined, tmp_path, "jsonl")}
    export_queue(mined, tmp_path / "q.csv", format="csv", redactor=NO_REDACTION)
    with (tmp_path / "q.csv").open(newline="") as handle:
        transcripts = {row["trace_id"]: row["transcript"] for row in csv.DictReader(handle)}
    export_queue(mined, tmp_path / "q.json", format="labelstudio", redactor=NO_REDACTION)
    tasks = {task["data"]["trace_id"]: task["data"] for task in json.loads((tmp_path / "q.json").read_text())}
    for trace_id, item in items.items():
        names = [f"{number}. tool_call {step['name']}" for number, step in enumerate(item["steps"], start=1)]
        assert [line["author"] for line in tasks[trace_id]["step_lines"]] == names
        assert [line["author"] for line in tasks[trace_id]["dialogue"]] == [t["role"] for t in item["conversation"]]
        shown = [line.split(":", 1)[0] for line in transcripts[trace_id].split("\nsteps:\n", 1)[1].splitlines()
                 if re.match(r"\d+\. ", line)]
        assert shown == names
        assert transcripts[trace_id].startswith(f"{item['conversation'][0]['role']}: ")


def test_every_text_field_leaving_the_store_is_redacted(mined, tmp_path):
    raw_emails = set()
    for item in exported_items(mined, tmp_path, "jsonl"):
        raw_emails |= set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", json.dumps(item)))
    assert raw_emails  # the fixtures' tool results hold customers' addresses
    for format in FORMATS:
        export_queue(mined, tmp_path / FORMATS[format], format=format)
        text = (tmp_path / FORMATS[format]).read_text()
        assert not any(email in text for email in raw_emails), format
    items = exported_items(mined, tmp_path, "jsonl", redactor=Redactor())
    assert any("<EMAIL_" in json.dumps(step["result"]) for item in items for step in item["steps"])


@pytest.mark.parametrize("format", list(FORMATS))
def test_an_export_nobody_filled_in_imports_back_as_blank(mined, tmp_path, format):
    export_queue(mined, tmp_path / FORMATS[format], format=format)
    report = import_labels(mined, tmp_path / FORMATS[format])
    assert (report.applied, report.blank, report.refused) == (0, 4, [])


def test_the_label_studio_config_follows_label_studios_rules_and_names_what_the_tasks_hold(mined, tmp_path):
    """The rules Label Studio checks a labelling config by (label_studio/core/label_config.py,
    validate_label_config, and its label_config_schema.json): well-formed XML under a View; control
    tags (Choices, TextArea) have a name and a toName, Choices its Choice children, each with a
    value; object tags (Text, Paragraphs) a name and a value; names unique; every toName names a
    tag. And what a task must give it: each $field, Paragraphs as [{author, text}] strings."""
    root = ElementTree.fromstring(LABEL_STUDIO_CONFIG)
    assert root.tag == "View"
    tags = list(root.iter())
    names = [tag.get("name") for tag in tags if tag.get("name") is not None]
    assert len(names) == len(set(names))
    objects = {tag.get("name"): tag for tag in tags if tag.tag in ("Text", "Paragraphs")}
    controls = {tag.get("name"): tag for tag in tags if tag.tag in ("Choices", "TextArea")}
    assert set(objects) == {"conversation", "steps", "signals", "suggested_from"}
    assert set(controls) == {"verdict", "expected", "notes", "covered_by"}
    for tag in objects.values():
        assert tag.get("value", "").startswith("$")
    for tag in controls.values():
        assert tag.get("toName") in objects
    assert [choice.get("value") for choice in controls["verdict"].findall("Choice")] == ["pass", "fail", "skip"]
    for tag in objects.values():
        if tag.tag == "Paragraphs":
            assert tag.get("layout") in ("none", "dialogue")
    export_queue(mined, tmp_path / "q.json", format="labelstudio")
    tasks = json.loads((tmp_path / "q.json").read_text())
    fields = {tag.get("value")[1:]: tag.tag for tag in tags if (tag.get("value") or "").startswith("$")}
    for task in tasks:
        for field, tag in fields.items():
            value = task["data"][field]
            if tag == "Paragraphs":
                assert value and all(isinstance(line["author"], str) and isinstance(line["text"], str)
                                     for line in value)
            else:
                assert isinstance(value, str)
        for prediction in task.get("predictions", []):
            for result in prediction["result"]:
                assert (result["from_name"], result["type"]) == ("expected", "textarea")
                assert result["to_name"] == controls["expected"].get("toName")
