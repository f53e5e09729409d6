import json
import os
from pathlib import Path

import pytest

from harness_evals.suite.emit import EmitError, case_id_for, emit_suite
from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.label.queue import enqueue
from harness_evals.records import QueuePick
from tests.conftest import trace, write_jsonl

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def labelled(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1"), trace("b", "reset password"),
                                                           trace("c", "where is my parcel")]), kind="production")
    ingest_file(store, write_jsonl(tmp_path / "e.jsonl", [{"id": "old", "input": "where is my parcel"}]), kind="eval")
    enqueue(store, [QueuePick("a", 1, "cluster 1", 5.0), QueuePick("b", 3, "cluster 3", 2.0),
                    QueuePick("c", 4, "cluster 4", 1.0)], run_id="run-1")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "expected": {"contains": ["refund"]}, "verdict": "fail", "notes": "no refund offered"},
        {"trace_id": "b", "expected": "sends a reset link", "verdict": "pass", "labeller": "ana"},
        {"trace_id": "c", "expected": "gives the tracking link"},
    ]))
    return store


def assert_matches_golden(path: Path, golden: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(path.read_bytes())
    assert path.read_text() == golden.read_text(), f"{path} drifted from {golden}; UPDATE_GOLDEN=1 rewrites it"


def test_the_emitted_suite_matches_the_golden_file(labelled, tmp_path):
    report = emit_suite(labelled, tmp_path / "suites", name="regression")
    assert (report.new_cases, report.skipped_duplicates, report.manifest.version) == (2, 1, 1)
    assert_matches_golden(report.suite_path, GOLDEN / "regression.jsonl")
    assert_matches_golden(tmp_path / "suites" / "regression.manifest.json", GOLDEN / "regression.manifest.json")


def test_re_emitting_without_new_labels_writes_the_same_bytes_and_version(labelled, tmp_path):
    first = emit_suite(labelled, tmp_path, name="regression")
    content, manifest = first.suite_path.read_bytes(), (tmp_path / "regression.manifest.json").read_bytes()
    second = emit_suite(labelled, tmp_path, name="regression")
    assert second.new_cases == 0
    assert second.suite_path.read_bytes() == content
    assert (tmp_path / "regression.manifest.json").read_bytes() == manifest


def test_a_new_label_bumps_the_version_and_keeps_earlier_case_ids(labelled, tmp_path):
    first_ids = [json.loads(line)["id"] for line in emit_suite(labelled, tmp_path).suite_path.read_text().splitlines()]
    labelled.con.execute("INSERT INTO traces SELECT 'd', content_hash, timestamp, 'cancel my plan', output, steps, "
                         "messages, metadata, feedback, source, run_id FROM traces WHERE trace_id = 'a'")
    import_labels(labelled, write_jsonl(tmp_path / "more.jsonl", [{"trace_id": "d", "expected": "cancels"}]))
    report = emit_suite(labelled, tmp_path)
    ids = [json.loads(line)["id"] for line in report.suite_path.read_text().splitlines()]
    assert (report.manifest.version, report.new_cases, len(ids)) == (2, 1, 3)
    assert set(first_ids) < set(ids)


def test_emitted_cases_join_the_eval_set(labelled, tmp_path):
    emit_suite(labelled, tmp_path, name="nightly")
    rows = labelled.con.execute("SELECT input, source FROM eval_cases ORDER BY input").fetchall()
    assert rows == [("refund order 1", "suite:nightly"), ("reset password", "suite:nightly"),
                    ("where is my parcel", str(Path(labelled.path).parent / "e.jsonl"))]
    assert labelled.con.execute("SELECT trace_id, state FROM labelling_queue ORDER BY 1").fetchall() == [
        ("a", "emitted"), ("b", "emitted"), ("c", "labelled")
    ]


def test_case_ids_depend_on_trace_and_label_only():
    assert case_id_for("a", '{"x": 1, "y": 2}') == case_id_for("a", '{"y":2,"x":1}')
    assert case_id_for("a", '"x"') != case_id_for("b", '"x"')
    assert case_id_for("a", '"x"') != case_id_for("a", '"y"')


def test_requests_are_redacted_and_a_label_holding_a_secret_stops_the_emit(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund ana@example.com now"),
                                                           trace("b", "my key AKIAIOSFODNN7EXAMPLE leaked")]),
                kind="production")
    enqueue(store, [QueuePick("a", 1, "cluster 1", 2.0), QueuePick("b", 2, "cluster 2", 1.0)], run_id="run-1")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "expected": {"contains": ["refund"]}, "notes": "asked by ana@example.com"},
        {"trace_id": "b", "expected": {"not_contains": ["AKIAIOSFODNN7EXAMPLE"]}},
    ]))
    with pytest.raises(EmitError, match=r"1 labels hold .*\(trace b\): expected holds API_KEY \(AKI…LE\)"):
        emit_suite(store, tmp_path / "suite")
    assert not (tmp_path / "suite" / "regression.jsonl").exists()
    assert store.one("SELECT count(*) FROM eval_cases")[0] == 0

    import_labels(store, write_jsonl(tmp_path / "skip.jsonl", [{"trace_id": "b", "skip": True}]), replace=True)
    emit_suite(store, tmp_path / "suite")
    [case] = [json.loads(line) for line in (tmp_path / "suite" / "regression.jsonl").read_text().splitlines()]
    assert case["input"] == "refund <EMAIL_1> now"
    assert case["metadata"]["notes"] == "asked by <EMAIL_1>"
    relabel = import_labels(store, write_jsonl(tmp_path / "r.jsonl", [{"trace_id": "a", "expected": "other"}]),
                            replace=True)
    assert relabel.refused[0].reason.startswith(f"trace 'a' is already emitted as {case['id']}")


# --- versions (issue 16): one content per suite name and store, whichever folder it is written to ---


def add_label(store, tmp_path, trace_id: str, request: str) -> None:
    store.con.execute(f"INSERT INTO traces SELECT '{trace_id}', content_hash, timestamp, ?, output, steps, messages, "
                      "metadata, feedback, source, run_id FROM traces WHERE trace_id = 'a'", [request])
    import_labels(store, write_jsonl(tmp_path / f"{trace_id}.jsonl", [{"trace_id": trace_id, "expected": "done"}]))


def test_a_version_is_one_content_per_suite_name_in_any_folder(labelled, tmp_path):
    first = emit_suite(labelled, tmp_path / "suites")
    add_label(labelled, tmp_path, "d", "cancel my plan")
    nightly = emit_suite(labelled, tmp_path / "data" / "suites")  # the flow's folder, after a new label
    again = emit_suite(labelled, tmp_path / "suites")
    fresh = emit_suite(labelled, tmp_path / "new-folder")
    other = emit_suite(labelled, tmp_path / "suites", name="smoke")  # its cases are in the eval set already
    assert [(r.manifest.name, r.manifest.version, r.manifest.cases) for r in (first, nightly, again, fresh, other)] == [
        ("regression", 1, 2), ("regression", 2, 3), ("regression", 2, 3), ("regression", 2, 3), ("smoke", 1, 0)]
    assert again.suite_path.read_bytes() == nightly.suite_path.read_bytes() == fresh.suite_path.read_bytes()
    recorded = labelled.con.execute(
        "SELECT name, version, sha256, cases, path FROM suite_versions ORDER BY name, version").fetchall()
    assert recorded == [
        ("regression", 1, first.manifest.sha256, 2, str(tmp_path / "suites" / "regression.jsonl")),
        ("regression", 2, nightly.manifest.sha256, 3, str(tmp_path / "data" / "suites" / "regression.jsonl")),
        ("smoke", 1, other.manifest.sha256, 0, str(tmp_path / "suites" / "smoke.jsonl")),
    ]
    runs = labelled.con.execute("SELECT run_id FROM runs WHERE kind = 'emit' ORDER BY started_at").fetchall()
    assert [row[1] for row in labelled.con.execute("SELECT name, run_id FROM suite_versions ORDER BY name, version")
            .fetchall()] == [run_id for (run_id,) in runs]


def test_a_store_upgraded_from_the_previous_schema_keeps_the_folders_version_and_counts_on(labelled, tmp_path):
    from harness_evals.store import MIGRATIONS, Store

    emit_suite(labelled, tmp_path / "suites")
    # as the previous schema left it: no versions in the store, and the folder's manifest at v4
    # after bumps made there
    labelled.con.execute("DROP TABLE suite_versions")
    suite_versions = [migration.__name__ for migration in MIGRATIONS].index("_suite_versions") + 1
    labelled.con.execute("DELETE FROM schema_migrations WHERE version = ?", [suite_versions])
    manifest_path = tmp_path / "suites" / "regression.manifest.json"
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "version": 4}, indent=2) + "\n")
    labelled.close()
    with Store(labelled.path) as store:
        kept = emit_suite(store, tmp_path / "suites")
        elsewhere = emit_suite(store, tmp_path / "elsewhere")
        add_label(store, tmp_path, "d", "cancel my plan")
        grown = emit_suite(store, tmp_path / "elsewhere")
        assert [r.manifest.version for r in (kept, elsewhere, grown)] == [4, 4, 5]
        assert store.con.execute("SELECT version, cases FROM suite_versions ORDER BY 1").fetchall() == [(4, 2), (5, 3)]


def test_a_broken_manifest_in_the_folder_is_named(labelled, tmp_path):
    (tmp_path / "regression.manifest.json").write_text("{oops")
    with pytest.raises(EmitError, match=r"regression\.manifest\.json: not a suite manifest \(.*\): move it away"):
        emit_suite(labelled, tmp_path)


def test_the_emitted_suite_and_its_inspect_export_ingest_as_the_eval_cases_emit_stored(labelled, tmp_path):
    from harness_evals.suite.export import export_suite

    report = emit_suite(labelled, tmp_path / "suites", name="regression")
    exported = tmp_path / "regression_inspect.jsonl"
    export_suite(report.suite_path, exported, format="inspect")
    for path in (report.suite_path, exported):
        ingested = ingest_file(labelled, path, kind="eval")
        assert (ingested.stored, ingested.unchanged, ingested.quarantined) == (0, 2, []), path


# --- multi-turn cases (issue 19): the conversation up to the agent's turn under test ---

FIXTURES = Path(__file__).parents[1] / "fixtures"
TAU2_DATA_SAVER = "53759db8-5657-4a7b-b6fa-18c09fd8b859"  # the agent looks up both lines after the user's third tool


@pytest.fixture
def tau2_labelled(store, tmp_path):
    ingest_file(store, FIXTURES / "tau2_telecom.json", kind="production")
    enqueue(store, [QueuePick(TAU2_DATA_SAVER, 2, "cluster 2", 1.0)], run_id="run-1")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": TAU2_DATA_SAVER, "expected": {"required_tools": ["get_details_by_id"],
                                                    "forbidden_tools": ["transfer_to_human_agents"]}}]))
    return store


def test_a_labelled_agent_trajectory_becomes_a_multi_turn_case(tau2_labelled, tmp_path):
    report = emit_suite(tau2_labelled, tmp_path / "suites", name="multiturn")
    assert_matches_golden(report.suite_path, GOLDEN / "multiturn.jsonl")
    [case] = [json.loads(line) for line in report.suite_path.read_text().splitlines()]
    source = json.loads((FIXTURES / "tau2_telecom.json").read_text())["simulations"][0]["messages"]
    # the agent's last turn that calls tools starts after the user's message at 23 (get_details_by_id twice)
    assert [m["tool_calls"][0]["name"] for m in source[24:27:2]] == ["get_details_by_id", "get_details_by_id"]
    assert case["messages"][-1] == {"role": "user", "content": source[23]["content"]}
    assert len(case["messages"]) == 24  # every message before it: the greeting, both sides' calls and results
    assert [m["role"] for m in case["messages"][:6]] == ["assistant", "user", "assistant", "user", "assistant", "tool"]
    call_id = source[4]["tool_calls"][0]["id"]
    assert case["messages"][4]["tool_calls"] == [{"name": "get_customer_by_phone", "id": call_id,
                                                  "arguments": {"phone_number": "555-123-2002"}}]  # not a real number
    result = case["messages"][5]  # a tool result, redacted as the request is
    assert (result["role"], result["tool_call_id"]) == ("tool", source[4]["tool_calls"][0]["id"])
    assert "john.smith@example.com" in source[5]["content"]
    assert result["content"] == source[5]["content"].replace("john.smith@example.com", "<EMAIL_1>")
    user_runs = case["messages"][9]  # in telecom the customer runs tools on the phone: kept on the user's side
    assert (user_runs["role"], user_runs["tool_calls"][0]["name"]) == ("user", "check_status_bar")
    assert case["input"] == source[1]["content"]  # the request, which coverage compares, stays the first message
    stored = tau2_labelled.one("SELECT messages FROM eval_cases WHERE case_id = ?", [case["id"]])[0]
    assert json.loads(stored) == case["messages"]  # the eval case keeps the conversation it covers
    ingested = ingest_file(tau2_labelled, report.suite_path, kind="eval")  # and reads back as the same case
    assert (ingested.stored, ingested.unchanged, ingested.quarantined) == (0, 1, [])


def test_a_single_turn_chat_trace_stays_single_turn_and_a_conversation_is_redacted_as_the_request(store, tmp_path):
    single = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "refund order 1"},
              {"role": "assistant", "content": "Refunded."}]
    call = {"id": "call_1", "type": "function",
            "function": {"name": "find_user", "arguments": '{"email": "ana@example.com"}'}}
    multi = [{"role": "user", "content": "refund ana@example.com"}, {"role": "assistant", "content": "Which order?"},
             {"role": "user", "content": "order 7, mail bo@example.com too"},
             {"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "call_1", "content": "no user"},
             {"role": "assistant", "content": "Refund issued."}]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1", messages=single),
                                                           trace("b", "refund ana@example.com", messages=multi)]),
                kind="production")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": {"contains": ["refund"]}},
                                                            {"trace_id": "b", "expected": {"contains": ["order"]}}]))
    report = emit_suite(store, tmp_path / "suites")
    cases = {json.loads(line)["metadata"]["provenance"]["trace_id"]: json.loads(line)
             for line in report.suite_path.read_text().splitlines()}
    assert "messages" not in cases["a"]
    assert cases["b"]["input"] == "refund <EMAIL_1>"
    assert cases["b"]["messages"] == [{"role": "user", "content": "refund <EMAIL_1>"},
                                      {"role": "assistant", "content": "Which order?"},
                                      {"role": "user", "content": "order 7, mail <EMAIL_2> too"}]


def test_numbers_and_keys_in_arguments_and_the_labellers_email_are_redacted_in_the_suite(store, tmp_path):
    lookup = {"id": "call_1", "type": "function", "function": {
        "name": "lookup", "arguments": '{"card": 4111111111111111, "owners": {"ana@example.com": "main"}}'}}
    charge = {"id": "call_2", "type": "function", "function": {"name": "charge", "arguments": "{}"}}
    messages = [{"role": "user", "content": "charge my card"},
                {"role": "assistant", "content": None, "tool_calls": [lookup]},
                {"role": "tool", "tool_call_id": "call_1", "content": "found"},
                {"role": "assistant", "content": "Shall I charge it?"}, {"role": "user", "content": "yes"},
                {"role": "assistant", "content": None, "tool_calls": [charge]},
                {"role": "tool", "tool_call_id": "call_2", "content": "ok"},
                {"role": "assistant", "content": "Charged."}]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "charge my card", messages=messages)]),
                kind="production")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "expected": {"required_tools": ["charge"]}, "labeller": "bo@example.com"}]))
    report = emit_suite(store, tmp_path / "suites")
    text = report.suite_path.read_text()
    assert [raw for raw in ("4111111111111111", "ana@", "bo@") if raw in text] == []
    [case] = [json.loads(line) for line in text.splitlines()]
    assert case["messages"][1]["tool_calls"][0]["arguments"] == {"card": "<CARD_1>", "owners": {"<EMAIL_1>": "main"}}
    assert case["metadata"]["labeller"] == "<EMAIL_2>"


def test_a_user_message_with_only_an_image_ends_the_agents_turn(store, tmp_path):
    call = {"id": "a", "type": "function", "function": {"name": "get_order", "arguments": "{}"}}
    refund = {"id": "b", "type": "function", "function": {"name": "issue_refund", "arguments": "{}"}}
    messages = [{"role": "user", "content": "my package arrived damaged"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "a", "content": "order W1"},
                {"role": "assistant", "content": "Please send a photo of the damage."},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.example/y.png"}}]},
                {"role": "assistant", "content": None, "tool_calls": [refund]},
                {"role": "tool", "tool_call_id": "b", "content": "refunded"},
                {"role": "assistant", "content": "Refund issued."}]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "my package arrived damaged",
                                                                messages=messages)]), kind="production")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": {
        "required_tools": ["issue_refund"]}}]))
    [case] = [json.loads(line) for line in emit_suite(store, tmp_path / "suites").suite_path.read_text().splitlines()]
    # the turn under test is the refund after the photo, not one turn from the first lookup to the refund
    assert [m["role"] for m in case["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    assert case["messages"][-1] == {"role": "user", "content": ""}


def test_tool_call_ids_numbered_from_0_become_text_and_still_pair_calls_with_results(store, tmp_path):
    def lookup(number):
        return {"id": number, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}

    messages = [{"role": "user", "content": "where is order 5"},
                {"role": "assistant", "content": "", "tool_calls": [lookup(0)]},
                {"role": "tool", "tool_call_id": 0, "content": "shipped"},
                {"role": "user", "content": "and order 6?"},
                {"role": "assistant", "content": "", "tool_calls": [lookup(1)]},
                {"role": "tool", "tool_call_id": 1, "content": "shipped"},
                {"role": "assistant", "content": "both shipped"}]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "where is order 5", messages=messages)]),
                kind="production")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": {
        "required_tools": ["lookup"]}}]))
    [case] = [json.loads(line) for line in emit_suite(store, tmp_path / "suites").suite_path.read_text().splitlines()]
    assert case["messages"][1:3] == [
        {"role": "assistant", "content": "", "tool_calls": [{"name": "lookup", "arguments": {}, "id": "0"}]},
        {"role": "tool", "content": "shipped", "tool_call_id": "0"}]  # id 0 is an id, not a missing one
