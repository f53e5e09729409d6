"""How an eval-set file holds its records: JSON lines, one JSON or YAML document, or CSV.

The syntax comes from the file's name (`.csv`; `.yaml`/`.yml`; anything else is JSON or JSON
lines). A record's location is its line for JSON lines and CSV (the row's first line) and its
position in the list for a JSON or YAML document, as for trace files. A CSV row reaches a reader
as a `CsvRow`, so a format can tell a CSV column from a JSON field of the same name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from harness_evals.ingest.framing import (
    MAX_RECORD_BYTES, RAW_EXCERPT_CHARS, Parsed, Span, Unreadable, convert, document_text, first_value, is_parquet,
    json_lines, one_document, parse_json, per_line, problem_with,
)

Syntax = Literal["json", "yaml", "csv"]


class CsvRow(dict):
    """One row of a CSV file: each column's name to its cell's text."""


def syntax_of(path: Path) -> Syntax:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json"


def read_a_record_at_a_time(path: Path) -> bool:
    """A Parquet file, or a JSON file whose first line is a record on its own (an object that holds no
    list of records, as a page of an API's answer does, written on one line) or that is JSON lines
    after all (`framing.one_document`: its first line is broken, a list or text, and it is no document):
    read a row or a line at a time, and resumable."""
    if is_parquet(path):
        return True
    if syntax_of(path) != "json":
        return False
    first = next(json_lines(path), None)
    if first is not None and isinstance(first[2], dict):
        return document_records(first[2]) == [first[2]]
    return first is not None and one_document(path) is None


PAGES = (("data", {"data", "meta"}), ("events", {"events", "cursor"}))  # an API's page: its records' key, all its keys


def document_records(document: Any) -> list[Any]:
    """The records of a whole-file document: a list's items, the list of a page of an API's answer
    (Langfuse's `{"data": [...], "meta": {...}}`, Braintrust's fetch `{"events": [...], "cursor": ...}`),
    or else the document itself."""
    if isinstance(document, list):
        return document
    for key, keys in PAGES:
        if isinstance(document, dict) and isinstance(document.get(key), list) and set(document) <= keys:
            return document[key]
    return [document]


MAX_YAML_ALIAS_VALUES = 100_000  # values the aliases of one YAML document may stand for, expanded


class _TooManyAliasValues(yaml.YAMLError):
    """The document's aliases stand for more values than MAX_YAML_ALIAS_VALUES, or for themselves."""


class _BoundedAliasLoader(yaml.SafeLoader):
    """YAML's safe loader, counting the values each alias stands for once expanded. A loaded value
    shares the node an alias names, so 500 bytes of nested aliases load at once into billions of values
    ("billion laughs"); but everything after loading (ids from content, JSON, the store) walks them
    expanded, and would never finish."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_values = 0
        self.sizes: dict[int, int] = {}  # id of a composed node -> values it holds, itself included
        self.open_anchors: set[str] = set()  # anchors of the nodes being composed: an alias to one is a loop

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open_anchors:
                raise _TooManyAliasValues(f"the alias *{event.anchor} at line {event.start_mark.line + 1} is inside "
                                          "the value it names, which never ends: write the value out")
            if event.anchor in self.anchors:
                self.alias_values += self._size(self.anchors[event.anchor])
                if self.alias_values > MAX_YAML_ALIAS_VALUES:
                    raise _TooManyAliasValues(
                        f"its aliases stand for over {MAX_YAML_ALIAS_VALUES:,} values once expanded (by the alias "
                        f"*{event.anchor} at line {event.start_mark.line + 1}): write the values out, or alias less")
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        if anchor is None:
            return super().compose_node(parent, index)
        self.open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        if id(node) not in self.sizes:
            if isinstance(node, yaml.MappingNode):
                children = [child for pair in node.value for child in pair]
            else:
                children = node.value if isinstance(node, yaml.SequenceNode) else []
            self.sizes[id(node)] = 1 + sum(self._size(child) for child in children)
        return self.sizes[id(node)]


def read_structured(path: Path) -> Any:
    """A whole JSON or YAML document, or Unreadable with the reason."""
    text = document_text(path)
    if isinstance(text, Unreadable) or syntax_of(path) == "json":
        return text if isinstance(text, Unreadable) else parse_json(text, check=False)
    try:
        return yaml.load(text, Loader=_BoundedAliasLoader)  # noqa: S506  a SafeLoader: builds no Python objects
    except _TooManyAliasValues as error:
        return Unreadable(f"YAML: {error}")
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return Unreadable(f"not valid YAML ({getattr(error, 'problem', None) or error}{where})")


def _csv_reader(text: str) -> csv.DictReader:
    # a cell may hold as much as a record may (a document, a long context), not only csv's default 128 KiB;
    # the limit is the csv module's, for the whole process
    csv.field_size_limit(MAX_RECORD_BYTES)
    return csv.DictReader(io.StringIO(text, newline=""))


def csv_rows(path: Path) -> list[tuple[int, CsvRow]] | Unreadable:
    """(line, row) for each row with a value in it: Inspect's and promptfoo's loaders skip blank rows."""
    text = document_text(path)
    if isinstance(text, Unreadable):
        return text
    reader = _csv_reader(text)
    rows = []
    try:
        for row in reader:
            if any(isinstance(cell, str) and cell.strip() for cell in row.values()):
                rows.append((_first_line(reader.line_num, row), CsvRow(row)))
    except csv.Error as error:
        return Unreadable(f"not valid CSV at line {reader.line_num}: {error}")
    return rows


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _first_line(last_line: int, row: dict[str | None, Any]) -> int:
    """The line a row starts on, from the one it ends on: its quoted cells hold the line breaks between
    (and blank lines before it, which the reader skips, are none of its own)."""
    cells = [cell for value in row.values() for cell in (value if isinstance(value, list) else [value])]
    return last_line - sum(len(_LINE_BREAK.findall(cell)) for cell in cells if isinstance(cell, str))


def first_record(path: Path) -> Any:
    """What sniffing looks at: the first line of JSON lines, the first record of a document (the
    document itself if it is not a list), or a CSV file's first row (its header's columns with
    empty cells if it has no row). None if there is none; Unreadable if the document cannot be read."""
    if syntax_of(path) == "csv":
        text = document_text(path)
        if isinstance(text, Unreadable):
            return text
        reader = _csv_reader(text)
        try:
            first = next(reader, None)
        except csv.Error:
            return None
        return CsvRow(first) if first is not None else CsvRow.fromkeys(reader.fieldnames or [], "") or None
    if read_a_record_at_a_time(path):
        return first_value(path)
    document = read_structured(path)
    if isinstance(document, Unreadable) or document is None:
        return document
    records = document_records(document)
    return records[0] if records else None


def records_of(path: Path) -> list[tuple[int, Any]] | Unreadable:
    """(location, value) of each record of a JSON or YAML document, or of each CSV row."""
    if syntax_of(path) == "csv":
        return csv_rows(path)
    document = read_structured(path)
    if isinstance(document, Unreadable):
        return document
    return list(enumerate(document_records(document), start=1))


def parsed(location: int, value: Any, parse: Callable[[Any], BaseModel]) -> Parsed:
    """One record of a document parsed, or why it cannot be, with its raw text for quarantine."""
    problem = problem_with(value)
    # escaped where it has a problem: a lone surrogate cannot be stored
    raw = json.dumps(value, ensure_ascii=bool(problem), default=str)[:RAW_EXCERPT_CHARS]
    if problem:
        return Parsed(location, raw, problem)
    if not isinstance(value, dict):
        return Parsed(location, raw, f"expected an object, got {type(value).__name__}")
    return Parsed(location, raw, convert(parse, value))


def per_record(parse: Callable[[Any], BaseModel]) -> Callable[..., Iterator[Parsed]]:
    """A reader of one record per line (JSON lines, from where the span starts), per list item (a
    JSON or YAML document) or per row (CSV), whichever the file holds."""

    def read(path: Path, span: Span = Span(), options: Any = None) -> Iterator[Parsed]:
        if read_a_record_at_a_time(path):
            yield from per_line(parse)(path, span)
            return
        records = records_of(path)
        if isinstance(records, Unreadable):
            yield Parsed(1, "", records.reason)
            return
        for location, value in records:
            yield parsed(location, value, parse)

    return read
