"""Braintrust dataset records (`init_dataset(...).fetch()`, the API's dataset events): `{id,
input, expected, metadata, tags, created, _xact_id, dataset_id, project_id, span_id,
root_span_id, ...}`, as JSON lines, a list, or a page of the fetch API's answer (`{"events": [...],
"cursor": ...}`).

`input` and `expected` may be any JSON; `tags` and Braintrust's own fields are kept in metadata.
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, with_fields
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase

NAME = "braintrust"


def looks_like_braintrust(value: Any) -> bool:
    """A record with Braintrust's transaction id, or its dataset and project ids."""
    return (isinstance(value, dict) and not isinstance(value, CsvRow)
            and ("_xact_id" in value or {"dataset_id", "project_id", "input"} <= value.keys()))


def read_braintrust_record(record: dict[str, Any]) -> EvalCase:
    others = {key: value for key, value in record.items() if key not in ("id", "input", "expected", "metadata")}
    return eval_case(id=record.get("id"), input=record.get("input"), expected=record.get("expected"),
                     metadata=with_fields(record.get("metadata"), others, format=NAME), format=NAME)
