"""Queries the tool report and the release reading list read: each trace's steps with the prompt it
was given and its region, the flags of a mining run, and whole traces to read."""

from __future__ import annotations

from typing import Any

from harness_evals.store.connection import Store


def traced_calls(store: Store, run_id: str | None, *, placed_only: bool) -> list[tuple[Any, ...]]:
    """(trace_id, timestamp, steps, metadata, feedback, assembly_hash, cluster_id) of each stored trace,
    by trace id: steps, metadata and feedback as JSON text; assembly_hash None for a trace given no
    assembled prompt; cluster_id its region in the mining run `run_id`, None where that run did not
    place it (or `run_id` is None). `placed_only`: only the traces that run placed."""
    join = "JOIN" if placed_only else "LEFT JOIN"
    return store.con.execute(
        f"""SELECT t.trace_id, t.timestamp, t.steps, t.metadata, t.feedback, p.assembly_hash, a.cluster_id
            FROM traces t LEFT JOIN trace_prompts p USING (trace_id)
            {join} cluster_assignments a ON a.run_id = ? AND a.item_kind = 'production' AND a.item_id = t.trace_id
            ORDER BY t.trace_id""",
        [run_id],
    ).fetchall()


def flagged_by(store: Store, run_id: str) -> dict[str, list[str]]:
    """The detectors that flagged each trace in a mining run, by trace id, in detector name order."""
    flagged: dict[str, list[str]] = {}
    for trace_id, detector in store.con.execute(
            "SELECT trace_id, detector FROM trace_flags WHERE run_id = ? ORDER BY trace_id, detector", [run_id]
    ).fetchall():
        flagged.setdefault(trace_id, []).append(detector)
    return flagged


TRACE_DOCUMENT_FIELDS = ("trace_id", "timestamp", "input", "output", "steps", "messages", "metadata", "feedback")


def trace_documents(store: Store, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
    """These traces whole, by trace id, as TRACE_DOCUMENT_FIELDS: the timestamp as ISO 8601 in UTC
    (None when unknown), steps, messages, metadata and feedback as JSON text."""
    rows = store.con.execute(
        """SELECT trace_id, strftime(timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), input, output, steps,
                  messages, metadata, feedback
           FROM traces WHERE trace_id IN (SELECT unnest(?))""",
        [trace_ids],
    ).fetchall()
    return {row[0]: dict(zip(TRACE_DOCUMENT_FIELDS, row, strict=True)) for row in rows}


def is_mining_run(store: Store, run_id: str) -> bool:
    return store.one("SELECT 1 FROM runs WHERE run_id = ? AND kind = 'mine'", [run_id]) is not None
