"""Choose production traces for labelling, within a budget: greedy maximum coverage.

Two requests are alike when their cosine is at least the covered similarity, the same
threshold at which an eval case covers a trace. Each pick is the uncovered trace that is alike
to the most uncovered traces that no eval case, earlier pick, or already queued trace is alike
to: it stands for the largest region of traffic the eval set still misses. Picks thus go to
large uncovered regions first, never twice to one region, then down the tail to small ones,
and a rare request still gets its turn once the larger regions are spoken for. Mining stops
early when every uncovered trace is spoken for: a near-duplicate is not worth a label.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from scipy import sparse

from harness_evals.records import NOISE, Assignments, ClusterCoverage, QueuePick


def alike_graph(vectors: np.ndarray, *, threshold: float, chunk: int = 2048) -> sparse.csr_matrix:
    """Symmetric boolean graph of pairs with cosine >= threshold (each row includes itself)."""
    rows = []
    for start in range(0, vectors.shape[0], chunk):
        rows.append(sparse.csr_matrix(vectors[start : start + chunk] @ vectors.T >= threshold))
    return sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, 0), dtype=bool)


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
    """At most `budget` picks, in the order chosen. Traces in `exclude` are never picked."""
    excluded = np.array([trace_id in exclude for trace_id in trace_ids], dtype=bool)
    uncovered = nearest_similarity < covered_similarity
    pool = np.flatnonzero(uncovered | excluded)  # excluded traces speak for their neighbours
    if budget <= 0 or not pool.size:
        return []
    graph = alike_graph(vectors[pool], threshold=covered_similarity)
    spoken_for = ~uncovered[pool]
    for member in np.flatnonzero(excluded[pool]):
        spoken_for[graph.indices[graph.indptr[member] : graph.indptr[member + 1]]] = True
    pickable = uncovered[pool] & ~excluded[pool]
    gain = graph @ (~spoken_for).astype(np.int64)  # uncovered, unspoken-for traces alike to each

    regions = {row.cluster_id: row for row in coverage}
    picks = []
    while len(picks) < budget:
        scores = np.where(pickable & ~spoken_for, gain, -1)
        best = int(np.argmax(scores))
        if scores[best] <= 0:
            break
        index = int(pool[best])
        picks.append(_pick(trace_ids[index], index, int(scores[best]), assignments, nearest_similarity,
                           regions, covered_similarity))
        newly = graph.indices[graph.indptr[best] : graph.indptr[best + 1]]
        newly = newly[~spoken_for[newly]]
        spoken_for[newly] = True
        # each trace that stood alike to a newly spoken-for trace now stands for one fewer
        gain -= np.asarray(graph[newly].sum(axis=0)).ravel().astype(np.int64)
    return picks


def _pick(trace_id, index, stands_for, assignments, nearest_similarity, regions, threshold) -> QueuePick:
    cluster_id = int(assignments.labels[index])
    if cluster_id == NOISE:
        where = f"in no cluster (outlier score {assignments.outlier_scores[index]:.2f})"
    else:
        row = regions[cluster_id]
        where = (f"in cluster {cluster_id} ({row.production_count} traces, {row.eval_count} eval cases, "
                 f"{row.coverage:.0%} covered)")
    return QueuePick(
        trace_id=trace_id,
        cluster_id=cluster_id,
        reason=(f"stands for {stands_for} uncovered traces with no eval case within cosine {threshold:.2f} "
                f"(nearest {nearest_similarity[index]:.2f}); {where}"),
        priority=float(stands_for),
    )
