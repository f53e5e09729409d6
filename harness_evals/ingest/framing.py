"""How records are framed in a file, and turning each into a model or a reason it cannot be.

A reader yields `Parsed(location, raw, record | reason)`: the line (JSONL) or the position in
the document's list (JSON), the raw text to keep in quarantine, and the parsed record or why not.
Hostile input ends as a reason, never as a crash: lines too long to hold, bytes that are not
UTF-8, JSON nested deeper than anything downstream should recurse into, lone surrogates that no
database will store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness_evals.errors import describe_validation_error

RAW_EXCERPT_CHARS = 10_000  # quarantine keeps the start of a bad record, enough to see what is wrong
MAX_RECORD_BYTES = 16 * 2**20  # one line of JSON lines; a longer one is quarantined without being held whole
SKIP_CHUNK_BYTES = 2**20  # the rest of an over-long line is read past in pieces this big
MAX_DOCUMENT_BYTES = 2**30  # formats that are one JSON document are parsed in memory
MAX_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep: flatten the record in the exporter"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        return Unreadable(f"not valid UTF-8 (at offset {error.start}): export the file as UTF-8")


def first_value(path: Path) -> Any:
    """The first JSON value of a file: its first line's, if the file is JSON lines, else the document."""
    for _, _, value in json_lines(path):
        if not isinstance(value, Unreadable):
            return value
        break
    value = read_document(path)
    return None if isinstance(value, Unreadable) else value


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


def per_line(parse: Callable[[dict[str, Any]], BaseModel]) -> Callable[..., Iterator[Parsed]]:
    """A reader for JSON lines, one record an object per line; it can start where an earlier read stopped."""

    def read(path: Path, span: Span = Span()) -> Iterator[Parsed]:
        for line, raw, value in json_lines(path, span):
            raw = raw.rstrip("\n")[:RAW_EXCERPT_CHARS]
            if isinstance(value, Unreadable):
                yield Parsed(line, raw, value.reason)
            elif not isinstance(value, dict):
                yield Parsed(line, raw, f"expected a JSON object, got {type(value).__name__}")
            else:
                yield Parsed(line, raw, convert(parse, value))

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
            raw = json.dumps(value, ensure_ascii=bool(problem))[:RAW_EXCERPT_CHARS]  # escaped: a lone surrogate cannot be stored
            if problem:
                yield Parsed(position, raw, problem)
            elif not isinstance(value, dict):
                yield Parsed(position, raw, f"expected a JSON object, got {type(value).__name__}")
            else:
                yield Parsed(position, raw, convert(parse, value))

    return read
