"""Outcomes per region: which production traces failed, and how often each region's traces fail.

A trace's outcome is read from the signals it carries, as the labelling queue reads them
(`label.suggest.succeeded`: metadata `success`, metadata `reward` 1 or more, feedback `score` at
or above the negative_feedback detector's line); a trace carrying none has no outcome and counts
in no rate. A region's failure rate is its failed traces over its traces with an outcome; the
store's rate is the same over every production trace of the run. The sampler weighs a region
that fails more often than the store (mine.sample.failure_weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness_evals.label.suggest import succeeded
from harness_evals.records import ClusterCoverage
from harness_evals.store import Store
from harness_evals.store.traces import outcome_signals


@dataclass(frozen=True)
class Outcomes:
    """The outcome of every production trace, in trace order."""

    known: np.ndarray  # bool: the trace carries an outcome
    failed: np.ndarray  # bool: it failed (False where it carries none)


def read_outcomes(store: Store, trace_ids: Sequence[str], *, negative_feedback_below: float) -> Outcomes:
    """Each trace's outcome, from its three outcome signals only: no trace is read whole."""
    signals = outcome_signals(store)
    verdicts = [succeeded(*signals[trace_id], negative_feedback_below=negative_feedback_below)
                if trace_id in signals else None for trace_id in trace_ids]
    return Outcomes(np.array([verdict is not None for verdict in verdicts], dtype=bool),
                    np.array([verdict is False for verdict in verdicts], dtype=bool))


def count_outcomes(rows: Sequence[ClusterCoverage], labels: np.ndarray, outcomes: Outcomes) -> list[ClusterCoverage]:
    """`rows` (one per region, as score_coverage gives them) with the traces of each that carry an
    outcome and the ones that failed; `labels[i]` is production trace i's region."""
    clusters, members = np.unique(labels, return_inverse=True)
    known = np.bincount(members, weights=outcomes.known.astype(float), minlength=len(clusters))
    failed = np.bincount(members, weights=outcomes.failed.astype(float), minlength=len(clusters))
    counts = {int(cluster_id): (int(known[position]), int(failed[position]))
              for position, cluster_id in enumerate(clusters.tolist())}
    return [replace(row, outcome_count=counts[row.cluster_id][0], failed_count=counts[row.cluster_id][1])
            if row.cluster_id in counts else row for row in rows]


def store_failure_rate(rows: Sequence[ClusterCoverage]) -> tuple[int, int, float | None]:
    """(traces with an outcome, failed, failed / with an outcome or None) over every region's rows."""
    known = sum(row.outcome_count for row in rows)
    failed = sum(row.failed_count for row in rows)
    return known, failed, failed / known if known else None
