"""A structured signature per trace, and silent-failure detectors over it.

Each detector is a small named function `(trace, signature, settings) -> reason | None` in
DETECTORS. They look for failures that read fine on their own: a tool error glossed over by a
confident answer, the same call repeated, a run cut off, a required tool never called, a refusal,
an empty tool result answered as if it had content, negative feedback. A detector from outside the
package (an entry point in `harness_evals.detectors`, or `module:function`) runs when `enabled`
names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness_evals.registry import Registry

ACKNOWLEDGES_TROUBLE = re.compile(
    r"\b(sorry|apolog|unable|couldn'?t|could not|can(?:no|')t|failed|error|issue|problem|unfortunately|"
    r"not (?:able|possible|available|found)|no (?:results?|records?|matches)|no\b[\w ]{0,30}\b(?:found|available))\b",
    re.IGNORECASE,
)
REFUSAL = re.compile(
    r"\b(I(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|')t|am unable|won'?t)|"
    r"I (?:can(?:no|')t|won'?t|am unable to|'m unable to) (?:help|assist|do that|comply|provide))",
    re.IGNORECASE,
)
EMPTY_RESULTS = {"", "[]", "{}", "null", "none", '""'}
CUT_OFF_ENDINGS = {"max_steps", "max_propose_steps", "too_many_errors", "max_turns", "length", "timeout"}


class RequiredToolRule(BaseModel):
    """Requests matching `when` (a regex on the request) must call `require` (a tool or subagent)."""

    model_config = ConfigDict(extra="forbid")

    when: str
    require: str


class DetectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the built-in detectors; one from outside the package runs when named here
    enabled: list[str] = Field(default_factory=lambda: [detector.__name__ for detector in BUILT_IN_DETECTORS])
    loop_repeats: int = Field(default=3, ge=2)  # the same call this many times in a row is a loop
    max_steps: int | None = None  # more steps than this is a run that was cut off
    negative_feedback_below: float = 0.5  # feedback scores are read on a 0..1 scale
    required_tools: list[RequiredToolRule] = Field(default_factory=list)
    # tools that return nothing by design: the "think" scratchpad tool of many agent harnesses
    quiet_tools: list[str] = Field(default_factory=lambda: ["think"])


@dataclass(frozen=True)
class Signature:
    tools: tuple[str, ...]
    subagents: tuple[str, ...]
    steps: int
    errors: int
    longest_repeat: int  # the most times one identical call (name and arguments) ran back to back
    latency_ms: float | None
    tokens: int | None
    cost: float | None


def call_key(step: dict[str, Any]) -> tuple[Any, str]:
    """A call as repeats are told: its name and its arguments, whatever their key order."""
    return step.get("name"), json.dumps(step.get("arguments"), sort_keys=True, default=str)


def returned_nothing(step: dict[str, Any]) -> bool:
    """The step's result is missing or empty: "", [], {}, null, none."""
    result = step.get("result")
    return str(result if result is not None else "").strip().lower() in EMPTY_RESULTS


def signature(steps: list[dict[str, Any]], metadata: dict[str, Any]) -> Signature:
    calls = [call_key(s) for s in steps if s.get("type") != "llm_call"]
    longest = run = 0
    for index, call in enumerate(calls):
        run = run + 1 if index and calls[index - 1] == call else 1
        longest = max(longest, run)
    return Signature(
        tools=tuple(s.get("name", "") for s in steps if s.get("type", "tool_call") == "tool_call"),
        subagents=tuple(s.get("name", "") for s in steps if s.get("type") == "subagent_call"),
        steps=len(steps),
        errors=sum(1 for s in steps if s.get("error")),
        longest_repeat=longest,
        latency_ms=metadata.get("latency_ms"),
        tokens=metadata.get("tokens"),
        cost=metadata.get("cost"),
    )


def agent_calls(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's tool and subagent calls, in order. LLM calls are not tool calls, and the
    customer's own calls (τ²-bench's `requestor: user`, the customer operating their phone) are not
    the agent's; store.suggestions.region_traces reads the same in SQL."""
    return [step for step in steps if step.get("type", "tool_call") != "llm_call" and step.get("requestor") != "user"]


def agent_tools(steps: list[dict[str, Any]]) -> tuple[str, ...]:
    """The agent's calls (agent_calls) by name, each once, in the order first called."""
    return tuple(dict.fromkeys(str(step.get("name", "")) for step in agent_calls(steps)))


@dataclass(frozen=True)
class TraceRecord:
    trace_id: str
    input: str
    output: str
    steps: list[dict[str, Any]]
    metadata: dict[str, Any]
    feedback: dict[str, Any] | None


Detector = Callable[[TraceRecord, Signature, DetectorSettings], "str | None"]


def error_then_confident_answer(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    failed = [s.get("name") for s in trace.steps if s.get("error")]
    if failed and trace.output.strip() and not ACKNOWLEDGES_TROUBLE.search(trace.output):
        return f"{failed[0]} failed, and the final answer does not say so"
    return None


def repeated_call(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    if sig.longest_repeat >= settings.loop_repeats:
        return f"the same call ran {sig.longest_repeat} times in a row"
    return None


def cut_off(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    ended_by = str(trace.metadata.get("ended_by") or "")
    if ended_by in CUT_OFF_ENDINGS:
        return f"the run ended by {ended_by}"
    if settings.max_steps is not None and sig.steps > settings.max_steps:
        return f"{sig.steps} steps, more than the {settings.max_steps} allowed"
    return None


def required_tool_missing(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    called = set(sig.tools) | set(sig.subagents)
    for rule in settings.required_tools:
        if re.search(rule.when, trace.input, re.IGNORECASE) and rule.require not in called:
            return f"the request matches /{rule.when}/ but {rule.require} was never called"
    return None


def refusal(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    return "the agent refused" if REFUSAL.search(trace.output) else None


def empty_result_used(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    """A tool came back empty, the agent never called it again, and the answer does not say so."""
    tools = [s for s in trace.steps if s.get("type", "tool_call") == "tool_call"]
    for position, step in enumerate(tools):
        if step.get("error") or step.get("name") in settings.quiet_tools or not returned_nothing(step):
            continue
        retried = any(later.get("name") == step.get("name") for later in tools[position + 1 :])
        if not retried and trace.output.strip() and not ACKNOWLEDGES_TROUBLE.search(trace.output):
            return f"{step.get('name')} returned nothing, and the answer goes on as if it had"
    return None


def negative_feedback(trace: TraceRecord, sig: Signature, settings: DetectorSettings) -> str | None:
    feedback = trace.feedback or {}
    score = feedback.get("score")
    if isinstance(score, bool):
        score = float(score)
    if isinstance(score, int | float) and score < settings.negative_feedback_below:
        return f"user feedback {score}" + (f": {feedback['comment']}" if feedback.get("comment") else "")
    if str(feedback.get("rating", "")).lower() in ("thumbs_down", "down", "bad", "negative"):
        return "user gave a thumbs down"
    return None


BUILT_IN_DETECTORS = (error_then_confident_answer, repeated_call, cut_off, required_tool_missing, refusal,
                      empty_result_used, negative_feedback)
DETECTORS: Registry[Detector] = Registry("detector", "harness_evals.detectors",
                                         {detector.__name__: detector for detector in BUILT_IN_DETECTORS})


def detect(trace: TraceRecord, settings: DetectorSettings) -> list[tuple[str, str]]:
    """(detector, reason) for every enabled detector that fires on the trace."""
    detectors = [(name, DETECTORS.get(name)) for name in settings.enabled]  # an unknown name: before any runs
    sig = signature(trace.steps, trace.metadata)
    flags = []
    for name, detector in detectors:
        reason = detector(trace, sig, settings)
        if reason is not None:
            flags.append((name, reason))
    return flags
