"""Labels back in, in the format the queue went out in: JSONL, CSV, or Label Studio's exports.

Label Studio exports a project three ways, and each reads to the same labels: JSON (tasks with
their annotations; the newest that was not cancelled counts), JSON-MIN (one flat record per
annotation: the task's data, each control's value by its name, `annotator`) and CSV (the same
records as columns). The `verdict` choice `skip` skips the trace, and the labeller is the
annotator's email where the export has it (`completed_by` expanded), else the user id as text.

A label is a case of its own (`expected`), a skip, or `covered_by` the id of the eval case that
already covers the trace's behaviour: the trace leaves the queue without a case (state `covered`),
and later runs count that case as reaching it (mine.coverage.with_labelled_reach).

LABEL_FORMATS read them; a format from outside the package is an entry point in
`harness_evals.label_formats`, or `module:function`. A label never silently replaces another: a
different label for an already labelled trace is refused with its line number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness_evals.errors import UserError, describe_validation_error
from harness_evals.ingest.framing import Unreadable, json_lines, problem_with, read_document
from harness_evals.label.queue import from_inert_cell, record_events
from harness_evals.records import NOISE, Label, Quarantined
from harness_evals.registry import Registry
from harness_evals.store import Store
from harness_evals.store.clusters import latest_cluster_of
from harness_evals.store.queue import emitted_case_id, set_label, stored_label
from harness_evals.store.traces import has_eval_case, has_trace
from harness_evals.suite.model import expected_json


CSV_CELL_LIMIT = 2**31 - 1  # the largest the csv module takes on every platform (a C long)
LABEL_TEXTS = ("expected", "verdict", "notes", "covered_by")  # what a labeller fills in, besides skip


@dataclass
class LabelReport:
    applied: int = 0
    skipped: int = 0  # marked skip: leave the queue without a case
    covered: int = 0  # covered_by an eval case: leave the queue without a case, as evidence of that case's reach
    unchanged: int = 0
    blank: int = 0  # exported rows nobody has filled in yet
    refused: list[Quarantined] = field(default_factory=list)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    for line, _, value in json_lines(path):
        yield line, ValueError(value.reason) if isinstance(value, Unreadable) else value


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Our queue's CSV, filled in, or Label Studio's CSV export (its columns: the task's data, the
    controls by name, `annotator`, `id` the task's)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Excel saves "CSV UTF-8" with a byte order mark
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 (at offset {error.start}): save the CSV as UTF-8") from None
    # A cell holds a whole trajectory as JSON, far past the csv module's default limit of 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), CSV_CELL_LIMIT))
    rows = ({name: from_inert_cell(value) for name, value in row.items()}
            for row in csv.DictReader(io.StringIO(text, newline="")))
    for line, row in _newest_per_task(enumerate(rows, start=2)):  # line 1 is the header
        try:
            yield line, _flat_label(row, skip=(row.get("skip") or "").strip().lower() in ("true", "yes", "1"))
        except ValueError as error:
            yield line, error


def _newest_per_task(rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Label Studio's flat exports hold a row per annotation of a task, newest first: the first
    counts, as the newest annotation does in its JSON export. Rows of our own files pass as they are."""
    tasks: set[Any] = set()
    for line, row in rows:
        if isinstance(row, dict) and "annotation_id" in row and row.get("id") not in (None, ""):
            if row["id"] in tasks:
                continue
            tasks.add(row["id"])
        yield line, row


def _flat_label(row: dict[str, Any], *, skip: bool = False) -> dict[str, Any]:
    """The label of a flat row (our CSV, Label Studio's CSV or JSON-MIN): a control's several
    values are joined by lines, the `skip` choice skips, and `annotator` is the labeller."""
    fields = {name: _one_text(row.get(name)) for name in LABEL_TEXTS}
    if fields["verdict"] == "skip":
        fields["verdict"], skip = None, True
    label = {**row, **fields, "expected": _expected_of(fields["expected"]), "skip": skip}
    annotator = row.get("annotator")
    if annotator not in (None, "") and not row.get("labeller"):
        label["labeller"] = str(annotator)
    return label


def _one_text(value: Any) -> str | None:
    if isinstance(value, list):
        value = "\n".join(str(item) for item in value)
    return None if value is None or not str(value).strip() else str(value)


def _expected_of(text: str | None) -> Any:
    """Expected as a labeller typed it: a JSON object of checks when it starts with `{`, else text."""
    if text is None or not text.strip().startswith("{"):
        return text and text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"expected: starts with {{ but is not a JSON object ({error.msg})") from None


def _label_studio_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Tasks of a Label Studio JSON export, or the records of its JSON-MIN export; the `line` is
    the position in the list, from 1."""
    tasks = read_document(path)
    if isinstance(tasks, Unreadable) or not isinstance(tasks, list):
        problem = tasks.reason if isinstance(tasks, Unreadable) else "it is not a list of tasks"
        raise UserError(f"{path}: not a Label Studio JSON export: {problem}")
    for position, task in _newest_per_task(enumerate(tasks, start=1)):
        problem = problem_with(task)
        if problem or not isinstance(task, dict):
            yield position, ValueError(problem or f"expected a task object, got {type(task).__name__}")
            continue
        try:
            yield position, _label_studio_row(task) if "data" in task or "annotations" in task else _flat_label(task)
        except (AttributeError, TypeError, KeyError, IndexError) as error:
            yield position, ValueError(f"not a Label Studio task: {type(error).__name__}: {error}")
        except ValueError as error:
            yield position, error


def _label_studio_row(task: dict[str, Any]) -> dict[str, Any]:
    """The label one Label Studio task holds; raises on a task of an unexpected shape."""
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    row: dict[str, Any] = {"trace_id": (task.get("data") or {}).get("trace_id")}
    if annotations:
        for result in annotations[-1].get("result", []):
            value = result.get("value", {})
            if result.get("from_name") == "verdict" and value.get("choices"):
                choice = value["choices"][0]
                row.update(skip=True) if choice == "skip" else row.update(verdict=choice)
            elif result.get("from_name") in ("expected", "notes", "covered_by") and value.get("text"):
                row[result["from_name"]] = "\n".join(value["text"])
        completed_by = annotations[-1].get("completed_by")
        if isinstance(completed_by, dict):
            completed_by = completed_by.get("email") or completed_by.get("id")
        if completed_by not in (None, ""):
            row["labeller"] = str(completed_by)
        row["expected"] = _expected_of(row.get("expected"))
    return row


# A label format reads a labels file: (line or position, the row's fields, or the exception that says why not).
LabelReader = Callable[[Path], Iterator[tuple[int, Any]]]
LABEL_FORMATS: Registry[LabelReader] = Registry(
    "label format", "harness_evals.label_formats",
    {"jsonl": _jsonl_rows, "csv": _csv_rows, "labelstudio": _label_studio_rows},
    also=["auto (by the file's extension)"])


def detect_label_format(path: Path) -> str:
    return {".csv": "csv", ".json": "labelstudio"}.get(path.suffix.lower(), "jsonl")


def import_labels(
    store: Store, path: str | Path, *, format: str = "auto", labeller: str | None = None, replace: bool = False
) -> LabelReport:
    """Apply the labels in a file, in one transaction. Rows with nothing filled in are skipped."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such labels file")
    read = LABEL_FORMATS.get(detect_label_format(path) if format == "auto" else format)
    return apply_labels(store, read(path), source=str(path), labeller=labeller, replace=replace)


def apply_labels(
    store: Store, rows: Iterable[tuple[int, Any]], *, source: str, labeller: str | None = None, replace: bool = False
) -> LabelReport:
    """Validate every row, refuse the bad ones with their reason, apply the rest together.

    A different label for a labelled or skipped trace is refused unless `replace` says to overwrite
    it; an emitted label is never replaced (its case is in a suite: label another trace instead)."""
    report = LabelReport()
    labels: dict[str, Label] = {}
    for line, row in rows:
        reason = None
        if isinstance(row, Exception):
            reason = str(row)
        elif isinstance(row, dict) and row.get("trace_id") and not row.get("skip") and all(
                row.get(name) in (None, "") for name in LABEL_TEXTS):
            report.blank += 1  # a verdict or notes without expected is refused below: the labeller meant something
            continue
        else:
            try:
                label = Label.model_validate(row)
            except ValidationError as error:
                reason = describe_validation_error(error)
        if reason is None:
            reason = _refusal(store, label, labels.get(label.trace_id), replace=replace)
        if reason is None:
            earlier = labels.get(label.trace_id)
            if _state_key(label) in (_stored_key(store, label.trace_id), earlier and _state_key(earlier)):
                report.unchanged += 1  # stored already, or repeated from an earlier line
            else:
                labels[label.trace_id] = label if label.labeller or not labeller else label.model_copy(
                    update={"labeller": labeller})
            continue
        raw = row if isinstance(row, dict) else {"error": str(row)}
        report.refused.append(Quarantined(source, line, reason, json.dumps(raw, ensure_ascii=False, default=str)))
    if not labels:
        return report
    with store.run("label", {"path": source}) as run, store.transaction():
        for label in labels.values():
            state = "skipped" if label.skip else "covered" if label.covered_by else "labelled"
            expected = None if label.expected is None else json.dumps(expected_json(label.expected), sort_keys=True)
            queued = set_label(store, label.trace_id, state=state, expected=expected, verdict=label.verdict,
                               notes=label.notes, labeller=label.labeller, label_run_id=run.run_id,
                               covered_by=label.covered_by)
            if not queued:  # labelled straight from the store, never queued
                store.insert("labelling_queue", {
                    "trace_id": [label.trace_id], "run_id": [run.run_id],
                    "cluster_id": [_latest_cluster(store, label.trace_id)], "reason": ["labelled directly"],
                    "priority": [0.0], "state": [state], "expected": [expected], "verdict": [label.verdict],
                    "notes": [label.notes], "labeller": [label.labeller], "label_run_id": [run.run_id],
                    "covered_by": [label.covered_by],
                })
            record_events(store, [label.trace_id], state=state, run_id=run.run_id)
            if label.skip:
                report.skipped += 1
            elif label.covered_by:
                report.covered += 1
            else:
                report.applied += 1
        run.summary = {"applied": report.applied, "skipped": report.skipped, "covered": report.covered,
                       "refused": len(report.refused)}
    return report


def _refusal(store: Store, label: Label, earlier: Label | None, *, replace: bool) -> str | None:
    if not has_trace(store, label.trace_id):
        return f"no trace {label.trace_id!r} in the store: check the id, or ingest its trace first"
    if label.covered_by and not has_eval_case(store, label.covered_by):
        return (f"covered_by {label.covered_by!r} is no eval case in the store: give the id of the case that "
                "covers this trace (the queue item's nearest_case names the nearest one), or ingest that case first")
    if earlier is not None and _state_key(earlier) != _state_key(label):
        return f"trace {label.trace_id!r} is labelled differently on an earlier line of this file: keep one"
    stored = _stored_key(store, label.trace_id)
    if stored is None or stored == _state_key(label):
        return None
    emitted = emitted_case_id(store, label.trace_id)
    if emitted:
        return (f"trace {label.trace_id!r} is already emitted as {emitted}; a suite case is never relabelled: "
                "label another trace of its region instead")
    if not replace:
        return (f"trace {label.trace_id!r} is already labelled differently; nothing labelled is overwritten "
                "silently: fix the line, or import with --replace to overwrite it")
    return None


def _state_key(label: Label) -> tuple[bool, str | None, str | None, str | None]:
    expected = None if label.expected is None else json.dumps(expected_json(label.expected), sort_keys=True)
    return label.skip, expected, label.verdict, label.covered_by


def _stored_key(store: Store, trace_id: str) -> tuple[bool, str | None, str | None, str | None] | None:
    row = stored_label(store, trace_id)
    if row is None:
        return None
    state, expected, verdict, covered_by = row
    expected = None if expected is None else json.dumps(json.loads(expected), sort_keys=True)
    return state == "skipped", expected, verdict, covered_by


def _latest_cluster(store: Store, trace_id: str) -> int:
    cluster_id = latest_cluster_of(store, trace_id)
    return NOISE if cluster_id is None else cluster_id
