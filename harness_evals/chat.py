"""Chat-message helpers shared by the chat-shaped readers and the prompt assembly (which the readers
import, so these cannot live in the ingest package)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def message_text(content: Any) -> str:
    """Content is a string, or a list of parts of which the text parts count: those typed `text`,
    `input_text` or `output_text`, or untyped."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text") or part.get("content") or ""
            for part in content
            if isinstance(part, dict) and str(part.get("type", "text")).endswith("text")
        )
    return ""


def decode_json_text(value: Any) -> Any:
    """Arguments often arrive as JSON strings; decode them, keeping a string that is not JSON as it came."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def stable_id(prefix: str, content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()
    return f"{prefix}-{hashlib.sha256(canonical).hexdigest()[:16]}"
