import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from harness_evals.cli import app
from harness_evals.store import Store
from tests.conftest import REPO, sqlite_database, topic_traces, trace, write_jsonl

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


def test_a_common_eval_file_with_target_tags_and_category_loads_as_inspect_and_ours_refuses_saying_it_twice(tmp_path):
    db = tmp_path / "h.duckdb"
    path = write_jsonl(tmp_path / "evals.jsonl", [
        {"id": 1, "input": "Cancel my reservation", "target": "cancel_reservation", "tags": ["airline"],
         "category": "cancellation"},
        {"id": "2", "input": "Refund my order", "expected": "refund", "target": "refund"},
    ])
    result = invoke("ingest", path, "--kind", "eval", "--db", db)
    assert result.exit_code == 0, result.output
    assert f"{path} (eval, inspect): 2 stored, 0 unchanged, 0 quarantined" in result.output
    with Store(db, read_only=True) as store:  # `expected` is no field of Inspect's: it is kept, in metadata
        assert store.con.execute("SELECT case_id, expected, metadata FROM eval_cases ORDER BY 1").fetchall() == [
            ("1", '"cancel_reservation"', '{"tags": ["airline"], "category": "cancellation"}'),
            ("2", '"refund"', '{"expected": "refund"}')]

    result = invoke("ingest", path, "--kind", "eval", "--format", "eval-case", "--db", tmp_path / "ours.duckdb")
    assert result.exit_code == 1, result.output
    assert "line 2: both expected and target are given: keep one (target is read as expected)" in result.output
    with Store(tmp_path / "ours.duckdb", read_only=True) as store:
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


def table_of(output: str, column: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the printed table that has `column`."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if "┃" in line and column in line)
    header = [cell.strip() for cell in lines[start].split("┃")[1:-1]]
    rows = []
    for line in lines[start + 2:]:
        if "│" not in line:
            break
        rows.append([cell.strip() for cell in line.split("│")[1:-1]])
    return header, rows


def test_mine_and_status_show_each_regions_failure_rate_next_to_its_coverage(tmp_path):
    db = tmp_path / "h.duckdb"
    rows = [{**row, "metadata": {"reward": 0.0 if row["trace_id"].startswith("refund") else 1.0}}
            for row in topic_traces()]
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", rows), "--db", db)
    result = invoke("mine", "--budget", 3, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    assert result.exit_code == 0, result.output
    assert ("outcomes: 8 of the 24 traces with a reward, success flag or feedback score failed (33%); the queue "
            "weighs regions that fail more often") in result.output
    header, table = table_of(result.output, "failing")
    failing = {row[0]: row[header.index("failing")] for row in table}
    with Store(db, read_only=True) as store:
        expected = {("noise" if cluster_id == -1 else str(cluster_id)): f"{failed / known:.0%} of {known}"
                    for cluster_id, known, failed in store.con.execute(
                        "SELECT cluster_id, outcome_count, failed_count FROM cluster_coverage").fetchall()}
    assert failing == expected
    result = invoke("status", "--db", db)
    assert result.exit_code == 0, result.output
    header, trend = table_of(result.output, "risk-weighted")
    assert [row[header.index("failing")] for row in trend] == ["33% of 24"]


def test_export_and_restore_round_trip_from_the_command_line(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    result = invoke("export", "--parquet", tmp_path / "backup", "--db", db)
    assert result.exit_code == 0 and "backed up" in result.output
    result = invoke("restore", tmp_path / "backup", "--db", tmp_path / "restored.duckdb")
    assert result.exit_code == 0 and "restored" in result.output
    result = invoke("restore", tmp_path / "backup", "--db", db)
    assert result.exit_code == 2 and "already exists" in result.output


# --- settings and flags (issue 16): the model holds the defaults, the file overrides them, a flag
# given overrides the file; values are checked at the edge; a run reads only what it is told to ---


def mine_params(db) -> list[dict]:
    from harness_evals.store import Store

    with Store(db, read_only=True) as store:
        return [json.loads(params) for (params,) in
                store.con.execute("SELECT params FROM runs WHERE kind = 'mine' ORDER BY started_at").fetchall()]


def test_mine_runs_with_the_files_mine_section_and_a_flag_given_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # today's code would write the report into ./data
    db, config = tmp_path / "h.duckdb", tmp_path / "h.toml"
    config.write_text(f'report_out = "{tmp_path / "r.html"}"\n'
                      '[mine]\nbudget = 3\nmin_cluster_size = 8\nembedder = "hashing"\n')
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    result = invoke("mine", "--config", config, "--db", db)
    assert result.exit_code == 0, result.output
    assert "queued 3 traces for labelling" in result.output
    result = invoke("mine", "--config", config, "--budget", 2, "--dimensions", 4, "--db", db)
    assert result.exit_code == 0, result.output
    assert [(p["budget"], p["min_cluster_size"], p["dimensions"], p["embedder"]) for p in mine_params(db)] == [
        (3, 8, 16, "hashing-256"), (2, 8, 4, "hashing-256")]
    result = invoke("report", "--config", config, "--db", db)
    assert (result.exit_code, result.output.strip()) == (0, f"report: {tmp_path / 'r.html'}")


def test_a_value_out_of_range_is_refused_in_one_line_naming_the_flag_or_the_key(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    for flag, value, message in (
        ("--covered-similarity", 2, "2.0 is out of range: it must be above -1 and at most 1. "
                                    "Cosine similarity at which an eval case covers a trace"),
        ("--min-cluster-size", 1, "1 is out of range: it must be at least 2. "
                                  "HDBSCAN's smallest cluster: fewer traces this close together are noise"),
    ):
        result = invoke("mine", flag, value, "--embedder", "hashing", "--db", db)
        assert (result.exit_code, result.output.strip()) == (2, f"error: {flag}: {message}")
    config = tmp_path / "h.toml"
    config.write_text("[mine]\ncovered_similarity = 2\n")
    result = invoke("mine", "--config", config, "--db", db)
    assert (result.exit_code, result.output.strip()) == (
        2, f"error: {config}: mine.covered_similarity: 2 is out of range: it must be above -1 and at most 1. "
           "Cosine similarity at which an eval case covers a trace")
    assert mine_params(db) == []
    draft = "Suggest tool checks and a reference only from a region with at least this many other successful traces"
    result = invoke("queue", "export", "--min-successful", 0, "--out", tmp_path / "q.jsonl", "--db", db)
    assert (result.exit_code, result.output.strip()) == (
        2, f"error: --min-successful: 0 is out of range: it must be at least 1. {draft}")
    config.write_text("[suggest]\nrequired_share = 0\n")
    result = invoke("queue", "export", "--config", config, "--out", tmp_path / "q.jsonl", "--db", db)
    assert (result.exit_code, result.output.strip()) == (
        2, f"error: {config}: suggest.required_share: 0 is out of range: it must be above 0 and at most 1. Suggest a "
           "tool as required when at least this share of the region's successful traces call it")


def test_emit_writes_where_the_settings_file_says_unless_a_flag_says_otherwise(tmp_path, monkeypatch):
    from harness_evals.label.labels import import_labels
    from harness_evals.label.queue import enqueue
    from harness_evals.records import QueuePick
    from harness_evals.store import Store

    monkeypatch.chdir(tmp_path)
    db, config = tmp_path / "h.duckdb", tmp_path / "h.toml"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1"), trace("b", "reset password")]),
           "--db", db)
    with Store(db) as store:
        enqueue(store, [QueuePick("a", 1, "cluster 1", 2.0), QueuePick("b", 2, "cluster 2", 1.0)], run_id="run-1")
        import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": "a", "expected": "refunds"},
                                                                {"trace_id": "b", "expected": "sends a link"}]))
    config.write_text(f'suite_dir = "{tmp_path / "from-file"}"\nsuite_name = "nightly"\n')
    result = invoke("emit", "--config", config, "--db", db)
    assert result.output.strip() == f"suite nightly v1: 2 cases (2 new, 0 already in the eval set) -> " \
                                    f"{tmp_path / 'from-file' / 'nightly.jsonl'}"
    result = invoke("emit", "--config", config, "--out", tmp_path / "elsewhere", "--db", db)
    assert result.output.strip() == f"suite nightly v1: 2 cases (0 new, 0 already in the eval set) -> " \
                                    f"{tmp_path / 'elsewhere' / 'nightly.jsonl'}"
    assert not (tmp_path / "data").exists()


def test_run_and_serve_with_no_sources_say_how_to_configure_them_and_start_nothing(tmp_path, monkeypatch):
    import shutil

    from tests.conftest import SAMPLE

    monkeypatch.chdir(tmp_path)
    shutil.copytree(SAMPLE, tmp_path / "data" / "sample")  # a folder with the sample's paths is not a configuration
    for command in ("run", "serve"):
        result = invoke(command)
        assert result.exit_code == 2, result.output
        [line] = result.output.splitlines()
        assert line.startswith("error: no sources to read: add them to ./harness-evals.toml (or a file you pass with "
                               "--config), one [[sources]] table per file"), line
        assert line.endswith('sources = [{ path = "traces.jsonl", kind = "production" }, '
                             '{ path = "evals.jsonl", kind = "eval" }]'), line
    assert not (tmp_path / "data" / "harness.duckdb").exists()


def test_run_and_serve_name_a_missing_source_file_before_starting(tmp_path):
    config = tmp_path / "h.toml"
    config.write_text(f'[[sources]]\npath = "{tmp_path / "gone.jsonl"}"\nkind = "production"\n')
    for command in ("run", "serve"):
        result = invoke(command, "--config", config, "--db", tmp_path / "h.duckdb")
        assert (result.exit_code, result.output.strip()) == (
            2, f"error: {tmp_path / 'gone.jsonl'}: no such file (a source file in {config}): fix the path there, "
               "or remove it")
    assert not (tmp_path / "h.duckdb").exists()


def every_command(group=None, prefix=()):
    """(words as typed, command) for the CLI's root, each group and each command: ((), root),
    (("queue",), its group), (("queue", "export"), the command)."""
    import typer.main

    group = group or typer.main.get_command(app)
    yield prefix, group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from every_command(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def commands_taking(option: str) -> set[str]:
    """Each command of the CLI, as typed ("queue export"), that has `option`."""
    return {" ".join(words) for words, command in every_command() if not hasattr(command, "commands")
            and any(option in param.opts for param in command.params)}


def test_every_command_that_takes_db_uses_the_settings_files_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_EVALS_DB", raising=False)
    monkeypatch.delenv("HARNESS_EVALS_CONFIG", raising=False)
    Path("harness-evals.toml").write_text('db = "team.duckdb"\nqueue_out = "queue.jsonl"\nreport_out = "report.html"\n'
                                          'suite_dir = "suites"\n[mine]\nembedder = "hashing"\nbudget = 3\n'
                                          '[review]\nout = "review"\n')
    with_prompts = [trace(f"p{n}", "where is my parcel", metadata={"release": f"2026.11.{n}"},
                          messages=[{"role": "system", "content": f"# Policy\nBe brief ({n})"},
                                    {"role": "user", "content": "where is my parcel"}]) for n in (1, 2)]
    write_jsonl(tmp_path / "t.jsonl", topic_traces() + with_prompts)
    Path("contract.toml").write_text('forbidden = ["{{"]\n')
    steps = [
        ["ingest", "t.jsonl"], ["mine"], ["flags"], ["status"], ["queue", "export"],
        ["queue", "import", "labels.jsonl"], ["emit"], ["report"], ["prompts", "list"],
        ["prompts", "diff", "--from", "2026.11.1", "--to", "2026.11.2"], ["prompts", "check", "--contract", "contract.toml"],
        ["prompts", "snapshot", "--out", "snapshots"], ["export", "--parquet", "backup"], ["tools"],
        ["review", "--release", "2026.11.2", "--queue"],
    ]
    for step in steps:
        if step[:2] == ["queue", "import"]:  # label the first queued trace
            first = json.loads(Path("queue.jsonl").read_text().splitlines()[0])
            write_jsonl(Path("labels.jsonl"), [{"trace_id": first["trace_id"], "expected": "answers it"}])
        result = invoke(*step)
        assert result.exit_code == 0, (step, result.output)
        assert not Path("data").exists(), step  # nothing looked for, or made, the default store
    with Store(tmp_path / "team.duckdb", read_only=True) as store:
        assert store.con.execute("SELECT kind, count(*) FROM runs GROUP BY kind ORDER BY kind").fetchall() == [
            ("emit", 1), ("ingest", 1), ("label", 1), ("mine", 1), ("review", 1)]
    # run and serve are covered by the same option (they start Prefect); restore's --db is the new file it makes
    assert commands_taking("--db") - {"run", "serve", "restore"} == {" ".join(step[:2]) if step[0] in (
        "queue", "prompts") else step[0] for step in steps}


def test_the_database_is_the_flag_then_the_environment_then_the_settings_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_EVALS_DB", raising=False)
    Path("elsewhere.toml").write_text('db = "from-file.duckdb"\n')
    monkeypatch.setenv("HARNESS_EVALS_CONFIG", "elsewhere.toml")  # read by commands that take no --config too
    traces = write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1")])

    def stored_in():
        return sorted(path.name for path in tmp_path.glob("*.duckdb"))

    assert invoke("ingest", traces).exit_code == 0
    assert stored_in() == ["from-file.duckdb"]
    assert "ingest" in invoke("status").output  # status takes no --config, and reads the file's store
    monkeypatch.setenv("HARNESS_EVALS_DB", str(tmp_path / "from-env.duckdb"))
    assert invoke("ingest", traces).exit_code == 0
    assert stored_in() == ["from-env.duckdb", "from-file.duckdb"]
    assert invoke("ingest", traces, "--db", tmp_path / "from-flag.duckdb").exit_code == 0
    assert stored_in() == ["from-env.duckdb", "from-file.duckdb", "from-flag.duckdb"]
    Path("elsewhere.toml").write_text('db = "from-file.duckdb"\ndb_path = "x"\n')
    monkeypatch.delenv("HARNESS_EVALS_DB")
    assert one_line_error(invoke("status")) == "error: elsewhere.toml: db_path: Extra inputs are not permitted"


def test_ingest_raw_and_no_raw_override_the_files_keep_raw(tmp_path):
    db, config = tmp_path / "h.duckdb", tmp_path / "h.toml"
    config.write_text("[redact]\nkeep_raw = false\n")
    stored = {}
    for trace_id, flags in (("file", ["--config", config]), ("raw", ["--config", config, "--raw"]),
                            ("default", []), ("no-raw", ["--no-raw"])):
        path = write_jsonl(tmp_path / f"{trace_id}.jsonl", [trace(trace_id, "mail me at jane.doe@example.com")])
        result = invoke("ingest", path, "--db", db, *flags)
        assert result.exit_code == 0, result.output
        with Store(db, read_only=True) as store:
            stored[trace_id] = store.one("SELECT input FROM traces WHERE trace_id = ?", [trace_id])[0]
    assert stored == {"file": "mail me at <EMAIL_1>", "raw": "mail me at jane.doe@example.com",
                      "default": "mail me at jane.doe@example.com", "no-raw": "mail me at <EMAIL_1>"}


def test_queue_export_writes_to_the_settings_queue_out_unless_out_is_given(tmp_path, monkeypatch):
    from harness_evals.label.queue import enqueue
    from harness_evals.records import QueuePick

    monkeypatch.chdir(tmp_path)
    db, config = tmp_path / "h.duckdb", tmp_path / "h.toml"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", [trace("a", "refund order 1")]), "--db", db)
    with Store(db) as store:
        enqueue(store, [QueuePick("a", 1, "cluster 1", 2.0)], run_id="run-1")
    config.write_text(f'queue_out = "{tmp_path / "from-file.jsonl"}"\n')
    result = invoke("queue", "export", "--config", config, "--db", db)
    assert (result.exit_code, result.output.strip()) == (0, f"wrote 1 queued traces to {tmp_path / 'from-file.jsonl'}")
    result = invoke("queue", "export", "--config", config, "--out", tmp_path / "given.csv", "--format", "csv", "--db", db)
    assert (result.exit_code, result.output.strip()) == (0, f"wrote 1 queued traces to {tmp_path / 'given.csv'}")
    result = invoke("queue", "export", "--db", db)  # no settings file: the model's default
    assert (result.exit_code, result.output.strip()) == (0, "wrote 1 queued traces to data/queue.jsonl")
    assert [json.loads(line)["trace_id"] for line in (tmp_path / "data" / "queue.jsonl").read_text().splitlines()] == [
        "a"]


def test_every_command_shows_its_help_without_reading_the_settings_or_the_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("harness-evals.toml").write_text("db_path = 'not a setting'\n")  # would be one red line, were it read
    commands = [words for words, _ in every_command()]
    assert [" ".join(words) for words in commands] == [
        "", "ingest", "mine", "flags", "tools", "review", "emit", "run", "report", "status", "export", "restore", "serve",
        "queue", "queue export", "queue import", "suite", "suite check", "suite run", "suite pytest", "suite export",
        "prompts", "prompts list", "prompts diff", "prompts check", "prompts snapshot"]  # the order --help lists them
    for words in commands:
        result = invoke(*words, "--help")
        assert result.exit_code == 0, (words, result.output)
        assert result.output.startswith(f"Usage: root {' '.join(words)}"), (words, result.output)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["harness-evals.toml"]


def test_the_cli_imports_no_mining_module_until_a_command_needs_one():
    heavy = ("duckdb", "pyarrow", "numpy", "sklearn", "hdbscan", "prefect", "sentence_transformers", "torch")
    code = ("import sys\nimport harness_evals.cli\n"
            f"print(' '.join(sorted({{name.split('.')[0] for name in sys.modules}} & set({heavy!r}))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


def test_ingests_defaults_are_the_settings_models(tmp_path):
    import typer.main

    from harness_evals.config import Source

    ingest = typer.main.get_command(app).commands["ingest"]
    defaults = {param.name: param.default for param in ingest.params}
    assert (defaults["kind"], defaults["format"]) == (Source(path=tmp_path).kind, Source(path=tmp_path).format)


# ---------------------------------------------------------------------------------------------
# --db pointing at what is no harness-evals store: one line and exit 2, and nothing written to it.

def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "may be writing" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no one may create a file")
def test_db_in_a_folder_where_no_file_can_be_created_is_one_line(tmp_path):
    traces = write_jsonl(tmp_path / "t.jsonl", topic_traces())
    assert one_line_error(invoke("ingest", traces, "--db", "/proc/harness.duckdb")) == (
        "error: cannot create /proc/harness.duckdb.lock, the run lock beside the database: No such file or directory; "
        "pass --db a file in a folder you can write")
    assert one_line_error(invoke("status", "--db", "/proc/harness.duckdb")) == (
        "error: no database at /proc/harness.duckdb: run `harness-evals ingest` first, or pass --db")


def test_db_made_by_another_tool_is_refused_by_every_command_and_left_as_it_is(tmp_path):
    db = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE traces (trace_id VARCHAR, input VARCHAR)")
    con.execute("INSERT INTO traces VALUES ('a', 'theirs'), ('a', 'the same id again')")
    con.close()
    before = db.read_bytes()
    traces = write_jsonl(tmp_path / "t.jsonl", topic_traces())
    refusal = (f"error: {db} is a DuckDB database made by another tool (tables: traces), not a harness-evals store; "
               "it was left as it is: pass --db a harness-evals store, or a new file")
    assert one_line_error(invoke("ingest", traces, "--db", db)) == refusal
    assert one_line_error(invoke("mine", "--budget", 3, "--embedder", "hashing", "--db", db)) == refusal
    assert one_line_error(invoke("status", "--db", db)) == refusal  # not "open it for writing once to upgrade it"
    assert db.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["analytics.duckdb", "t.jsonl"]  # no lock beside it
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [("traces",)]


def test_db_that_is_a_sqlite_file_or_a_folder_is_one_line_naming_what_it_is(tmp_path):
    sqlite_file = sqlite_database(tmp_path / "app.sqlite")
    folder = tmp_path / "stores"
    folder.mkdir()
    traces = write_jsonl(tmp_path / "t.jsonl", topic_traces())
    for command in (["ingest", traces], ["status"]):
        assert one_line_error(invoke(*command, "--db", sqlite_file)) == (
            f"error: {sqlite_file} is a SQLite file, not a harness-evals DuckDB store: pass --db a harness-evals "
            "store, or a new file for harness-evals to create one in")
        assert one_line_error(invoke(*command, "--db", folder)) == (
            f"error: {folder} is a folder, not a database file: pass --db a file such as {folder}/harness.duckdb")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app.sqlite", "stores", "t.jsonl"]
    assert list(folder.iterdir()) == []
