"""Ingest JSONL files of production traces or eval cases into the store.

A file is read line by line. A line that is not valid JSON, does not fit its format, or reuses a
stored id with different content is quarantined with its line number and reason; every other
line is stored. Re-ingesting a file changes nothing. One file is one transaction: a crash leaves
the store as it was before the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from harness_evals.ingest.canonical import looks_canonical, read_canonical
from harness_evals.ingest.openai_chat import looks_like_openai_chat, read_openai_chat
from harness_evals.errors import UserError, describe_validation_error
from harness_evals.records import EvalCase, Quarantined, Trace
from harness_evals.store import Store

Kind = Literal["production", "eval"]


@dataclass(frozen=True)
class TraceFormat:
    name: str
    matches: Callable[[dict[str, Any]], bool]
    read: Callable[[dict[str, Any]], Trace]


TRACE_FORMATS: dict[str, TraceFormat] = {
    f.name: f
    for f in (
        TraceFormat("canonical", looks_canonical, read_canonical),
        TraceFormat("openai-chat", looks_like_openai_chat, read_openai_chat),
    )
}


class IngestError(UserError):
    """The file as a whole cannot be ingested; the message says how to fix it."""


@dataclass
class IngestReport:
    source: str
    kind: Kind
    format: str
    stored: int = 0
    unchanged: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    run_id: str = ""

    @property
    def lines(self) -> int:
        return self.stored + self.unchanged + len(self.quarantined)


def content_hash(record: BaseModel) -> str:
    canonical = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_lines(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw text, parsed object or the JSON error) for each non-blank line."""
    with path.open("rb") as handle:
        for number, raw_bytes in enumerate(handle, start=1):
            raw = raw_bytes.decode("utf-8", errors="replace")
            if not raw.strip():
                continue
            try:
                yield number, raw, json.loads(raw)
            except json.JSONDecodeError as error:
                yield number, raw, error


def detect_format(path: Path) -> str:
    """The trace format of the first JSON object in the file."""
    for _, _, obj in _json_lines(path):
        if isinstance(obj, dict):
            for trace_format in TRACE_FORMATS.values():
                if trace_format.matches(obj):
                    return trace_format.name
            break
    raise IngestError(
        f"{path}: cannot tell the trace format from its first record; pass --format "
        f"({', '.join(TRACE_FORMATS)}) or see the README's trace schema"
    )


def ingest_file(store: Store, path: str | Path, *, kind: Kind, format: str = "auto") -> IngestReport:
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if kind == "production":
        if format == "auto":
            format = detect_format(path)
        if format not in TRACE_FORMATS:
            raise IngestError(f"unknown format {format!r}: choose one of auto, {', '.join(TRACE_FORMATS)}")
        parse: Callable[[dict[str, Any]], BaseModel] = TRACE_FORMATS[format].read
        table, id_column = "traces", "trace_id"
    elif kind == "eval":
        format, parse, table, id_column = "eval-case", EvalCase.model_validate, "eval_cases", "case_id"
    else:
        raise IngestError(f"unknown kind {kind!r}: choose production or eval")

    source = str(path)
    report = IngestReport(source=source, kind=kind, format=format)
    stored_hashes = dict(store.con.execute(f"SELECT {id_column}, content_hash FROM {table}").fetchall())
    new_rows: dict[str, tuple[str, BaseModel]] = {}
    for line, raw, obj in _json_lines(path):
        reason = None
        if isinstance(obj, json.JSONDecodeError):
            reason = f"not valid JSON ({obj.msg} at column {obj.colno})"
        elif not isinstance(obj, dict):
            reason = f"expected a JSON object, got {type(obj).__name__}"
        else:
            try:
                record = parse(obj)
            except ValidationError as error:
                reason = describe_validation_error(error)
            except (ValueError, TypeError, KeyError) as error:
                reason = f"{type(error).__name__}: {error}"
        if reason is None:
            record_id = record.trace_id if kind == "production" else record.id
            digest = content_hash(record)
            known = stored_hashes.get(record_id) or (new_rows[record_id][0] if record_id in new_rows else None)
            if known == digest:
                report.unchanged += 1
                continue
            if known is not None:
                reason = (
                    f"id {record_id!r} is already stored with different content; nothing stored is "
                    "overwritten, so give the changed record a new id"
                )
            else:
                new_rows[record_id] = (digest, record)
                continue
        report.quarantined.append(Quarantined(source=source, line=line, reason=reason, raw=raw.rstrip("\n")))

    with store.run("ingest", {"path": source, "kind": kind, "format": format}) as run:
        with store.transaction():
            to_rows = _trace_rows if kind == "production" else _eval_rows
            store.insert(table, to_rows(new_rows, source=source, run_id=run.run_id))
            if report.quarantined:
                quarantined_rows = pa.table(
                    {
                        "source": [q.source for q in report.quarantined],
                        "line": pa.array([q.line for q in report.quarantined], pa.int32()),
                        "reason": [q.reason for q in report.quarantined],
                        "raw": [q.raw for q in report.quarantined],
                        "run_id": [run.run_id] * len(report.quarantined),
                    }
                )
                store.insert("quarantine", quarantined_rows)
        report.stored = len(new_rows)
        report.run_id = run.run_id
        run.summary = {"stored": report.stored, "unchanged": report.unchanged, "quarantined": len(report.quarantined)}
    return report


def _json_column(values: list[Any]) -> pa.Array:
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values], pa.string())


def _trace_rows(rows: dict[str, tuple[str, Trace]], *, source: str, run_id: str) -> pa.Table:
    traces = [trace for _, trace in rows.values()]
    return pa.table(
        {
            "trace_id": [t.trace_id for t in traces],
            "content_hash": [digest for digest, _ in rows.values()],
            "timestamp": pa.array([t.timestamp for t in traces], pa.timestamp("us", tz="UTC")),
            "input": [t.input for t in traces],
            "output": [t.output for t in traces],
            "steps": _json_column([[s.model_dump(mode="json") for s in t.steps] for t in traces]),
            "messages": _json_column([t.messages for t in traces]),
            "metadata": _json_column([t.metadata for t in traces]),
            "feedback": _json_column([t.feedback for t in traces]),
            "source": [source] * len(traces),
            "run_id": [run_id] * len(traces),
        }
    )


def _eval_rows(rows: dict[str, tuple[str, EvalCase]], *, source: str, run_id: str) -> pa.Table:
    cases = [case for _, case in rows.values()]
    return pa.table(
        {
            "case_id": [c.id for c in cases],
            "content_hash": [digest for digest, _ in rows.values()],
            "input": [c.input for c in cases],
            "expected": _json_column([c.expected for c in cases]),
            "metadata": _json_column([c.metadata for c in cases]),
            "source": [source] * len(cases),
            "run_id": [run_id] * len(cases),
        }
    )
