"""Traces gathered from many rows: spans, runs or observations, one per JSON line, Parquet row or item
of a JSON list, grouped by trace id.

An export is rarely ordered by trace: Phoenix lists spans newest first, so concurrent traces
interleave, and a tracer writes a run when it ends, children before their parent. So the file is
read twice. The first pass reads only the trace ids (for Parquet, only their column) and notes each
trace's last row; the second builds a trace as soon as its last row is read, and holds only the
rows of traces not yet complete. Both passes read the file as it was when the first began, so a
file still being written cannot make them disagree.

A trace is stored whole or not at all: a stored trace is never overwritten, so one built from part
of its rows would refuse the whole trace forever after. A trace without its root row (one without a
parent: a file read while its tracer was still writing it, children first) has each of its rows
quarantined, and so does a trace whose rows lie too far apart: memory is bounded by MAX_HELD_ROWS,
and past it the unfinished trace that began earliest is let go, its rows so far and each later one
quarantined with a reason that says to sort the export by trace id. Either way nothing of the trace
is stored, and a later ingest of the whole trace stores it.

Such formats read the whole file at every ingest (they are not `resumable`): a trace's rows may
lie on both sides of where an earlier read stopped. Traces already stored count as unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness_evals.ingest.framing import (RAW_EXCERPT_CHARS, Parsed, Span, convert, is_parquet, refusal,
                                          lines_or_items, parquet_rows)
from harness_evals.records import Trace

MAX_HELD_ROWS = 100_000
Row = tuple[int, str, dict[str, Any]]  # location, raw excerpt, value


def grouped_rows(
    path: Path, *, trace_id_of: Callable[[dict[str, Any]], Any], is_root: Callable[[dict[str, Any]], bool],
    build: Callable[[str, list[dict[str, Any]]], Trace], what: str, id_columns: list[str],
    max_held_rows: int = MAX_HELD_ROWS,
) -> Iterator[Parsed]:
    """`trace_id_of(row)`: the row's trace id (None or "" if it has none); `is_root(row)`: whether the row
    is its trace's root (it has no parent); `build(trace_id, rows)`: the trace from its rows in file
    order; `what`: what a row is, for reasons; `id_columns`: the columns `trace_id_of` reads."""
    span = Span(0, 1, path.stat().st_size)
    first_pass = parquet_rows(path, columns=id_columns) if is_parquet(path) else lines_or_items(path, span)
    last_row = {}
    for location, _, value in first_pass:
        if isinstance(value, dict) and (trace_id := _trace_id(trace_id_of, value)):
            last_row[trace_id] = location

    held: dict[str, list[Row]] = {}  # by first row: dicts keep insertion order
    let_go: set[str] = set()  # traces whose rows lay too far apart to hold: none of their rows is stored
    held_rows = 0
    for location, raw, value in lines_or_items(path, span):
        raw = raw.rstrip("\n")[:RAW_EXCERPT_CHARS]
        if refused := refusal(location, raw, value):
            yield refused
            continue
        trace_id = _trace_id(trace_id_of, value)
        if not trace_id:
            yield Parsed(location, raw, f"{what} without a trace id")
            continue
        if trace_id in let_go:
            yield Parsed(location, raw, _too_far_apart(what, trace_id, max_held_rows))
            continue
        held.setdefault(trace_id, []).append((location, raw, value))
        held_rows += 1
        if last_row.get(trace_id) == location:
            held_rows -= len(held[trace_id])
            yield from _built(trace_id, held.pop(trace_id), build, is_root, what)
        while held_rows > max_held_rows:
            earliest = next(iter(held))
            let_go.add(earliest)
            rows = held.pop(earliest)
            held_rows -= len(rows)
            yield from (Parsed(row, row_raw, _too_far_apart(what, earliest, max_held_rows)) for row, row_raw, _ in rows)
    for trace_id, rows in held.items():  # rows the first pass did not see as last, e.g. a changed trace id column
        yield from _built(trace_id, rows, build, is_root, what)


def _trace_id(trace_id_of: Callable[[dict[str, Any]], Any], value: dict[str, Any]) -> str | None:
    trace_id = trace_id_of(value)
    return str(trace_id) if trace_id not in (None, "") else None


def _too_far_apart(what: str, trace_id: str, max_held_rows: int) -> str:
    return (f"{what} of trace {trace_id!r}, not stored: its rows lie so far apart that over {max_held_rows:,} rows of "
            "unfinished traces had to be held; sort the export by trace id and ingest it again")


def _built(trace_id: str, rows: list[Row], build: Callable[[str, list[dict[str, Any]]], Trace],
           is_root: Callable[[dict[str, Any]], bool], what: str) -> Iterator[Parsed]:
    """The trace, or, if its root is not among its rows, each row quarantined."""
    if not any(is_root(value) for _, _, value in rows):
        reason = (f"{what} of trace {trace_id!r}, not stored: the trace's root {what} (one without a parent) is not "
                  "in the file, and a trace is stored only whole; if the export was still being written, ingest the "
                  "file again once it is complete, else export the trace with its root")
        yield from (Parsed(location, raw, reason) for location, raw, _ in rows)
        return
    raw = "\n".join(row_raw for _, row_raw, _ in rows)[:RAW_EXCERPT_CHARS]
    yield Parsed(rows[0][0], raw, convert(lambda values: build(trace_id, values), [value for _, _, value in rows]))
