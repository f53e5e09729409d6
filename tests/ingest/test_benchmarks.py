"""Readers for published agent-benchmark trajectories, on small unchanged samples (tests/fixtures/README.md)."""

from harness_evals.ingest import detect_format, ingest_file
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def test_tau_bench(store):
    path = FIXTURES / "tau_bench_airline.json"
    assert detect_format(path) == "tau-bench"
    report = ingest_file(store, path, kind="production")
    assert (report.stored, report.quarantined) == (2, [])
    trace_id, request, metadata, steps = store.con.execute(
        "SELECT trace_id, input, metadata->>'reward', json_array_length(steps) FROM traces ORDER BY trace_id LIMIT 1"
    ).fetchone()
    assert trace_id.startswith("tau-0-0-") and metadata == "0.0"
    assert request.startswith("Hi")
    assert steps > 0


def test_tau2_keeps_customer_side_tool_calls_and_tool_errors(store):
    path = FIXTURES / "tau2_telecom.json"
    assert detect_format(path) == "tau2"
    report = ingest_file(store, path, kind="production")
    assert (report.stored, report.quarantined) == (2, [])
    rows = store.con.execute(
        "SELECT metadata->>'domain', metadata->>'ended_by', steps FROM traces ORDER BY timestamp"
    ).fetchall()
    assert [(domain, ended) for domain, ended, _ in rows] == [("telecom", "user_stop"), ("telecom", "user_stop")]
    import json

    requestors = {step["requestor"] for _, _, steps in rows for step in json.loads(steps)}
    assert requestors == {"assistant", "user"}


def test_mint_turns_inline_execute_blocks_into_steps(store):
    path = FIXTURES / "mint_gsm8k.jsonl"
    assert detect_format(path) == "mint"
    report = ingest_file(store, path, kind="production")
    assert (report.stored, report.quarantined) == (2, [])
    rows = store.con.execute("SELECT input, steps FROM traces ORDER BY json_array_length(steps) DESC").fetchall()
    import json

    steps = json.loads(rows[0][1])
    assert all(not request.startswith("You are a helpful assistant") for request, _ in rows)  # not the shared preamble
    assert steps and {s["name"] for s in steps} == {"execute_python"} and "code" in steps[0]["arguments"]
    assert json.loads(rows[1][1]) == []  # answered without running code
