"""Queries on what ingest stores: traces, eval cases, and how far each source file was read."""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from harness_evals.store.connection import Store

_ID_COLUMNS = {"traces": "trace_id", "eval_cases": "case_id"}


def stored_content_hashes(store: Store, table: Literal["traces", "eval_cases"], ids: list[str]) -> dict[str, str]:
    """The content hash of each of `ids` stored in `table`, by id; the ids not stored are left out."""
    id_column = _ID_COLUMNS[table]
    return dict(store.con.execute(
        f"SELECT {id_column}, content_hash FROM {table} WHERE {id_column} IN (SELECT unnest(?))", [ids],
    ).fetchall())


class Watermark(NamedTuple):
    """How far a source file was read: up to `offset_bytes`, its first `lines` lines."""

    offset_bytes: int
    lines: int
    fingerprint: str  # of the bytes read


def ingest_watermark(store: Store, source: str, *, kind: str, format: str) -> Watermark | None:
    """How far `source` (an absolute path) was read as `kind` records in `format`; None: never."""
    row = store.one(
        "SELECT offset_bytes, lines, fingerprint FROM ingest_watermarks WHERE source = ? AND kind = ? AND format = ?",
        [source, kind, format],
    )
    return None if row is None else Watermark(*row)


def has_trace(store: Store, trace_id: str) -> bool:
    return store.one("SELECT 1 FROM traces WHERE trace_id = ?", [trace_id]) is not None


def has_eval_case(store: Store, case_id: str) -> bool:
    return store.one("SELECT 1 FROM eval_cases WHERE case_id = ?", [case_id]) is not None


def eval_inputs_outside(store: Store, source: str) -> set[str]:
    """The input of every eval case, but those ingested from `source`."""
    return {row[0] for row in store.con.execute("SELECT input FROM eval_cases WHERE source <> ?", [source]).fetchall()}


def production_requests(store: Store) -> list[tuple[str, str]]:
    """(trace_id, input) of every production trace, in trace id order."""
    return store.con.execute("SELECT trace_id, input FROM traces ORDER BY trace_id").fetchall()


def eval_requests(store: Store, *, emitted_source: str) -> list[tuple[str, str, bool]]:
    """(case_id, input, emitted: its source starts with `emitted_source`) of every eval case, in case id order."""
    return store.con.execute("SELECT case_id, input, starts_with(source, ?) FROM eval_cases ORDER BY case_id",
                             [emitted_source]).fetchall()


def whole_traces(store: Store, trace_ids: list[str]) -> list[tuple[str, str, str | None, str, str, str | None]]:
    """(trace_id, input, output, steps, metadata, feedback; the last three as JSON text) of these
    traces, in trace id order."""
    return store.con.execute(
        """SELECT trace_id, input, output, steps, metadata, feedback FROM traces
           WHERE trace_id IN (SELECT unnest(?)) ORDER BY trace_id""", [trace_ids]).fetchall()


def outcome_signals(store: Store) -> dict[str, tuple[Any, Any, Any]]:
    """(metadata.reward, metadata.success, feedback.score) of every production trace that carries
    one of them, as JSON values, by trace id (label.suggest.succeeded reads them)."""
    rows = store.con.execute(
        """SELECT trace_id, metadata->'$.reward', metadata->'$.success', feedback->'$.score' FROM traces
           WHERE (metadata->'$.reward') IS NOT NULL OR (metadata->'$.success') IS NOT NULL
                 OR (feedback->'$.score') IS NOT NULL"""
    ).fetchall()
    return {trace_id: tuple(None if value is None else json.loads(value) for value in signals)
            for trace_id, *signals in rows}


def eval_expectations(store: Store) -> list[tuple[str, Any]]:
    """(case_id, expected) of every eval case whose expected is an object of checks, in case id order."""
    return [(case_id, json.loads(expected)) for case_id, expected in store.con.execute(
        "SELECT case_id, expected FROM eval_cases WHERE json_type(expected) = 'OBJECT' ORDER BY case_id"
    ).fetchall()]
