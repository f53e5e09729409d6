"""Label Studio's three export forms read to the same labels: JSON, JSON-MIN and CSV, as the real
server (1.23.2) wrote them in benchmarks/labelstudio_roundtrip.py, from the plain export (the
annotator as a user id) and from a snapshot with the annotator expanded (its email)."""

import pytest

from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.label.queue import enqueue
from harness_evals.records import QueuePick
from tests.conftest import REPO, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"

LABELS = [  # what the round trip annotated; t4 was annotated twice, the newer annotation counts
    ("t1", "labelled", '{"not_contains": ["booked"], "required_tools": ["book_reservation"]}', "fail", None, None),
    ("t2", "labelled", '"Tells the user the fee first.\\nThen asks to confirm."', "pass", "a two-line answer", None),
    ("t3", "skipped", None, None, None, None),
    ("t4", "labelled", '{"contains": ["newer"]}', "pass", None, None),
    ("t5", "covered", None, None, None, "e-cancel"),
]


@pytest.mark.parametrize(("export", "labeller"), [
    ("labelstudio_export.json", "1"), ("labelstudio_export_min.json", "1"), ("labelstudio_export.csv", "1"),
    ("labelstudio_snapshot.json", "ana@example.com"), ("labelstudio_snapshot_min.json", "ana@example.com"),
    ("labelstudio_snapshot.csv", "ana@example.com"),
])
def test_each_label_studio_export_form_reads_to_the_same_labels(store, tmp_path, export, labeller):
    ingest_file(store, FIXTURES / "labelstudio_traces.jsonl", kind="production")
    ingest_file(store, write_jsonl(tmp_path / "evals.jsonl", [{"id": "e-cancel", "input": "Cancel my order."}]),
                kind="eval")
    enqueue(store, [QueuePick(f"t{n}", 1, "cluster 1", 1.0) for n in range(1, 6)], run_id="run-1")
    report = import_labels(store, FIXTURES / export)
    assert (report.applied, report.skipped, report.covered, report.blank, report.refused) == (3, 1, 1, 0, [])
    rows = store.con.execute("SELECT trace_id, state, expected, verdict, notes, covered_by, labeller "
                             "FROM labelling_queue ORDER BY trace_id").fetchall()
    assert rows == [(*label, labeller) for label in LABELS]
