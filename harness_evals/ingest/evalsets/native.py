"""harness-evals' own eval-case format: `{"id"?, "input", "expected"?, "metadata"?, "messages"?}` per
line, as a suite file holds its cases (`messages`: a multi-turn case's conversation).

A common eval file loads as it is: `target` is read as `expected`, an integer id as text, and
other fields (`tags`, `category`, …) are kept in metadata. Being our own format, a record that
says one thing twice (both `expected` and `target`, a field also in its metadata) is refused
rather than guessed at. A null field is one not given: a Parquet file gives every row each column
any row has (`"metadata": null`, `expected` null where a row has `target`).
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase

NAME = "eval-case"
FIELDS = ("id", "input", "expected", "target", "metadata", "messages")


def looks_like_eval_case(value: Any) -> bool:
    """A record with an input and no trace_id, which every canonical trace has."""
    return isinstance(value, dict) and not isinstance(value, CsvRow) and "input" in value and "trace_id" not in value


def read_eval_case(record: dict[str, Any]) -> EvalCase:
    if "input" not in record:
        raise ValueError("input: Field required")
    given = {key: value for key, value in record.items() if value is not None}
    if "target" in given and "expected" in given:
        raise ValueError("both expected and target are given: keep one (target is read as expected)")
    others = {key: value for key, value in given.items() if key not in FIELDS}
    metadata = given.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata: expected an object, got {type(metadata).__name__}")
    if clash := sorted(others.keys() & metadata.keys()):
        raise ValueError(f"{', '.join(clash)} given both as a field and in metadata: keep one")
    messages = given.get("messages")
    if messages is not None and not (isinstance(messages, list) and all(isinstance(m, dict) for m in messages)):
        raise ValueError("messages: expected a list of message objects ({\"role\", \"content\"}), as a suite case holds")
    return eval_case(id=given.get("id"), input=record["input"], expected=given.get("expected", given.get("target")),
                     metadata={**metadata, **others}, format=NAME, messages=messages)
