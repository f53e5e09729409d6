"""Where each trace and eval case sits tonight: clusters with stable ids, fitted afresh or extended.

A full run fits the clusterer (`cluster.Clusterer`; PCA and HDBSCAN by default) on everything and
matches the clusters to the previous run's (`identity.match_clusters`). An incremental run places
only what the previous run of the same view and clusterer had not seen into the last fit's clusters
(`ClusterFit.place`) and carries the rest over.
It falls back to a full fit when there is no fit to extend, or when the fit has gone stale:
traffic more than doubled since, or the new traces fit its clusters much worse than the fitted
ones did (their noise share above the fit's by DRIFT_MARGIN), the sign of a topic it has never
seen. Only a full fit can find a new region, so drift is what lets one appear on the night it does.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness_evals.mine.cluster import ClusterFit, Clusterer
from harness_evals.mine.identity import Lineage, match_clusters, relabel
from harness_evals.records import NOISE, Assignments, MapChunks
from harness_evals.store import Store
from harness_evals.store.clusters import (
    assignments_of_run,
    forget_fit,
    highest_cluster_id,
    kept_fit,
    lineage_centroids,
)
from harness_evals.store.runs import succeeded_mine_runs

DRIFT_MARGIN = 0.25

Item = tuple[str, str]  # (production | eval, id)


@dataclass(frozen=True)
class Regions:
    assignments: Assignments  # stable ids, in the order of the items given
    lineage: list[Lineage]
    centroids: dict[int, np.ndarray]  # stable id -> mean embedding of its production traces
    fresh: dict[int, int]  # stable id -> its production traces the previous run had not seen
    fit: KeptFit | None  # tonight's fit, to be kept (full runs); None: tonight extended the last one
    mode: str  # full | incremental
    reason: str
    new_traces: int
    previous_run: str | None


@dataclass(frozen=True)
class KeptFit:
    """A fit as the store keeps it between runs (`cluster_models`)."""

    key: dict[str, Any]  # fit_key: embedder, view and the clusterer's parameters
    fit: ClusterFit
    fitted_count: int  # items (traces and eval cases) when it was fitted
    stable_ids: dict[int, int]  # the fit's own label -> stable cluster id, as its run's matching named them

    def assign(self, vectors: np.ndarray, *, map_chunks: MapChunks = map) -> Assignments:
        """New points placed into the fitted clusters, under their stable ids (or noise)."""
        placed = self.fit.place(vectors, map_chunks=map_chunks)
        return Assignments(relabel(placed.labels, self.stable_ids), placed.outlier_scores, placed.probabilities)


def fit_key(clusterer: Clusterer, *, embedder: str, view: str) -> dict[str, Any]:
    """What a fit is kept and extended under; each mining run records these values among its params."""
    return {"embedder": embedder, "view": view, **clusterer.parameters}


def find_regions(store: Store, vectors: np.ndarray, items: list[Item], *, clusterer: Clusterer, embedder: str,
                 view: str, full: bool, map_chunks: MapChunks = map) -> Regions:
    key = fit_key(clusterer, embedder=embedder, view=view)
    previous_run = latest_mine_run(store, key)
    previous = _assignments_of(store, previous_run) if previous_run else {}
    fresh = [position for position, item in enumerate(items) if item not in previous]
    new_traces = sum(1 for position in fresh if items[position][0] == "production")
    kept = None if full or previous_run is None else load_fit(store, clusterer, key)
    assignments, mode = None, "full"
    if full:
        reason = "asked for"
    elif previous_run is None:
        reason = "first run of this view and clustering"
    elif kept is None:
        reason = "no earlier fit to extend"
    else:
        placed = kept.assign(vectors[fresh], map_chunks=map_chunks)
        fresh_production = np.array([items[position][0] == "production" for position in fresh], dtype=bool)
        noise_share = float(np.mean(placed.labels[fresh_production] == NOISE)) if new_traces else 0.0
        if len(items) > 2 * kept.fitted_count:
            reason = f"traffic more than doubled since the last fit ({len(items)} items, {kept.fitted_count} fitted)"
        elif new_traces >= clusterer.min_cluster_size and noise_share > kept.fit.noise_share + DRIFT_MARGIN:
            reason = (f"drift: {noise_share:.0%} of the {new_traces} new traces fit no cluster, against "
                      f"{kept.fit.noise_share:.0%} at the fit")
        else:
            reason = f"{new_traces} new traces placed into the last fit's clusters"
            assignments, mode = _carried_over(items, previous, fresh, placed), "incremental"

    previous_members = _members(
        [item for item in previous if item[0] == "production"],
        np.array([previous[item][0] for item in previous if item[0] == "production"], dtype=np.int64),
    )
    previous_centroids = _centroids_of(store, previous_run) if previous_run else {}
    production = np.array([kind == "production" for kind, _ in items], dtype=bool)
    fit = None
    if mode == "full":
        assignments, fit = clusterer.fit(vectors, map_chunks=map_chunks)
    labels = assignments.labels
    current = _members([item for item, keep in zip(items, production, strict=True) if keep], labels[production])
    centroids = _centroids(vectors[production], labels[production])
    stable, lineage = match_clusters(previous_members, previous_centroids, current, centroids,
                                     next_id=_next_id(store, previous))
    labels = relabel(labels, stable)
    fresh_labels = [int(labels[position]) for position in fresh if items[position][0] == "production"]
    return Regions(
        assignments=Assignments(labels, assignments.outlier_scores, assignments.probabilities),
        lineage=lineage,
        centroids={stable[label]: centroid for label, centroid in centroids.items()},
        fresh=dict(Counter(label for label in fresh_labels if label != NOISE)),
        fit=None if fit is None else KeptFit(key, fit, len(items), stable),
        mode=mode,
        reason=reason,
        new_traces=new_traces,
        previous_run=previous_run,
    )


def _carried_over(items: list[Item], previous: dict[Item, tuple[int, float, float]], fresh: list[int],
                  placed: Assignments) -> Assignments:
    labels = np.empty(len(items), dtype=np.int64)
    outlier_scores, probabilities = np.empty(len(items)), np.empty(len(items))
    for position, item in enumerate(items):
        if item in previous:
            labels[position], outlier_scores[position], probabilities[position] = previous[item]
    labels[fresh], outlier_scores[fresh], probabilities[fresh] = placed.labels, placed.outlier_scores, placed.probabilities
    return Assignments(labels, outlier_scores, probabilities)


def _members(items: list[Item], labels: np.ndarray) -> dict[int, set[str]]:
    members: dict[int, set[str]] = {}
    for (_, item_id), label in zip(items, labels.tolist(), strict=True):
        if label != NOISE:
            members.setdefault(int(label), set()).add(item_id)
    return members


def _centroids(vectors: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Unit mean vector per cluster, in one sparse product rather than one pass per cluster."""
    from scipy import sparse

    clustered = np.flatnonzero(labels != NOISE)
    ids, members = np.unique(labels[clustered], return_inverse=True)
    if not len(ids):
        return {}
    membership = sparse.csr_matrix((np.ones(len(clustered)), (members, np.arange(len(clustered)))),
                                   shape=(len(ids), len(clustered)))
    sums = np.asarray(membership @ vectors[clustered], dtype=np.float64)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return {int(label): row for label, row in zip(ids.tolist(), sums / np.where(norms == 0, 1.0, norms), strict=True)}


def latest_mine_run(store: Store, key: dict[str, Any]) -> str | None:
    """The latest succeeded mining run whose parameters hold these values (embedder, view and
    clustering parameters, say)."""
    return next((run_id for run_id, params in succeeded_mine_runs(store)
                 if all(params.get(name) == value for name, value in key.items())), None)


def _assignments_of(store: Store, run_id: str) -> dict[Item, tuple[int, float, float]]:
    return {
        (kind, item_id): (cluster_id, outlier_score, probability)
        for kind, item_id, cluster_id, outlier_score, probability in assignments_of_run(store, run_id)
    }


def _centroids_of(store: Store, run_id: str) -> dict[int, np.ndarray]:
    return {
        cluster_id: np.asarray(centroid, dtype=np.float32)
        for cluster_id, centroid in lineage_centroids(store, run_id)
    }


def _next_id(store: Store, previous: dict[Item, tuple[int, float, float]]) -> int:
    """One more than any cluster id ever given, so a retired id is never reused."""
    used = highest_cluster_id(store)
    carried = max((cluster_id for cluster_id, _, _ in previous.values()), default=NOISE)
    return max(used if used is not None else NOISE, carried) + 1


def _model_key(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def save_fit(store: Store, kept: KeptFit, *, run_id: str) -> None:
    """The latest fit per key replaces the one before: older fits are never extended again."""
    forget_fit(store, _model_key(kept.key))
    store.insert("cluster_models", {
        "run_id": [run_id], "model_key": [_model_key(kept.key)], "fitted_count": [kept.fitted_count],
        "noise_share": [kept.fit.noise_share], "stable_ids": [json.dumps(sorted(kept.stable_ids.items()))],
        "state": [kept.fit.state()]})


def load_fit(store: Store, clusterer: Clusterer, key: dict[str, Any]) -> KeptFit | None:
    """The last fit kept under `key`, or None: none kept, or one `clusterer` cannot read back."""
    row = kept_fit(store, _model_key(key))
    fit = clusterer.restore(row[2]) if row else None
    if fit is None:
        return None
    return KeptFit(key, fit, row[0], {int(label): int(stable) for label, stable in json.loads(row[1])})
