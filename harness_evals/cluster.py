"""Dimension reduction and HDBSCAN clustering of production traces and eval cases together.

`fit_clusters` fits the PCA and HDBSCAN (keeping HDBSCAN's prediction data) and returns a
`ClusterModel`: on an incremental night the model places new traces into the clusters it
already knows (`approximate_predict`), without refitting on the whole store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness_evals.identity import relabel
from harness_evals.records import NOISE, Assignments, MapChunks

FIT_SAMPLE = 50_000
PLACE_CHUNK = 100_000  # vectors per placement task: each carries the fitted model with it


def _unit(points: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return (points / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def fit_reducer(vectors: np.ndarray, *, dimensions: int, seed: int) -> Any | None:
    """A PCA to `dimensions` fitted on `vectors`, or None where there are too few to fit one.

    HDBSCAN on the raw 384 dimensions is about 20x slower and no better: density estimates
    degrade as dimensions grow.
    """
    from sklearn.decomposition import PCA

    components = min(dimensions, vectors.shape[0] - 1, vectors.shape[1])
    if components < 2:
        return None
    return PCA(n_components=components, random_state=seed).fit(vectors)


def _in_chunks(transform: Any, vectors: np.ndarray, chunk: int) -> np.ndarray:
    """`transform` applied `chunk` rows at a time: a PCA centres a float64 copy of what it is given."""
    return np.concatenate([transform(vectors[start : start + chunk]) for start in range(0, len(vectors), chunk)])


def project(reducer: Any | None, vectors: np.ndarray, *, chunk: int = 100_000) -> np.ndarray:
    """Through the PCA, then back onto the unit sphere so Euclidean distance tracks cosine."""
    if reducer is None or not len(vectors):
        return vectors
    return _in_chunks(lambda part: _unit(reducer.transform(part)), vectors, chunk)


def map_coordinates(vectors: np.ndarray, *, seed: int, sample: int = FIT_SAMPLE, chunk: int = 100_000) -> np.ndarray:
    """Two PCA components: a map on which neighbours in embedding space stay near (zeros if too few).
    Fitted on a seeded sample beyond `sample` points, applied in chunks."""
    fitted = vectors if len(vectors) <= sample else vectors[
        np.sort(np.random.default_rng(seed).choice(len(vectors), size=sample, replace=False))]
    reducer = fit_reducer(fitted, dimensions=2, seed=seed)
    if reducer is None or reducer.n_components_ < 2:
        return np.zeros((len(vectors), 2))
    return _in_chunks(reducer.transform, vectors, chunk)


def reduce(vectors: np.ndarray, *, dimensions: int, seed: int) -> np.ndarray:
    return project(fit_reducer(vectors, dimensions=dimensions, seed=seed), vectors)


def _all_noise(count: int) -> Assignments:
    return Assignments(labels=np.full(count, NOISE), outlier_scores=np.ones(count), probabilities=np.zeros(count))


def _hdbscan(points: np.ndarray, *, min_cluster_size: int, min_samples: int | None, prediction_data: bool):
    import hdbscan

    return hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method="leaf",  # many small regions: the long tail is what we are after
        prediction_data=prediction_data,
    ).fit(points.astype(np.float64))


def _assignments(clusterer: Any) -> Assignments:
    return Assignments(
        labels=clusterer.labels_.astype(np.int64),
        outlier_scores=np.nan_to_num(clusterer.outlier_scores_, nan=1.0),
        probabilities=clusterer.probabilities_,
    )


def cluster(points: np.ndarray, *, min_cluster_size: int, min_samples: int | None = None) -> Assignments:
    """HDBSCAN labels (noise kept as NOISE), GLOSH outlier scores and membership strengths.

    HDBSCAN itself is deterministic; randomness lives in the PCA, which takes the seed.
    """
    if points.shape[0] <= min_cluster_size:
        return _all_noise(points.shape[0])
    return _assignments(_hdbscan(points, min_cluster_size=min_cluster_size, min_samples=min_samples,
                                 prediction_data=False))


@dataclass
class ClusterModel:
    """A fitted clustering, kept between runs: the PCA, HDBSCAN with its prediction data, and the
    stable id of each of its clusters (set once they are matched to the previous run's)."""

    reducer: Any | None
    clusterer: Any | None  # None: too few points to cluster, everything is noise
    fitted_count: int
    noise_share: float
    stable_ids: dict[int, int] = field(default_factory=dict)

    def assign(self, vectors: np.ndarray, *, map_chunks: MapChunks = map, chunk_size: int = PLACE_CHUNK) -> Assignments:
        """New points placed into the fitted clusters (stable ids), or noise; nothing is refitted."""
        placed = self._place(vectors, map_chunks=map_chunks, chunk_size=chunk_size)
        return Assignments(relabel(placed.labels, self.stable_ids), placed.outlier_scores, placed.probabilities)

    def _place(self, vectors: np.ndarray, *, map_chunks: MapChunks, chunk_size: int = PLACE_CHUNK) -> Assignments:
        """New points placed with HDBSCAN's own labels, `chunk_size` at a time through `map_chunks`:
        each point is placed on its own, so the chunks give the same result wherever they run."""
        if self.clusterer is None or not len(vectors):
            return _all_noise(len(vectors))
        parts = list(map_chunks(self.place_chunk, (vectors[start : start + chunk_size]
                                                   for start in range(0, len(vectors), chunk_size))))
        return Assignments(*(np.concatenate([getattr(part, name) for part in parts])
                             for name in ("labels", "outlier_scores", "probabilities")))

    def place_chunk(self, vectors: np.ndarray) -> Assignments:
        """Some points placed with HDBSCAN's own labels.

        A placed point's outlier score is 1 - its membership strength: hdbscan's own
        `approximate_predict_scores` scans the condensed tree once per point, which at a million
        points costs as much again as placing them."""
        from hdbscan import approximate_predict

        points = project(self.reducer, vectors).astype(np.float64)
        labels, strengths = approximate_predict(self.clusterer, points)
        strengths = np.nan_to_num(np.asarray(strengths, dtype=np.float64), nan=0.0)
        return Assignments(np.asarray(labels, dtype=np.int64), 1.0 - strengths, strengths)


def fit_clusters(vectors: np.ndarray, *, dimensions: int, min_cluster_size: int, seed: int,
                 fit_sample: int = FIT_SAMPLE, map_chunks: MapChunks = map) -> tuple[Assignments, ClusterModel]:
    """Fit on the vectors; the assignments carry HDBSCAN's own labels, not yet stable ids.

    Beyond `fit_sample` points, PCA and HDBSCAN are fitted on a seeded sample of that many and
    the rest are placed with `approximate_predict`: HDBSCAN's cost grows faster than linearly
    with N, and a sample of tens of thousands already resolves every region dense enough to be
    a cluster at the minimum cluster size (rarer ones stay noise, as they would anyway)."""
    count = len(vectors)
    fitted = np.arange(count) if count <= fit_sample else np.sort(
        np.random.default_rng(seed).choice(count, size=fit_sample, replace=False))
    reducer = fit_reducer(vectors[fitted], dimensions=dimensions, seed=seed)
    points = project(reducer, vectors[fitted])
    if points.shape[0] <= min_cluster_size:
        model = ClusterModel(reducer, None, count, 1.0)
        return _all_noise(count), model
    clusterer = _hdbscan(points, min_cluster_size=min_cluster_size, min_samples=None, prediction_data=True)
    on_sample = _assignments(clusterer)
    model = ClusterModel(reducer, clusterer, count, float(np.mean(on_sample.labels == NOISE)))
    if len(fitted) == count:
        return on_sample, model
    rest = np.setdiff1d(np.arange(count), fitted)
    placed = model._place(vectors[rest], map_chunks=map_chunks)
    labels, outlier_scores, probabilities = np.empty(count, np.int64), np.empty(count), np.empty(count)
    labels[fitted], outlier_scores[fitted], probabilities[fitted] = (
        on_sample.labels, on_sample.outlier_scores, on_sample.probabilities)
    labels[rest], outlier_scores[rest], probabilities[rest] = placed.labels, placed.outlier_scores, placed.probabilities
    return Assignments(labels, outlier_scores, probabilities), model
