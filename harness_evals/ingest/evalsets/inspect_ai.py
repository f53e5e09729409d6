"""Inspect AI datasets: `Sample` records as `json_dataset` (JSON lines or a JSON list) and
`csv_dataset` read them with their default fields.

`input` is a string or a list of chat messages (system, user, assistant, tool); `target` a string
or a list of strings, whose meaning is the scorer's (`includes()`, `match()`, a model grader), so
it is kept as the expected answer as given. `id`, `metadata` (an object; in CSV a JSON cell),
`choices` (in CSV, comma- or space-separated), `files`, `setup` and `sandbox` are Inspect's own;
every other field is kept in metadata too. A sample whose metadata holds `checks` (what
`suite export --format inspect` writes) takes those as its expected checks: `target` is only
their reflection there, and the request beside them (`input`) is the sample's input's.
"""

from __future__ import annotations

import json
from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, exported_checks, with_fields
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase

NAME = "inspect"
ROLES = ("system", "user", "assistant", "tool")
INSPECT_ONLY_FIELDS = ("target", "choices", "files", "setup", "sandbox")
CHECKS_KEY = "checks"  # where our own export puts a case's checks
INPUT_KEY = "input"  # and, beside them, its request (the first user message of a conversation)


def looks_like_inspect(value: Any) -> bool:
    if isinstance(value, CsvRow):
        return "input" in value
    return (isinstance(value, dict) and "input" in value
            and (isinstance(value["input"], list) or any(key in value for key in INSPECT_ONLY_FIELDS)))


def read_inspect_sample(record: dict[str, Any]) -> EvalCase:
    csv = isinstance(record, CsvRow)
    messages = record.get("input")
    if isinstance(messages, list):
        for position, message in enumerate(messages, start=1):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise ValueError(f"input: message {position} has no role Inspect knows ({', '.join(ROLES)})")
            if message.get("content") is None:
                raise ValueError(f"input: message {position} has no content")
    metadata = _json_cell(record.get("metadata"), "metadata") if csv else record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata: expected an object, got {type(metadata).__name__}")
    metadata = dict(metadata or {})
    expected = _target(record.get("target"))
    if CHECKS_KEY in metadata:
        expected = exported_checks(metadata.pop(CHECKS_KEY))
        metadata.pop(INPUT_KEY, None)  # the case's input, which the sample's input holds already
    fields = {key: value for key, value in record.items() if key not in ("input", "target", "id", "metadata")}
    if csv:
        fields = {key: value for key, value in fields.items() if value != ""}
        if "choices" in fields:
            fields["choices"] = _choices(fields["choices"])
        if "files" in fields:
            fields["files"] = _json_cell(fields["files"], "files")
    return eval_case(id=record.get("id"), input=record.get("input"), expected=expected,
                     metadata=with_fields(metadata, fields, format=NAME), format=NAME)


def _target(target: Any) -> Any:
    """Inspect reads a missing target as an empty one; neither says anything is expected."""
    if target in (None, "", []):
        return None
    return target


def _json_cell(cell: Any, field: str) -> Any:
    if cell is None or cell == "":
        return None
    try:
        return json.loads(cell)
    except json.JSONDecodeError as error:
        raise ValueError(f"{field}: the CSV cell is not JSON ({error.msg} at column {error.colno})") from None


def _choices(cell: str) -> list[str]:
    """As Inspect reads a CSV cell of choices: split at commas, or at spaces if there is none."""
    choices = cell.split(",")
    if len(choices) == 1:
        choices = cell.split()
    return [choice.strip() for choice in choices if choice.strip()]
