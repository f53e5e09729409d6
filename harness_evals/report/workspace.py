"""The Python API for notebooks: `Workspace(db)` reads the store; it writes only when asked to.

Tables come back as Arrow (`.to_pandas()` if pandas is installed). Read-only by default so a
notebook never corrupts a nightly run; one opened while a run writes reads a copy of the store
taken then (`workspace.store.snapshot`), since DuckDB lets no one else open the file meanwhile.
Trace text comes back redacted (`redaction` rules, the defaults unless given); `raw=True` shows
what the store holds. The queue's draft checks follow `suggestions` (the defaults unless given).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from harness_evals.report.describe import ClusterDescription, Namer, describe_clusters
from harness_evals.report.tools import DEFAULTS as TOOL_DEFAULTS
from harness_evals.report.tools import ToolReport, tool_report
from harness_evals.errors import UserError
from harness_evals.config import DetectorSettings, SuggestSettings
from harness_evals.label.labels import LabelReport, apply_labels
from harness_evals.label.queue import TRAJECTORY_FIELDS, with_trajectories
from harness_evals.redact import RedactionRules, Redactor
from harness_evals.store import Store
from harness_evals.store.clusters import (
    assignments_table,
    coverage_table,
    emerging_table,
    flags_table,
    lineage_table,
)
from harness_evals.store.queue import queue_sizes, queue_table
from harness_evals.store.runs import run_summary, runs_table, trend_table


class Series(NamedTuple):
    """The runs whose coverage figures are comparable: measured with one ruler, in one view."""

    ruler: str  # its id and label; for a run from before rulers were kept, the threshold it judged with
    view: str


def coverage_series(trend: list[dict[str, Any]]) -> list[tuple[Series, list[dict[str, Any]]]]:
    """The rows of `Workspace.trend()` in one series per ruler and view, in the order each series
    began: a trend drawn within a series never jumps because its ruler changed."""
    series: dict[Series, list[dict[str, Any]]] = {}
    for row in trend:
        ruler = (f"{row['ruler']} ({row['ruler_label']})" if row["ruler"]
                 else f"none (cosine {row['covered_similarity'] or 0:.2f})")
        series.setdefault(Series(ruler, row["view"] or "intent"), []).append(row)
    return list(series.items())


class Workspace:
    def __init__(
        self, db: str | Path | None = None, *, writable: bool = False, redaction: RedactionRules | None = None,
        suggestions: SuggestSettings | None = None,
    ) -> None:
        self.store = Store(db, read_only=not writable)
        self.writable = writable
        self.redactor = Redactor(redaction)
        self.suggestions = suggestions or SuggestSettings()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def _redacted(self, table: pa.Table, columns: tuple[str, ...], raw: bool) -> pa.Table:
        """Each row's text redacted with placeholders numbered across its columns."""
        if raw:
            return table
        rows = [self.redactor.redact_fields(row, columns) for row in table.select(list(columns)).to_pylist()]
        for column in columns:
            position = table.schema.get_field_index(column)
            table = table.set_column(position, column, pa.array([row[column] for row in rows], pa.string()))
        return table

    def runs(self) -> pa.Table:
        """Every run, oldest first; one whose process died shows as `interrupted` before any write says so."""
        return runs_table(self.store)

    def mine_run(self, run_id: str | None = None) -> str:
        """The run asked for, or the latest succeeded mining run."""
        run_id = run_id or self.store.latest_run_id("mine")
        if run_id is None:
            raise UserError("no mining run in this store yet: run `harness-evals mine` first")
        return run_id

    def clusters(self, run_id: str | None = None) -> pa.Table:
        """Coverage per cluster of a mining run (the latest by default), largest gap first, with its
        outcomes: `outcome_count` traces with a reward, success flag or feedback score, `failed_count`
        of them failed, `failure_rate` their share (NULL where none has an outcome, or for a run
        from before outcomes were counted)."""
        return coverage_table(self.store, self.mine_run(run_id))

    def summary(self, run_id: str | None = None) -> dict[str, Any]:
        """A mining run's summary: counts, coverage, the covered threshold, mode, emerging regions."""
        return run_summary(self.store, self.mine_run(run_id))

    def describe(self, run_id: str | None = None, *, namer: Namer | None = None) -> list[ClusterDescription]:
        """Every region of a mining run: keywords, representative requests (redacted), tools, coverage."""
        return describe_clusters(self.store, self.mine_run(run_id), redactor=self.redactor, namer=namer)

    def tools(self, run_id: str | None = None, *, release: str | None = None,
              min_traces: int = TOOL_DEFAULTS.min_traces, significance: float = TOOL_DEFAULTS.significance,
              detectors: DetectorSettings | None = None) -> ToolReport:
        """How each tool and subagent is used in a mining run's traces (the latest by default; every
        stored trace before any run), or in one release's against the release before it: `usage`
        per tool, and the misuse `findings` (report/tools.py), their examples redacted."""
        return tool_report(self.store, run_id=run_id, release=release, min_traces=min_traces,
                           significance=significance, detectors=detectors, redactor=self.redactor)

    def flags(self, run_id: str | None = None) -> pa.Table:
        """Silent-failure flags of a mining run: trace, detector, reason, and the trace's cluster."""
        return flags_table(self.store, self.mine_run(run_id))

    def lineage(self) -> pa.Table:
        """What became of each region, run after run (new, grew, shrank, steady, split, merged, gone)."""
        return lineage_table(self.store)

    def trend(self) -> pa.Table:
        """One row per mining run, oldest first: its view and coverage ruler, traffic, what was new,
        coverage and emerging regions. Compare coverage within one ruler and view (`coverage_series`)."""
        return trend_table(self.store)

    def emerging(self, run_id: str | None = None, *, raw: bool = False) -> pa.Table:
        """Emerging regions of a mining run (the latest by default), with the trace most inside each."""
        return self._redacted(emerging_table(self.store, self.mine_run(run_id)), ("input",), raw)

    def queue_sizes(self) -> dict[str, int]:
        return queue_sizes(self.store)

    def assignments(self, run_id: str | None = None, *, raw: bool = False) -> pa.Table:
        """Every production trace and eval case of a mining run with its cluster (-1: none), its scores,
        and for a trace the coverage judge's verdict: covered or not, and by which eval case."""
        return self._redacted(assignments_table(self.store, self.mine_run(run_id)), ("input",), raw)

    def queue(self, state: str | None = "queued", *, raw: bool = False) -> pa.Table:
        """The labelling queue, in one state (queued, labelled, skipped, covered, emitted) or all with None.
        Each row has its trajectory as JSON text: conversation, steps, flags, outcome, suggested,
        suggested_from (label.queue.with_trajectories), redacted with the row's other text."""
        table = queue_table(self.store, state)
        trajectories = with_trajectories(self.store, table.column("trace_id").to_pylist(), suggestions=self.suggestions)
        texts = ("input", "output", "notes")
        rows = [{**row, **trajectories[row["trace_id"]]} for row in table.select(["trace_id", *texts]).to_pylist()]
        if not raw:
            rows = [self.redactor.redact_fields(row, (*texts, *TRAJECTORY_FIELDS)) for row in rows]
        for column in texts:
            table = table.set_column(table.schema.get_field_index(column), column,
                                     pa.array([row[column] for row in rows], pa.string()))
        for column in TRAJECTORY_FIELDS:
            table = table.append_column(column, pa.array([json.dumps(row[column], ensure_ascii=False) for row in rows],
                                                         pa.string()))
        return table

    def label(self, trace_id: str, expected: Any = None, *, verdict: str | None = None, notes: str | None = None,
              labeller: str | None = None, skip: bool = False, replace: bool = False) -> LabelReport:
        """Label one trace, as one row of `queue import` would."""
        if not self.writable:
            raise UserError("this Workspace is read-only: open it with Workspace(db, writable=True) to label")
        row = {"trace_id": trace_id, "expected": expected, "verdict": verdict, "notes": notes, "labeller": labeller,
               "skip": skip}
        report = apply_labels(self.store, [(1, row)], source="Workspace.label", replace=replace)
        if report.refused:
            raise UserError(report.refused[0].reason)
        return report
