"""OpenAI chat format: `{"messages": [...], "id"?, "created"?, "metadata"?, "feedback"?}` per line.

Assistant `tool_calls` become steps, each paired with the `tool` message that answers it: the
first later reply with its `tool_call_id` that no earlier call has taken (τ-bench reuses ids
within a conversation, so an id alone does not name a call). Arguments arrive as JSON strings and
are decoded; a string that is not JSON is kept as it came, since a malformed argument is itself
worth mining. Chat logs have no error field, so a tool reply that starts with "Error",
"Exception" or "Traceback" marks its step failed.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from harness_evals.chat import decode_json_text, message_text, stable_id
from harness_evals.prompts.assembly import assembly_from_messages
from harness_evals.records import Step, Trace

ID_KEYS = ("trace_id", "id")
ERROR_REPLY = re.compile(r"\s*(error|exception|traceback)\b", re.IGNORECASE)  # chat logs have no error field
TIMESTAMP_KEYS = ("timestamp", "created", "created_at")


def looks_like_openai_chat(record: dict[str, Any]) -> bool:
    return isinstance(record.get("messages"), list) and "input" not in record


def calls_with_replies(
    messages: list[dict[str, Any]], *, reply_id: Callable[[dict[str, Any]], Hashable],
    callers: tuple[str, ...] = ("assistant",),
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]]:
    """(message, call, reply or None) for each tool call made by a `callers` message, in order. A
    `tool` message answers the earliest call before it with its id that is still unanswered."""
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    replies: list[dict[str, Any] | None] = []
    unanswered: dict[Hashable, deque[int]] = {}  # call id -> positions in `calls`, oldest first
    for message in messages:
        if message.get("role") in callers:
            for call in message.get("tool_calls") or []:
                unanswered.setdefault(call.get("id"), deque()).append(len(calls))
                calls.append((message, call))
                replies.append(None)
        elif message.get("role") == "tool" and (waiting := unanswered.get(reply_id(message))):
            replies[waiting.popleft()] = message
    return [(message, call, reply) for (message, call), reply in zip(calls, replies, strict=True)]


def read_openai_chat(record: dict[str, Any]) -> Trace:
    messages = record["messages"]
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise ValueError("messages: every message must be an object with a string 'role'")
    user_texts = [message_text(m.get("content")) for m in messages if m["role"] == "user"]
    user_texts = [text for text in user_texts if text.strip()]
    if not user_texts:
        raise ValueError("messages: no user message with text, so there is no request to mine")
    answers = [message_text(m.get("content")) for m in messages if m["role"] == "assistant"]
    steps = []
    for _, call, reply in calls_with_replies(messages, reply_id=lambda m: m.get("tool_call_id")):
        function = call.get("function") or {}
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
