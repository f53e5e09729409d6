"""LangSmith examples (`Client.list_examples`, a dataset's JSON lines export): `{id, inputs,
outputs, metadata, dataset_id, created_at, modified_at, source_run_id, attachments}`.

`inputs` and `outputs` are objects: the request is `inputs` rendered as text (an object of one
field is that field: `{"question": ...}` is the question; `{"messages": [...]}` a chat), and
`outputs` is the expected answer as given. A run (it has a `run_type`) is a trace, not an example.
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, with_fields
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase

NAME = "langsmith"


def looks_like_langsmith(value: Any) -> bool:
    return (isinstance(value, dict) and not isinstance(value, CsvRow) and isinstance(value.get("inputs"), dict)
            and "run_type" not in value)


def read_langsmith_example(record: dict[str, Any]) -> EvalCase:
    others = {key: value for key, value in record.items() if key not in ("id", "inputs", "outputs", "metadata")}
    return eval_case(id=record.get("id"), input=record.get("inputs"), expected=record.get("outputs"),
                     metadata=with_fields(record.get("metadata"), others, format=NAME), format=NAME,
                     input_field="inputs")
