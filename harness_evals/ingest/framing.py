"""How records are framed in a file, and turning each into a model or a reason it cannot be.

A reader yields `Parsed(location, raw, record | reason)`: the line (JSONL), the row (Parquet) or the
position in the document's list (JSON), the raw text to keep in quarantine, and the parsed record or why not.
Hostile input ends as a reason, never as a crash: lines too long to hold, bytes that are not
UTF-8, JSON nested deeper than anything downstream should recurse into, lone surrogates that no
database will store.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from harness_evals.errors import describe_validation_error

RAW_EXCERPT_CHARS = 10_000  # quarantine keeps the start of a bad record, enough to see what is wrong
MAX_RECORD_BYTES = 16 * 2**20  # one line of JSON lines; a longer one is quarantined without being held whole
SKIP_CHUNK_BYTES = 2**20  # the rest of an over-long line is read past in pieces this big
MAX_DOCUMENT_BYTES = 2**30  # formats that are one JSON document are parsed in memory
MAX_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep: flatten the record in the exporter"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
PARQUET_MAGIC = b"PAR1"  # a Parquet file starts (and ends) with it
PARQUET_BATCH_ROWS = 1_024  # rows turned into Python values at a time; Arrow holds one row group's pages
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which Excel and Windows tools write at a text file's start


@dataclass(frozen=True)
class Parsed:
    location: int
    raw: str
    record: BaseModel | str  # a str is the reason it could not be parsed


@dataclass(frozen=True)
class Unreadable:
    """A line or document that is not a usable JSON value, and why."""

    reason: str


def problem_with(value: Any, raw: str | None = None) -> str | None:
    """What makes a parsed value unfit to store, or None. Given its raw text, walks the value only
    when that text could hide a problem (many brackets, a surrogate escape): clean lines cost two counts."""
    deep = raw is None or raw.count("[") + raw.count("{") > MAX_DEPTH
    surrogates = raw is None or _SURROGATE_ESCAPE.search(raw) is not None
    if not (deep or surrogates):
        return None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return TOO_DEEP
        if isinstance(item, dict):
            stack += [(key, depth) for key in item] + [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
        elif surrogates and isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return (f"holds a lone UTF-16 surrogate ({item[:40]!r}), which is not valid Unicode: fix the "
                        "exporter's escaping of non-ASCII text")
    return None


def parse_json(raw: str, *, check: bool = True) -> Any:
    """The JSON value of a record's text, or Unreadable with the reason; `check`: see `problem_with`."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        return Unreadable(f"not valid JSON ({error.msg} at column {error.colno})")
    except RecursionError:
        return Unreadable(TOO_DEEP)
    problem = problem_with(value, raw) if check else None
    return Unreadable(problem) if problem else value


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@dataclass(frozen=True)
class Span:
    """Where in a JSON-lines file to read: from byte `start` (line `first_line`) to byte `end`."""

    start: int = 0
    first_line: int = 1
    end: int | None = None  # None: to the end of the file


def json_lines(path: Path, span: Span = Span()) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw text, parsed value or Unreadable) for each non-blank line of the span.

    Streams: no more than MAX_RECORD_BYTES of the file is held at once, however long its lines."""
    with path.open("rb") as handle:
        handle.seek(span.start)
        number, position = span.first_line - 1, span.start
        while (span.end is None or position < span.end) and (raw_bytes := handle.readline(MAX_RECORD_BYTES + 1)):
            number += 1
            position += len(raw_bytes)
            if span.start == 0 and number == 1:  # the file's first line: its byte order mark is no part of the record
                raw_bytes = raw_bytes.removeprefix(BOM)
            if len(raw_bytes) > MAX_RECORD_BYTES:
                excerpt, size = raw_bytes[:RAW_EXCERPT_CHARS].decode("utf-8", errors="replace"), len(raw_bytes)
                while not raw_bytes.endswith(b"\n") and (raw_bytes := handle.readline(SKIP_CHUNK_BYTES)):
                    size += len(raw_bytes)
                position = handle.tell()
                yield number, excerpt, Unreadable(
                    f"record is {_mib(size)}, over the {_mib(MAX_RECORD_BYTES)} limit: trim large fields "
                    "(attachments, base64 blobs) in the exporter"
                )
                continue
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, raw_bytes.decode("utf-8", errors="replace"), Unreadable(
                    f"not valid UTF-8 (byte 0x{raw_bytes[error.start]:02x} at offset {error.start}): export the "
                    "file as UTF-8"
                )
                continue
            if raw.strip():
                yield number, raw, parse_json(raw)


def read_document(path: Path) -> Any:
    """A whole-file JSON document, or Unreadable (too big, not UTF-8, not JSON). Its records are
    checked one by one (`problem_with`), so one bad record does not cost the file."""
    raw = document_text(path)
    return raw if isinstance(raw, Unreadable) else parse_json(raw, check=False)


def document_text(path: Path) -> str | Unreadable:
    """The text of a file read as one document, or Unreadable (too big, not UTF-8)."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        return Unreadable(
            f"document is {_mib(size)}; formats read as one document are held in memory up to "
            f"{_mib(MAX_DOCUMENT_BYTES)}: split the file, or convert it to JSON lines"
        )
    try:
        return path.read_bytes().decode("utf-8-sig")  # without the byte order mark, if the file starts with one
    except UnicodeDecodeError as error:
        return Unreadable(f"not valid UTF-8 (at offset {error.start}): export the file as UTF-8")


def one_document(path: Path) -> Any:
    """The JSON document a file is, or Unreadable (why it cannot be read as one), or None: the file is
    JSON lines. A file is one document if its first line is not a JSON value by itself (the document is
    pretty-printed) or is a list, unless the document does not parse and a line of the file is an object
    by itself: JSON lines whose first line is broken or a list, each of whose lines is then read (and
    quarantined, if it must be) on its own, rather than the whole file lost as one broken document."""
    first = next(json_lines(path), None)
    if first is None or not isinstance(first[2], Unreadable | list):
        return None
    document = read_document(path)
    if isinstance(document, Unreadable) and any(isinstance(value, dict) for _, _, value in json_lines(path)):
        return None
    return document


def first_value(path: Path) -> Any:
    """The first JSON value of a file: its first row's, if it is Parquet, the document, if it is one, else its
    first line's that is an object (a broken first line is quarantined like any other)."""
    if is_parquet(path):
        first = next(parquet_rows(path), None)
        return None if first is None or isinstance(first[2], Unreadable) else first[2]
    document = one_document(path)
    if document is not None:
        return None if isinstance(document, Unreadable) else document
    return next((value for _, _, value in json_lines(path) if isinstance(value, dict)), None)


def is_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC


def parquet_row_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def parquet_rows(path: Path, first_row: int = 1, columns: list[str] | None = None) -> Iterator[tuple[int, str, Any]]:
    """(row number, raw text, row as a dict or Unreadable) for each row from `first_row` on, counted from 1.

    Streams one record batch at a time, and skips whole row groups before `first_row` unread. A file
    that cannot be opened, or a row group that cannot be decoded, ends the reading with one reason at
    the row where it stopped. `columns`: only these (of those the file has), for a cheap first pass."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        yield first_row, "", Unreadable(f"not a readable Parquet file ({error}): export it again")
        return
    groups, number = [], 1
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if number + rows <= first_row and not groups:
            number += rows
        else:
            groups.append(group)
    present = None if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=groups, columns=present):
            for row in batch.to_pylist(maps_as_pydicts="lossy"):  # a map as an object, an empty one too
                if number >= first_row:
                    value = {column: _plain(item) for column, item in row.items()}
                    raw = json.dumps(value, ensure_ascii=False, default=str)[:RAW_EXCERPT_CHARS]
                    problem = problem_with(value)
                    yield number, raw, Unreadable(problem) if problem else value
                number += 1
    except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
        yield number, "", Unreadable(f"rows from {number} on cannot be read ({error}): export the file again")


def _plain(value: Any) -> Any:
    """An Arrow value as JSON would hold it: a map as an object with text keys, NaN (pandas' missing
    number) as null, a decimal as a number, bytes as text; datetimes stay datetimes, as the records read
    them. A struct's null fields, and a map's, are left out: Arrow gives each row's struct the fields of
    every row's."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def records(path: Path, span: Span = Span()) -> Iterator[tuple[int, str, Any]]:
    """The values of a JSON-lines file's lines or of a Parquet file's rows, with their line or row
    number. A Parquet file cannot be appended to, only rewritten, so of a span it takes only the row
    to start from (`first_line`)."""
    if is_parquet(path):
        yield from parquet_rows(path, first_row=span.first_line)
    else:
        yield from json_lines(path, span)


def lines_or_items(path: Path, span: Span = Span()) -> Iterator[tuple[int, str, Any]]:
    """As `records`, and a file that is one JSON document (`one_document`): a list's items, or the one
    object, each with its position (from 1)."""
    if not is_parquet(path):
        document = one_document(path)
        if document is not None:
            if isinstance(document, Unreadable):
                yield 1, "", document
                return
            for position, value in enumerate(document if isinstance(document, list) else [document], start=1):
                problem = problem_with(value)
                raw = json.dumps(value, ensure_ascii=bool(problem))[:RAW_EXCERPT_CHARS]  # escaped: a lone surrogate cannot be stored
                yield position, raw, Unreadable(problem) if problem else value
            return
    yield from records(path, span)


def convert(parse: Callable[[Any], BaseModel], value: Any) -> BaseModel | str:
    """The parsed record, or why not on one line: a quarantine reason is one line per record, even
    when the field it names holds a line break."""
    try:
        return parse(value)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        return _reason(error).replace("\r", "\\r").replace("\n", "\\n")


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return describe_validation_error(error)
    if isinstance(error, KeyError):
        return f"missing field {error}"
    if isinstance(error, ValueError):  # readers raise these with a message meant for the user
        return str(error)
    if isinstance(error, RecursionError):
        return TOO_DEEP
    return f"unexpected shape: {type(error).__name__}: {error}"  # a field of an unexpected shape


def refusal(location: int, raw: str, value: Any) -> Parsed | None:
    """Why a value read from a file is no record to parse (unreadable, or no JSON object), or None."""
    if isinstance(value, Unreadable):
        return Parsed(location, raw, value.reason)
    if not isinstance(value, dict):
        return Parsed(location, raw, f"expected a JSON object, got {type(value).__name__}")
    return None


def parsed_record(location: int, raw: str, value: Any, parse: Callable[[dict[str, Any]], BaseModel]) -> Parsed:
    """One record read from a file, as its reader parses it or refused, with the start of its raw text."""
    raw = raw.rstrip("\n")[:RAW_EXCERPT_CHARS]
    return refusal(location, raw, value) or Parsed(location, raw, convert(parse, value))


def per_line(parse: Callable[[dict[str, Any]], BaseModel]) -> Callable[..., Iterator[Parsed]]:
    """A reader for JSON lines, one record an object per line, or for the rows of a Parquet file; it can
    start where an earlier read stopped."""

    def read(path: Path, span: Span = Span()) -> Iterator[Parsed]:
        for line, raw, value in records(path, span):
            yield parsed_record(line, raw, value, parse)

    return read


def per_item(
    items: Callable[[Any], Iterable[Any]], parse: Callable[[Any], BaseModel], what: str
) -> Callable[[Path], Iterator[Parsed]]:
    """A reader for one JSON document holding a list of records; locations count from 1."""

    def read(path: Path) -> Iterator[Parsed]:
        document = read_document(path)
        if isinstance(document, Unreadable):
            yield Parsed(1, "", document.reason)
            return
        try:
            records = list(items(document))
        except (TypeError, KeyError, AttributeError, ValueError) as error:
            yield Parsed(1, "", f"not a {what} document: {type(error).__name__}: {error}")
            return
        for position, value in enumerate(records, start=1):
            problem = problem_with(value)
            raw = json.dumps(value, ensure_ascii=bool(problem))  # escaped: a lone surrogate cannot be stored
            yield parsed_record(position, raw, Unreadable(problem) if problem else value, parse)

    return read
