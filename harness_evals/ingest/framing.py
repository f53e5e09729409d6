"""How records are framed in a file, and turning each into a model or a reason it cannot be.

A reader yields `Parsed(location, raw, record | reason)`: the line (JSONL) or the position in
the document's list (JSON), the raw text to keep in quarantine, and the parsed record or why not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness_evals.errors import describe_validation_error

RAW_EXCERPT_CHARS = 10_000  # quarantine keeps the start of a bad record, enough to see what is wrong


@dataclass(frozen=True)
class Parsed:
    location: int
    raw: str
    record: BaseModel | str  # a str is the reason it could not be parsed


def json_lines(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw text, parsed value or the JSON error) for each non-blank line."""
    with path.open("rb") as handle:
        for number, raw_bytes in enumerate(handle, start=1):
            raw = raw_bytes.decode("utf-8", errors="replace")
            if not raw.strip():
                continue
            try:
                yield number, raw, json.loads(raw)
            except json.JSONDecodeError as error:
                yield number, raw, error


def first_value(path: Path) -> Any:
    """The first JSON value of a file: its first line's, if the file is JSON lines, else the document."""
    for _, _, value in json_lines(path):
        if not isinstance(value, json.JSONDecodeError):
            return value
        break
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def convert(parse: Callable[[Any], BaseModel], value: Any) -> BaseModel | str:
    try:
        return parse(value)
    except ValidationError as error:
        return describe_validation_error(error)
    except KeyError as error:
        return f"missing field {error}"
    except ValueError as error:  # readers raise these with a message meant for the user
        return str(error)
    except (TypeError, AttributeError, IndexError) as error:  # a field of an unexpected shape
        return f"unexpected shape: {type(error).__name__}: {error}"


def per_line(parse: Callable[[dict[str, Any]], BaseModel]) -> Callable[[Path], Iterator[Parsed]]:
    """A reader for JSON lines, one record an object per line."""

    def read(path: Path) -> Iterator[Parsed]:
        for line, raw, value in json_lines(path):
            raw = raw.rstrip("\n")[:RAW_EXCERPT_CHARS]
            if isinstance(value, json.JSONDecodeError):
                yield Parsed(line, raw, f"not valid JSON ({value.msg} at column {value.colno})")
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
        try:
            document = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            yield Parsed(1, "", f"not a valid JSON document: {error}")
            return
        try:
            records = list(items(document))
        except (TypeError, KeyError, AttributeError) as error:
            yield Parsed(1, "", f"not a {what} document: {type(error).__name__}: {error}")
            return
        for position, value in enumerate(records, start=1):
            raw = json.dumps(value, ensure_ascii=False)[:RAW_EXCERPT_CHARS]
            if not isinstance(value, dict):
                yield Parsed(position, raw, f"expected a JSON object, got {type(value).__name__}")
            else:
                yield Parsed(position, raw, convert(parse, value))

    return read
