"""Queries on the labelling queue (`labelling_queue`): what waits for a label, the labels taken
back, and what was emitted into a suite. Each move's event goes to `queue_events` by Store.insert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from harness_evals.store.connection import Store

WAITING_ITEM_FIELDS = ("trace_id", "cluster_id", "reason", "priority", "run_id", "timestamp", "input", "output",
                       "metadata")
TRAJECTORY_COLUMNS = ("trace_id", "run_id", "cluster_id", "input", "output", "steps", "messages", "metadata",
                     "feedback")


def queued_trace_ids(store: Store) -> set[str]:
    """Every trace ever queued, whatever its state now: a trace is queued at most once."""
    return {row[0] for row in store.con.execute("SELECT trace_id FROM labelling_queue").fetchall()}


def waiting_items(store: Store) -> list[dict[str, Any]]:
    """Every trace in state `queued`, highest priority first, as WAITING_ITEM_FIELDS: its queue entry
    and its trace (timestamp as ISO 8601 in UTC, metadata as JSON text)."""
    rows = store.con.execute(
        """
        SELECT q.trace_id, q.cluster_id, q.reason, q.priority, q.run_id,
               strftime(t.timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), t.input, t.output, t.metadata
        FROM labelling_queue q JOIN traces t USING (trace_id)
        WHERE q.state = 'queued'
        ORDER BY q.priority DESC, q.trace_id
        """
    ).fetchall()
    return [dict(zip(WAITING_ITEM_FIELDS, row, strict=True)) for row in rows]


def queue_trajectories(store: Store, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The queue entry (the run that queued it, its region) and the whole trace of each of `trace_ids`
    in the queue, as TRAJECTORY_COLUMNS (steps, messages, metadata and feedback as JSON text), by trace id."""
    rows = store.con.execute(
        """
        SELECT q.trace_id, q.run_id, q.cluster_id, t.input, t.output, t.steps, t.messages, t.metadata, t.feedback
        FROM labelling_queue q JOIN traces t USING (trace_id)
        WHERE q.trace_id IN (SELECT unnest(?))
        """,
        [list(trace_ids)],
    ).fetchall()
    return {row[0]: dict(zip(TRAJECTORY_COLUMNS, row, strict=True)) for row in rows}


def queue_flags(store: Store, trace_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """The silent-failure flags (detector, reason) the run that queued each of `trace_ids` found on it,
    in the order that run wrote them; a trace without flags is left out."""
    flags: dict[str, list[tuple[str, str]]] = {}
    for trace_id, detector, reason in store.con.execute(
        """
        SELECT f.trace_id, f.detector, f.reason
        FROM trace_flags f JOIN labelling_queue q ON q.trace_id = f.trace_id AND q.run_id = f.run_id
        WHERE f.trace_id IN (SELECT unnest(?))
        ORDER BY f.rowid
        """,
        [list(trace_ids)],
    ).fetchall():
        flags.setdefault(trace_id, []).append((detector, reason))
    return flags


def set_label(store: Store, trace_id: str, *, state: str, expected: str | None, verdict: str | None,
              notes: str | None, labeller: str | None, label_run_id: str, covered_by: str | None = None) -> bool:
    """Give a queued trace its label (`expected` as JSON text) and `state`; False: it was never queued."""
    updated = store.con.execute(
        """UPDATE labelling_queue SET state = ?, expected = ?, verdict = ?, notes = ?, labeller = ?,
           label_run_id = ?, covered_by = ? WHERE trace_id = ? RETURNING trace_id""",
        [state, expected, verdict, notes, labeller, label_run_id, covered_by, trace_id],
    ).fetchall()
    return bool(updated)


def stored_label(store: Store, trace_id: str) -> tuple[str, str | None, str | None, str | None] | None:
    """The state, expected (JSON text), verdict and covered_by of a trace labelled, skipped, covered or
    emitted; None: it has no label."""
    return store.one(
        "SELECT state, expected, verdict, covered_by FROM labelling_queue WHERE trace_id = ? AND state <> 'queued'",
        [trace_id],
    )


def labelled_reach(store: Store) -> list[tuple[str, str]]:
    """(trace_id, case_id) of every trace a labeller said an eval case already covers, in trace id order."""
    return store.con.execute(
        "SELECT trace_id, covered_by FROM labelling_queue WHERE state = 'covered' ORDER BY trace_id").fetchall()


def nearest_cases(store: Store, trace_ids: Sequence[str]) -> dict[str, tuple[str, float, str]]:
    """(case_id, cosine, the case's input) of the nearest eval case the run that queued each of
    `trace_ids` found, by trace id; a trace whose run kept none (no eval set, or before it was kept) is left out."""
    rows = store.con.execute(
        """
        SELECT q.trace_id, a.nearest_case_id, a.nearest_eval_similarity, e.input
        FROM labelling_queue q
        JOIN cluster_assignments a ON a.run_id = q.run_id AND a.item_kind = 'production' AND a.item_id = q.trace_id
        JOIN eval_cases e ON e.case_id = a.nearest_case_id
        WHERE q.trace_id IN (SELECT unnest(?))
        """,
        [list(trace_ids)],
    ).fetchall()
    return {trace_id: (case_id, similarity, request) for trace_id, case_id, similarity, request in rows}


def emitted_case_id(store: Store, trace_id: str) -> str | None:
    """The suite case a trace was emitted as, if it was."""
    row = store.one("SELECT case_id FROM labelling_queue WHERE trace_id = ? AND state = 'emitted'", [trace_id])
    return row[0] if row else None


def labels_for_suite(store: Store) -> list[tuple[Any, ...]]:
    """Every labelled or emitted trace: (trace_id, expected, verdict, notes, labeller, cluster_id,
    run_id, case_id (None until emitted), the trace's input, its messages as JSON text or None)."""
    return store.con.execute(
        """
        SELECT q.trace_id, q.expected, q.verdict, q.notes, q.labeller, q.cluster_id, q.run_id, q.case_id, t.input,
               t.messages
        FROM labelling_queue q JOIN traces t USING (trace_id)
        WHERE q.state IN ('labelled', 'emitted')
        """
    ).fetchall()


def mark_emitted(store: Store, case_ids: Sequence[tuple[str, str]]) -> None:
    """Each (trace_id, case_id): the trace is emitted, as that case."""
    for trace_id, case_id in case_ids:
        store.con.execute(
            "UPDATE labelling_queue SET state = 'emitted', case_id = ? WHERE trace_id = ?", [case_id, trace_id]
        )


def queue_sizes(store: Store) -> dict[str, int]:
    """How many queue items are in each state."""
    return dict(store.con.execute("SELECT state, count(*) FROM labelling_queue GROUP BY 1").fetchall())


def queue_table(store: Store, state: str | None) -> pa.Table:
    """The labelling queue with each trace's request and answer, highest priority first: the items in
    one state, or all with None."""
    where, params = ("WHERE q.state = ?", [state]) if state else ("", [])
    return store.con.sql(
        f"""SELECT q.trace_id, q.state, q.cluster_id, q.reason, q.priority, t.input, t.output,
                   q.expected, q.verdict, q.notes, q.labeller, q.case_id, q.covered_by
            FROM labelling_queue q JOIN traces t USING (trace_id) {where}
            ORDER BY q.priority DESC, q.trace_id""",
        params=params,
    ).to_arrow_table()
