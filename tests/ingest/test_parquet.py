"""Parquet input: any per-record format, row by row, with the quarantine and watermark rules of JSON lines."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from harness_evals.ingest import detect_format, ingest_file
from harness_evals.ingest.framing import parquet_rows
from tests.conftest import trace


def write_parquet(path, rows, *, row_group_size=2):
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def stored(store):
    return store.con.execute("SELECT trace_id, epoch(timestamp), input, output, metadata::VARCHAR, source FROM traces "
                             "ORDER BY trace_id").fetchall()


def test_canonical_rows_over_several_row_groups_are_stored_and_bad_rows_quarantined_by_row_number(store, tmp_path):
    path = write_parquet(tmp_path / "traces.parquet", [
        trace("a", "refund order 4", metadata={"release": "v1"}), trace("b", "   "), trace("c", "where is parcel 9"),
        {**trace("d", "reset my password"), "timestamp": "yesterday"}, trace("a", "refund order 4", metadata={"release": "v1"}),
    ])
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    report = ingest_file(store, path, kind="production")
    assert (report.format, report.stored, report.unchanged) == ("canonical", 2, 1)
    assert [(q.line, q.reason.split(":")[0]) for q in report.quarantined] == [(2, "input"), (4, "timestamp")]
    assert stored(store) == [("a", 1795168800.0, "refund order 4", "ok", '{"release": "v1"}', str(path)),
                             ("c", 1795168800.0, "where is parcel 9", "ok", "{}", str(path))]
    raw = store.con.execute("SELECT raw FROM quarantine WHERE line = 2").fetchone()[0]
    assert json.loads(raw)["trace_id"] == "b"  # the row, as JSON, for the person who fixes it


def test_an_unchanged_parquet_file_reads_as_nothing_new_and_a_rewritten_one_from_row_one(store, tmp_path):
    rows = [trace(f"t{n}", f"question {n}") for n in range(5)]
    path = write_parquet(tmp_path / "traces.parquet", rows)
    assert ingest_file(store, path, kind="production").stored == 5
    again = ingest_file(store, path, kind="production")
    assert (again.from_line, again.stored, again.unchanged, again.quarantined) == (6, 0, 0, [])
    write_parquet(path, rows + [trace("t5", "question 5")])  # an export rewritten with one more row
    rewritten = ingest_file(store, path, kind="production")
    assert (rewritten.from_line, rewritten.stored, rewritten.unchanged) == (1, 1, 5)


def test_reading_from_a_row_skips_the_row_groups_before_it(tmp_path):
    path = write_parquet(tmp_path / "traces.parquet", [trace(f"t{n}", f"question {n}") for n in range(7)], row_group_size=3)
    assert [(row, value["trace_id"]) for row, _, value in parquet_rows(path, first_row=5)] == [
        (5, "t4"), (6, "t5"), (7, "t6")]


def test_a_parquet_file_is_sniffed_by_its_first_row(tmp_path):
    chat = {"id": "c1", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = write_parquet(tmp_path / "chat.parquet", [chat])
    assert detect_format(path) == "openai-chat"


def test_worker_processes_never_cut_a_parquet_file_at_its_newline_bytes(store, tmp_path):
    path = write_parquet(tmp_path / "traces.parquet", [trace(f"t{n}", f"line\nbreaks {n}\n") for n in range(40)])
    report = ingest_file(store, path, kind="production", workers=2, parallel_min_bytes=1, chunk_bytes=64)
    assert (report.stored, report.quarantined) == (40, [])


def test_a_truncated_parquet_file_is_one_quarantined_record_naming_the_fix(store, tmp_path):
    whole = write_parquet(tmp_path / "whole.parquet", [trace("a", "question")])
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[:-20])
    report = ingest_file(store, cut, kind="production", format="canonical")
    [refused] = report.quarantined
    assert (refused.line, report.stored_nothing) == (1, True)
    assert refused.reason.startswith("not a readable Parquet file (") and refused.reason.endswith("export it again")


def test_eval_cases_load_from_parquet_too(store, tmp_path):
    path = write_parquet(tmp_path / "evals.parquet", [{"id": "e1", "input": "refund please", "expected": "refund"}])
    assert ingest_file(store, path, kind="eval").stored == 1
    assert store.con.execute("SELECT case_id, input, expected::VARCHAR FROM eval_cases").fetchall() == [
        ("e1", "refund please", '"refund"')]


def test_an_arrow_map_is_an_object_an_empty_one_too(store, tmp_path):
    metadata = pa.array([[("app", "shop")], [], None], type=pa.map_(pa.string(), pa.string()))
    path = tmp_path / "evals.parquet"
    pq.write_table(pa.table({"id": ["e1", "e2", "e3"], "input": ["refund", "cancel", "track"], "metadata": metadata}),
                   path)
    report = ingest_file(store, path, kind="eval")
    assert (report.format, report.quarantined) == ("eval-case", [])
    assert store.con.execute("SELECT case_id, metadata::VARCHAR FROM eval_cases ORDER BY 1").fetchall() == [
        ("e1", '{"app": "shop"}'), ("e2", "{}"), ("e3", "{}")]
