"""The labelling queue: fill it from a mining run, export it, and take labels back in.

A trace enters the queue once, ever. Labels are imported from JSONL (the export with `expected`,
and optionally `verdict` and `notes`, filled in). A label never silently replaces another: a
different label for an already labelled trace is refused with its line number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from pydantic import ValidationError

from harness_evals.errors import UserError, describe_validation_error
from harness_evals.records import NOISE, Label, QueuePick, Quarantined
from harness_evals.store import Store
from harness_evals.suite.model import expected_json

EXPORT_FIELDS_TO_FILL = {"expected": None, "verdict": None, "notes": None}


def already_queued(store: Store) -> set[str]:
    return {row[0] for row in store.con.execute("SELECT trace_id FROM labelling_queue").fetchall()}


def enqueue(store: Store, picks: Sequence[QueuePick], *, run_id: str) -> None:
    """Add picks in state `queued`. Call inside the run's transaction."""
    count = len(picks)
    store.insert(
        "labelling_queue",
        pa.table(
            {
                "trace_id": [p.trace_id for p in picks],
                "run_id": [run_id] * count,
                "cluster_id": pa.array([p.cluster_id for p in picks], pa.int32()),
                "reason": [p.reason for p in picks],
                "priority": pa.array([p.priority for p in picks], pa.float64()),
                "state": ["queued"] * count,
                **{column: pa.nulls(count, pa.string()) for column in
                   ("expected", "verdict", "notes", "labeller", "label_run_id", "case_id")},
            }
        ),
    )


def export_queue(store: Store, out: str | Path) -> int:
    """Write every queued trace as one JSON object per line, highest priority first.

    Each line carries the fields a labeller fills in (expected, verdict, notes), so the same
    file, filled in, is what `queue import` reads back.
    """
    rows = store.con.execute(
        """
        SELECT q.trace_id, q.cluster_id, q.reason, q.priority, q.run_id, t.input, t.output,
               strftime(t.timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), t.metadata
        FROM labelling_queue q JOIN traces t USING (trace_id)
        WHERE q.state = 'queued'
        ORDER BY q.priority DESC, q.trace_id
        """
    ).fetchall()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for trace_id, cluster_id, reason, priority, run_id, request, answer, timestamp, metadata in rows:
            item = {
                "trace_id": trace_id,
                "cluster_id": cluster_id,
                "reason": reason,
                "priority": round(priority, 4),
                "run_id": run_id,
                "timestamp": timestamp,
                "input": request,
                "output": answer,
                "metadata": json.loads(metadata),
                **EXPORT_FIELDS_TO_FILL,
            }
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return len(rows)


@dataclass
class LabelReport:
    applied: int = 0
    unchanged: int = 0
    skipped_blank: int = 0  # exported lines nobody has filled in yet
    refused: list[Quarantined] = field(default_factory=list)


def import_labels(store: Store, path: str | Path, *, labeller: str | None = None) -> LabelReport:
    """Apply the labels in a JSONL file, in one transaction. Lines with no `expected` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such labels file")
    source = str(path)
    report = LabelReport()
    labels: dict[str, Label] = {}
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            reason = None
            try:
                obj = json.loads(raw)
                if isinstance(obj, dict) and obj.get("trace_id") and obj.get("expected") in (None, ""):
                    report.skipped_blank += 1
                    continue
                label = Label.model_validate(obj)
            except json.JSONDecodeError as error:
                reason = f"not valid JSON ({error.msg} at column {error.colno})"
            except ValidationError as error:
                reason = describe_validation_error(error)
            if reason is None:
                reason = _check_label(store, label)
            if reason is None:
                label = label if label.labeller or not labeller else label.model_copy(update={"labeller": labeller})
                earlier = labels.get(label.trace_id)
                stored = _label_key(earlier) if earlier else _stored_label(store, label.trace_id)
                if stored is None:
                    labels[label.trace_id] = label
                    continue
                if stored == _label_key(label):
                    report.unchanged += 1
                    continue
                reason = (
                    f"trace {label.trace_id!r} is already labelled differently; nothing labelled is "
                    "overwritten: fix the line, or relabel in a new queue round"
                )
            report.refused.append(Quarantined(source, line, reason, raw.rstrip("\n")))
    if not labels:
        return report
    with store.run("label", {"path": source}) as run, store.transaction() as con:
        for label in labels.values():
            values = [_label_key(label)[0], label.verdict, label.notes, label.labeller, run.run_id]
            updated = con.execute(
                """UPDATE labelling_queue SET state = 'labelled', expected = ?, verdict = ?, notes = ?,
                   labeller = ?, label_run_id = ? WHERE trace_id = ? RETURNING trace_id""",
                [*values, label.trace_id],
            ).fetchall()
            if not updated:  # labelled straight from the store, never queued
                con.execute(
                    "INSERT INTO labelling_queue VALUES (?, ?, ?, 'labelled directly', 0, 'labelled', ?, ?, ?, ?, ?, NULL)",
                    [label.trace_id, run.run_id, _latest_cluster(store, label.trace_id), *values],
                )
            report.applied += 1
        run.summary = {"applied": report.applied, "refused": len(report.refused)}
    return report


def _check_label(store: Store, label: Label) -> str | None:
    if store.con.execute("SELECT 1 FROM traces WHERE trace_id = ?", [label.trace_id]).fetchone() is None:
        return f"no trace {label.trace_id!r} in the store: check the id, or ingest its trace first"
    return None


def _label_key(label: Label) -> tuple[str, str | None]:
    return json.dumps(expected_json(label.expected), sort_keys=True), label.verdict


def _stored_label(store: Store, trace_id: str) -> tuple[str, str | None] | None:
    row = store.con.execute(
        "SELECT expected, verdict FROM labelling_queue WHERE trace_id = ? AND expected IS NOT NULL", [trace_id]
    ).fetchone()
    if row is None:
        return None
    return json.dumps(json.loads(row[0]), sort_keys=True), row[1]


def _latest_cluster(store: Store, trace_id: str) -> int:
    row = store.con.execute(
        """SELECT a.cluster_id FROM cluster_assignments a JOIN runs r USING (run_id)
           WHERE a.item_kind = 'production' AND a.item_id = ? ORDER BY r.started_at DESC LIMIT 1""",
        [trace_id],
    ).fetchone()
    return row[0] if row else NOISE
