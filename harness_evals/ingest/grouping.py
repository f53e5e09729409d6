"""Traces gathered from many rows: spans, runs or observations, one per JSON line, Parquet row or item
of a JSON list, grouped by trace id.

An export is rarely ordered by trace: Phoenix lists spans newest first, so concurrent traces
interleave, and a tracer writes a run when it ends, children before their parent. So the file is
read twice. The first pass reads only the trace ids (for Parquet, only their column) and notes each
trace's last row; the second builds a trace as soon as its last row is read, and holds only the
rows of traces not yet complete. Memory is bounded by MAX_HELD_ROWS: past it, the unfinished trace
that began earliest is built from the rows read so far, and each later row of it is quarantined
with a reason that says to sort the export by trace id. Both passes read the file as it was when
the first began, so a file still being written cannot make them disagree.

Such formats read the whole file at every ingest (they are not `resumable`): a trace's rows may
lie on both sides of where an earlier read stopped. Traces already stored count as unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness_evals.ingest.framing import (RAW_EXCERPT_CHARS, Parsed, Span, Unreadable, convert, is_parquet,
                                          lines_or_items, parquet_rows)
from harness_evals.records import Trace

MAX_HELD_ROWS = 100_000


def grouped_rows(
    path: Path, *, trace_id_of: Callable[[dict[str, Any]], Any], build: Callable[[str, list[dict[str, Any]]], Trace],
    what: str, id_columns: list[str], max_held_rows: int = MAX_HELD_ROWS,
) -> Iterator[Parsed]:
    """`trace_id_of(row)`: the row's trace id (None or "" if it has none); `build(trace_id, rows)`: the
    trace from its rows in file order; `what`: what a row is, for reasons; `id_columns`: the columns
    `trace_id_of` reads."""
    span = Span(0, 1, path.stat().st_size)
    first_pass = parquet_rows(path, columns=id_columns) if is_parquet(path) else lines_or_items(path, span)
    last_row = {}
    for location, _, value in first_pass:
        if isinstance(value, dict) and (trace_id := _trace_id(trace_id_of, value)):
            last_row[trace_id] = location

    held: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}  # by first row: dicts keep insertion order
    built_early: dict[str, int] = {}  # trace id -> the row at which it was built before its last row
    held_rows = 0
    for location, raw, value in lines_or_items(path, span):
        raw = raw.rstrip("\n")[:RAW_EXCERPT_CHARS]
        if isinstance(value, Unreadable):
            yield Parsed(location, raw, value.reason)
            continue
        if not isinstance(value, dict):
            yield Parsed(location, raw, f"expected a JSON object, got {type(value).__name__}")
            continue
        trace_id = _trace_id(trace_id_of, value)
        if not trace_id:
            yield Parsed(location, raw, f"{what} without a trace id")
            continue
        if trace_id in built_early:
            yield Parsed(location, raw, (
                f"{what} of trace {trace_id!r}, which was built at row {built_early[trace_id]} without it: "
                f"over {max_held_rows:,} rows of unfinished traces lay between this trace's rows; sort the "
                "export by trace id and ingest it again as a new file"))
            continue
        held.setdefault(trace_id, []).append((location, raw, value))
        held_rows += 1
        if last_row.get(trace_id) == location:
            held_rows -= len(held[trace_id])
            yield _built(trace_id, held.pop(trace_id), build)
        while held_rows > max_held_rows:
            earliest = next(iter(held))
            built_early[earliest] = location
            held_rows -= len(held[earliest])
            yield _built(earliest, held.pop(earliest), build)
    for trace_id, rows in held.items():  # rows the first pass did not see as last, e.g. a changed trace id column
        yield _built(trace_id, rows, build)


def _trace_id(trace_id_of: Callable[[dict[str, Any]], Any], value: dict[str, Any]) -> str | None:
    trace_id = trace_id_of(value)
    return str(trace_id) if trace_id not in (None, "") else None


def _built(trace_id: str, rows: list[tuple[int, str, dict[str, Any]]],
           build: Callable[[str, list[dict[str, Any]]], Trace]) -> Parsed:
    raw = "\n".join(row_raw for _, row_raw, _ in rows)[:RAW_EXCERPT_CHARS]
    return Parsed(rows[0][0], raw, convert(lambda values: build(trace_id, values), [value for _, _, value in rows]))
