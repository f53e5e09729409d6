import json

from typer.testing import CliRunner

from harness_evals.cli import app
from tests.conftest import topic_traces, trace, write_jsonl

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_ingest_names_the_broken_line_and_loads_the_rest(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "x"), "{oops", trace("b", "y")])
    result = invoke("ingest", path, "--kind", "production", "--db", tmp_path / "h.duckdb")
    assert result.exit_code == 0, result.output
    assert "2 stored, 0 unchanged, 1 quarantined" in result.output
    assert "line 2: not valid JSON" in result.output


def test_mine_then_export_the_queue(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    result = invoke("mine", "--budget", 4, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    assert result.exit_code == 0, result.output
    assert "queued 4 traces for labelling" in result.output
    result = invoke("queue", "export", "--out", tmp_path / "q.jsonl", "--db", db)
    assert "wrote 4 queued traces" in result.output
    items = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert all({"trace_id", "cluster_id", "reason"} <= item.keys() for item in items)


def test_user_errors_are_one_line_and_exit_code_2(tmp_path):
    result = invoke("mine", "--budget", 3, "--db", tmp_path / "empty.duckdb")
    assert result.exit_code == 2
    assert "no production traces in the store" in result.output
    assert "Traceback" not in result.output
    result = invoke("ingest", tmp_path / "absent.jsonl", "--db", tmp_path / "h.duckdb")
    assert (result.exit_code, "no such file" in result.output) == (2, True)
    result = invoke("run", "--dask", "10.0.0.5:8786", "--db", tmp_path / "h.duckdb")
    assert (result.exit_code, result.output.strip()) == (
        2, "error: --dask: give a Dask scheduler's address such as tcp://10.0.0.5:8786, or local; got '10.0.0.5:8786'")


def test_queue_import_exits_1_when_a_line_is_refused(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", [trace("a", "x")]), "--db", db)
    labels = write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": "y"}, {"trace_id": "nope", "expected": "y"}])
    result = invoke("queue", "import", labels, "--db", db)
    assert result.exit_code == 1
    assert "1 labels applied" in result.output and "line 2: no trace 'nope'" in result.output


def test_flags_lists_what_the_detectors_found(tmp_path):
    db = tmp_path / "h.duckdb"
    rows = topic_traces() + [trace("bad-1", "refund my order 9", steps=[
        {"type": "tool_call", "name": "refund", "arguments": {"order": 9}, "error": "timeout"}], output="Refund issued!")]
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", rows), "--db", db)
    assert "no mining run" in invoke("flags", "--db", db).output
    invoke("mine", "--budget", 2, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    result = invoke("flags", "--db", db)
    assert result.exit_code == 0, result.output
    assert "1 flags (error_then_confident_answer 1)" in result.output
    assert "refund failed, and the final answer does not say so" in result.output


def test_status_shows_runs_the_coverage_trend_and_the_queue(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    invoke("mine", "--budget", 4, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    result = invoke("mine", "--budget", 2, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    assert "incremental clustering: 0 new traces placed into the last fit's clusters" in result.output
    result = invoke("status", "--db", db)
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    assert [(row[1], row[2], row[3]) for row in rows if row[1] in ("full", "incremental")] == [
        ("full", "24", "24"), ("incremental", "24", "0")]
    assert "no emerging regions in the latest mining run" in result.output
    assert "queue: 6 queued" in result.output


def test_export_and_restore_round_trip_from_the_command_line(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    result = invoke("export", "--parquet", tmp_path / "backup", "--db", db)
    assert result.exit_code == 0 and "backed up" in result.output
    result = invoke("restore", tmp_path / "backup", "--db", tmp_path / "restored.duckdb")
    assert result.exit_code == 0 and "restored" in result.output
    result = invoke("restore", tmp_path / "backup", "--db", db)
    assert result.exit_code == 2 and "already exists" in result.output
