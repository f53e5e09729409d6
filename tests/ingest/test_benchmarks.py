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


def test_tau_bench_steps_carry_the_reply_that_follows_each_call_though_ids_repeat():
    import json

    from harness_evals.ingest.tau import read_tau_bench

    record = json.loads((FIXTURES / "tau_bench_airline.json").read_text())[0]  # task 0 reuses two call ids
    traj = record["traj"]
    calls = [call["id"] for message in traj for call in message.get("tool_calls") or []]
    assert len(calls) > len(set(calls))
    following = [traj[index + 1] for index, message in enumerate(traj) for _ in message.get("tool_calls") or []]
    steps = read_tau_bench(record).steps
    assert [(s.name, s.result) for s in steps] == [(reply["name"], reply["content"]) for reply in following]
    assert [s.result for s in steps if s.name == "calculate"] == ["255.0", "55.0"]
    assert [s.name for s in steps if s.error] == ["book_reservation"]


def test_tau2_pairs_replies_in_order_when_ids_repeat():
    from harness_evals.ingest.tau import read_tau2

    def turn(role, call_id, name, **arguments):
        return {"role": role, "content": None, "tool_calls": [
            {"id": call_id, "name": name, "arguments": arguments, "requestor": role}], "turn_idx": 0}

    def reply(call_id, requestor, content, error=False):
        return {"id": call_id, "role": "tool", "content": content, "requestor": requestor, "error": error}

    trace = read_tau2({"id": "sim-1", "task_id": "t", "messages": [
        {"role": "user", "content": "My mobile data keeps stopping"},
        turn("assistant", "call_1", "get_customer_by_phone", phone_number="555-123-2002"),
        reply("call_1", "assistant", '{"customer_id": "C1001"}'),
        turn("user", "call_1", "check_status_bar"), reply("call_1", "user", "Status Bar: Airplane Mode"),
        turn("user", "call_1", "toggle_airplane_mode"), reply("call_1", "user", "Error: permission denied", error=True),
        {"role": "assistant", "content": "Airplane mode is off now."},
    ]})
    assert [(s.name, s.requestor, s.result, s.error) for s in trace.steps] == [
        ("get_customer_by_phone", "assistant", '{"customer_id": "C1001"}', None),
        ("check_status_bar", "user", "Status Bar: Airplane Mode", None),
        ("toggle_airplane_mode", "user", "Error: permission denied", "Error: permission denied"),
    ]


def test_mint_runs_a_turns_execute_blocks_as_one_cell_and_none_of_a_solution_turn():
    from harness_evals.ingest.mint import read_mint

    record = {"task": {"task_name": "reasoning/gsm8k", "task_id": 7, "prompt": "What is 6 * 7?"}, "state": {
        "history": [
            {"role": "user", "content": "You are a helpful assistant...\nTask:\nWhat is 6 * 7?"},
            {"role": "assistant",
             "content": "Assistant:\n<execute>a = 6</execute> then <execute>print(a * 7)</execute>"},
            {"role": "user", "content": "Observation:\n42\nYou have 4 steps left."},
            {"role": "assistant", "content": "Assistant:\n<execute>print(a * 7)</execute>\nObservation:\n42\n"
                                             "<solution> 42 </solution>"},
            {"role": "user", "content": "Observation:\nYour answer is wrong.\nYou have 3 steps left."},
        ], "success": False, "terminate_reason": "max_propose_steps", "agent_action_count": {}}}
    steps = read_mint(record).steps
    assert [(s.arguments, s.result, s.error) for s in steps] == [
        ({"code": "a = 6\nprint(a * 7)"}, "42\nYou have 4 steps left.", None)]
