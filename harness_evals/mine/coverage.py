"""How well the eval set covers production traffic: a judge's verdict per trace, then per region.

A `CoverageJudge` says of each production trace whether an eval case covers it, which case, and
with what score; `NearestEvalCase` (the default) says so when the nearest eval case is within a
cosine read off the eval set's own spacing. Everything downstream reads that verdict. What a judge
calibrates from the eval set is kept as the store's ruler (mine.pipeline.keep_ruler) and reused.

COVERAGE_JUDGES holds each judge's factory, called with the mining setting `covered_similarity` as
a keyword (None: the judge calibrates its own). One from outside the package is an entry point in
`harness_evals.coverage_judges`, or `module:function`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from harness_evals.records import NOISE, Calibration, ClusterCoverage, CoverageVerdicts, EmbeddedItems
from harness_evals.registry import Registry

MARGIN = 0.15  # production phrases a behaviour more loosely than the eval set's own phrasings do
BOUNDS = (0.4, 0.7)
FALLBACK = 0.5
STABLE_CASES = 30  # fewer eval cases than this and the median spacing moves with each case added


class CoverageJudge(Protocol):
    """Judges which production traces the eval set covers, with a ruler it calibrates once per store.

    `calibrate` fits what the verdicts read from the eval set (a threshold, say); the pipeline keeps
    that calibration as the store's ruler and hands it back to `judge` run after run, until the eval
    set changes enough to matter or a refit is asked for, so coverage figures stay comparable."""

    @property
    def parameters(self) -> dict[str, Any]:
        """What the verdicts depend on besides the ruler, as JSON, the judge's name among them: a ruler
        is kept per parameters and embedder."""
        ...

    def calibrate(self, traces: EmbeddedItems, evals: EmbeddedItems) -> Calibration:
        """The ruler's values, fitted from the eval set (and the traffic, for a judge that reads it)."""
        ...

    def judge(self, traces: EmbeddedItems, evals: EmbeddedItems, calibration: Calibration) -> CoverageVerdicts:
        """A verdict for every trace of `traces`, in their order, under the kept calibration."""
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
    evals: np.ndarray, *, margin: float = MARGIN, bounds: tuple[float, float] = BOUNDS, fallback: float = FALLBACK
) -> float:
    """The cosine at which an eval case counts as covering a trace, read off the eval set's own spacing.

    Eval sets hold a few phrasings of each behaviour, so an eval case's nearest other case shows
    how close two requests of the same kind are. The median of those similarities, less a
    margin for production's looser phrasing, is the threshold; clipped to `bounds`, and
    `fallback` with fewer than two eval cases.
    """
    spacing = eval_spacing(evals)
    return fallback if spacing is None else float(np.clip(spacing - margin, *bounds))


def eval_spacing(evals: np.ndarray) -> float | None:
    """The median cosine of each eval case to its nearest other case; None with fewer than two."""
    if evals.shape[0] < 2:
        return None
    similarity = evals @ evals.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.median(similarity.max(axis=1)))


@dataclass(frozen=True)
class NearestEvalCase:
    """A trace is covered by its nearest eval case when their cosine is at least `covered_similarity`;
    None: that threshold is calibrated from the eval set's own spacing (`calibrate_covered_similarity`),
    with a warning when it hits a bound or rests on fewer than `stable_cases` eval cases."""

    covered_similarity: float | None = None
    stable_cases: int = STABLE_CASES

    @property
    def parameters(self) -> dict[str, Any]:
        return {"judge": "nearest-eval-case", "covered_similarity": self.covered_similarity}

    def calibrate(self, traces: EmbeddedItems, evals: EmbeddedItems) -> Calibration:
        if self.covered_similarity is not None:
            return Calibration({"threshold": self.covered_similarity}, f"cosine {self.covered_similarity:.2f}")
        threshold = calibrate_covered_similarity(evals.vectors)
        return Calibration({"threshold": threshold}, f"cosine {threshold:.2f}",
                           calibration_warnings(evals.vectors, threshold, stable_cases=self.stable_cases))

    def judge(self, traces: EmbeddedItems, evals: EmbeddedItems, calibration: Calibration) -> CoverageVerdicts:
        positions, similarity = nearest_eval_cases(traces.vectors, evals.vectors)
        nearest = [evals.ids[position] for position in positions.tolist()] if evals.ids else None
        return CoverageVerdicts.at_threshold(similarity, calibration.values["threshold"], nearest)


LINK_SIMILARITY = 0.7  # MiniLM: two requests this alike are phrasings of one behaviour (benchmarks/README)
MIN_STRUCTURE = 3  # phrasings linked among themselves: fewer is a stray phrasing, not a behaviour of its own
COPY_SIMILARITY = 0.95  # two requests this alike are one phrasing (a popular request, repeated), however often seen
MAX_CELL = 4000  # the traces of one case whose links are computed; the rest join their nearest one's group


@dataclass(frozen=True)
class LocalReach:
    """A case's reach is its own behaviour: a trace is covered by its nearest eval case within the
    calibrated cosine (as NearestEvalCase) unless it lies in a structure of the traffic that the case
    does not share. Of the traces a case would cover, those linked to it through a chain of traces at
    cosine `link_similarity` or more are its own; a group of at least `min_structure` phrasings
    linked among themselves but not to the case is another behaviour, however near its wording, and
    stays uncovered. So two cases in a domain of four behaviours cover their own two, not the domain.
    Near-copies (cosine `copy_similarity` or more) are one phrasing: a request repeated is popular,
    not a structure, and a covered figure does not fall because traffic grew.

    Each case's links are computed over at most `max_cell` of its traces (seeded); the others join
    the group of the one they are most alike to, or stand alone below `link_similarity`."""

    covered_similarity: float | None = None
    link_similarity: float = LINK_SIMILARITY
    min_structure: int = MIN_STRUCTURE
    stable_cases: int = STABLE_CASES
    max_cell: int = MAX_CELL
    copy_similarity: float = COPY_SIMILARITY
    seed: int = 0

    @property
    def parameters(self) -> dict[str, Any]:
        return {"judge": "local-reach", "covered_similarity": self.covered_similarity,
                "link_similarity": self.link_similarity, "min_structure": self.min_structure}

    def calibrate(self, traces: EmbeddedItems, evals: EmbeddedItems) -> Calibration:
        calibration = NearestEvalCase(self.covered_similarity, self.stable_cases).calibrate(traces, evals)
        return Calibration(calibration.values, f"{calibration.label}, reach linked at {self.link_similarity:.2f}",
                           calibration.warnings)

    def judge(self, traces: EmbeddedItems, evals: EmbeddedItems, calibration: Calibration) -> CoverageVerdicts:
        threshold, link = calibration.values["threshold"], self.link_similarity
        positions, similarity = nearest_eval_cases(traces.vectors, evals.vectors)
        covered = similarity >= threshold
        within = np.flatnonzero(covered)
        order = within[np.argsort(positions[within], kind="stable")]
        cases, starts = np.unique(positions[order], return_index=True)
        reasons: dict[int, str] = {}
        rng = np.random.default_rng(self.seed)
        cells = np.split(order, starts[1:]) if cases.size else []  # split of nothing is one empty piece
        for case, cell in zip(cases.tolist(), cells, strict=True):
            sizes = self._groups_apart(evals.vectors[case], traces.vectors[cell], link, rng)
            for position, size in zip(cell[sizes > 0].tolist(), sizes[sizes > 0].tolist(), strict=True):
                covered[position] = False
                phrasings = f"{size} phrasing{'' if size == 1 else 's'}"
                reasons[position] = (f"the nearest eval case {evals.ids[case]} is at {similarity[position]:.2f}, "
                                     f"but this trace is one of {phrasings} linked at cosine {link:.2f} "
                                     "that the case is not linked to: a behaviour of their own")
        nearest = [evals.ids[position] for position in positions.tolist()] if evals.ids else []
        ids = [case_id if hit else None for case_id, hit in zip(nearest or [None] * len(covered), covered.tolist(),
                                                                strict=True)]
        return CoverageVerdicts(covered, ids, similarity, threshold, reasons, nearest)

    def _groups_apart(self, case: np.ndarray, cell: np.ndarray, link: float, rng: np.random.Generator
                      ) -> np.ndarray:
        """Per trace of the case's cell, the phrasings of its group when that group is another
        behaviour (at least `min_structure` phrasings not linked to the case), else 0."""
        linked = np.arange(cell.shape[0])
        if cell.shape[0] > self.max_cell:
            linked = np.sort(rng.choice(cell.shape[0], self.max_cell, replace=False))
        nodes = np.vstack([case[None, :], cell[linked]])
        among = nodes @ nodes.T
        _, group = connected_components(sparse.csr_matrix(among >= link), directed=False)
        _, phrasing = connected_components(sparse.csr_matrix(among >= self.copy_similarity), directed=False)
        of_trace = np.full(cell.shape[0], -1)
        of_trace[linked] = group[1:]
        rest = np.setdiff1d(np.arange(cell.shape[0]), linked)
        nearest, similarity = nearest_eval_cases(cell[rest], nodes[1:])  # each other trace's most alike linked one
        reached = similarity >= link
        of_trace[rest[reached]] = group[1:][nearest[reached]]
        # a group's phrasings: its distinct near-copy components among the linked traces
        pairs = np.unique(np.stack([group[1:], phrasing[1:]], axis=1), axis=0)
        phrasings = np.bincount(pairs[:, 0], minlength=group.max() + 1)
        apart = (of_trace >= 0) & (of_trace != group[0])
        sizes = np.where(apart, phrasings[np.maximum(of_trace, 0)], 0)
        return np.where(sizes >= self.min_structure, sizes, 0)


def with_labelled_reach(evals: EmbeddedItems, traces: EmbeddedItems, evidence: list[tuple[str, str]]
                        ) -> tuple[EmbeddedItems, list[str]]:
    """The eval cases a judge reads, with what labellers said of their reach: each trace a labeller
    said case X already covers stands in for X (its request's vector, under X's id), so X reaches
    what is alike to that trace as it reaches what is alike to itself, and no further. Evidence for
    a case no longer in the eval set is dropped. Returns the cases and the stand-in traces' ids, in order."""
    cases, positions = set(evals.ids), {trace_id: position for position, trace_id in enumerate(traces.ids)}
    kept = [(trace_id, case_id) for trace_id, case_id in evidence if case_id in cases and trace_id in positions]
    if not kept:
        return evals, []
    rows = [positions[trace_id] for trace_id, _ in kept]
    return EmbeddedItems(evals.ids + [case_id for _, case_id in kept], evals.texts + [traces.texts[r] for r in rows],
                         np.vstack([evals.vectors, traces.vectors[rows]])), [trace_id for trace_id, _ in kept]


def through_labelled_reach(verdicts: CoverageVerdicts, traces: EmbeddedItems, evals: EmbeddedItems,
                           stand_ins: list[str]) -> CoverageVerdicts:
    """`verdicts` with `covered_through` said: of the traces covered by a case with stand-ins
    (`evals` as with_labelled_reach made them), those nearer a stand-in than any eval case's own
    request, by that stand-in's trace id."""
    if not stand_ins:
        return verdicts
    own = len(evals.ids) - len(stand_ins)
    vouched = set(evals.ids[own:])
    # a covering case is its trace's nearest eval case, so the nearest row says which stood in for it
    indices = np.array([i for i, case_id in enumerate(verdicts.covering_case_ids) if case_id in vouched], dtype=int)
    nearest, _ = nearest_eval_cases(traces.vectors[indices], evals.vectors)
    return replace(verdicts, covered_through={
        int(index): stand_ins[row - own] for index, row in zip(indices, nearest.tolist())
        if row >= own and evals.ids[row] == verdicts.covering_case_ids[index]})


def calibration_warnings(evals: np.ndarray, threshold: float, *, stable_cases: int) -> tuple[str, ...]:
    """What a calibrated threshold does not say by itself: that it hit a bound, or rests on few cases."""
    fix = "set [mine] covered_similarity (or --covered-similarity) to the cosine at which two requests are one behaviour"
    spacing = eval_spacing(evals)
    if spacing is None:
        return (f"with fewer than two eval cases the covered similarity is the fallback {FALLBACK:.2f}: "
                f"add eval cases, or {fix}",)
    warnings = []
    low, high = BOUNDS
    if threshold <= low:
        warnings.append(f"the covered similarity sits at its floor {low:.2f} (the eval cases' median cosine to "
                        f"their nearest other case is {spacing:.2f}): they are far apart, so each covers little "
                        f"that is near it; add phrasings of each behaviour to the eval set, or {fix}")
    elif threshold >= high:
        warnings.append(f"the covered similarity sits at its cap {high:.2f} (the eval cases' median cosine to "
                        f"their nearest other case is {spacing:.2f}): they are near copies of each other; {fix}")
    if evals.shape[0] < stable_cases:
        warnings.append(f"calibrated on {evals.shape[0]} eval cases, too few for a stable covered similarity "
                        f"(at least {stable_cases} wanted): add eval cases, or {fix}")
    return tuple(warnings)


CoverageJudgeFactory = Callable[..., CoverageJudge]
COVERAGE_JUDGES: Registry[CoverageJudgeFactory] = Registry(
    "coverage judge", "harness_evals.coverage_judges",
    {"nearest-eval-case": NearestEvalCase, "local-reach": LocalReach})


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
