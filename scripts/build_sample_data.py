"""Rebuild the bundled sample in data/sample/ from the public corpora in ../shared/corpora.

Run by hand (python scripts/build_sample_data.py); the project and its tests only read the
committed output. Sources and licences: data/sample/README.md.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness_evals.ingest.openai_chat import calls_with_replies

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
OUT = Path(__file__).resolve().parents[1] / "data" / "sample"
TOOL_RESULT_CHARS = 300  # tool results are truncated: the sample stays small, the shape stays real
SEED = 7
AIRLINE_TASKS_IN_EVAL_SET = 20
RETAIL_TASKS_IN_EVAL_SET = 5


def _truncate(text: str | None) -> str | None:
    if text is None or len(text) <= TOOL_RESULT_CHARS:
        return text
    return text[:TOOL_RESULT_CHARS] + "…"


def tau_bench_to_canonical() -> list[dict]:
    """τ-bench airline (OpenAI chat trajectories) → canonical traces with steps."""
    records = json.loads((CORPORA / "tau-bench-trajectories" / "gpt-4o-airline.json").read_text())
    base = datetime(2026, 11, 20, tzinfo=timezone.utc)
    traces = []
    for index, record in enumerate(records):
        traj = record["traj"]
        steps = [
            {
                "type": "tool_call",
                "name": call["function"]["name"],
                "arguments": json.loads(call["function"]["arguments"]),
                "result": _truncate((reply or {}).get("content")),
            }
            # paired as the reader pairs them: τ-bench reuses tool_call_id within a trajectory
            for _, call, reply in calls_with_replies(traj, reply_id=lambda m: m.get("tool_call_id"))
        ]
        user_turns = [m["content"] for m in traj if m["role"] == "user"]
        final = [m["content"] for m in traj if m["role"] == "assistant" and m.get("content")]
        traces.append(
            {
                "trace_id": f"tau-airline-{record['task_id']:02d}-{record['trial']}",
                "timestamp": (base + timedelta(minutes=7 * index)).isoformat(),
                "input": user_turns[0],
                "output": final[-1] if final else "",
                "steps": steps,
                "metadata": {
                    "app": "airline-support",
                    "release": "2026.11.1",
                    "task_id": record["task_id"],
                    "reward": record["reward"],
                    "ended_by": record["info"]["source"],
                    "turns": len(user_turns),
                },
            }
        )
    return traces


def tau2_to_openai_chat(path: Path, app: str) -> list[dict]:
    """τ²-bench simulations → OpenAI chat format: arguments as JSON strings, tool role replies.

    Customer-side tool calls (the telecom user operating their own phone) have no place in an
    OpenAI chat log, so they and their results are dropped.
    """
    data = json.loads(path.read_text())
    out = []
    for index, sim in enumerate(data["simulations"]):
        messages = []
        for message in sim["messages"]:
            role = message["role"]
            if role == "tool":
                if message["requestor"] == "user":  # by requestor, not id: an id may be reused
                    continue
                messages.append(
                    {"role": "tool", "tool_call_id": message["id"], "content": _truncate(message["content"])}
                )
            elif message.get("tool_calls"):
                if role == "user":
                    continue
                messages.append(
                    {
                        "role": "assistant",
                        "content": message.get("content"),
                        "tool_calls": [
                            {
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                            }
                            for call in message["tool_calls"]
                        ],
                    }
                )
            elif message.get("content"):
                messages.append({"role": role, "content": message["content"]})
        out.append(
            {
                "id": f"tau2-{app}-{index:03d}",
                "created": sim["timestamp"],
                "messages": messages,
                "metadata": {
                    "app": f"{app}-support",
                    "release": "2026.11.1",
                    "task_id": sim["task_id"],
                    "reward": sim["reward_info"]["reward"],
                    "ended_by": sim["termination_reason"],
                },
            }
        )
    return out


def eval_cases(airline: list[dict], retail_chat: list[dict]) -> list[dict]:
    """The existing eval set: the opening request of trial 0 of a seeded subset of tasks."""
    rng = random.Random(SEED)
    airline_tasks = sorted(rng.sample(range(50), AIRLINE_TASKS_IN_EVAL_SET))
    cases = []
    for trace in airline:
        if trace["metadata"]["task_id"] in airline_tasks and trace["trace_id"].endswith("-0"):
            cases.append(
                {
                    "id": f"eval-airline-{trace['metadata']['task_id']:02d}",
                    "input": trace["input"],
                    "expected": {"tools": sorted({s["name"] for s in trace["steps"]})},
                    "metadata": {"suite": "airline-smoke"},
                }
            )
    for record in rng.sample(retail_chat, RETAIL_TASKS_IN_EVAL_SET):
        first_user = next(m["content"] for m in record["messages"] if m["role"] == "user")
        cases.append({"id": f"eval-{record['id']}", "input": first_user, "metadata": {"suite": "retail-smoke"}})
    return cases


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    gym = CORPORA / "tau2-bench-trajectories" / "sierra_feature-gym"
    airline = tau_bench_to_canonical()
    retail = tau2_to_openai_chat(gym / "gpt-4.1_retail_defautl_gpt-4.1_1trials.json", "retail")
    telecom = tau2_to_openai_chat(gym / "gpt-4.1_telecom_default_gpt-4.1_1trials.json", "telecom")
    write_jsonl(OUT / "traces.jsonl", airline)
    write_jsonl(OUT / "chat_traces.jsonl", retail + telecom)
    write_jsonl(OUT / "evals.jsonl", eval_cases(airline, retail))


if __name__ == "__main__":
    main()
