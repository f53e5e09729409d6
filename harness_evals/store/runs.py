"""Queries on the runs (`runs`): their parameters and summaries, and the trend the mining runs make."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from harness_evals.store.connection import Store


def succeeded_mine_runs(store: Store) -> list[tuple[str, dict[str, Any]]]:
    """(run_id, parameters) of every succeeded mining run, newest first."""
    rows = store.con.execute(
        "SELECT run_id, params FROM runs WHERE kind = 'mine' AND status = 'succeeded' ORDER BY started_at DESC"
    ).fetchall()
    return [(run_id, json.loads(params or "{}")) for run_id, params in rows]


def run_summary(store: Store, run_id: str) -> dict[str, Any]:
    """What a run recorded of itself when it finished ({} while it runs, or if it failed)."""
    row = store.one("SELECT summary FROM runs WHERE run_id = ?", [run_id])
    return json.loads(row[0] or "{}") if row else {}


def runs_table(store: Store) -> pa.Table:
    """Every run, oldest first; one whose process died shows as `interrupted` before any write says so."""
    return store.con.sql(
        """SELECT run_id, kind, CASE WHEN list_contains(?::VARCHAR[], run_id) THEN 'interrupted' ELSE status END
                  AS status, started_at, finished_at, summary
           FROM runs ORDER BY started_at""",
        params=[store.dead_run_ids],
    ).to_arrow_table()


def trend_table(store: Store) -> pa.Table:
    """One row per succeeded mining run, oldest first: its view and coverage ruler (none for runs
    before rulers were kept), traffic, what was new, coverage, the traces with an outcome and the
    failed (NULL for runs before outcomes were counted), emerging regions."""
    return store.con.sql(
        """SELECT run_id, started_at, params->>'$.view' AS view, summary->>'$.ruler' AS ruler,
                  summary->>'$.ruler_label' AS ruler_label, summary->>'$.mode' AS mode,
                  (summary->>'$.traces')::INTEGER AS traces,
                  (summary->>'$.new_traces')::INTEGER AS new_traces,
                  (summary->>'$.covered_similarity')::DOUBLE AS covered_similarity,
                  (summary->>'$.covered_traffic')::DOUBLE AS covered_traffic,
                  (summary->>'$.risk_covered_traffic')::DOUBLE AS risk_covered_traffic,
                  (summary->>'$.outcome_traces')::INTEGER AS outcome_traces,
                  (summary->>'$.failed_traces')::INTEGER AS failed_traces,
                  coalesce(json_array_length(summary->'$.emerging'), 0) AS emerging,
                  (summary->>'$.queued')::INTEGER AS queued
           FROM runs WHERE kind = 'mine' AND status = 'succeeded' ORDER BY started_at"""
    ).to_arrow_table()
