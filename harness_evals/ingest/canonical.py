"""The canonical trace schema (README, "Trace schema"): one JSON object per line."""

from __future__ import annotations

from typing import Any

from harness_evals.prompts.assembly import assembly_from_messages
from harness_evals.records import Trace


def looks_canonical(record: dict[str, Any]) -> bool:
    return "input" in record or "trace_id" in record


NULL_MEANS_ABSENT = ("output", "steps", "metadata")  # a Parquet column holds every row's keys, null where it has none


def read_canonical(record: dict[str, Any]) -> Trace:
    trace = Trace.model_validate({key: value for key, value in record.items()
                                  if value is not None or key not in NULL_MEANS_ABSENT})
    if trace.prompt is None:
        trace.prompt = assembly_from_messages(trace.messages)
    return trace
