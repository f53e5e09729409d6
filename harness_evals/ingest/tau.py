"""τ-bench and τ²-bench results files: agent conversations with tool calls and a reward.

τ-bench: a JSON list of `{task_id, trial, reward, info, traj}`, `traj` in OpenAI chat format.
τ²-bench: a JSON object `{info, tasks, simulations}`; each simulation has `messages` whose tool
calls carry dict arguments and a `requestor` (in telecom the customer runs tools too); a `tool`
message names the call it answers by `id`, paired in order as in OpenAI chat.
In no-user mode the agent works from the task's ticket, which is then the request. The reward is
kept in metadata: it is what a benchmark says, not what a user said.
"""

from __future__ import annotations

from typing import Any

from harness_evals.chat import message_text, stable_id
from harness_evals.ingest.openai_chat import calls_with_replies, read_openai_chat
from harness_evals.records import Step, Trace


def looks_like_tau_bench(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "traj" in value[0]


def read_tau_bench(record: dict[str, Any]) -> Trace:
    info = record.get("info") or {}
    chat = read_openai_chat({"messages": record["traj"]})
    return chat.model_copy(
        update={
            "trace_id": stable_id(f"tau-{record['task_id']}-{record.get('trial', 0)}", record["traj"]),
            "metadata": {
                "task_id": record["task_id"],
                "trial": record.get("trial"),
                "reward": record.get("reward"),
                "ended_by": info.get("source"),
            },
        }
    )


def looks_like_tau2(value: Any) -> bool:
    return isinstance(value, dict) and "simulations" in value and "tasks" in value


def tau2_simulations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each simulation, with its domain and its task's ticket: in no-user mode the ticket is the request."""
    domain = ((document.get("info") or {}).get("environment_info") or {}).get("domain_name")
    tickets = {task.get("id"): task.get("ticket") for task in document.get("tasks") or []}
    return [{**simulation, "_domain": domain, "_ticket": tickets.get(simulation.get("task_id"))}
            for simulation in document["simulations"]]


def read_tau2(simulation: dict[str, Any]) -> Trace:
    messages = simulation["messages"]
    steps = []
    for message, call, reply in calls_with_replies(messages, reply_id=lambda m: m.get("id"),
                                                   callers=("assistant", "user")):
        reply = reply or {}
        steps.append(
            Step(
                type="tool_call",
                name=call["name"],
                arguments=call.get("arguments"),
                result=reply.get("content"),
                error=reply.get("content") if reply.get("error") else None,
                requestor=call.get("requestor", message.get("role")),
            )
        )
    user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    user_texts = [text for text in user_texts if text.strip()] or [simulation.get("_ticket") or ""]
    if not user_texts[0].strip():
        raise ValueError("messages: no user message with text and no task ticket, so there is no request to mine")
    answers = [message_text(m.get("content")) for m in messages if m.get("role") == "assistant"]
    reward = (simulation.get("reward_info") or {}).get("reward")
    return Trace(
        trace_id=str(simulation["id"]),
        timestamp=simulation.get("start_time") or simulation.get("timestamp"),
        input=user_texts[0],
        output=next((text for text in reversed(answers) if text.strip()), ""),
        steps=steps,
        messages=[{k: v for k, v in m.items() if k != "raw_data"} for m in messages],
        metadata={
            "domain": simulation.get("_domain"),
            "task_id": simulation.get("task_id"),
            "trial": simulation.get("trial"),
            "reward": reward,
            "ended_by": simulation.get("termination_reason"),
            "cost": simulation.get("agent_cost"),
        },
    )
