"""Text views of a trace: the text that gets embedded and clustered.

- intent: the user's request, whitespace folded, without the lines a large share of requests
  share (an app's template around the question: `shared_lines`);
- trajectory: the sequence of tools and subagents with the shape of their arguments and error
  markers, e.g. `get_user(user_id) → search(date,origin) ✗ → transfer_to_human()`;
- outcome: the final answer.
Eval cases have a request only, so they take part in the intent view alone. The view name is
part of the embedding cache key, so two views never share vectors. A view is a function
`(TraceText) -> str` in VIEWS; one from outside the package is an entry point in `harness_evals.views`,
or `module:function`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness_evals.registry import Registry

MAX_VIEW_CHARS = 2000  # MiniLM reads 256 word pieces; longer text only costs tokenising time
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TraceText:
    input: str
    output: str = ""
    steps: Sequence[dict[str, Any]] = field(default_factory=tuple)


def _fold(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()[:MAX_VIEW_CHARS]


def intent_view(trace: TraceText) -> str:
    return _fold(trace.input)


def shared_lines(texts: Sequence[str], *, min_share: float = 0.2, min_count: int = 5) -> frozenset[str]:
    """Lines (whitespace folded) that at least `min_share` of the texts, and `min_count`, hold:
    template and boilerplate, which would otherwise make every request look alike."""
    counts = Counter(line for text in texts for line in {_fold(raw) for raw in text.splitlines()} if line)
    threshold = max(min_count, min_share * len(texts))
    return frozenset(line for line, count in counts.items() if count >= threshold)


def without_lines(text: str, lines: frozenset[str]) -> str:
    """The text without those lines; the text as it is if nothing else would be left."""
    kept = [raw for raw in text.splitlines() if _fold(raw) not in lines]
    return "\n".join(kept) if any(raw.strip() for raw in kept) else text


def step_shape(step: dict[str, Any]) -> str:
    arguments = step.get("arguments")
    keys = ",".join(sorted(arguments)) if isinstance(arguments, dict) else ""
    prefix = {"subagent_call": "agent:", "llm_call": "llm:"}.get(step.get("type", ""), "")
    return f"{prefix}{step.get('name', '?')}({keys})" + (" ✗" if step.get("error") else "")


def trajectory_view(trace: TraceText) -> str:
    shapes = [step_shape(step) for step in trace.steps if step.get("type") != "llm_call"]
    return " → ".join(shapes)[:MAX_VIEW_CHARS] if shapes else "no tool calls"


def outcome_view(trace: TraceText) -> str:
    return _fold(trace.output) or "no answer"


View = Callable[[TraceText], str]
VIEWS: Registry[View] = Registry("view", "harness_evals.views", {
    "intent": intent_view,
    "trajectory": trajectory_view,
    "outcome": outcome_view,
})
EVAL_VIEWS = {"intent"}  # views an eval case (a request, no trajectory) can be seen in
REQUEST_VIEW = "intent"  # where coverage is judged, whatever a run's view: eval cases hold requests
