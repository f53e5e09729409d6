"""How well the eval set covers each region of production traffic."""

from __future__ import annotations

import numpy as np

from harness_evals.records import NOISE, ClusterCoverage


def nearest_eval_similarity(production: np.ndarray, evals: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Cosine similarity of each production vector to its nearest eval case (-1 with no eval set).

    Vectors are unit length, so a dot product is the cosine. Chunked to bound memory.
    """
    if evals.shape[0] == 0:
        return np.full(production.shape[0], -1.0, dtype=np.float32)
    out = np.empty(production.shape[0], dtype=np.float32)
    for start in range(0, production.shape[0], chunk):
        out[start : start + chunk] = (production[start : start + chunk] @ evals.T).max(axis=1)
    return out


def calibrate_covered_similarity(
    evals: np.ndarray, *, margin: float = 0.15, bounds: tuple[float, float] = (0.4, 0.7), fallback: float = 0.5
) -> float:
    """The cosine at which an eval case counts as covering a trace, read off the eval set's own spacing.

    Eval sets hold a few phrasings of each behaviour, so an eval case's nearest other case shows
    how close two requests of the same kind are. The median of those similarities, less a
    margin for production's looser phrasing, is the threshold; clipped to `bounds`, and
    `fallback` with fewer than two eval cases.
    """
    if evals.shape[0] < 2:
        return fallback
    similarity = evals @ evals.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.clip(float(np.median(similarity.max(axis=1))) - margin, *bounds))


def score_coverage(
    production_labels: np.ndarray,
    eval_labels: np.ndarray,
    nearest_similarity: np.ndarray,
    *,
    covered_similarity: float,
    flagged: np.ndarray | None = None,
) -> list[ClusterCoverage]:
    """Per cluster (noise included as NOISE): counts, coverage and gap, largest gap first.

    A production trace is covered when an eval case is at least `covered_similarity` close to
    it. A cluster's coverage is the share of its traces that are covered; its gap is the
    uncovered traffic, production_count * (1 - coverage).
    """
    covered = nearest_similarity >= covered_similarity
    flagged = np.zeros(len(production_labels), dtype=bool) if flagged is None else flagged
    eval_counts = dict(zip(*np.unique(eval_labels, return_counts=True), strict=True))
    clusters, members = np.unique(production_labels, return_inverse=True)  # one pass, however many clusters
    counts = np.bincount(members, minlength=len(clusters))
    covered_counts = np.bincount(members, weights=covered.astype(float), minlength=len(clusters))
    flagged_counts = np.bincount(members, weights=flagged.astype(float), minlength=len(clusters))
    rows = []
    for position, cluster_id in enumerate(clusters.tolist()):
        count = int(counts[position])
        coverage = float(covered_counts[position] / count)
        rows.append(
            ClusterCoverage(
                cluster_id=int(cluster_id),
                production_count=count,
                eval_count=int(eval_counts.get(cluster_id, 0)),
                coverage=coverage,
                gap_score=count * (1.0 - coverage),
                flagged_count=int(flagged_counts[position]),
            )
        )
    present = set(clusters.tolist())
    for cluster_id, count in eval_counts.items():
        if cluster_id != NOISE and cluster_id not in present:
            rows.append(ClusterCoverage(int(cluster_id), 0, int(count), 1.0, 0.0))
    return sorted(rows, key=lambda row: (-row.gap_score, row.cluster_id))
