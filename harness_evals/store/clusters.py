"""Queries on what a mining run stored: each item's cluster and coverage verdict
(`cluster_assignments`), each cluster's coverage (`cluster_coverage`) and lineage
(`cluster_lineage`), the flags it found (`trace_flags`), and the clusterer's kept fit
(`cluster_models`)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

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
    """(cluster_id, production_count, eval_count, coverage, gap_score, flagged_count, emerging,
    outcome_count, failed_count) of each cluster of a mining run (the last two NULL for a run from
    before outcomes were counted)."""
    return store.con.execute(
        """SELECT cluster_id, production_count, eval_count, coverage, gap_score, flagged_count, emerging,
                  outcome_count, failed_count
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


def flags_of_run(store: Store, run_id: str) -> list[tuple[str, str, str]]:
    """(trace_id, detector, reason) of every flag a mining run found."""
    return store.con.execute("SELECT trace_id, detector, reason FROM trace_flags WHERE run_id = ?", [run_id]).fetchall()


def assignments_of_run(store: Store, run_id: str) -> list[tuple[str, str, int, float, float]]:
    """(item_kind, item_id, cluster_id, outlier_score, probability) of every item a mining run placed."""
    return store.con.execute(
        "SELECT item_kind, item_id, cluster_id, outlier_score, probability FROM cluster_assignments WHERE run_id = ?",
        [run_id],
    ).fetchall()


def lineage_centroids(store: Store, run_id: str) -> list[tuple[int, list[float]]]:
    """(cluster_id, centroid) of each cluster of a mining run that kept its centroid."""
    return store.con.execute(
        "SELECT cluster_id, centroid FROM cluster_lineage WHERE run_id = ? AND centroid IS NOT NULL", [run_id]
    ).fetchall()


def highest_cluster_id(store: Store) -> int | None:
    """The highest cluster id any run ever gave; None before the first."""
    return store.one("SELECT max(cluster_id) FROM cluster_lineage")[0]


def forget_fit(store: Store, model_key: str) -> None:
    store.con.execute("DELETE FROM cluster_models WHERE model_key = ?", [model_key])


def kept_fit(store: Store, model_key: str) -> tuple[int, str, bytes] | None:
    """(fitted_count, stable_ids as JSON text, state) of the fit kept under this key, or None."""
    return store.one("SELECT fitted_count, stable_ids, state FROM cluster_models WHERE model_key = ?", [model_key])


def map_points(store: Store, run_id: str) -> list[dict[str, Any]]:
    """item_kind, map_x, map_y and covered of every item a mining run placed on the map."""
    return store.con.sql(
        "SELECT item_kind, map_x, map_y, covered FROM cluster_assignments WHERE run_id = ?", params=[run_id]
    ).to_arrow_table().to_pylist()


def coverage_table(store: Store, run_id: str) -> pa.Table:
    """Coverage per cluster of a mining run, largest gap first."""
    return store.con.sql(
        "SELECT * EXCLUDE (run_id) FROM cluster_coverage WHERE run_id = ? ORDER BY gap_score DESC, cluster_id",
        params=[run_id],
    ).to_arrow_table()


def flags_table(store: Store, run_id: str) -> pa.Table:
    """Flags of a mining run: trace, detector, reason, and the trace's cluster."""
    return store.con.sql(
        """SELECT f.trace_id, f.detector, f.reason, a.cluster_id FROM trace_flags f
           LEFT JOIN cluster_assignments a ON a.run_id = f.run_id AND a.item_kind = 'production'
                AND a.item_id = f.trace_id
           WHERE f.run_id = ? ORDER BY f.detector, f.trace_id""",
        params=[run_id],
    ).to_arrow_table()


def lineage_table(store: Store) -> pa.Table:
    """What became of each region, run after run."""
    return store.con.sql(
        """SELECT l.run_id, r.started_at, l.cluster_id, l.event, l.source_cluster_id, l.size, l.previous_size,
                  l.emerging
           FROM cluster_lineage l JOIN runs r USING (run_id) ORDER BY r.started_at, l.cluster_id"""
    ).to_arrow_table()


def emerging_table(store: Store, run_id: str) -> pa.Table:
    """Emerging regions of a mining run, largest first, with their coverage, flags and outcomes, and the
    request of the trace most inside each."""
    return store.con.sql(
        """SELECT l.cluster_id, l.event, l.size, l.previous_size, c.coverage, c.flagged_count, c.outcome_count,
                  c.failed_count,
                  (SELECT t.input FROM cluster_assignments a JOIN traces t ON t.trace_id = a.item_id
                   WHERE a.run_id = l.run_id AND a.item_kind = 'production' AND a.cluster_id = l.cluster_id
                   ORDER BY a.probability DESC, a.item_id LIMIT 1) AS input
           FROM cluster_lineage l JOIN cluster_coverage c USING (run_id, cluster_id)
           WHERE l.run_id = ? AND l.emerging ORDER BY l.size DESC, l.cluster_id""",
        params=[run_id],
    ).to_arrow_table()


def assignments_table(store: Store, run_id: str) -> pa.Table:
    """Every production trace and eval case of a mining run with its cluster, scores, verdict, map
    position and request."""
    return store.con.sql(
        """SELECT a.item_kind, a.item_id, a.cluster_id, a.outlier_score, a.probability,
                  a.nearest_eval_similarity, a.covered, a.covering_case_id, a.nearest_case_id, a.map_x, a.map_y,
                  coalesce(t.input, e.input) AS input
           FROM cluster_assignments a
           LEFT JOIN traces t ON a.item_kind = 'production' AND t.trace_id = a.item_id
           LEFT JOIN eval_cases e ON a.item_kind = 'eval' AND e.case_id = a.item_id
           WHERE a.run_id = ? ORDER BY a.item_kind, a.item_id""",
        params=[run_id],
    ).to_arrow_table()
