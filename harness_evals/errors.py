"""User-fixable errors, and how validation errors are put to the user."""

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError


class UserError(Exception):
    """Bad input or setup. The message names the record or setting and says how to fix it."""


def dotted(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def describe_validation_error(
    error: ValidationError, *, where: Callable[[tuple[Any, ...]], str] = dotted,
    explain: Callable[[dict[str, Any]], str | None] = lambda problem: None,
) -> str:
    """`field.path: what is wrong` for each problem, on one line. `where` names a problem's
    location (a flag, say, instead of the field path); `explain` may say more than pydantic's
    message for a problem (None: pydantic's)."""
    problems = []
    for problem in error.errors():
        message = explain(problem) or problem["msg"].removeprefix("Value error, ")
        location = where(problem["loc"]) if problem["loc"] else ""
        problems.append(f"{location}: {message}" if location else message)
    return "; ".join(problems)
