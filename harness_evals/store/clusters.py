"""Queries on what a mining run stored about its clusters: each item's cluster
(`cluster_assignments`) and each cluster's coverage (`cluster_coverage`)."""

from __future__ import annotations

from typing import Any

from harness_evals.store.connection import Store


def clustered_requests(store: Store, run_id: str) -> list[tuple[int, str, str]]:
    """(cluster_id, input, steps as JSON text) of each production trace of a mining run, cluster by
    cluster, the traces each cluster holds most firmly first."""
    return store.con.execute(
        """SELECT a.cluster_id, t.input, t.steps FROM cluster_assignments a JOIN traces t ON t.trace_id = a.item_id
           WHERE a.run_id = ? AND a.item_kind = 'production'
           ORDER BY a.cluster_id, a.probability DESC, a.outlier_score, a.item_id""",
        [run_id],
    ).fetchall()


def coverage_by_cluster(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    """(cluster_id, production_count, eval_count, coverage, gap_score, flagged_count, emerging) of
    each cluster of a mining run."""
    return store.con.execute(
        """SELECT cluster_id, production_count, eval_count, coverage, gap_score, flagged_count, emerging
           FROM cluster_coverage WHERE run_id = ?""",
        [run_id],
    ).fetchall()


def production_clusters(store: Store, run_id: str) -> dict[str, int]:
    """The cluster of each production trace of a mining run, by trace id."""
    return dict(store.con.execute(
        "SELECT item_id, cluster_id FROM cluster_assignments WHERE run_id = ? AND item_kind = 'production'", [run_id]
    ).fetchall())


def latest_cluster_of(store: Store, trace_id: str) -> int | None:
    """The cluster of a production trace in the latest run that placed it; None: no run did."""
    row = store.one(
        """SELECT a.cluster_id FROM cluster_assignments a JOIN runs r USING (run_id)
           WHERE a.item_kind = 'production' AND a.item_id = ? ORDER BY r.started_at DESC LIMIT 1""",
        [trace_id],
    )
    return row[0] if row else None
