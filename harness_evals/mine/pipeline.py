"""`mine`: one recorded run, one named stage after another, then one write of what it found.

read the traffic → prepare each trace's text, flags and calls → embed → find regions (cluster, or
place into the last fit) → judge coverage → check the paths of covered traces → coverage per region
→ sample for labelling → persist.

Each stage is a plain function over the typed records of the stages before it, and returns only
what later stages read: at a million traces, whole records and caches are let go as soon as their
stage is over. Two seams take objects: the `Clusterer` (cluster.py, PCA + HDBSCAN by default) and
the `CoverageJudge` (coverage.py, the nearest eval case within a calibrated cosine by default).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from harness_evals.mine.behaviour import PATH_DIFFERS, path_difference, tool_paths
from harness_evals.mine.cluster import CLUSTERERS, Clusterer, map_coordinates
from harness_evals.config import MineSettings
from harness_evals.mine.coverage import (
    COVERAGE_JUDGES, CoverageJudge, calibrate_covered_similarity, score_coverage, through_labelled_reach,
    with_labelled_reach,
)
from harness_evals.mine.embed import Embedder, embed_pending, get_embedder, load_vectors
from harness_evals.errors import UserError
from harness_evals.label.queue import already_queued, enqueue
from harness_evals.mine.identity import Lineage, is_emerging
from harness_evals.mine.outcomes import Outcomes, count_outcomes, read_outcomes, store_failure_rate
from harness_evals.prompts.assembly import PromptContract
from harness_evals.records import (
    EMITTED_SOURCE, NOISE, ClusterCoverage, CoverageVerdicts, EmbeddedItems, MapChunks, QueuePick, Ruler,
)
from harness_evals.mine.regions import Regions, find_regions, latest_mine_run, save_fit
from harness_evals.redact import Placeholders, RedactionRules, Redactor
from harness_evals.mine.sample import FAILURE_WEIGHT, RISK_WEIGHT, select_for_labelling
from harness_evals.mine.signals import DetectorSettings, TraceRecord, agent_tools, detect
from harness_evals.prompts.snapshots import check
from harness_evals.store import RunRecord, Store
from harness_evals.store.clusters import flags_of_run, production_clusters
from harness_evals.store.embeddings import forget_view_texts_but, kept_tools, kept_view_texts, traces_with_kept_tools
from harness_evals.store.queue import labelled_reach
from harness_evals.store.rulers import next_ruler_id, ruler_in_use
from harness_evals.store.traces import eval_expectations, eval_requests, production_requests, whole_traces
from harness_evals.mine.views import EVAL_VIEWS, REQUEST_VIEW, VIEWS, TraceText, shared_lines, without_lines


class MineError(UserError):
    """Mining cannot start; the message says what to do first."""


DEFAULTS = MineSettings()  # the settings model holds the defaults, for the CLI, the flow and callers of mine() alike


@dataclass(frozen=True)
class MineReport:
    run_id: str
    traces: int
    eval_cases: int
    embedded: int
    cached: int
    coverage: list[ClusterCoverage]
    picks: list[QueuePick]
    covered_similarity: float  # what the sampler took as alike: the ruler's threshold, where it draws one
    ruler: Ruler
    mode: str = "full"  # full: clusters fitted afresh; incremental: new traces placed into the last fit
    mode_reason: str = ""
    new_traces: int = 0  # production traces the previous run of this view had not seen
    lineage: list[Lineage] = field(default_factory=list)
    emerging: list[int] = field(default_factory=list)
    risk_covered_traffic: float = 0.0  # covered traffic with flagged traces weighing RISK_WEIGHT

    @property
    def clusters(self) -> int:
        return sum(1 for row in self.coverage if row.cluster_id != NOISE and row.production_count)

    @property
    def noise(self) -> int:
        return sum(row.production_count for row in self.coverage if row.cluster_id == NOISE)

    @property
    def covered_traffic(self) -> float:
        """Share of production traces with an eval case nearby."""
        uncovered = sum(row.gap_score for row in self.coverage)
        return 1.0 - uncovered / self.traces if self.traces else 0.0

    @property
    def outcomes(self) -> tuple[int, int, float | None]:
        """(traces with an outcome, failed, the store's failure rate or None: mine.outcomes)."""
        return store_failure_rate(self.coverage)


@dataclass(frozen=True)
class Traffic:
    """What a run mines: every production trace (by id, in id order), every eval case, and the
    template lines the request view takes out of every request. Coverage is judged on requests, in
    the REQUEST_VIEW, whatever the run's view; eval cases are clustered with the traces only in a
    view they have text for (EVAL_VIEWS)."""

    view: str
    trace_ids: list[str]
    case_ids: list[str]
    case_requests: list[str]
    template: frozenset[str]
    case_emitted: list[bool]  # made by `emit` from a label, not written by the team

    @property
    def clustered_case_ids(self) -> list[str]:
        return self.case_ids if self.view in EVAL_VIEWS else []

    @property
    def items(self) -> list[tuple[str, str]]:
        return ([("production", trace_id) for trace_id in self.trace_ids]
                + [("eval", case_id) for case_id in self.clustered_case_ids])


@dataclass(frozen=True)
class ViewTexts:
    """The text each trace and eval case is embedded by in one view, of its redacted request."""

    view: str
    traces: list[str]  # in trace order
    cases: list[str]  # none in a view eval cases have no text for
    fresh: dict[str, str]  # trace id -> text, for the traces redacted tonight (to keep in view_texts)
    settings_key: str  # of the redaction rules and template lines the texts were made under


@dataclass(frozen=True)
class Flags:
    """What the silent-failure detectors (and the prompt contract) found, per trace in trace order."""

    found: list[list[tuple[str, str]]]  # (detector, reason), in detector order
    examined: list[str]  # the traces examined tonight; the others' flags are carried from the last run
    settings: dict[str, Any]  # the detector settings and prompt contract, as the run records them

    @cached_property
    def flagged(self) -> np.ndarray:
        return np.array([bool(found) for found in self.found], dtype=bool)


@dataclass(frozen=True)
class Prepared:
    texts: ViewTexts  # in the run's view
    requests: ViewTexts  # in the REQUEST_VIEW, where coverage is judged (the same as `texts` there)
    flags: Flags
    tools: dict[str, tuple[str, ...]]  # the agent's calls of each trace read whole tonight (signals.agent_tools)


@dataclass(frozen=True)
class Embedded:
    traces: EmbeddedItems  # in the run's view
    vectors: np.ndarray  # the traces' vectors, then the clustered eval cases': what clustering and the map read
    judged_traces: EmbeddedItems  # in the REQUEST_VIEW
    judged_evals: EmbeddedItems
    embedded: int  # texts embedded tonight
    cached: int  # texts whose vector was stored already


@dataclass(frozen=True)
class RegionCoverage:
    """Coverage per region (largest gap first), and which regions are emerging."""

    rows: list[ClusterCoverage]
    lineage: list[tuple[Lineage, bool]]  # each region's lineage, and whether it is emerging
    emerging: set[int]


def mine(
    store: Store,
    *,
    budget: int,
    embedder: str | Embedder = DEFAULTS.embedder,
    view: str = DEFAULTS.view,
    min_cluster_size: int = DEFAULTS.min_cluster_size,
    dimensions: int = DEFAULTS.dimensions,
    covered_similarity: float | None = DEFAULTS.covered_similarity,
    seed: int = DEFAULTS.seed,
    detectors: DetectorSettings | None = None,
    redaction: RedactionRules | None = None,
    full: bool = False,
    prompt_contract: PromptContract | None = None,
    progress: Callable[[int, int], None] | None = None,
    map_chunks: MapChunks = map,
    clusterer: str | Clusterer = DEFAULTS.clusterer,
    coverage_judge: str | CoverageJudge = DEFAULTS.coverage_judge,
    ruler_refit_share: float = DEFAULTS.ruler_refit_share,
    refit_ruler: bool = False,
    failure_weight: float = FAILURE_WEIGHT,
) -> MineReport:
    """One mining run over everything in the store; `progress(done, total)` follows the embedding.
    Encoding and placing into clusters run their chunks through `map_chunks` (records.MapChunks).

    Texts are redacted (`redaction` rules) before they are embedded: no secret or personal data
    reaches the embedding cache. A trace whose assembled prompt breaks `prompt_contract` is
    flagged `prompt_contract`, like a silent failure.

    `clusterer` and `coverage_judge` are parts, or their names in cluster.CLUSTERERS and
    coverage.COVERAGE_JUDGES, whose factories are given the settings they may use. By default
    PCA to `dimensions` and HDBSCAN at `min_cluster_size` (cluster.PcaHdbscan). Clusters are fitted
    afresh when `full`, or when `find_regions` finds the last fit stale; otherwise new traces are
    placed into the last fit's clusters. Cluster ids are stable across runs either way. By default a
    trace is covered by an eval case within cosine `covered_similarity` (coverage.NearestEvalCase;
    None: calibrated from the eval set's own spacing). What the judge calibrates is the store's ruler,
    kept and reused (`keep_ruler`) until `refit_ruler`, or until `ruler_refit_share` of the eval set
    has changed. Coverage is judged on requests (the REQUEST_VIEW), whatever `view` groups the
    traffic by. The labelling search starts from the judge's threshold as its notion of alike, and
    weighs a region that fails more often than the store up to `failure_weight` times (sample.py).
    """
    if budget < 0:
        raise MineError(f"--budget must be 0 or more, got {budget}")
    VIEWS.get(view)  # unknown names are named before a model is loaded or anything is read
    if isinstance(clusterer, str):
        clusterer = CLUSTERERS.get(clusterer)(min_cluster_size=min_cluster_size, dimensions=dimensions, seed=seed)
    if isinstance(coverage_judge, str):
        coverage_judge = COVERAGE_JUDGES.get(coverage_judge)(covered_similarity=covered_similarity)
    model = get_embedder(embedder) if isinstance(embedder, str) else embedder
    redaction = redaction or RedactionRules()
    detectors = detectors or DetectorSettings()

    traffic = read_traffic(store, view=view)
    prepared = prepare(store, traffic, redaction=redaction, detectors=detectors, prompt_contract=prompt_contract)
    outcomes = read_outcomes(store, traffic.trace_ids, negative_feedback_below=detectors.negative_feedback_below)
    params = _run_params(budget=budget, embedder=model.name, view=view, covered_similarity=covered_similarity,
                         seed=seed, redaction=redaction, flag_settings=prepared.flags.settings, clusterer=clusterer)
    with store.run("mine", params) as run:
        embedded = embed(store, traffic, prepared, model=model, run_id=run.run_id, progress=progress,
                         map_chunks=map_chunks)
        regions = find_regions(store, embedded.vectors, traffic.items, clusterer=clusterer, embedder=model.name,
                               view=view, full=full, map_chunks=map_chunks)
        ruler = keep_ruler(store, coverage_judge, embedded.judged_traces, calibrating(embedded.judged_evals, traffic),
                           inputs=team_cases(traffic), embedder=model.name, refit=refit_ruler,
                           refit_share=ruler_refit_share)
        verdicts = judge_coverage(store, coverage_judge, embedded, ruler)
        prepared = replace(prepared, flags=flag_differing_paths(store, traffic, prepared, verdicts))
        alike_similarity = (verdicts.threshold if verdicts.threshold is not None
                            else calibrate_covered_similarity(embedded.judged_evals.vectors))
        coverage = region_coverage(regions, verdicts, prepared.flags, outcomes, min_fresh=clusterer.min_cluster_size)
        picks = select_for_labelling(
            traffic.trace_ids, embedded.traces.vectors, regions.assignments.take(slice(len(traffic.trace_ids))),
            verdicts, coverage.rows, budget=budget, alike_similarity=alike_similarity,
            exclude=already_queued(store), flags=[[name for name, _ in found] for found in prepared.flags.found],
            emerging=coverage.emerging, seed=seed, ruler=ruler.name, failure_weight=failure_weight,
        )
        report = MineReport(
            run_id=run.run_id, traces=len(traffic.trace_ids), eval_cases=len(traffic.case_ids),
            embedded=embedded.embedded, cached=embedded.cached, coverage=coverage.rows, picks=picks,
            covered_similarity=alike_similarity, ruler=ruler, mode=regions.mode, mode_reason=regions.reason,
            new_traces=regions.new_traces, lineage=[row for row, _ in coverage.lineage],
            emerging=sorted(coverage.emerging),
            risk_covered_traffic=_risk_covered_traffic(verdicts, prepared.flags),
        )
        run.summary = _summary(report, flagged=int(prepared.flags.flagged.sum()))
        persist(store, run, traffic, prepared, regions, ruler, verdicts, coverage, picks,
                coordinates=map_coordinates(embedded.vectors, seed=seed))
    return report


def read_traffic(store: Store, *, view: str) -> Traffic:
    """The trace ids and eval cases to mine; a MineError when there is no production traffic."""
    requests = production_requests(store)
    if not requests:
        raise MineError("no production traces in the store: run `harness-evals ingest PATH --kind production` first")
    cases = eval_requests(store, emitted_source=EMITTED_SOURCE)
    template = shared_lines([request for _, request in requests])
    return Traffic(view, [trace_id for trace_id, _ in requests], [case_id for case_id, _, _ in cases],
                   [request for _, request, _ in cases], template, [emitted for _, _, emitted in cases])


def prepare(store: Store, traffic: Traffic, *, redaction: RedactionRules, detectors: DetectorSettings,
            prompt_contract: PromptContract | None) -> Prepared:
    """Each trace's view text, flags and calls. What an earlier run derived from an unchanged trace
    under the same settings is reused: only traces it has not seen are read whole (once, for all
    three), redacted and run through the detectors, and their calls kept (`trace_tools`)."""
    redactor = Redactor(redaction)
    views = list(dict.fromkeys([traffic.view, REQUEST_VIEW]))
    keys = {view: _view_settings_key(redaction, _template_of(traffic, view)) for view in views}
    known = {view: kept_view_texts(store, view=view, settings_key=keys[view]) for view in views}
    flag_settings = {"detectors": detectors.model_dump(mode="json"),
                     "prompt_contract": prompt_contract.model_dump(mode="json") if prompt_contract else None}
    examined, known_flags = _earlier_flags(store, flag_settings, order=[*detectors.enabled, "prompt_contract"])
    with_tools = traces_with_kept_tools(store)
    records = _records(store, [t for t in traffic.trace_ids if t not in examined or t not in with_tools
                               or any(t not in known[view] for view in views)])
    texts = {view: view_texts(traffic, view, [r for r in records if r.trace_id not in known[view]], known[view],
                              redactor=redactor, settings_key=keys[view]) for view in views}
    flags = detect_flags(store, traffic, [r for r in records if r.trace_id not in examined], known_flags,
                         detectors=detectors, prompt_contract=prompt_contract, settings=flag_settings)
    return Prepared(texts[traffic.view], texts[REQUEST_VIEW], flags,
                    {record.trace_id: agent_tools(record.steps) for record in records})


def _template_of(traffic: Traffic, view: str) -> frozenset[str]:
    """The template lines taken out of each request: in the request view only (the others keep the
    request whole, as they always have)."""
    return traffic.template if view == REQUEST_VIEW else frozenset()


def view_texts(traffic: Traffic, view: str, unseen: list[TraceRecord], known: dict[str, str], *,
               redactor: Redactor, settings_key: str) -> ViewTexts:
    """The `view` text of every trace (`known` ones as kept, `unseen` ones redacted now) and, in a
    view eval cases have text for, of every eval case."""
    to_view, template = VIEWS.get(view), _template_of(traffic, view)
    fresh = {record.trace_id: to_view(redacted_text(record, redactor, template)) for record in unseen}
    return ViewTexts(
        view=view,
        traces=[known[t] if t in known else fresh[t] for t in traffic.trace_ids],
        cases=[to_view(TraceText(redactor.redact(without_lines(request, template))))
               for request in traffic.case_requests] if view in EVAL_VIEWS else [],
        fresh=fresh, settings_key=settings_key,
    )


def redacted_text(record: TraceRecord, redactor: Redactor, template: frozenset[str]) -> TraceText:
    """The request without its template lines, redacted. Steps stay as they are: views read only
    their names, argument names and error markers."""
    placeholders = Placeholders()
    return TraceText(redactor.redact(without_lines(record.input, template), placeholders),
                     redactor.redact(record.output, placeholders), record.steps)


def detect_flags(store: Store, traffic: Traffic, unseen: list[TraceRecord], known: dict[str, list[tuple[str, str]]],
                 *, detectors: DetectorSettings, prompt_contract: PromptContract | None, settings: dict[str, Any]
                 ) -> Flags:
    """Every trace's flags: the detectors (and the prompt contract) run on the `unseen` traces; the
    others keep the flags `known` from the last run with these settings."""
    fresh = {record.trace_id: detect(record, detectors) for record in unseen}
    if prompt_contract is not None and fresh:
        broken: dict[str, list[str]] = {}
        for violation in check(store, prompt_contract, steps={r.trace_id: r.steps for r in unseen}):
            if violation.trace_id in fresh:
                broken.setdefault(violation.trace_id, []).append(violation.problem)
        for trace_id, problems in broken.items():
            fresh[trace_id].append(("prompt_contract", "; ".join(problems)))
    return Flags([fresh[t] if t in fresh else known.get(t, []) for t in traffic.trace_ids], list(fresh), settings)


def flag_differing_paths(store: Store, traffic: Traffic, prepared: Prepared, verdicts: CoverageVerdicts) -> Flags:
    """The flags with `path_differs` added to each trace whose covering eval case states tools
    (mine.behaviour) that its trajectory does not keep to. Checked afresh every run, since it
    depends on the eval set and the verdicts: an earlier run's are never carried over
    (`_earlier_flags`). The calls are those read tonight, or kept by the run that first read the trace."""
    paths = tool_paths(eval_expectations(store))
    judged = [(position, case_id) for position, case_id in enumerate(verdicts.covering_case_ids) if case_id in paths]
    if not judged:
        return prepared.flags
    called = prepared.tools | kept_tools(store, [traffic.trace_ids[position] for position, _ in judged
                                                 if traffic.trace_ids[position] not in prepared.tools])
    found = list(prepared.flags.found)
    for position, case_id in judged:
        reason = path_difference(case_id, paths[case_id], called[traffic.trace_ids[position]])
        if reason is not None:
            found[position] = [*found[position], (PATH_DIFFERS, reason)]
    return replace(prepared.flags, found=found)


def embed(store: Store, traffic: Traffic, prepared: Prepared, *, model: Embedder, run_id: str,
          progress: Callable[[int, int], None] | None, map_chunks: MapChunks) -> Embedded:
    """Vectors of every trace and eval case, in the run's view and in the request view: texts not in
    the cache are embedded and stored first."""
    count, embedded, cached = len(traffic.trace_ids), 0, 0
    loaded = {}
    for texts in [prepared.texts] if prepared.texts is prepared.requests else [prepared.texts, prepared.requests]:
        everything = texts.traces + texts.cases
        counts = embed_pending(store, model, everything, view=texts.view, run_id=run_id, progress=progress,
                               map_chunks=map_chunks)
        embedded, cached = embedded + counts.embedded, cached + counts.cached
        loaded[texts.view] = load_vectors(store, everything, model=model.name, view=texts.view)
    vectors, requests = loaded[prepared.texts.view], loaded[prepared.requests.view]
    return Embedded(EmbeddedItems(traffic.trace_ids, prepared.texts.traces, vectors[:count]), vectors,
                    EmbeddedItems(traffic.trace_ids, prepared.requests.traces, requests[:count]),
                    EmbeddedItems(traffic.case_ids, prepared.requests.cases, requests[count:]),
                    embedded, cached)


def judge_coverage(store: Store, judge: CoverageJudge, embedded: Embedded, ruler: Ruler) -> CoverageVerdicts:
    """The judge's verdict on every trace under the kept ruler, with the eval cases' reach that
    labellers vouched for (coverage.with_labelled_reach): a trace labelled `covered_by` a case
    carries that case to the traffic alike to it."""
    evals, stand_ins = with_labelled_reach(embedded.judged_evals, embedded.judged_traces, labelled_reach(store))
    verdicts = judge.judge(embedded.judged_traces, evals, ruler.calibration)
    return through_labelled_reach(verdicts, embedded.judged_traces, evals, stand_ins)


def calibrating(evals: EmbeddedItems, traffic: Traffic) -> EmbeddedItems:
    """The eval cases a ruler is fitted on: those the team wrote, not those `emit` made from labels
    (one phrasing each, they would read as far apart and drag a spacing-based threshold to its
    floor); all of them when the team wrote none."""
    keep = [position for position, emitted in enumerate(traffic.case_emitted) if not emitted]
    if not keep or len(keep) == len(evals.ids):
        return evals
    return EmbeddedItems([evals.ids[p] for p in keep], [evals.texts[p] for p in keep], evals.vectors[keep])


def team_cases(traffic: Traffic) -> tuple[str, ...]:
    """What a ruler records of the eval set it was fitted on, to tell later whether the set changed:
    a digest of each case the team wrote (its id and request as stored, not as a view renders it:
    new traffic or new redaction rules change view texts, not the eval set). Cases `emit` made from
    labels never count: each night's emit would refit the ruler."""
    return tuple(sorted(_case_digest(case_id, request) for case_id, request, emitted in zip(
        traffic.case_ids, traffic.case_requests, traffic.case_emitted, strict=True) if not emitted))


def keep_ruler(store: Store, judge: CoverageJudge, traces: EmbeddedItems, evals: EmbeddedItems, *,
               inputs: tuple[str, ...], embedder: str, refit: bool, refit_share: float) -> Ruler:
    """The store's ruler for this judge and embedder: the one in use, unless a refit is asked for or
    at least `refit_share` of the eval set it was fitted on has changed (cases added, removed or
    reworded, `inputs` against the kept ones); then the judge calibrates a new one, which the run
    stores with its reason. A calibration that comes out as the kept one's (a fixed threshold) is
    no refit: the kept ruler stands."""
    key = {**judge.parameters, "embedder": embedder}
    kept = ruler_in_use(store, key)
    reason = _refit_reason(kept, inputs, refit=refit, refit_share=refit_share)
    if reason is None:
        return kept
    calibration = judge.calibrate(traces, evals)
    if kept is not None and not refit and calibration.values == kept.calibration.values:
        return kept
    return Ruler(next_ruler_id(store), key, calibration, inputs, reason, datetime.now(timezone.utc), fresh=True)


def _case_digest(case_id: str, text: str) -> str:
    """`case id:digest of its request`: a case reworded under its id is told from one added or gone."""
    return f"{case_id}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _refit_reason(kept: Ruler | None, inputs: tuple[str, ...], *, refit: bool, refit_share: float) -> str | None:
    """Why a new ruler is fitted, or None: the kept one stands."""
    if kept is None:
        return "the first ruler for this judge and embedder"
    if refit:
        return f"refitted as asked (ruler {kept.ruler_id} before)"
    now, then = (dict(digest.rpartition(":")[::2] for digest in digests) for digests in (inputs, kept.eval_inputs))
    added, gone = len(now.keys() - then.keys()), len(then.keys() - now.keys())
    reworded = sum(now[case_id] != then[case_id] for case_id in now.keys() & then.keys())
    changed = added + gone + reworded
    if changed and changed >= refit_share * max(len(then), 1):
        return (f"the eval set changed since ruler {kept.ruler_id} ({added} cases new, {reworded} reworded, "
                f"{gone} gone, of {len(then)})")
    return None


def _ruler_row(run_id: str, ruler: Ruler) -> dict[str, Any]:
    calibration = ruler.calibration
    return {"ruler_id": [ruler.ruler_id], "judge_key": [json.dumps(ruler.judge_key, sort_keys=True)],
            "calibration": [json.dumps(calibration.values)], "label": [calibration.label],
            "warnings": [json.dumps(list(calibration.warnings))], "eval_count": [len(ruler.eval_inputs)],
            "eval_inputs": [json.dumps(list(ruler.eval_inputs))], "reason": [ruler.reason],
            "fitted_at": [ruler.fitted_at], "run_id": [run_id]}


def region_coverage(regions: Regions, verdicts: CoverageVerdicts, flags: Flags, outcomes: Outcomes, *,
                    min_fresh: int) -> RegionCoverage:
    """The judge's verdicts and the traces' outcomes counted per region, and the regions that are new
    or growing fast while the eval set misses them (at least `min_fresh` new traces: the clusterer's
    smallest region)."""
    count = len(verdicts.covered)
    labels = regions.assignments.labels
    rows = count_outcomes(score_coverage(labels[:count], labels[count:], verdicts.covered, flagged=flags.flagged),
                          labels[:count], outcomes)
    coverage_of = {row.cluster_id: row.coverage for row in rows}
    lineage = [
        (row, is_emerging(row.size, regions.fresh.get(row.cluster_id, 0), coverage_of.get(row.cluster_id, 1.0),
                          min_fresh=min_fresh, has_history=regions.previous_run is not None))
        for row in regions.lineage
    ]
    emerging = {row.cluster_id for row, flag in lineage if flag}
    return RegionCoverage([replace(row, emerging=row.cluster_id in emerging) for row in rows], lineage, emerging)


def persist(store: Store, run: RunRecord, traffic: Traffic, prepared: Prepared, regions: Regions, ruler: Ruler,
            verdicts: CoverageVerdicts, coverage: RegionCoverage, picks: list[QueuePick], *,
            coordinates: np.ndarray) -> None:
    """Everything the run found, and the run marked succeeded with its summary, in one transaction:
    a failure leaves none of it written, and no row is ever left under a failed run."""
    run_id = run.run_id
    with store.transaction():
        store.insert("cluster_assignments", _assignment_rows(run_id, traffic, regions, verdicts, coordinates))
        store.insert("cluster_coverage", _coverage_rows(run_id, coverage.rows))
        store.insert("cluster_lineage", _lineage_rows(run_id, coverage.lineage, regions.centroids))
        store.insert("trace_flags", _flag_rows(run_id, traffic.trace_ids, prepared.flags.found))
        store.insert("trace_tools", {"trace_id": list(prepared.tools),
                                     "tools": [json.dumps(tools) for tools in prepared.tools.values()],
                                     "run_id": [run_id] * len(prepared.tools)}, on_conflict="ignore")
        for texts in [prepared.texts] if prepared.texts is prepared.requests else [prepared.texts, prepared.requests]:
            forget_view_texts_but(store, view=texts.view, settings_key=texts.settings_key)
            store.insert("view_texts", {
                "trace_id": list(texts.fresh), "view": [texts.view] * len(texts.fresh),
                "settings_key": [texts.settings_key] * len(texts.fresh), "text": list(texts.fresh.values()),
                "run_id": [run_id] * len(texts.fresh)})
        if ruler.fresh:
            store.insert("coverage_rulers", _ruler_row(run_id, ruler))
        if regions.fit is not None:
            save_fit(store, regions.fit, run_id=run_id)
        enqueue(store, picks, run_id=run_id)
        store.succeed(run)


def _view_settings_key(redaction: RedactionRules, template: frozenset[str]) -> str:
    return hashlib.sha256(json.dumps(
        [redaction.model_dump(mode="json", exclude={"keep_raw"}), sorted(template)]).encode()).hexdigest()[:32]


def _run_params(*, budget: int, embedder: str, view: str, covered_similarity: float | None, seed: int,
                redaction: RedactionRules, flag_settings: dict[str, Any], clusterer: Clusterer) -> dict[str, Any]:
    """The run's params. The clusterer's parameters sit among them, where later runs look for the fit
    to extend (regions.fit_key), so one may not give a name of the run's own another value."""
    params = {"budget": budget, "embedder": embedder, "view": view, "covered_similarity": covered_similarity,
              "seed": seed, "redaction": redaction.model_dump(exclude={"keep_raw"}), **flag_settings}
    clashes = sorted(name for name, value in clusterer.parameters.items() if name in params and params[name] != value)
    if clashes:
        raise ValueError(f"the clusterer's parameters {', '.join(clashes)} clash with the mining run's own")
    return params | clusterer.parameters


def _risk_covered_traffic(verdicts: CoverageVerdicts, flags: Flags) -> float:
    risk = np.where(flags.flagged, RISK_WEIGHT, 1.0)
    return float((risk * verdicts.covered).sum() / risk.sum())


def _summary(report: MineReport, *, flagged: int) -> dict[str, Any]:
    return {
        "traces": report.traces, "eval_cases": report.eval_cases, "embedded": report.embedded,
        "clusters": report.clusters, "noise": report.noise, "queued": len(report.picks), "flagged": flagged,
        "covered_traffic": round(report.covered_traffic, 4),
        "risk_covered_traffic": round(report.risk_covered_traffic, 4),
        "outcome_traces": report.outcomes[0], "failed_traces": report.outcomes[1],
        "failure_rate": None if report.outcomes[2] is None else round(report.outcomes[2], 4),
        "covered_similarity": round(report.covered_similarity, 4), "ruler": report.ruler.ruler_id,
        "ruler_label": report.ruler.calibration.label, "ruler_warnings": list(report.ruler.calibration.warnings),
        "ruler_fitted": report.ruler.reason if report.ruler.fresh else None, "mode": report.mode,
        "mode_reason": report.mode_reason, "new_traces": report.new_traces, "emerging": report.emerging,
        "lineage": dict(Counter(row.event for row in report.lineage)),
    }


def _records(store: Store, trace_ids: list[str]) -> list[TraceRecord]:
    """These traces, read whole and parsed, in trace id order."""
    if not trace_ids:
        return []
    return [TraceRecord(trace_id, request, answer, json.loads(steps), json.loads(metadata), json.loads(feedback or "null"))
            for trace_id, request, answer, steps, metadata, feedback in whole_traces(store, trace_ids)]


def _earlier_flags(store: Store, flag_settings: dict[str, Any], *, order: list[str]
                   ) -> tuple[set[str], dict[str, list[tuple[str, str]]]]:
    """The traces the latest finished mining run with these detector settings and prompt contract
    examined, and the flags its detectors found on them, in detector order (path_differs is left
    out: it is checked afresh, `flag_differing_paths`)."""
    run_id = latest_mine_run(store, flag_settings)
    if run_id is None:
        return set(), {}
    examined = set(production_clusters(store, run_id))
    rank = {name: position for position, name in enumerate(order)}
    flags: dict[str, list[tuple[str, str]]] = {}
    for trace_id, detector, reason in flags_of_run(store, run_id):
        if detector != PATH_DIFFERS:
            flags.setdefault(trace_id, []).append((detector, reason))
    return examined, {trace_id: sorted(found, key=lambda flag: rank.get(flag[0], len(rank)))
                      for trace_id, found in flags.items()}


def _assignment_rows(run_id: str, traffic: Traffic, regions: Regions, verdicts: CoverageVerdicts,
                     coordinates: np.ndarray) -> dict[str, Any]:
    traces, cases = len(traffic.trace_ids), len(traffic.clustered_case_ids)
    assignments = regions.assignments
    return {
        "run_id": [run_id] * (traces + cases),
        "item_kind": ["production"] * traces + ["eval"] * cases,
        "item_id": traffic.trace_ids + traffic.clustered_case_ids,
        "cluster_id": assignments.labels,
        "outlier_score": assignments.outlier_scores,
        "probability": assignments.probabilities,
        # the verdict and its score are the production traces'; NULL for eval cases
        "nearest_eval_similarity": pa.array(
            np.concatenate([verdicts.scores, np.full(cases, np.nan)]), pa.float64(), from_pandas=True),
        "covered": verdicts.covered.tolist() + [None] * cases,
        "covering_case_id": verdicts.covering_case_ids + [None] * cases,
        "nearest_case_id": (verdicts.nearest_case_ids or [None] * traces) + [None] * cases,
        "map_x": coordinates[:, 0],
        "map_y": coordinates[:, 1],
    }


def _coverage_rows(run_id: str, coverage: list[ClusterCoverage]) -> dict[str, Any]:
    return {
        "run_id": [run_id] * len(coverage),
        "cluster_id": [row.cluster_id for row in coverage],
        "production_count": [row.production_count for row in coverage],
        "eval_count": [row.eval_count for row in coverage],
        "coverage": [row.coverage for row in coverage],
        "gap_score": [row.gap_score for row in coverage],
        "flagged_count": [row.flagged_count for row in coverage],
        "emerging": [row.emerging for row in coverage],
        "outcome_count": [row.outcome_count for row in coverage],
        "failed_count": [row.failed_count for row in coverage],
        "failure_rate": [row.failure_rate for row in coverage],
    }


def _lineage_rows(run_id: str, lineage: list[tuple[Lineage, bool]], centroids: dict[int, np.ndarray]
                  ) -> dict[str, Any]:
    return {
        "run_id": [run_id] * len(lineage),
        "cluster_id": [row.cluster_id for row, _ in lineage],
        "event": [row.event for row, _ in lineage],
        "source_cluster_id": [row.source_cluster_id for row, _ in lineage],
        "size": [row.size for row, _ in lineage],
        "previous_size": [row.previous_size for row, _ in lineage],
        "emerging": [flag for _, flag in lineage],
        "centroid": [centroids[row.cluster_id].tolist() if row.cluster_id in centroids else None for row, _ in lineage],
    }


def _flag_rows(run_id: str, trace_ids: list[str], flags: list[list[tuple[str, str]]]) -> dict[str, Any]:
    rows = [(trace_id, name, reason) for trace_id, found in zip(trace_ids, flags, strict=True) for name, reason in found]
    return {
        "run_id": [run_id] * len(rows),
        "trace_id": [trace_id for trace_id, _, _ in rows],
        "detector": [name for _, name, _ in rows],
        "reason": [reason for _, _, reason in rows],
    }
