"""The Python API for notebooks: `Workspace(db)` reads the store; it writes only when asked to.

Tables come back as Arrow (`.to_pandas()` if pandas is installed). Read-only by default so a
notebook never corrupts a nightly run; one opened while a run writes reads a copy of the store
taken then (`workspace.store.snapshot`), since DuckDB lets no one else open the file meanwhile.
Trace text comes back redacted (`redaction` rules, the defaults unless given); `raw=True` shows
what the store holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from harness_evals.report.describe import ClusterDescription, Namer, describe_clusters
from harness_evals.report.tools import DEFAULTS as TOOL_DEFAULTS
from harness_evals.report.tools import ToolReport, tool_report
from harness_evals.errors import UserError
from harness_evals.label.labels import LabelReport, apply_labels
from harness_evals.redact import RedactionRules, Redactor
from harness_evals.store import Store


class Workspace:
    def __init__(
        self, db: str | Path | None = None, *, writable: bool = False, redaction: RedactionRules | None = None
    ) -> None:
        self.store = Store(db, read_only=not writable)
        self.writable = writable
        self.redactor = Redactor(redaction)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def _table(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self.store.con.sql(sql, params=params or []).to_arrow_table()

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
        return self._table(
            """SELECT run_id, kind, CASE WHEN list_contains(?::VARCHAR[], run_id) THEN 'interrupted' ELSE status END
                      AS status, started_at, finished_at, summary
               FROM runs ORDER BY started_at""",
            [self.store.dead_run_ids],
        )

    def mine_run(self, run_id: str | None = None) -> str:
        """The run asked for, or the latest succeeded mining run."""
        run_id = run_id or self.store.latest_run_id("mine")
        if run_id is None:
            raise UserError("no mining run in this store yet: run `harness-evals mine` first")
        return run_id

    def clusters(self, run_id: str | None = None) -> pa.Table:
        """Coverage per cluster of a mining run (the latest by default), largest gap first."""
        return self._table(
            "SELECT * EXCLUDE (run_id) FROM cluster_coverage WHERE run_id = ? ORDER BY gap_score DESC, cluster_id",
            [self.mine_run(run_id)],
        )

    def summary(self, run_id: str | None = None) -> dict[str, Any]:
        """A mining run's summary: counts, coverage, the covered threshold, mode, emerging regions."""
        return json.loads(self.store.one("SELECT summary FROM runs WHERE run_id = ?", [self.mine_run(run_id)])[0])

    def describe(self, run_id: str | None = None, *, namer: Namer | None = None) -> list[ClusterDescription]:
        """Every region of a mining run: keywords, representative requests (redacted), tools, coverage."""
        return describe_clusters(self.store, self.mine_run(run_id), redactor=self.redactor, namer=namer)

    def tools(self, run_id: str | None = None, *, release: str | None = None,
              min_traces: int = TOOL_DEFAULTS.min_traces, significance: float = TOOL_DEFAULTS.significance
              ) -> ToolReport:
        """How each tool and subagent is used in a mining run's traces (the latest by default; every
        stored trace before any run), or in one release's against the release before it: `usage`
        per tool, and the misuse `findings` (report/tools.py), their examples redacted."""
        return tool_report(self.store, run_id=run_id, release=release, min_traces=min_traces,
                           significance=significance, redactor=self.redactor)

    def flags(self, run_id: str | None = None) -> pa.Table:
        """Silent-failure flags of a mining run: trace, detector, reason, and the trace's cluster."""
        return self._table(
            """SELECT f.trace_id, f.detector, f.reason, a.cluster_id FROM trace_flags f
               LEFT JOIN cluster_assignments a ON a.run_id = f.run_id AND a.item_kind = 'production'
                    AND a.item_id = f.trace_id
               WHERE f.run_id = ? ORDER BY f.detector, f.trace_id""",
            [self.mine_run(run_id)],
        )

    def lineage(self) -> pa.Table:
        """What became of each region, run after run (new, grew, shrank, steady, split, merged, gone)."""
        return self._table(
            """SELECT l.run_id, r.started_at, l.cluster_id, l.event, l.source_cluster_id, l.size, l.previous_size,
                      l.emerging
               FROM cluster_lineage l JOIN runs r USING (run_id) ORDER BY r.started_at, l.cluster_id"""
        )

    def trend(self) -> pa.Table:
        """One row per mining run, oldest first: traffic, what was new, coverage and emerging regions."""
        return self._table(
            """SELECT run_id, started_at, summary->>'$.mode' AS mode, (summary->>'$.traces')::INTEGER AS traces,
                      (summary->>'$.new_traces')::INTEGER AS new_traces,
                      (summary->>'$.covered_traffic')::DOUBLE AS covered_traffic,
                      (summary->>'$.risk_covered_traffic')::DOUBLE AS risk_covered_traffic,
                      coalesce(json_array_length(summary->'$.emerging'), 0) AS emerging,
                      (summary->>'$.queued')::INTEGER AS queued
               FROM runs WHERE kind = 'mine' AND status = 'succeeded' ORDER BY started_at"""
        )

    def emerging(self, run_id: str | None = None, *, raw: bool = False) -> pa.Table:
        """Emerging regions of a mining run (the latest by default), with the trace most inside each."""
        return self._redacted(self._table(
            """SELECT l.cluster_id, l.event, l.size, l.previous_size, c.coverage, c.flagged_count,
                      (SELECT t.input FROM cluster_assignments a JOIN traces t ON t.trace_id = a.item_id
                       WHERE a.run_id = l.run_id AND a.item_kind = 'production' AND a.cluster_id = l.cluster_id
                       ORDER BY a.probability DESC, a.item_id LIMIT 1) AS input
               FROM cluster_lineage l JOIN cluster_coverage c USING (run_id, cluster_id)
               WHERE l.run_id = ? AND l.emerging ORDER BY l.size DESC, l.cluster_id""",
            [self.mine_run(run_id)],
        ), ("input",), raw)

    def queue_sizes(self) -> dict[str, int]:
        return dict(self.store.con.execute("SELECT state, count(*) FROM labelling_queue GROUP BY 1").fetchall())

    def assignments(self, run_id: str | None = None, *, raw: bool = False) -> pa.Table:
        """Every production trace and eval case of a mining run with its cluster (-1: none), its scores,
        and for a trace the coverage judge's verdict: covered or not, and by which eval case."""
        return self._redacted(self._table(
            """SELECT a.item_kind, a.item_id, a.cluster_id, a.outlier_score, a.probability,
                      a.nearest_eval_similarity, a.covered, a.covering_case_id, a.map_x, a.map_y,
                      coalesce(t.input, e.input) AS input
               FROM cluster_assignments a
               LEFT JOIN traces t ON a.item_kind = 'production' AND t.trace_id = a.item_id
               LEFT JOIN eval_cases e ON a.item_kind = 'eval' AND e.case_id = a.item_id
               WHERE a.run_id = ? ORDER BY a.item_kind, a.item_id""",
            [self.mine_run(run_id)],
        ), ("input",), raw)

    def queue(self, state: str | None = "queued", *, raw: bool = False) -> pa.Table:
        """The labelling queue, in one state (queued, labelled, skipped, emitted) or all with None."""
        where, params = ("WHERE q.state = ?", [state]) if state else ("", [])
        return self._redacted(self._table(
            f"""SELECT q.trace_id, q.state, q.cluster_id, q.reason, q.priority, t.input, t.output,
                       q.expected, q.verdict, q.notes, q.labeller, q.case_id
                FROM labelling_queue q JOIN traces t USING (trace_id) {where}
                ORDER BY q.priority DESC, q.trace_id""",
            params,
        ), ("input", "output", "notes"), raw)

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
