"""Phoenix span dataframes: `get_spans_dataframe()` saved with `to_parquet` or with
`to_json(orient="records", lines=True)`, one span a row, grouped into traces by `context.trace_id`
(`grouping.grouped_rows`).

A row has `name`, `span_kind`, `parent_id`, `start_time`, `end_time` (datetimes in Parquet, epoch
milliseconds or ISO text in JSON), `status_code` (`OK`, `ERROR`, `UNSET`), `status_message`,
`context.span_id`, `context.trace_id`, and one `attributes.*` column per OpenInference attribute,
where Phoenix has folded each list of indexed attributes into a list of objects
(`attributes.llm.input_messages`: `[{"message.role": ..., "message.content": ...}]`). Each row is
unfolded into the OpenInference attributes of a span and read as OTLP spans are (`otlp.spans_to_trace`):
the same steps, request, answer, errors and metadata. A null is an attribute not set: OpenTelemetry
attributes are never null, and a Parquet column holds every key any row has.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness_evals.ingest.framing import Parsed
from harness_evals.ingest.grouping import grouped_rows
from harness_evals.ingest.otlp import spans_to_trace
from harness_evals.records import Trace

TRACE_ID, SPAN_ID = "context.trace_id", "context.span_id"
ATTRIBUTES = "attributes."
STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}  # OTLP's numbers, which spans_to_trace reads
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def looks_like_phoenix(value: Any) -> bool:
    return isinstance(value, dict) and TRACE_ID in value and SPAN_ID in value


def read_phoenix(path: Path) -> Iterator[Parsed]:
    return grouped_rows(path, trace_id_of=lambda row: row.get(TRACE_ID), is_root=lambda row: not row.get("parent_id"),
                        build=phoenix_trace, what="span", id_columns=[TRACE_ID])


def phoenix_trace(trace_id: str, rows: list[dict[str, Any]]) -> Trace:
    return spans_to_trace(trace_id, [_as_otlp_span(row) for row in rows])


def _as_otlp_span(row: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith(ATTRIBUTES):
            _unfold(attributes, key[len(ATTRIBUTES):], value)
    if row.get("span_kind") and "openinference.span.kind" not in attributes:
        attributes["openinference.span.kind"] = row["span_kind"]
    return {
        "traceId": row.get(TRACE_ID),
        "spanId": row.get(SPAN_ID),
        "parentSpanId": row.get("parent_id"),
        "name": row.get("name"),
        "startTimeUnixNano": _nanoseconds(row.get("start_time")),
        "endTimeUnixNano": _nanoseconds(row.get("end_time")),
        "status": {"code": STATUS_CODES.get(str(row.get("status_code") or "").upper()),
                   "message": row.get("status_message") or None},
        "attributes": attributes,
    }


def _unfold(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Phoenix's folded attribute back into OpenInference's flat keys: a list of objects becomes
    `key.<i>.<field>` attributes (recursively, for tool calls inside messages); nulls are left out."""
    if value is None:
        return
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                for field, inner in item.items():
                    _unfold(attributes, f"{key}.{index}.{field}", inner)
            elif item is not None:
                attributes[f"{key}.{index}"] = item
    elif isinstance(value, dict):
        attributes[key] = _without_nulls(value)
    else:
        attributes[key] = value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _nanoseconds(value: Any) -> int | None:
    """A datetime (Parquet), epoch milliseconds (pandas' `to_json` default) or ISO 8601 text as OTLP's nanoseconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (value - EPOCH) // timedelta(microseconds=1) * 1_000
    if isinstance(value, int | float):
        return int(value * 1_000_000)
    return None
