"""OpenAI chat format: `{"messages": [...], "id"?, "created"?, "metadata"?, "feedback"?}` per line.

Assistant `tool_calls` become steps, each paired with the `tool` message that answers it (by
`tool_call_id`). Arguments arrive as JSON strings and are decoded; a string that is not JSON is
kept as it came, since a malformed argument is itself worth mining. Chat logs have no error
field, so a tool reply that starts with "Error", "Exception" or "Traceback" marks its step failed.
"""

from __future__ import annotations

import re
from typing import Any

from harness_evals.chat import decode_json_text, message_text, stable_id
from harness_evals.prompts import assembly_from_messages
from harness_evals.records import Step, Trace

ID_KEYS = ("trace_id", "id")
ERROR_REPLY = re.compile(r"\s*(error|exception|traceback)\b", re.IGNORECASE)  # chat logs have no error field
TIMESTAMP_KEYS = ("timestamp", "created", "created_at")


def looks_like_openai_chat(record: dict[str, Any]) -> bool:
    return isinstance(record.get("messages"), list) and "input" not in record


def read_openai_chat(record: dict[str, Any]) -> Trace:
    messages = record["messages"]
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise ValueError("messages: every message must be an object with a string 'role'")
    user_texts = [message_text(m.get("content")) for m in messages if m["role"] == "user"]
    user_texts = [text for text in user_texts if text.strip()]
    if not user_texts:
        raise ValueError("messages: no user message with text, so there is no request to mine")
    answers = [message_text(m.get("content")) for m in messages if m["role"] == "assistant"]
    replies = {m.get("tool_call_id"): m for m in messages if m["role"] == "tool"}
    steps = []
    for message in messages:
        if message["role"] != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            reply = replies.get(call.get("id"), {})
            result = message_text(reply.get("content")) if reply else None
            steps.append(
                Step(
                    type="tool_call",
                    name=function.get("name") or "",
                    arguments=decode_json_text(function.get("arguments")),
                    result=result,
                    error=result if result and ERROR_REPLY.match(result) else None,
                )
            )
    trace_id = next((str(record[key]) for key in ID_KEYS if record.get(key)), None)
    if trace_id is None:
        trace_id = stable_id("chat", messages)
    return Trace(
        trace_id=trace_id,
        timestamp=next((record[key] for key in TIMESTAMP_KEYS if record.get(key) is not None), None),
        input=user_texts[0],
        output=next((text for text in reversed(answers) if text.strip()), ""),
        steps=steps,
        messages=messages,
        metadata=record.get("metadata") or {},
        feedback=record.get("feedback"),
        prompt=assembly_from_messages(messages, record.get("tools") if isinstance(record.get("tools"), list) else None),
    )
