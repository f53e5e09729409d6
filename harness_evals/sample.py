"""Choose production traces for labelling, within a budget, from the least covered regions.

The budget is shared out between regions by the D'Hondt rule on their gap scores: a region's
k-th pick is worth gap / k. Outliers in no cluster compete one by one, worth their outlier
score times how far they are from the eval set. Within a region the first pick is its most
typical uncovered trace, and each further pick the uncovered trace least like earlier picks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from harness_evals.records import NOISE, Assignments, ClusterCoverage, QueuePick


def select_for_labelling(
    trace_ids: Sequence[str],
    vectors: np.ndarray,
    assignments: Assignments,
    nearest_similarity: np.ndarray,
    coverage: Sequence[ClusterCoverage],
    *,
    budget: int,
    covered_similarity: float,
    exclude: Collection[str] = (),
) -> list[QueuePick]:
    """At most `budget` picks, highest priority first. Traces in `exclude` are never picked."""
    if budget <= 0:
        return []
    excluded = np.array([trace_id in exclude for trace_id in trace_ids], dtype=bool)
    candidate = (nearest_similarity < covered_similarity) & ~excluded
    offers: list[tuple[float, int, int]] = []  # (priority, cluster, k-th pick of the cluster or index)
    regions = {}
    for row in coverage:
        if row.cluster_id == NOISE or row.gap_score <= 0:
            continue
        members = np.flatnonzero(candidate & (assignments.labels == row.cluster_id))
        if members.size == 0:
            continue
        regions[row.cluster_id] = (row, members)
        for k in range(min(members.size, budget)):
            offers.append((row.gap_score / (k + 1), row.cluster_id, k))
    for index in np.flatnonzero(candidate & (assignments.labels == NOISE)):
        distance_to_evals = 1.0 - max(float(nearest_similarity[index]), 0.0)
        offers.append((float(assignments.outlier_scores[index]) * distance_to_evals, NOISE, int(index)))
    offers.sort(key=lambda offer: (-offer[0], offer[1], offer[2]))
    chosen = offers[:budget]

    picks_per_region: dict[int, list[float]] = {}
    picks = []
    for priority, cluster_id, position in chosen:
        if cluster_id == NOISE:
            picks.append(
                QueuePick(
                    trace_id=trace_ids[position],
                    cluster_id=NOISE,
                    reason=(
                        f"outlier in no cluster (outlier score {assignments.outlier_scores[position]:.2f}); "
                        f"nearest eval case similarity {nearest_similarity[position]:.2f}"
                    ),
                    priority=priority,
                )
            )
        else:
            picks_per_region.setdefault(cluster_id, []).append(priority)
    for cluster_id, priorities in picks_per_region.items():
        row, members = regions[cluster_id]
        region = (
            f"cluster {cluster_id}: {row.production_count} production traces, {row.eval_count} eval cases, "
            f"{row.coverage:.0%} covered"
        )
        for k, index in enumerate(diverse_picks(vectors[members], len(priorities))):
            why = "its most typical uncovered trace" if k == 0 else f"pick {k + 1}, least like the earlier picks"
            picks.append(QueuePick(trace_ids[members[index]], cluster_id, f"{region}; {why}", priorities[k]))
    return sorted(picks, key=lambda pick: (-pick.priority, pick.trace_id))


def diverse_picks(vectors: np.ndarray, count: int) -> list[int]:
    """Row indices: the row nearest the centroid, then farthest-first (max-min cosine distance)."""
    centroid = vectors.mean(axis=0)
    first = int(np.argmax(vectors @ centroid))
    chosen = [first]
    nearest = vectors @ vectors[first]  # similarity of each row to its most similar chosen row
    while len(chosen) < min(count, vectors.shape[0]):
        nearest[chosen] = np.inf
        following = int(np.argmin(nearest))
        chosen.append(following)
        nearest = np.maximum(nearest, vectors @ vectors[following])
    return chosen
