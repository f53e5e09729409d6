import json

from typer.testing import CliRunner

from harness_evals.cli import app
from harness_evals.store import Store
from tests.conftest import REPO, topic_traces, trace, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_ingest_names_the_broken_line_and_loads_the_rest(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [trace("a", "x"), "{oops", trace("b", "y")])
    result = invoke("ingest", path, "--kind", "production", "--db", tmp_path / "h.duckdb")
    assert result.exit_code == 1, result.output  # a partial load: CI can tell it from a clean one
    assert "2 stored, 0 unchanged, 1 quarantined: a partial load" in result.output
    assert "line 2: not valid JSON" in result.output
    result = invoke("ingest", write_jsonl(tmp_path / "u.jsonl", [trace("c", "z")]), "--db", tmp_path / "h.duckdb")
    assert (result.exit_code, "1 stored, 0 unchanged, 0 quarantined" in result.output) == (0, True)


def one_error_line(result) -> str:
    assert "Traceback" not in result.output and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: "), result.output
    return result.output.strip()


EVAL_CASE = {"id": "eval-airline-03", "input": "Hi, I need to change the flight on reservation JG7FMM.",
             "expected": {"tools": ["get_reservation_details", "update_reservation_flights"]},
             "metadata": {"suite": "airline-smoke"}}


def test_an_eval_set_ingested_as_traces_is_refused_in_one_line_naming_the_fix_and_nothing_is_stored(tmp_path):
    db = tmp_path / "h.duckdb"
    path = write_jsonl(tmp_path / "evals.jsonl", [EVAL_CASE, {**EVAL_CASE, "id": "eval-airline-04"}])
    result = invoke("ingest", path, "--kind", "production", "--db", db)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: {path}: looks like an eval set (records with id and input, no trace_id): pass --kind eval")
    with Store(db, read_only=True) as store:
        assert store.one("SELECT count(*) FROM quarantine")[0] == store.one("SELECT count(*) FROM runs")[0] == 0
    result = invoke("ingest", path, "--kind", "eval", "--db", db)
    assert (result.exit_code, "2 stored" in result.output) == (0, True)
    result = invoke("ingest", write_jsonl(tmp_path / "t.jsonl", [trace("a", "x")]), "--kind", "eval", "--db", db)
    assert result.exit_code == 2
    assert one_error_line(result).endswith(
        "looks like production traces (canonical), not eval cases: pass --kind production")


def test_a_named_format_that_does_not_fit_the_file_names_the_one_it_looks_like(tmp_path):
    db = tmp_path / "h.duckdb"
    tau, tau2 = FIXTURES / "tau_bench_airline.json", FIXTURES / "tau2_telecom.json"
    result = invoke("ingest", tau, "--format", "tau2", "--db", db)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: {tau}: is not tau2 (a JSON object {{info, tasks, simulations}}); it looks like tau-bench: "
        "pass --format tau-bench, or leave --format out to detect it")
    result = invoke("ingest", tau2, "--format", "tau-bench", "--db", db)
    assert result.exit_code == 2
    assert "it looks like tau2: pass --format tau2" in one_error_line(result)
    result = invoke("ingest", FIXTURES / "mint_gsm8k.jsonl", "--format", "openai-chat", "--db", db)
    assert "it looks like mint: pass --format mint" in one_error_line(result)


def test_a_file_whose_every_record_is_quarantined_exits_2_in_one_line_and_again_when_read_again(tmp_path):
    db = tmp_path / "h.duckdb"
    rows = [{"trace_id": f"t{n}", "input": "where is my parcel"} for n in range(3)]  # no timestamp
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    for _ in range(2):  # the watermark does not move past a file that stored nothing
        result = invoke("ingest", path, "--db", db)
        assert result.exit_code == 2
        assert one_error_line(result) == (
            f"error: {path}: nothing stored: all 3 records were quarantined: timestamp: Field required; "
            "fix the records and ingest again (each reason is in the quarantine table)")
    path.write_text("".join(json.dumps({**row, "timestamp": None}) + "\n" for row in rows))
    assert invoke("ingest", path, "--db", db).exit_code == 0


def test_a_common_eval_file_with_target_tags_and_category_loads(tmp_path):
    db = tmp_path / "h.duckdb"
    path = write_jsonl(tmp_path / "evals.jsonl", [
        {"id": 1, "input": "Cancel my reservation", "target": "cancel_reservation", "tags": ["airline"],
         "category": "cancellation"},
        {"id": "2", "input": "Refund my order", "expected": "refund", "target": "refund"},
    ])
    result = invoke("ingest", path, "--kind", "eval", "--db", db)
    assert result.exit_code == 1, result.output
    assert "line 2: both expected and target are given: keep one (target is read as expected)" in result.output
    with Store(db, read_only=True) as store:
        assert store.con.execute("SELECT case_id, expected, metadata FROM eval_cases").fetchall() == [
            ("1", '"cancel_reservation"', '{"tags": ["airline"], "category": "cancellation"}')]


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
