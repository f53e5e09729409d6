"""Choose production traces for labelling, within a budget: greedy maximum coverage.

Which traces are covered is the coverage judge's verdict (`CoverageVerdicts`), read as it is.
Two requests are alike when their cosine is at least `alike_similarity` (the pipeline passes the
covered similarity: the cosine at which two requests count as one behaviour). Each pick is the
uncovered trace that is alike to the most uncovered traces that no earlier pick or already
queued trace is alike to: it stands for the largest region of traffic the eval set still misses. Picks thus go to
large uncovered regions first, never twice to one region, then down the tail to small ones,
and a rare request still gets its turn once the larger regions are spoken for. When every
uncovered trace is spoken for and budget is left, the search goes round again with a finer
notion of alike (halfway to 1), until near-duplicates are all that is left.

A request repeated word for word counts once, its weight shared among its copies: it is one
behaviour, and its copies would otherwise outvote a new behaviour phrased many ways. A flagged
copy keeps its whole weight: each failure is evidence of its own. The count of traces a pick
stands for is still traffic.

Traces a silent-failure detector flagged are candidates even where the eval set covers their
request (the eval case may pass while production fails), and count `risk_weight` times as much.
Traces of an emerging region (new or fast-growing since the last run) count `emerging_weight`
times as much: tomorrow's failures start there.

Traces of a region that fails more often than the store (its outcomes, mine.outcomes) count more,
by how much more often it fails at the least (`failure_weights`): its failure rate is taken at the
lower end of its Wilson score interval (one-sided 95%, FAILURE_Z), and its traces weigh that
bound over the store's rate, between 1 and `failure_weight`. The ratio is how many failures a
label there is expected to find against a label anywhere, which is what the weight should say;
the lower bound makes few outcomes earn little, so a small region does not outweigh a large one
on luck (2 failed of 3 is at least 25%, 30 of 60 at least 40%); the cap, no more than a flag's
weight, keeps the eval set's gaps the first aim, since a region's rate is evidence about its
traces, not about each one. Traces in no region (noise) share no behaviour: no such weight.

The alike graph grows with the square of the candidates, so beyond `max_pool` of them a seeded
sample of that many is searched (every flagged and already-queued trace kept), and each pick's
count of traces it stands for is scaled back to the whole.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from scipy import sparse

from harness_evals.mine.outcomes import store_failure_rate
from harness_evals.records import NOISE, Assignments, ClusterCoverage, CoverageVerdicts, QueuePick


MAX_ALIKE = 0.98  # above this, traces are near-duplicates: not worth another label
MAX_POOL = 20_000
RISK_WEIGHT = 3.0
EMERGING_WEIGHT = 2.0
FAILURE_WEIGHT = RISK_WEIGHT  # the most a region's failure rate adds: no more than a flag, which is the trace's own
FAILURE_Z = 1.645  # a region's failure rate is read at the lower end of its one-sided 95% Wilson interval


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
    verdicts: CoverageVerdicts,
    coverage: Sequence[ClusterCoverage],
    *,
    budget: int,
    alike_similarity: float,
    exclude: Collection[str] = (),
    flags: Sequence[Sequence[str]] | None = None,
    risk_weight: float = RISK_WEIGHT,
    emerging: Collection[int] = (),
    emerging_weight: float = EMERGING_WEIGHT,
    failure_weight: float = FAILURE_WEIGHT,
    max_pool: int = MAX_POOL,
    seed: int = 0,
    ruler: str | None = None,
) -> list[QueuePick]:
    """At most `budget` picks, in the order chosen. Traces in `exclude` are never picked.

    `flags[i]` names the detectors that flagged trace i. `ruler` names what the verdicts were judged
    with in each pick's reason ("cosine 0.52, ruler r3"; None: the verdicts' threshold). Each
    region's outcomes are its row's in `coverage` (1 for `failure_weight`: outcomes weigh nothing)."""
    ruler = ruler or (f"cosine {verdicts.threshold:.2f}" if verdicts.threshold is not None else "the judge's verdict")
    flags = flags or [()] * len(trace_ids)
    excluded = np.array([trace_id in exclude for trace_id in trace_ids], dtype=bool)
    flagged = np.array([bool(names) for names in flags], dtype=bool)
    uncovered = ~verdicts.covered | flagged
    pool = np.flatnonzero(uncovered | excluded)  # excluded traces speak for their neighbours
    if budget <= 0 or not pool.size:
        return []
    scale = 1.0
    if pool.size > max_pool:
        keep = excluded[pool] | flagged[pool]
        others = pool[~keep]
        room = min(max(max_pool - int(keep.sum()), 0), others.size)
        scale = others.size / room if room else 1.0
        pool = np.sort(np.concatenate([pool[keep], np.random.default_rng(seed).choice(others, room, replace=False)]))
    pickable = uncovered[pool] & ~excluded[pool]
    in_emerging = np.isin(assignments.labels, list(emerging))
    failing = failure_weights(coverage, failure_weight=failure_weight)
    weight = (np.where(flagged[pool], risk_weight, 1.0 / _copies(vectors[pool]))
              * np.where(in_emerging[pool], emerging_weight, 1.0)
              * np.array([failing.get(int(label), 1.0) for label in assignments.labels[pool]]))
    regions = {row.cluster_id: row for row in coverage}
    failing_reasons = _failing_reasons(coverage, failing)
    picks: list[QueuePick] = []
    chosen = list(np.flatnonzero(excluded[pool]))  # pool positions that speak for their neighbours
    alike = alike_similarity
    while len(picks) < budget:
        graph = alike_graph(vectors[pool], threshold=alike)
        spoken_for = ~uncovered[pool]
        for member in chosen:
            spoken_for[graph.indices[graph.indptr[member] : graph.indptr[member + 1]]] = True
        gain = graph @ np.where(spoken_for, 0.0, weight)  # weight of the unspoken-for candidates alike to each
        while len(picks) < budget:
            scores = np.where(pickable & ~spoken_for, gain, -1.0)
            tied = np.flatnonzero(scores == scores.max())  # copies of one request tie exactly
            best = int(tied[np.argmax(weight[tied])])  # of them, a flagged one: the labeller sees the failure
            if scores[best] <= 0:
                break
            index = int(pool[best])
            newly = graph.indices[graph.indptr[best] : graph.indptr[best + 1]]
            newly = newly[~spoken_for[newly]]
            picks.append(_pick(trace_ids[index], index, round(len(newly) * scale), float(scores[best]), flags[index],
                               assignments, verdicts, regions, alike=alike, first_alike=alike_similarity,
                               ruler=ruler, emerging=bool(in_emerging[index]),
                               failing=failing_reasons.get(int(assignments.labels[index]))))
            chosen.append(best)
            spoken_for[newly] = True
            # each trace alike to a newly spoken-for one now stands for that much less
            gain -= np.asarray(graph[newly].multiply(weight[newly][:, None]).sum(axis=0)).ravel()
        alike = 1 - (1 - alike) / 2  # every candidate is spoken for: look again, finer
        if alike >= MAX_ALIKE:  # finer rounds stop short of copies; the first runs whatever its similarity
            break
    return picks


def _copies(vectors: np.ndarray) -> np.ndarray:
    """How many rows hold exactly each row's vector: the same text, seen that many times."""
    _, inverse, counts = np.unique(vectors, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()].astype(float)


def wilson_lower_bound(failed: int, count: int, *, z: float = FAILURE_Z) -> float:
    """The lower end of the Wilson score interval of the rate `failed` of `count` (0 with none)."""
    if not count:
        return 0.0
    rate, square = failed / count, z * z
    spread = z * math.sqrt(rate * (1 - rate) / count + square / (4 * count * count))
    return max(0.0, (rate + square / (2 * count) - spread) / (1 + square / count))


def failure_weights(coverage: Sequence[ClusterCoverage], *, failure_weight: float = FAILURE_WEIGHT
                    ) -> dict[int, float]:
    """The weight of each region that fails more often than the store, at the least (see the module):
    its failure rate's Wilson lower bound over the store's rate, at most `failure_weight`. Regions
    left out weigh 1: noise, those without outcomes and those not above the store's rate."""
    rate = store_failure_rate(coverage)[2]
    if not rate:
        return {}
    weights = {row.cluster_id: min(wilson_lower_bound(row.failed_count, row.outcome_count) / rate, failure_weight)
               for row in coverage if row.cluster_id != NOISE and row.outcome_count}
    return {cluster_id: weight for cluster_id, weight in weights.items() if weight > 1}


def _failing_reasons(coverage: Sequence[ClusterCoverage], weights: dict[int, float]) -> dict[int, str]:
    rate = store_failure_rate(coverage)[2]
    return {row.cluster_id: f"region fails {row.failed_count} of {row.outcome_count} with an outcome, against "
                            f"{rate:.0%} across the store (its traces weigh {weights[row.cluster_id]:.1f}x)"
            for row in coverage if row.cluster_id in weights}


def _pick(trace_id, index, stands_for, priority, flag_names, assignments, verdicts, regions, *,
          alike, first_alike, ruler, emerging, failing=None) -> QueuePick:
    """The pick with its reason: its verdict (and flags), what it stands for, where it lies."""
    cluster_id = int(assignments.labels[index])
    if cluster_id == NOISE:
        where = f"in no cluster (outlier score {assignments.outlier_scores[index]:.2f})"
    else:
        row = regions[cluster_id]
        where = (f"in cluster {cluster_id} ({row.production_count} traces, {row.eval_count} eval cases, "
                 f"{row.coverage:.0%} covered)")
    stands = (f"stands for {stands_for} trace{'' if stands_for == 1 else 's'} alike at cosine {alike:.2f} that no "
              "eval case covers or a detector flagged")
    if alike != first_alike:
        stands += f" (a finer round: every such trace was spoken for at cosine {first_alike:.2f})"
    parts = [_verdict(verdicts, index, ruler)]
    parts += [f"flagged: {', '.join(flag_names)}"] if flag_names else []
    parts += [stands, where] + (["emerging region"] if emerging else []) + ([failing] if failing else [])
    return QueuePick(trace_id=trace_id, cluster_id=cluster_id, reason="; ".join(parts), priority=round(priority, 4))


def _verdict(verdicts: CoverageVerdicts, index: int, ruler: str) -> str:
    score = verdicts.scores[index]
    if verdicts.covered[index]:  # picked for its flags: the eval case may pass where this trace failed
        case, through = verdicts.covering_case_ids[index], verdicts.covered_through.get(index)
        if through:
            return (f"covered by eval case {case} through trace {through}, which a labeller said it covers, at "
                    f"{score:.2f} ({ruler}), but flagged")
        return f"covered by eval case {case} at {score:.2f} ({ruler}), but flagged" if case else \
            f"covered ({ruler}; score {score:.2f}), but flagged"
    if index in verdicts.uncovered_reasons:
        return f"not covered ({ruler}): {verdicts.uncovered_reasons[index]}"
    if verdicts.threshold is None:
        return f"not covered ({ruler}; score {score:.2f})"
    nearest = verdicts.nearest_case_ids[index] if verdicts.nearest_case_ids else None
    return f"not covered: no eval case within {ruler} (the nearest is {f'{nearest}, ' if nearest else ''}at {score:.2f})"
