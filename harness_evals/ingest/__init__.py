"""Ingest files of production traces or eval cases into the store.

Each format is a small reader module behind one registry (TRACE_FORMATS here; EVAL_FORMATS, in
`evalsets/`, for eval sets); `format="auto"` sniffs the file's first record. A file whose first
record says it was given the wrong kind or format (an eval set ingested as traces, a τ²-bench
file as τ-bench) is refused before anything is stored. A record that is not valid JSON, does not
fit its format, or reuses a stored id with different content is quarantined with its location
(line, Parquet row, or position in the document) and reason; every other record is stored. Re-ingesting a
file changes nothing. The file streams in batches of BATCH_RECORDS records (CHUNK_BYTES with
worker processes), each one transaction: a crash keeps whole batches only, and ingesting the
file again stores the rest.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pyarrow as pa
from pydantic import BaseModel

from harness_evals.errors import UserError
from harness_evals.ingest.canonical import looks_canonical, read_canonical
from harness_evals.ingest.evalsets import CATCH_ALL_EVAL_FORMAT, EVAL_FORMATS, ReadOptions, claims, eval_format_claiming
from harness_evals.ingest.evalsets.files import first_record, read_a_record_at_a_time
from harness_evals.ingest.framing import (Parsed, Span, Unreadable, first_value, is_parquet, parquet_row_count,
                                          per_item, per_line)
from harness_evals.ingest.langfuse import looks_like_langfuse, read_langfuse
from harness_evals.ingest.langsmith import looks_like_langsmith, read_langsmith
from harness_evals.ingest.mint import looks_like_mint, read_mint
from harness_evals.ingest.openai_chat import looks_like_openai_chat, read_openai_chat
from harness_evals.ingest.otlp import looks_like_otlp, read_otlp
from harness_evals.ingest.phoenix import looks_like_phoenix, read_phoenix
from harness_evals.ingest.tau import looks_like_tau2, looks_like_tau_bench, read_tau2, read_tau_bench, tau2_simulations
from harness_evals.prompts.assembly import PromptAssembly, release_of
from harness_evals.records import EvalCase, Quarantined, Trace, content_hash
from harness_evals.redact import Redactor
from harness_evals.registry import Registry
from harness_evals.store import TABLES, Store
from harness_evals.store.traces import ingest_watermark, stored_content_hashes

Kind = Literal["production", "eval"]
BATCH_RECORDS = 5_000  # one transaction each: a crash keeps whole batches, and a re-run stores the rest
PARALLEL_MIN_BYTES = 16 * 2**20  # below this, starting worker processes costs more than they save
CHUNK_BYTES = 4 * 2**20  # one worker's piece of a JSON-lines file, and one transaction


@dataclass(frozen=True)
class TraceFormat:
    """A file format of production traces. One from outside the package is a TraceFormat object,
    named by an entry point in `harness_evals.trace_formats` or as `--format module:NAME`; its
    reader yields `framing.Parsed` records (`framing.per_line` makes one from a per-record parser)."""

    name: str
    sniff: Callable[[Any], bool]  # given the file's first JSON value
    read: Callable[..., Iterator[Parsed]]  # (path) or, if resumable, (path, span)
    shape: str  # what a file of this format holds, for the message that it holds something else
    resumable: bool = False  # one record per line: a later read can start where this one stopped


# Most specific first: sniffing stops at the first format that claims the file. A format from
# outside the package (an entry point in harness_evals.trace_formats) is sniffed after the built-in
# ones but before the catch-all, which claims any record with an input or a trace_id.
TRACE_FORMATS: Registry[TraceFormat] = Registry("trace format", "harness_evals.trace_formats", {
    f.name: f
    for f in (
        TraceFormat("otlp", looks_like_otlp, read_otlp, 'OTLP JSON: {"resourceSpans": [...]}'),
        TraceFormat("tau-bench", looks_like_tau_bench, per_item(lambda doc: doc, read_tau_bench, "τ-bench"),
                    "a JSON list of {task_id, trial, reward, info, traj}"),
        TraceFormat("tau2", looks_like_tau2, per_item(tau2_simulations, read_tau2, "τ²-bench"),
                    "a JSON object {info, tasks, simulations}"),
        TraceFormat("mint", looks_like_mint, per_line(read_mint), "JSON lines of {task, state}", resumable=True),
        TraceFormat("langfuse", looks_like_langfuse, read_langfuse,
                    "Langfuse traces with their observations, or observations with a traceId"),
        TraceFormat("langsmith", looks_like_langsmith, read_langsmith,
                    "LangSmith runs (JSON lines or Parquet) with id, trace_id, parent_run_id, run_type"),
        TraceFormat("phoenix", looks_like_phoenix, read_phoenix,
                    "a Phoenix spans dataframe (Parquet or JSON lines) with context.trace_id, context.span_id"),
        TraceFormat("openai-chat", looks_like_openai_chat, per_line(read_openai_chat),
                    "JSON lines of {messages: [...]} without an input field", resumable=True),
        TraceFormat("canonical", looks_canonical, per_line(read_canonical),
                    "JSON lines of {trace_id, timestamp, input, ...}", resumable=True),
    )
}, instance_of=TraceFormat, also=["auto (detect it from the first record)"])
CATCH_ALL_FORMAT = "canonical"


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
    from_line: int = 1  # JSON lines read on from an earlier ingest's watermark start past line 1
    # where each eval case this ingest stored was, to name both lines when an id comes again with other
    # content: eval sets are small enough to remember, trace files are not
    eval_case_lines: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def lines(self) -> int:
        return self.stored + self.unchanged + len(self.quarantined)

    @property
    def stored_nothing(self) -> bool:
        """Every record read was quarantined: none stored now, none stored before."""
        return bool(self.quarantined) and not (self.stored or self.unchanged)

    def why_nothing_stored(self) -> str:
        """One line for a file that stored nothing: the reason (the first, if they differ) and the fix."""
        first = self.quarantined[0]
        why = f"all {len(self.quarantined)} records were quarantined"
        if any(q.reason != first.reason for q in self.quarantined):
            why += f", the first (line {first.line}) as"
        return (f"{self.source}: nothing stored: {why}: {first.reason}; fix the records and ingest again "
                "(each reason is in the quarantine table)")


def detect_format(path: Path) -> str:
    """The trace format that claims the file's first JSON value."""
    return _format_claiming(path, first_value(path))


def _format_claiming(path: Path, value: Any) -> str:
    return _claimed_or_refused(path, _claimed_by(value), what="trace format", names=TRACE_FORMATS.names(),
                               see="the README's trace schema")


def _claimed_by(value: Any) -> str | None:
    """The first trace format, in sniffing order, that claims a file's first JSON value."""
    formats = sorted(TRACE_FORMATS.items(), key=lambda item: item[0] == CATCH_ALL_FORMAT)  # stable: the rest keep order
    return next((name for name, trace_format in formats if _claims(trace_format, value)), None)


def looks_like_eval_case(value: Any) -> bool:
    """An eval set's record: an id and an input, and no trace_id (which every canonical trace has), and
    no trace format but the catch-all claims it (a Langfuse trace has an id and an input too)."""
    return (isinstance(value, dict) and "input" in value and "id" in value and "trace_id" not in value
            and _claimed_by(value) in (None, CATCH_ALL_FORMAT))


def _eval_format_claiming(path: Path, value: Any) -> str:
    if isinstance(value, Unreadable):  # nothing to tell the format by: why is the line to fix
        raise IngestError(f"{path}: {value.reason}")
    return _claimed_or_refused(path, eval_format_claiming(value), what="eval-set format", names=EVAL_FORMATS.names(),
                               see='the README\'s "Eval sets read"')


def _claimed_or_refused(path: Path, claimed_by: str | None, *, what: str, names: list[str], see: str) -> str:
    """The format that claimed the file's first record, or one line saying how to name it."""
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty")
    if claimed_by is None:
        raise IngestError(f"{path}: cannot tell the {what} from its first record; pass --format "
                          f"({', '.join(names)}) or see {see}")
    return claimed_by


def _misfit(value: Any, *, kind: Kind, format: str, first_record: Any = None) -> str | None:
    """Why the file's first record says the file was given the wrong kind or format, and the fix.
    None if it fits, or looks like nothing else: a first record that is merely broken is
    quarantined with its own reason, like any other. `value` is the file's first JSON value, as
    trace formats see it; `first_record`, for eval sets, the first record as eval-set formats do."""
    claimed_by = _claimed_by(value)
    if kind == "eval":
        eval_claimed_by = eval_format_claiming(first_record)
        if eval_claimed_by not in (None, CATCH_ALL_EVAL_FORMAT):  # a tool's eval set, whatever a trace sniffer says
            return _misnamed(format, eval_claimed_by, first_record)
        # canonical claims any record with an input: only a trace_id tells a canonical trace from an eval case
        if claimed_by and not looks_like_eval_case(value) and (claimed_by != CATCH_ALL_FORMAT or "trace_id" in value):
            return f"looks like production traces ({claimed_by}), not eval cases: pass --kind production"
        return None
    if looks_like_eval_case(value):
        return "looks like an eval set (records with id and input, no trace_id): pass --kind eval"
    if claimed_by is None or _claims(TRACE_FORMATS.get(format), value):
        return None
    return (f"is not {format} ({TRACE_FORMATS.get(format).shape}); it looks like {claimed_by}: "
            f"pass --format {claimed_by}, or leave --format out to detect it")


def _refuse_misfit(path: Path, misfit: str | None) -> None:
    if misfit is not None:
        raise IngestError(f"{path}: {misfit}")


def _misnamed(format: str, claimed_by: str, first_record: Any) -> str | None:
    """Why an eval set named as one format looks like another (not our catch-all, which claims any
    record with an input: a tool's file without its distinctive fields is still that tool's)."""
    if format in ("auto", claimed_by):
        return None
    named = EVAL_FORMATS.get(format)
    if claims(named, first_record):
        return None
    return (f"its first record is not {format} ({named.shape}); it looks like {claimed_by}: "
            f"pass --format {claimed_by}, or leave --format out to detect it")


def _claims(trace_format: TraceFormat, value: Any) -> bool:
    try:
        return bool(trace_format.sniff(value))
    except (TypeError, AttributeError, KeyError, IndexError):  # a value of a shape no sniffer expects
        return False


REDACTED_FIELDS = {"production": ("input", "output", "steps", "messages", "metadata", "feedback"),
                   "eval": ("input", "expected", "metadata", "messages")}


def ingest_file(
    store: Store, path: str | Path, *, kind: Kind, format: str = "auto", redactor: Redactor | None = None,
    input_var: str | None = None, workers: int = 1, batch_records: int = BATCH_RECORDS,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES, chunk_bytes: int = CHUNK_BYTES,
) -> IngestReport:
    """`redactor`: store only redacted text (`--no-raw`); ids and hashes still come from the raw record,
    so re-ingesting the same file still changes nothing. `input_var`: which var of a promptfoo test
    is the request, when its tests have several.

    Records are stored `batch_records` per transaction. `workers` > 1: JSON lines beyond
    `parallel_min_bytes` are parsed and hashed by that many worker processes, in pieces of about
    `chunk_bytes` (one transaction each), while this process stores each piece in file order.
    Workers are started with `spawn`: a script that calls this needs `if __name__ == "__main__":`."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    first = first_value(path)
    if kind == "production":
        if input_var is not None:
            raise IngestError(f"{path}: --input-var names the var of a promptfoo test that is the request: "
                              "it is for --kind eval")
        if format == "auto":
            format = _format_claiming(path, first)
        resumable = TRACE_FORMATS.get(format).resumable
        _refuse_misfit(path, _misfit(first, kind=kind, format=format))
    elif kind == "eval":
        head = first_record(path)
        _refuse_misfit(path, _misfit(first, kind=kind, format=format, first_record=head))
        if format == "auto":
            format = _eval_format_claiming(path, head)
        eval_format = EVAL_FORMATS.get(format)
        if input_var is not None and not eval_format.reads_input_var:
            raise IngestError(f"{path}: --input-var names the var of a promptfoo test that is the request; "
                              f"{format} has no vars: leave it out")
        resumable = eval_format.resumable and read_a_record_at_a_time(path)
    else:
        raise IngestError(f"unknown kind {kind!r}: choose production or eval")
    if workers < 1:
        raise IngestError(f"workers must be 1 or more, got {workers}")

    source = str(path)
    report = IngestReport(source=source, kind=kind, format=format)
    span = _unread_span(store, path, kind=kind, format=format) if resumable else Span()
    report.from_line = span.first_line
    options = ReadOptions(input_var=input_var)
    if resumable and workers > 1 and span.end - span.start >= parallel_min_bytes and not is_parquet(path):
        pieces = _line_chunks(path, span, chunk_bytes=chunk_bytes)
        batches = _prepared_by_workers([(format, kind, path, chunk, source, redactor) for chunk in pieces],
                                       workers=workers)
    else:
        read = _reader(kind, format, options)
        # read before the run starts: a reader may refuse the whole file (a UserError) before anything is written
        records = read(path, span) if resumable else read(path)
        batches = (prepare(parsed, kind=kind, source=source, redactor=redactor)
                   for parsed in _batched(records, size=batch_records))
    with store.run("ingest", {"path": source, "kind": kind, "format": format}) as run:
        report.run_id = run.run_id
        for prepared in batches:
            commit(store, prepared, report, run_id=run.run_id)
        if resumable and not report.stored_nothing:  # a file that stored nothing is read again, and refused again
            _record_watermark(store, path, kind=kind, format=format, span=span, run_id=run.run_id)
        run.summary = {"stored": report.stored, "unchanged": report.unchanged, "quarantined": len(report.quarantined),
                       "from_line": report.from_line}
    return report


def _reader(kind: Kind, format: str, options: ReadOptions = ReadOptions()) -> Callable[..., Iterator[Parsed]]:
    """The format's reader, as `(path)` or, if resumable, `(path, span)`."""
    if kind == "production":
        return TRACE_FORMATS.get(format).read
    read = EVAL_FORMATS.get(format).read
    return lambda path, span=Span(): read(path, span, options)


def available_cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _line_chunks(path: Path, span: Span, *, chunk_bytes: int) -> Iterator[Span]:
    """The span in pieces of about `chunk_bytes` that end at line ends, each with its first line's number.
    Reads in blocks: an over-long line is never held whole."""
    with path.open("rb") as handle:
        start, first_line = span.start, span.first_line
        while start < span.end:
            end = _line_end_from(handle, min(start + chunk_bytes, span.end), span.end)
            handle.seek(start)
            lines = sum(handle.read(min(FINGERPRINT_BYTES, end - at)).count(b"\n")
                        for at in range(start, end, FINGERPRINT_BYTES))
            yield Span(start, first_line, end)
            start, first_line = end, first_line + lines


def _line_end_from(handle: BinaryIO, position: int, limit: int) -> int:
    """Just past the first newline at or after byte `position - 1`, or `limit`: where a piece that
    should end near `position` can end without cutting a line in two."""
    offset = position - 1
    handle.seek(offset)
    while offset < limit:
        block = handle.read(min(FINGERPRINT_BYTES, limit - offset))
        newline = block.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(block)
    return limit


def _batched(parsed: Iterator[Parsed], *, size: int) -> Iterator[list[Parsed]]:
    batch: list[Parsed] = []
    for item in parsed:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prepare_span(format: str, kind: Kind, path: Path, span: Span, source: str, redactor: Redactor | None) -> Prepared:
    return prepare(list(_reader(kind, format)(path, span)), kind=kind, source=source, redactor=redactor)


def _prepared_by_workers(pieces: list[tuple], *, workers: int) -> Iterator[Prepared]:
    """Each piece prepared in a worker process, handed back in file order; at most two per worker
    are in flight, so a slow store holds back the reading rather than filling memory."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_flight: deque[Future[Prepared]] = deque()
        try:
            for piece in pieces:
                in_flight.append(pool.submit(_prepare_span, *piece))
                if len(in_flight) >= 2 * workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            pool.shutdown(cancel_futures=True)


FINGERPRINT_BYTES = 2**16


def _fingerprint(path: Path, end: int) -> str:
    """The size read and a hash of the first and last 64 KiB of it: cheap, and enough to tell a
    file that was only appended to from one rotated, truncated or rewritten."""
    digest = hashlib.sha256(str(end).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(min(end, FINGERPRINT_BYTES)))
        handle.seek(max(0, end - FINGERPRINT_BYTES))
        digest.update(handle.read(min(end, FINGERPRINT_BYTES)))
    return digest.hexdigest()


def _complete_lines_end(path: Path, size: int) -> int:
    """The end of the last complete line in the first `size` bytes."""
    with path.open("rb") as handle:
        position = size
        while position > 0:
            start = max(0, position - FINGERPRINT_BYTES)
            handle.seek(start)
            newline = handle.read(position - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            position = start
    return 0


def _unread_span(store: Store, path: Path, *, kind: str, format: str) -> Span:
    """From the watermark, if the file still begins with what was read, to the end of the file."""
    size = path.stat().st_size
    mark = ingest_watermark(store, str(path.resolve()), kind=kind, format=format)
    if mark is None or mark.offset_bytes > size or _fingerprint(path, mark.offset_bytes) != mark.fingerprint:
        return Span(0, 1, size)
    return Span(mark.offset_bytes, mark.lines + 1, size)


def _record_watermark(store: Store, path: Path, *, kind: str, format: str, span: Span, run_id: str) -> None:
    """Up to the end of the last complete line read: a last line without its newline may still be
    being written, so the next read takes it again (re-reading a stored record changes nothing).
    A Parquet file is complete or unreadable, and is rewritten rather than appended to: the mark
    covers all its rows, so an unchanged file reads as nothing new and a rewritten one from row 1."""
    if is_parquet(path):
        _store_watermark(store, path, kind=kind, format=format, end=span.end, lines=parquet_row_count(path),
                         run_id=run_id)
        return
    end = _complete_lines_end(path, span.end)
    lines = span.first_line - 1
    with path.open("rb") as handle:
        handle.seek(span.start)
        for _ in range(span.start, end, FINGERPRINT_BYTES):
            lines += handle.read(min(FINGERPRINT_BYTES, end - handle.tell())).count(b"\n")
    _store_watermark(store, path, kind=kind, format=format, end=end, lines=lines, run_id=run_id)


def _store_watermark(store: Store, path: Path, *, kind: str, format: str, end: int, lines: int, run_id: str) -> None:
    store.insert("ingest_watermarks", {
        "source": [str(path.resolve())], "kind": [kind], "format": [format], "offset_bytes": [end], "lines": [lines],
        "fingerprint": [_fingerprint(path, end)], "run_id": [run_id],
    }, on_conflict="replace")


@dataclass(frozen=True)
class Prepared:
    """Parsed records of one batch turned into rows, before the store is consulted: what a worker
    process hands back. The records that parsed (reason None) are, in order, the rows of `table`
    and the entries of `ids`, `digests`, `prompts` and `releases`."""

    locations: list[int]
    raws: list[str]
    reasons: list[str | None]  # None: the record parsed; it is the next row of `table`
    ids: list[str]
    digests: list[str]
    table: pa.Table
    prompts: list[PromptAssembly | None]
    releases: list[str | None]


def prepare(parsed: list[Parsed], *, kind: Kind, source: str, redactor: Redactor | None) -> Prepared:
    valid = [p.record for p in parsed if not isinstance(p.record, str)]
    digests = [content_hash(record) for record in valid]
    if redactor:
        valid = [_redacted(record, REDACTED_FIELDS[kind], redactor) for record in valid]
    traces = kind == "production"
    return Prepared(
        locations=[p.location for p in parsed],
        raws=[p.raw for p in parsed],
        reasons=[p.record if isinstance(p.record, str) else None for p in parsed],
        ids=[_record_id(record) for record in valid],
        digests=digests,
        table=(_trace_rows if traces else _eval_rows)(valid, digests, source=source),
        prompts=[record.prompt for record in valid] if traces else [],
        releases=[release_of(record.metadata) for record in valid] if traces else [],
    )


def commit(store: Store, prepared: Prepared, report: IngestReport, *, run_id: str) -> None:
    """Store a prepared batch in one transaction: new records, and in quarantine the unparsed and
    those whose id is stored (or earlier in the file) with different content."""
    table = "traces" if report.kind == "production" else "eval_cases"
    stored_hashes = stored_content_hashes(store, table, prepared.ids)
    new: dict[str, str] = {}
    lines_here: dict[str, int] = {}  # id -> where its record in this batch is, stored or found unchanged
    keep: list[int] = []
    quarantined, unchanged, row = [], 0, -1
    for location, raw, reason in zip(prepared.locations, prepared.raws, prepared.reasons, strict=True):
        if reason is None:
            row += 1
            record_id, digest = prepared.ids[row], prepared.digests[row]
            known = stored_hashes.get(record_id) or new.get(record_id)
            if known == digest or known is None:
                lines_here.setdefault(record_id, location)
            if known == digest:
                unchanged += 1
                continue
            if known is None:
                new[record_id] = digest
                keep.append(row)
                continue
            earlier = None if table == "traces" else report.eval_case_lines.get(record_id, lines_here.get(record_id))
            reason = (f"id {record_id!r} repeats that of line {earlier} with different content: give one of them "
                      f"a new id (line {earlier}'s is kept)" if earlier is not None else
                      f"id {record_id!r} is already stored with different content; nothing stored is "
                      "overwritten, so give the changed record a new id")
        quarantined.append(Quarantined(source=report.source, line=location, reason=reason, raw=raw))

    rows = prepared.table.take(pa.array(keep, pa.int64()))
    with store.transaction():
        store.insert(table, rows.append_column("run_id", pa.array([run_id] * len(keep), pa.string())))
        store.insert("quarantine", _quarantine_rows(quarantined, run_id=run_id))
        if table == "traces":
            _store_prompts(store, [prepared.ids[row] for row in keep], [prepared.prompts[row] for row in keep],
                           [prepared.releases[row] for row in keep], run_id=run_id)
    if table == "eval_cases":
        for record_id, location in lines_here.items():
            report.eval_case_lines.setdefault(record_id, location)
    report.stored += len(keep)
    report.unchanged += unchanged
    report.quarantined += [replace(q, raw="") for q in quarantined]  # the raw text is in the store


def _store_prompts(store: Store, trace_ids: list[str], prompts: list[PromptAssembly | None],
                   releases: list[str | None], *, run_id: str) -> None:
    with_prompt = [(trace_id, prompt, release) for trace_id, prompt, release in zip(trace_ids, prompts, releases,
                                                                                     strict=True) if prompt is not None]
    if not with_prompt:
        return
    assemblies = {prompt.digest: prompt for _, prompt, _ in with_prompt}
    store.insert("prompt_assemblies", {
        "assembly_hash": list(assemblies),
        "blocks": [json.dumps([b.model_dump() for b in a.blocks], ensure_ascii=False) for a in assemblies.values()],
        "run_id": [run_id] * len(assemblies),
    }, on_conflict="ignore")
    store.insert("trace_prompts", {
        "trace_id": [trace_id for trace_id, _, _ in with_prompt],
        "assembly_hash": [prompt.digest for _, prompt, _ in with_prompt],
        "release": [release for _, _, release in with_prompt],
        "run_id": [run_id] * len(with_prompt),
    })


def _record_id(record: BaseModel) -> str:
    return record.trace_id if isinstance(record, Trace) else record.id


def _quarantine_rows(quarantined: list[Quarantined], *, run_id: str) -> dict[str, list[Any]]:
    return {
        "source": [q.source for q in quarantined],
        "line": [q.line for q in quarantined],
        "reason": [q.reason for q in quarantined],
        "raw": [q.raw for q in quarantined],
        "run_id": [run_id] * len(quarantined),
    }


def _redacted(record: BaseModel, fields: tuple[str, ...], redactor: Redactor) -> BaseModel:
    redacted = type(record).model_validate(redactor.redact_fields(record.model_dump(mode="json"), fields))
    if isinstance(record, Trace) and record.prompt is not None:  # injected context can hold user data too
        redacted.prompt = PromptAssembly(blocks=[
            block.model_copy(update={"text": redactor.redact(block.text)}) for block in record.prompt.blocks])
    return redacted


def _json_column(values: list[Any]) -> list[str | None]:
    return [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values]


def _trace_rows(traces: list[Trace], digests: list[str], *, source: str) -> pa.Table:
    """Every column but `run_id`, known once committed."""
    return TABLES["traces"].rows({
        "trace_id": [t.trace_id for t in traces],
        "content_hash": digests,
        "timestamp": [t.timestamp for t in traces],
        "input": [t.input for t in traces],
        "output": [t.output for t in traces],
        "steps": _json_column([[s.model_dump(mode="json") for s in t.steps] for t in traces]),
        "messages": _json_column([t.messages for t in traces]),
        "metadata": _json_column([t.metadata for t in traces]),
        "feedback": _json_column([t.feedback for t in traces]),
        "source": [source] * len(traces),
    })


def _eval_rows(cases: list[EvalCase], digests: list[str], *, source: str) -> pa.Table:
    """Every column but `run_id`, known once committed."""
    return TABLES["eval_cases"].rows({
        "case_id": [c.id for c in cases],
        "content_hash": digests,
        "input": [c.input for c in cases],
        "expected": _json_column([c.expected for c in cases]),
        "metadata": _json_column([c.metadata for c in cases]),
        "messages": _json_column([c.messages for c in cases]),
        "source": [source] * len(cases),
    })
