"""From a source's record to an `EvalCase`: the one text rendering of a structured input, chat
messages, ids from content, and metadata that keeps every field.

`input_text` is the only way a request that is not text becomes the text the mining views embed
(README, "Eval sets read"):

- text is itself;
- a chat (a list of messages, each an object with a `role` or a LangChain message: `as_chat`) is
  its user messages' text, in order, a blank line between them; a chat with no user message is its
  last message's text (OpenAI Evals puts some questions in a system message);
- an object of one field is that field's value, rendered (LangSmith's `{"question": ...}`);
- any other object is one line per field, `name: value`, and a list one line per item, where a
  value that is text or a chat is rendered as above and anything else is compact JSON;
- a number or a boolean is its JSON text; null is no request at all.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from harness_evals.chat import message_text, stable_id
from harness_evals.errors import describe_validation_error
from harness_evals.ingest.payloads import chat_message
from harness_evals.records import EvalCase
from harness_evals.suite.model import ExpectedField, expected_json

CASE_ID_PREFIX = "case"
_EXPECTED = TypeAdapter(ExpectedField)


def as_chat(value: Any) -> list[dict[str, Any]] | None:
    """A list of messages as OpenAI chat messages (`{role, content, ...}`), or None if it is not one. A
    message may be in any form the trace readers read (`payloads.chat_message`): OpenAI's, LangChain's
    `{type: "human"|"ai"|"system"|"tool", content}`, or LangChain's serialized `{lc, id, kwargs}`, as
    LangSmith examples made from runs hold them."""
    if not isinstance(value, list) or not value:
        return None
    messages = [chat_message(message) for message in value]
    return None if any(message is None for message in messages) else messages


def is_chat(value: Any) -> bool:
    """A list of messages (`as_chat`)."""
    return as_chat(value) is not None


def chat_messages(value: Any) -> list[dict[str, Any]] | None:
    """The messages of a chat input, as OpenAI chat messages: the input itself, or the chat an object of
    one field, or its `messages` field, holds (LangSmith's chat datasets: `{"messages": [...]}`)."""
    if isinstance(value, dict):
        value = next(iter(value.values())) if len(value) == 1 else value.get("messages")
    return as_chat(value)


def input_text(value: Any) -> str:
    """The request as text: see the module's docstring, which README's table repeats."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if (messages := as_chat(value)) is not None:
        return _chat_text(messages)
    if isinstance(value, dict) and len(value) == 1:
        return input_text(next(iter(value.values())))
    if isinstance(value, dict):
        return "\n".join(f"{name}: {_part_text(part)}" for name, part in value.items())
    if isinstance(value, list):
        return "\n".join(_part_text(part) for part in value)
    return json.dumps(value)


def _chat_text(messages: list[dict[str, Any]]) -> str:
    texts = [(message["role"], message_text(message.get("content"))) for message in messages]
    users = [text for role, text in texts if role == "user" and text.strip()]
    if users:
        return "\n\n".join(users)
    return next((text for _, text in reversed(texts) if text.strip()), "")


def _part_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if (messages := as_chat(value)) is not None:
        return _chat_text(messages)
    return json.dumps(value, ensure_ascii=False, default=str)


def with_fields(metadata: Any, fields: dict[str, Any], *, format: str) -> dict[str, Any]:
    """The source's own metadata (an object; anything else is kept under `metadata`), with each other
    field of the record kept under its own name; a name the metadata already uses is kept as
    `FORMAT.name`, so nothing is lost. Null fields say nothing and are left out."""
    kept = dict(metadata) if isinstance(metadata, dict) else ({} if metadata is None else {"metadata": metadata})
    for name, value in fields.items():
        if value is not None:
            kept[f"{format}.{name}" if name in kept else name] = value
    return kept


def eval_case(*, id: Any, input: Any, expected: Any = None, metadata: dict[str, Any], format: str,
              input_field: str = "input", messages: list[dict[str, Any]] | None = None) -> EvalCase:
    """The case, its input rendered as text. A chat input keeps its messages (or `messages` given
    beside a text request, as a multi-turn suite case holds its conversation); any other input that
    is not text is kept as given in metadata under its field name. Without an id, the case takes one
    from its content: the same case gets the same id in every run and every file."""
    if input is None:
        raise ValueError(f"{input_field}: missing: give the case its request there")
    text = input_text(input)
    if not text.strip():
        raise ValueError(f"{input_field}: no text: give the case its request there (the mining views embed text)")
    if not isinstance(input, str) and not is_chat(input):
        metadata = with_fields(metadata, {input_field: input}, format=format)
    messages = chat_messages(input) if messages is None else messages
    if id is None or id == "":
        id = stable_id(CASE_ID_PREFIX, {"input": text, "messages": messages, "expected": expected,
                                        "metadata": metadata})
    return EvalCase(id=str(id), input=text, expected=expected, metadata=metadata, messages=messages)


def exported_checks(checks: Any, *, as_json_text: bool = False) -> Any:
    """The expected answer `suite export` put in a case's metadata: an object of checks or a
    reference answer's text; `as_json_text`: given as its JSON text (promptfoo's metadata holds
    strings). A broken one is the record's fault."""
    if as_json_text:
        try:
            checks = json.loads(checks) if isinstance(checks, str) else checks
        except json.JSONDecodeError as error:
            raise ValueError(f"metadata.checks: not JSON ({error.msg} at column {error.colno})") from None
    try:
        return expected_json(_EXPECTED.validate_python(checks))
    except ValidationError as error:
        raise ValueError(f"metadata.checks: {describe_validation_error(error)}") from None
