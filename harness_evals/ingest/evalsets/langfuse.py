"""Langfuse dataset items, as the public API gives them (`GET /api/public/dataset-items`: a page
`{"data": [...], "meta": {...}}`) or as JSON lines or a JSON list of items.

An item is `{id, input, expectedOutput, metadata, sourceTraceId, sourceObservationId, status,
datasetId, datasetName, createdAt, updatedAt}`; `input` and `expectedOutput` may be any JSON.
The trace an item was made from (`sourceTraceId`) and the item's status (`ACTIVE`, `ARCHIVED`)
are kept in metadata, with the rest.
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, with_fields
from harness_evals.ingest.evalsets.files import CsvRow, document_records
from harness_evals.records import EvalCase

NAME = "langfuse"
LANGFUSE_FIELDS = ("expectedOutput", "sourceTraceId", "sourceObservationId", "datasetId", "datasetName")


def looks_like_langfuse(value: Any) -> bool:
    """An item, by the fields only Langfuse's have, or a page of items."""
    if isinstance(value, dict) and set(value) <= {"data", "meta"} and value.get("data"):
        value = document_records(value)[0]
    return isinstance(value, dict) and not isinstance(value, CsvRow) and any(key in value for key in LANGFUSE_FIELDS)


def read_langfuse_item(record: dict[str, Any]) -> EvalCase:
    others = {key: value for key, value in record.items() if key not in ("id", "input", "expectedOutput", "metadata")}
    return eval_case(id=record.get("id"), input=record.get("input"), expected=record.get("expectedOutput"),
                     metadata=with_fields(record.get("metadata"), others, format=NAME), format=NAME)
