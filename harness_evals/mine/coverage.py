"""How well the eval set covers production traffic: a judge's verdict per trace, then per region.

A `CoverageJudge` says of each production trace whether an eval case covers it, which case, and
with what score; `NearestEvalCase` (the default) says so when the nearest eval case is within a
cosine read off the eval set's own spacing. Everything downstream reads that verdict.

COVERAGE_JUDGES holds each judge's factory, called with the mining setting `covered_similarity` as
a keyword (None: the judge calibrates its own). One from outside the package is an entry point in
`harness_evals.coverage_judges`, or `module:function`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness_evals.records import NOISE, ClusterCoverage, CoverageVerdicts, EmbeddedItems
from harness_evals.registry import Registry


class CoverageJudge(Protocol):
    """Judges which production traces the eval set covers."""

    def judge(self, traces: EmbeddedItems, evals: EmbeddedItems) -> CoverageVerdicts:
        """A verdict for every trace of `traces`, in their order."""
        ...


def nearest_eval_cases(production: np.ndarray, evals: np.ndarray, *, chunk: int = 4096
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per production vector, the position of its nearest eval case and their cosine similarity
    (-1, at position -1, with no eval set).

    Vectors are unit length, so a dot product is the cosine. Chunked to bound memory.
    """
    if evals.shape[0] == 0:
        return np.full(production.shape[0], -1), np.full(production.shape[0], -1.0, dtype=np.float32)
    positions = np.empty(production.shape[0], dtype=np.int64)
    similarity = np.empty(production.shape[0], dtype=np.float32)
    for start in range(0, production.shape[0], chunk):
        cosines = production[start : start + chunk] @ evals.T
        positions[start : start + chunk] = cosines.argmax(axis=1)
        similarity[start : start + chunk] = np.take_along_axis(
            cosines, positions[start : start + chunk, None], axis=1)[:, 0]
    return positions, similarity


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


@dataclass(frozen=True)
class NearestEvalCase:
    """A trace is covered by its nearest eval case when their cosine is at least `covered_similarity`;
    None: that threshold is calibrated from the eval set's own spacing (`calibrate_covered_similarity`)."""

    covered_similarity: float | None = None

    def judge(self, traces: EmbeddedItems, evals: EmbeddedItems) -> CoverageVerdicts:
        threshold = (self.covered_similarity if self.covered_similarity is not None
                     else calibrate_covered_similarity(evals.vectors))
        positions, similarity = nearest_eval_cases(traces.vectors, evals.vectors)
        nearest = [evals.ids[position] for position in positions.tolist()] if evals.ids else None
        return CoverageVerdicts.at_threshold(similarity, threshold, nearest)


CoverageJudgeFactory = Callable[..., CoverageJudge]
COVERAGE_JUDGES: Registry[CoverageJudgeFactory] = Registry(
    "coverage judge", "harness_evals.coverage_judges", {"nearest-eval-case": NearestEvalCase})


def score_coverage(
    production_labels: np.ndarray,
    eval_labels: np.ndarray,
    covered: np.ndarray,
    *,
    flagged: np.ndarray | None = None,
) -> list[ClusterCoverage]:
    """Per cluster (noise included as NOISE): counts, coverage and gap, largest gap first.

    `covered[i]`: the judge's verdict on production trace i. A cluster's coverage is the share of
    its traces that are covered; its gap is the uncovered traffic, production_count * (1 - coverage).
    """
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
