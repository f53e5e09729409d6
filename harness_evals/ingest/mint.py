"""MINT results (JSON lines): multi-turn tool use where tools are inline text.

The assistant writes `<execute>code</execute>` to run Python or `<solution>…</solution>` to
answer; the environment replies in a user message that starts with `Observation:`. As MINT does,
a turn that proposes a solution runs none of its code, and the `<execute>` blocks of any other
turn run together as one cell: one step, which the next observation answers. The request is
`task.prompt`: the first user message also holds long fixed instructions.
"""

from __future__ import annotations

import re
from typing import Any

from harness_evals.chat import message_text, stable_id
from harness_evals.records import Step, Trace

EXECUTE = re.compile(r"<execute>(.*?)</execute>", re.DOTALL)
SOLUTION = re.compile(r"<solution>(.*?)</solution>", re.DOTALL)
ERROR_MARKERS = ("Traceback (most recent call last)", "Error:", "Exception:")


def looks_like_mint(value: Any) -> bool:
    return isinstance(value, dict) and "task" in value and "state" in value


def read_mint(record: dict[str, Any]) -> Trace:
    task, state = record["task"], record["state"]
    history = state.get("history") or []
    steps = []
    for position, message in enumerate(history):
        text = message_text(message.get("content"))
        if message.get("role") != "assistant" or "<solution>" in text or not EXECUTE.search(text):
            continue
        following = history[position + 1] if position + 1 < len(history) else {}
        observation = message_text(following.get("content")) if following.get("role") == "user" else ""
        observation = observation.removeprefix("Observation:").strip() or None
        failed = observation is not None and any(marker in observation for marker in ERROR_MARKERS)
        code = "\n".join(block.strip() for block in EXECUTE.findall(text))
        steps.append(Step(type="tool_call", name="execute_python", arguments={"code": code},
                          result=observation, error=observation if failed else None))
    answers = [message_text(m.get("content")) for m in history if m.get("role") == "assistant"]
    solutions = [match for text in answers for match in SOLUTION.findall(text)]
    return Trace(
        trace_id=stable_id(f"mint-{task.get('task_name', 'task')}-{task.get('task_id')}".replace("/", "-"), record),
        timestamp=None,
        input=task["prompt"],
        output=(solutions[-1].strip() if solutions else (answers[-1] if answers else "")),
        steps=steps,
        messages=history,
        metadata={
            "task_name": task.get("task_name"),
            "task_id": task.get("task_id"),
            "success": state.get("success"),
            "ended_by": state.get("terminate_reason"),
            "actions": state.get("agent_action_count"),
        },
    )
