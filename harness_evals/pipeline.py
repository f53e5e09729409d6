"""`mine`: embed, cluster, score coverage and fill the labelling queue, as one recorded run.

Each step is a plain function of its own module; this one only wires them to the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from harness_evals.cluster import map_coordinates
from harness_evals.config import MineSettings
from harness_evals.coverage import calibrate_covered_similarity, nearest_eval_similarity, score_coverage
from harness_evals.embed import Embedder, embed_pending, get_embedder, load_vectors
from harness_evals.errors import UserError
from harness_evals.labelling import already_queued, enqueue
from harness_evals.identity import Lineage, is_emerging
from harness_evals.prompts import PromptContract
from harness_evals.records import NOISE, Assignments, ClusterCoverage, MapChunks, QueuePick
from harness_evals.regions import find_regions, latest_mine_run, save_model
from harness_evals.redact import Placeholders, RedactionRules, Redactor
from harness_evals.sample import RISK_WEIGHT, select_for_labelling
from harness_evals.signals import DetectorSettings, TraceRecord, detect
from harness_evals.snapshots import check
from harness_evals.store import Store
from harness_evals.views import EVAL_VIEWS, VIEWS, TraceText, shared_lines, without_lines


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
    covered_similarity: float
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


def _redacted_text(record: TraceRecord, redactor: Redactor, template: frozenset[str]) -> TraceText:
    """The request without its template lines, redacted. Steps stay as they are: views read only
    their names, argument names and error markers."""
    placeholders = Placeholders()
    return TraceText(redactor.redact(without_lines(record.input, template), placeholders),
                     redactor.redact(record.output, placeholders), record.steps)


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
) -> MineReport:
    """One mining run over everything in the store; `progress(done, total)` follows the embedding.
    Encoding and placing into clusters run their chunks through `map_chunks` (records.MapChunks).

    Texts are redacted (`redaction` rules) before they are embedded: no secret or personal data
    reaches the embedding cache. A trace whose assembled prompt breaks `prompt_contract` is
    flagged `prompt_contract`, like a silent failure.

    `covered_similarity` None: calibrated from the eval set's own spacing. Clusters are fitted
    afresh when `full`, or when `find_regions` finds the last fit stale; otherwise new traces are
    placed into the last fit's clusters. Cluster ids are stable across runs either way.
    """
    if budget < 0:
        raise MineError(f"--budget must be 0 or more, got {budget}")
    to_view = VIEWS.get(view)
    model = get_embedder(embedder) if isinstance(embedder, str) else embedder
    requests = store.con.execute("SELECT trace_id, input FROM traces ORDER BY trace_id").fetchall()
    if not requests:
        raise MineError("no production traces in the store: run `harness-evals ingest PATH --kind production` first")
    cases = store.con.execute("SELECT case_id, input FROM eval_cases ORDER BY case_id").fetchall() if view in EVAL_VIEWS else []
    trace_ids = [trace_id for trace_id, _ in requests]
    trace_count = len(trace_ids)
    template = shared_lines([request for _, request in requests]) if view == "intent" else frozenset()
    del requests  # at a million traces, a gigabyte held for nothing
    redaction = redaction or RedactionRules()
    redactor = Redactor(redaction)
    detectors = detectors or DetectorSettings()

    # What an earlier run derived from an unchanged trace under the same settings is reused: only
    # traces it has not seen are read whole, redacted and run through the detectors.
    settings_key = hashlib.sha256(json.dumps(
        [redaction.model_dump(mode="json", exclude={"keep_raw"}), sorted(template)]).encode()).hexdigest()[:32]
    known_texts = dict(store.con.execute("SELECT trace_id, text FROM view_texts WHERE view = ? AND settings_key = ?",
                                         [view, settings_key]).fetchall())
    flag_settings = {"detectors": detectors.model_dump(mode="json"),
                     "prompt_contract": prompt_contract.model_dump(mode="json") if prompt_contract else None}
    examined, known_flags = _earlier_flags(store, flag_settings, order=[*detectors.enabled, "prompt_contract"])
    records = _records(store, [t for t in trace_ids if t not in known_texts or t not in examined])
    fresh_texts = {r.trace_id: to_view(_redacted_text(r, redactor, template)) for r in records
                   if r.trace_id not in known_texts}
    trace_texts = [known_texts[t] if t in known_texts else fresh_texts[t] for t in trace_ids]
    del known_texts
    case_texts = [to_view(TraceText(redactor.redact(without_lines(request, template)))) for _, request in cases]
    fresh_flags = {r.trace_id: detect(r, detectors) for r in records if r.trace_id not in examined}
    if prompt_contract is not None and fresh_flags:
        broken: dict[str, list[str]] = {}
        for violation in check(store, prompt_contract, steps={r.trace_id: r.steps for r in records}):
            if violation.trace_id in fresh_flags:
                broken.setdefault(violation.trace_id, []).append(violation.problem)
        for trace_id, problems in broken.items():
            fresh_flags[trace_id].append(("prompt_contract", "; ".join(problems)))
    del records
    flags = [fresh_flags[t] if t in fresh_flags else known_flags.get(t, []) for t in trace_ids]
    flagged = np.array([bool(found) for found in flags], dtype=bool)
    params = {
        "budget": budget, "embedder": model.name, "view": view, "min_cluster_size": min_cluster_size,
        "dimensions": dimensions, "covered_similarity": covered_similarity, "seed": seed,
        "redaction": redaction.model_dump(exclude={"keep_raw"}), **flag_settings,
    }
    with store.run("mine", params) as run:
        texts = trace_texts + case_texts
        embedded = embed_pending(store, model, texts, view=view, run_id=run.run_id, progress=progress,
                                 map_chunks=map_chunks)
        vectors = load_vectors(store, texts, model=model.name, view=view)
        production, evals = vectors[:trace_count], vectors[trace_count:]
        if covered_similarity is None:
            covered_similarity = calibrate_covered_similarity(evals)

        key = {"embedder": model.name, "view": view, "dimensions": dimensions, "min_cluster_size": min_cluster_size,
               "seed": seed}
        items = [("production", trace_id) for trace_id in trace_ids] + [("eval", case_id) for case_id, _ in cases]
        regions = find_regions(store, vectors, items, key=key, full=full, map_chunks=map_chunks)
        assignments = regions.assignments
        production_labels, eval_labels = assignments.labels[:trace_count], assignments.labels[trace_count:]
        similarity = nearest_eval_similarity(production, evals)
        coverage = score_coverage(
            production_labels, eval_labels, similarity, covered_similarity=covered_similarity, flagged=flagged
        )
        coverage_of = {row.cluster_id: row.coverage for row in coverage}
        lineage = [
            (row, is_emerging(row.size, regions.fresh.get(row.cluster_id, 0), coverage_of.get(row.cluster_id, 1.0),
                              min_fresh=min_cluster_size, has_history=regions.previous_run is not None))
            for row in regions.lineage
        ]
        emerging = {row.cluster_id for row, flag in lineage if flag}
        coverage = [replace(row, emerging=row.cluster_id in emerging) for row in coverage]
        production_assignments = Assignments(
            labels=production_labels,
            outlier_scores=assignments.outlier_scores[:trace_count],
            probabilities=assignments.probabilities[:trace_count],
        )
        picks = select_for_labelling(
            trace_ids, production, production_assignments, similarity, coverage,
            budget=budget, covered_similarity=covered_similarity, exclude=already_queued(store),
            flags=[[name for name, _ in found] for found in flags], emerging=emerging, seed=seed,
        )
        with store.transaction():
            store.insert(
                "cluster_assignments",
                _assignment_rows(run.run_id, trace_ids, [c for c, _ in cases], assignments, similarity,
                                 map_coordinates(vectors, seed=seed)),
            )
            store.insert("cluster_coverage", _coverage_rows(run.run_id, coverage))
            store.insert("cluster_lineage", _lineage_rows(run.run_id, lineage, regions.centroids))
            store.insert("trace_flags", _flag_rows(run.run_id, trace_ids, flags))
            store.con.execute("DELETE FROM view_texts WHERE view = ? AND settings_key <> ?", [view, settings_key])
            store.insert("view_texts", {
                "trace_id": list(fresh_texts), "view": [view] * len(fresh_texts),
                "settings_key": [settings_key] * len(fresh_texts), "text": list(fresh_texts.values()),
                "run_id": [run.run_id] * len(fresh_texts)})
            if regions.mode == "full":
                save_model(store, regions.model, key=key, run_id=run.run_id)
            enqueue(store, picks, run_id=run.run_id)
        covered = similarity >= covered_similarity
        risk = np.where(flagged, RISK_WEIGHT, 1.0)
        report = MineReport(
            run_id=run.run_id, traces=trace_count, eval_cases=len(cases), embedded=embedded.embedded,
            cached=embedded.cached, coverage=coverage, picks=picks, covered_similarity=covered_similarity,
            mode=regions.mode, mode_reason=regions.reason, new_traces=regions.new_traces,
            lineage=[row for row, _ in lineage], emerging=sorted(emerging),
            risk_covered_traffic=float((risk * covered).sum() / risk.sum()),
        )
        run.summary = {
            "traces": report.traces, "eval_cases": report.eval_cases, "embedded": report.embedded,
            "clusters": report.clusters, "noise": report.noise, "queued": len(picks), "flagged": int(flagged.sum()),
            "covered_traffic": round(report.covered_traffic, 4),
            "risk_covered_traffic": round(report.risk_covered_traffic, 4),
            "covered_similarity": round(covered_similarity, 4), "mode": regions.mode, "mode_reason": regions.reason,
            "new_traces": regions.new_traces, "emerging": report.emerging,
            "lineage": dict(Counter(row.event for row in report.lineage)),
        }
    return report


def _records(store: Store, trace_ids: list[str]) -> list[TraceRecord]:
    """These traces, read whole and parsed, in trace id order."""
    if not trace_ids:
        return []
    rows = store.con.execute(
        """SELECT trace_id, input, output, steps, metadata, feedback FROM traces
           WHERE trace_id IN (SELECT unnest(?)) ORDER BY trace_id""", [trace_ids]).fetchall()
    return [TraceRecord(trace_id, request, answer, json.loads(steps), json.loads(metadata), json.loads(feedback or "null"))
            for trace_id, request, answer, steps, metadata, feedback in rows]


def _earlier_flags(store: Store, flag_settings: dict[str, Any], *, order: list[str]
                   ) -> tuple[set[str], dict[str, list[tuple[str, str]]]]:
    """The traces the latest finished mining run with these detector settings and prompt contract
    examined, and the flags it found on them, in detector order."""
    run_id = latest_mine_run(store, flag_settings)
    if run_id is None:
        return set(), {}
    examined = {row[0] for row in store.con.execute(
        "SELECT item_id FROM cluster_assignments WHERE run_id = ? AND item_kind = 'production'", [run_id]).fetchall()}
    rank = {name: position for position, name in enumerate(order)}
    flags: dict[str, list[tuple[str, str]]] = {}
    for trace_id, detector, reason in store.con.execute(
            "SELECT trace_id, detector, reason FROM trace_flags WHERE run_id = ?", [run_id]).fetchall():
        flags.setdefault(trace_id, []).append((detector, reason))
    return examined, {trace_id: sorted(found, key=lambda flag: rank.get(flag[0], len(rank)))
                      for trace_id, found in flags.items()}


def _assignment_rows(run_id, trace_ids, case_ids, assignments, similarity, coordinates) -> dict[str, Any]:
    count = len(trace_ids) + len(case_ids)
    return {
        "run_id": [run_id] * count,
        "item_kind": ["production"] * len(trace_ids) + ["eval"] * len(case_ids),
        "item_id": list(trace_ids) + list(case_ids),
        "cluster_id": assignments.labels,
        "outlier_score": assignments.outlier_scores,
        "probability": assignments.probabilities,
        "nearest_eval_similarity": pa.array(  # NULL for eval cases
            np.concatenate([similarity, np.full(len(case_ids), np.nan)]), pa.float64(), from_pandas=True
        ),
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
