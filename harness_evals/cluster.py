"""Dimension reduction and HDBSCAN clustering of production traces and eval cases together."""

from __future__ import annotations

import numpy as np

from harness_evals.records import NOISE, Assignments


def reduce(vectors: np.ndarray, *, dimensions: int, seed: int) -> np.ndarray:
    """PCA to `dimensions`, then back onto the unit sphere so Euclidean distance tracks cosine.

    HDBSCAN on the raw 384 dimensions is about 20x slower and no better: density estimates
    degrade as dimensions grow.
    """
    from sklearn.decomposition import PCA

    components = min(dimensions, vectors.shape[0] - 1, vectors.shape[1])
    if components < 2:
        return vectors
    reduced = PCA(n_components=components, random_state=seed).fit_transform(vectors)
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    return (reduced / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def cluster(points: np.ndarray, *, min_cluster_size: int, min_samples: int | None = None) -> Assignments:
    """HDBSCAN labels (noise kept as NOISE), GLOSH outlier scores and membership strengths.

    HDBSCAN itself is deterministic; randomness lives in `reduce`, which takes the seed.
    """
    count = points.shape[0]
    if count <= min_cluster_size:
        return Assignments(
            labels=np.full(count, NOISE), outlier_scores=np.ones(count), probabilities=np.zeros(count)
        )
    import hdbscan

    clusterer = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method="leaf",  # many small regions: the long tail is what we are after
    ).fit(points.astype(np.float64))
    return Assignments(
        labels=clusterer.labels_.astype(np.int64),
        outlier_scores=np.nan_to_num(clusterer.outlier_scores_, nan=1.0),
        probabilities=clusterer.probabilities_,
    )
