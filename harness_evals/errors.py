"""User-fixable errors, and how validation errors are put to the user."""

from pydantic import ValidationError


class UserError(Exception):
    """Bad input or setup. The message names the record or setting and says how to fix it."""


def describe_validation_error(error: ValidationError) -> str:
    """`field.path: what is wrong` for each problem, on one line."""
    problems = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
