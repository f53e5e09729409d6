"""The suite format: cases with the checks CI applies. Light on purpose: no numpy, no torch.

A case's `expected` is either text (a reference answer, for a human or a grader) or an object
of checks:

    {"equals": "...", "contains": [...], "not_contains": [...], "regex": "...",
     "json_schema": {...}, "required_tools": [...], "forbidden_tools": [...],
     "rubric": "...", "reference": "..."}

A multi-turn case also keeps `messages`: the conversation up to the point under test, and the
checks are on the agent's next turn (its tool calls and its answer), not on a whole episode. The
messages end where the agent's turn starts (a user message, or a tool result for the agent).
`harness-evals/suite@2` added `messages`; a suite written as `@1` reads as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from harness_evals.errors import UserError, describe_validation_error

SUITE_FORMAT = "harness-evals/suite@2"
CHECK_KEYS = ("equals", "contains", "not_contains", "regex", "json_schema", "required_tools", "forbidden_tools",
              "rubric", "reference")


class Expected(BaseModel):
    """What the agent should do, in forms a CI job can check."""

    model_config = ConfigDict(extra="forbid")

    equals: str | None = None
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: str | None = None
    json_schema: dict[str, Any] | None = None
    required_tools: list[str] = Field(default_factory=list)
    forbidden_tools: list[str] = Field(default_factory=list)
    rubric: str | None = None  # for a model-graded check
    reference: str | None = None  # a reference answer, for people and graders

    @model_validator(mode="after")
    def _has_a_check(self) -> Expected:
        if not any(getattr(self, key) for key in CHECK_KEYS) and self.json_schema is None:  # {}: any JSON
            raise ValueError(f"no check given: name at least one of {', '.join(CHECK_KEYS)}")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise ValueError(f"regex {self.regex!r} does not compile: {error}") from None
        return self


def _parse_expected(value: Any) -> Expected | str:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("expected is empty: say what the agent should have done")
        return value
    if isinstance(value, Expected):
        return value
    if isinstance(value, dict):
        try:
            return Expected.model_validate(value)
        except ValidationError as error:
            raise ValueError(describe_validation_error(error)) from None
    raise ValueError(
        f"expected must be text (a reference answer) or an object of checks ({', '.join(CHECK_KEYS)}), "
        f"got {type(value).__name__}"
    )


ExpectedField = Annotated[Expected | str, BeforeValidator(_parse_expected)]


def expected_json(expected: Expected | str) -> Any:
    """The JSON form of an expectation, without unset checks."""
    if isinstance(expected, str):
        return expected
    return expected.model_dump(mode="json", exclude_defaults=True)


class ToolCall(BaseModel):
    """A tool call in a conversation: the tool's name, its arguments (decoded from JSON text where
    they came as text), and the id its result answers, where the trace had one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: Any = None
    id: str | None = None


class Message(BaseModel):
    """One message of a case's conversation. The system prompt is not kept: the target brings its own.
    `tool_calls` are on assistant messages, and on user messages where the user runs tools too
    (τ²-bench's telecom customer); a `tool` message is a call's result, `tool_call_id` naming the call."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content, **self.model_dump(
            mode="json", exclude_defaults=True, include={"tool_calls", "tool_call_id"})}


class SuiteCase(BaseModel):
    """One regression case. The same shape as an eval case, with checks in `expected`, and for a
    multi-turn case the conversation so far in `messages`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    input: str = Field(min_length=1)  # the user's request: the first user message of a multi-turn case
    expected: ExpectedField
    messages: list[Message] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ends_where_the_agent_acts(self) -> SuiteCase:
        if self.messages is not None:
            if not self.messages:
                raise ValueError("messages is empty: leave it out for a single-turn case")
            if self.messages[-1].role == "assistant":
                raise ValueError("messages ends with an assistant message: end it where the agent's turn under "
                                 "test starts (a user message or a tool result)")
        return self

    def conversation(self) -> list[dict[str, Any]]:
        """The messages as JSON objects (what a target with a `messages` parameter gets); a
        single-turn case: its input as the one user message."""
        if self.messages is None:
            return [{"role": "user", "content": self.input}]
        return [message.as_json() for message in self.messages]

    def to_json_line(self) -> str:
        body = {"expected": expected_json(self.expected), "id": self.id, "input": self.input, "metadata": self.metadata}
        if self.messages is not None:  # a single-turn case's line stays as the @1 format wrote it
            body["messages"] = self.conversation()
        return json.dumps(body, sort_keys=True, ensure_ascii=False) + "\n"


class SuiteError(UserError):
    """A suite file cannot be read; the message names each bad line."""


def read_suite(path: str | Path) -> tuple[list[SuiteCase], list[tuple[int, str]]]:
    """The valid cases of a suite file, and (line, reason) for every line that is not one."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    cases, problems = [], []
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                cases.append(SuiteCase.model_validate_json(raw))
            except ValidationError as error:
                problems.append((line, describe_validation_error(error)))
    return cases, problems


def load_suite(path: str | Path) -> list[SuiteCase]:
    """Every case of a suite file, or a SuiteError naming each bad line."""
    cases, problems = read_suite(path)
    if problems:
        listed = "; ".join(f"line {line}: {reason}" for line, reason in problems)
        raise SuiteError(f"{path}: {listed}. Run `harness-evals suite check {path}` for details")
    return cases
