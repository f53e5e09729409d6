"""The request, the answer and the conversation inside the free-form JSON that tracing tools keep
for a trace, a run or a span: LangSmith's `inputs`/`outputs`, Langfuse's `input`/`output`,
OpenInference's `input.value`/`output.value`.

Messages come as OpenAI chat messages (`{role, content, tool_calls}`), as LangChain messages
(`{type: "human"|"ai"|"tool"|"system", content, tool_calls: [{name, args, id}]}`), or as LangChain's
serialized form (`{lc, type: "constructor", id: [..., "HumanMessage"], kwargs: {...}}`); all are read
as OpenAI chat messages. The request is the first user message, else the text under a key that
names one (`input`, `question`, `query`, …), else the value's only text; the answer likewise from
the end. A value holding neither is rendered as compact JSON with sorted keys: a structured input
is still a request to mine.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from harness_evals.chat import decode_json_text, message_text

REQUEST_KEYS = ("input", "question", "query", "prompt", "request", "user_input", "message", "text", "content")
ANSWER_KEYS = ("output", "answer", "response", "result", "final_output", "content", "text", "message")
LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
                   "developer": "developer", "chat": "user"}
LANGCHAIN_CLASSES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system",
                     "ToolMessage": "tool", "FunctionMessage": "tool", "HumanMessageChunk": "user",
                     "AIMessageChunk": "assistant", "ToolMessageChunk": "tool"}


def chat_message(value: Any) -> dict[str, Any] | None:
    """An OpenAI chat message from any of the three message forms, or None if `value` is not a message."""
    if not isinstance(value, dict):
        return None
    if value.get("lc") == 1 and isinstance(value.get("id"), list) and isinstance(value.get("kwargs"), dict):
        role = LANGCHAIN_CLASSES.get(str(value["id"][-1])) if value["id"] else None
        return _from_langchain(value["kwargs"], role) if role else None
    if isinstance(value.get("role"), str):
        return value
    if value.get("type") in LANGCHAIN_ROLES and "content" in value:
        return _from_langchain(value, LANGCHAIN_ROLES[value["type"]])
    return None


def _from_langchain(fields: dict[str, Any], role: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": fields.get("content")}
    calls = [call for call in fields.get("tool_calls") or [] if isinstance(call, dict)]
    if calls:
        message["tool_calls"] = [{"id": call.get("id"), "type": "function",
                                  "function": {"name": call.get("name"), "arguments": call.get("args")}}
                                 for call in calls]
    for key in ("tool_call_id", "name", "status"):
        if fields.get(key) is not None:
            message[key] = fields[key]
    return message


def chat_messages(value: Any) -> list[dict[str, Any]]:
    """The messages of a list of messages (LangChain's chat model inputs nest them one list deeper), or of
    an object holding one under `messages`; [] for anything else."""
    value = decode_json_text(value)
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    if not isinstance(value, list):
        return []
    if value and all(isinstance(item, list) for item in value):
        value = [message for batch in value for message in batch]
    messages = [chat_message(item) for item in value]
    return [m for m in messages if m is not None] if any(messages) else []


def request_text(value: Any) -> str | None:
    """The user's request held in `value`, or None if it holds no text at all."""
    return _text(value, keys=REQUEST_KEYS, roles=("user",), last=False)


def answer_text(value: Any) -> str | None:
    """The final answer held in `value`, or None if it holds no text at all."""
    value = decode_json_text(value)
    if isinstance(value, dict):
        if isinstance(value.get("choices"), list) and value["choices"]:  # an OpenAI completion
            value = value["choices"][-1].get("message") or value["choices"][-1].get("text")
        elif isinstance(value.get("generations"), list):  # LangChain's LLMResult
            generations = [g for batch in value["generations"] for g in (batch if isinstance(batch, list) else [batch])]
            if generations and isinstance(generations[-1], dict):
                value = generations[-1].get("message") or generations[-1].get("text")
    return _text(value, keys=ANSWER_KEYS, roles=("assistant",), last=True)


def _text(value: Any, *, keys: tuple[str, ...], roles: tuple[str, ...], last: bool) -> str | None:
    value = decode_json_text(value)
    if isinstance(value, str):
        return value if value.strip() else None
    if (message := chat_message(value)) is not None:
        return message_text(message.get("content")) or None
    messages = chat_messages(value)
    if messages:
        texts = [message_text(m.get("content")) for m in messages if m.get("role") in roles]
        texts = [text for text in texts if text.strip()]
        return (texts[-1] if last else texts[0]) if texts else None
    if isinstance(value, dict):
        for key in keys:
            if key in value and (text := _text(value[key], keys=keys, roles=roles, last=last)):
                return text
        if "args" in value or "kwargs" in value:  # a Python function's call, as Langfuse's @observe keeps it
            return _text([*(value.get("args") or []), *(value.get("kwargs") or {}).values()], keys=keys, roles=roles,
                         last=last)
        if len(value) == 1:
            return _text(next(iter(value.values())), keys=keys, roles=roles, last=last)
        return None
    if isinstance(value, list):
        texts = [text for item in value if (text := _text(item, keys=keys, roles=roles, last=last))]
        return (texts[-1] if last else texts[0]) if texts else None
    return None


def as_text(value: Any) -> str:
    """A structured value as the one text it is mined by: compact JSON with sorted keys ("" for none)."""
    if value in (None, "", {}, []):
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def instant(value: Any) -> datetime | None:
    """A start or end time as the exports write it (a datetime, or ISO 8601 text), zoned: UTC if none."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
