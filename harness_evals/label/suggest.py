"""Draft checks for the labeller: what a queued trajectory could be held to, read from its region.

Each queued trace is compared with the traces of its region as the run that queued it saw them,
and gets a `suggested` label (an object of checks, as `expected` takes it) with `suggested_from`
saying where each check came from:

- `required_tools`: tools that at least `required_share` of the region's other successful traces
  call and this one did not ("called by 9 of 11 successful traces of cluster 4");
- `forbidden_tools`: tools this one called that none of them call (a tool defined nowhere among them);
- `reference`: the answer of the successful trace nearest this one, by the cosine of the vectors
  the run clustered by (the one the region holds most firmly where those vectors are gone);
- `not_contains`: a confident claim after a failed step (`confident_claim`).

The first three need at least `min_successful` other successful traces in the region; a trace in
no region (noise) gets none of them. A tool is the agent's: LLM calls and the customer's own
tool calls (τ²-bench's `requestor: user`) are not counted. Suggestions are drafts: nothing is
applied unless the labeller copies them into `expected` (or submits Label Studio's pre-filled box).

A trace succeeded when every outcome signal it carries says so: metadata `success` true, metadata
`reward` 1 or more (a pass in τ-bench and τ²-bench), feedback `score` at or above
`negative_feedback_below` (the line the negative_feedback detector draws); it failed when one of
them says otherwise; carrying none, it is neither.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness_evals.chat import message_text
from harness_evals.config import SuggestSettings
from harness_evals.mine.embed import text_hash
from harness_evals.mine.signals import ACKNOWLEDGES_TROUBLE, DetectorSettings
from harness_evals.records import NOISE
from harness_evals.redact import Redactor
from harness_evals.store import Store
from harness_evals.store.embeddings import vectors_in_order
from harness_evals.store.suggestions import RegionTrace, answers_of, embedding_of_run, region_traces, view_texts_of

DEFAULTS = SuggestSettings()
NEGATIVE_FEEDBACK_BELOW = DetectorSettings().negative_feedback_below  # the detector settings' default
FULL_REWARD = 1.0  # τ-bench and τ²-bench score a pass 1.0 and a failure 0.0
# "has been cancelled", "have been successfully updated", "successfully booked": the agent says an
# action was done, in the perfect passive or with "successfully". Other wording is not read as a claim.
CONFIDENT_CLAIM = re.compile(r"\b(?:ha(?:s|ve) been (?:successfully )?[a-z]+(?:ed|en)|successfully [a-z]+ed)\b",
                             re.IGNORECASE)
REFERENCE_CANDIDATES = 10  # the nearest successful traces whose answers are read, for the first that has one
QUOTED_ERROR = 120  # characters of a failed step's error quoted in a note


def succeeded(reward: Any, success: Any, feedback_score: Any, *,
              negative_feedback_below: float = NEGATIVE_FEEDBACK_BELOW) -> bool | None:
    """True when every outcome signal given says the trace succeeded, False when one says it
    failed, None when there is none (a value of another type is no signal)."""
    signals = []
    if isinstance(success, bool):
        signals.append(success)
    if _is_number(reward):
        signals.append(reward >= FULL_REWARD)
    if isinstance(feedback_score, bool) or _is_number(feedback_score):
        signals.append(float(feedback_score) >= negative_feedback_below)
    return all(signals) if signals else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Claim:
    phrase: str  # as the reply says it
    step: int  # the failed step, counted from 1
    name: str
    error: str


def confident_claim(steps: list[dict[str, Any]], messages: list[dict[str, Any]] | None, output: str) -> Claim | None:
    """A confident claim after a failed step: a step failed, no later call of its tool succeeded,
    and the agent's first reply after it (the next assistant message with text after the tool
    message holding the error; the final answer where the trace has no messages, or that message
    is not found) says an action was done (CONFIDENT_CLAIM) without acknowledging any trouble
    (sorry, unable, error, … as the error_then_confident_answer detector reads it)."""
    for position, step in enumerate(steps):
        error = step.get("error")
        if not error or any(later.get("name") == step.get("name") and not later.get("error")
                            for later in steps[position + 1:]):
            continue
        reply = _reply_after(messages, str(error))
        claim = CONFIDENT_CLAIM.search(output if reply is None else reply)
        if claim and not ACKNOWLEDGES_TROUBLE.search(output if reply is None else reply):
            return Claim(claim.group(0), position + 1, str(step.get("name")), str(error))
    return None


def _reply_after(messages: list[dict[str, Any]] | None, error: str) -> str | None:
    """The text of the first assistant message with text after the tool message that says `error`;
    None: no such tool message."""
    messages = messages or []
    failed_at = next((position for position, message in enumerate(messages) if message.get("role") == "tool"
                      and message_text(message.get("content")).strip() == error.strip()), None)
    if failed_at is None:
        return None
    return next((text for message in messages[failed_at + 1:] if message.get("role") == "assistant"
                 and (text := message_text(message.get("content"))).strip()), "")


@dataclass(frozen=True)
class Suggestion:
    checks: dict[str, Any] | None  # as `expected` takes them; None: nothing to suggest
    sources: dict[str, Any] = field(default_factory=dict)  # each check: where it (each value of it) came from


@dataclass(frozen=True)
class _Region:
    """A region as the run saw it: its traces, with the outcome and the vector of each."""

    traces: list[RegionTrace]
    outcomes: list[bool | None]
    vectors: np.ndarray | None  # unit rows, in trace order; None: the run's vectors are not all there


def suggest(store: Store, queued: Sequence[dict[str, Any]], *, min_successful: int = DEFAULTS.min_successful,
            required_share: float = DEFAULTS.required_share,
            negative_feedback_below: float = NEGATIVE_FEEDBACK_BELOW,
            redactor: Redactor | None = None) -> dict[str, Suggestion]:
    """The draft checks of each queued trace, by trace id. Each of `queued` has the trace's
    `trace_id`, the `run_id` that queued it and its `cluster_id` there, its `steps` and `messages`
    (parsed) and its `output`. The notes are unredacted, as the traces are; `redactor` (the rules
    they will be redacted by) keeps a quote from cutting through a finding (quoted)."""
    redactor = redactor or Redactor()
    keys = sorted({(item["run_id"], item["cluster_id"]) for item in queued if item["cluster_id"] != NOISE})
    by_region: dict[tuple[str, int], list[RegionTrace]] = {}
    for row in region_traces(store, keys):
        by_region.setdefault((row.run_id, row.cluster_id), []).append(row)
    regions = {key: _region(store, key[0], rows, negative_feedback_below) for key, rows in by_region.items()}
    suggestions = {}
    for item in queued:
        checks: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        region = regions.get((item["run_id"], item["cluster_id"]))
        if item["cluster_id"] == NOISE:
            sources["region"] = "in no region: no tool checks or reference"
        elif region is None:
            sources["region"] = (f"the run that queued it holds no trace of cluster {item['cluster_id']}: "
                                 "no tool checks or reference")
        else:
            _from_region(store, item["trace_id"], item["cluster_id"], region, checks, sources,
                         min_successful=min_successful, required_share=required_share)
        claim = confident_claim(item["steps"], item["messages"], item["output"])
        if claim is not None:
            checks["not_contains"] = [claim.phrase]
            sources["not_contains"] = {claim.phrase: (
                f"the agent's reply after step {claim.step} ({claim.name}) failed says so, and no later {claim.name} "
                f"call succeeded: {quoted(claim.error, redactor)}")}
        suggestions[item["trace_id"]] = Suggestion(checks or None, sources)
    return suggestions


def quoted(error: str, redactor: Redactor) -> str:
    """The error's first line, cut at QUOTED_ERROR characters, or past them at the end of a
    finding the cut would go through: cut inside, an email or card would no longer be found when
    the note is redacted, and its first characters would leave the store."""
    line = next(iter(error.strip().splitlines()), "")
    end = max([QUOTED_ERROR, *(finding.end for finding in redactor.find(line) if finding.start < QUOTED_ERROR)])
    return line[:end]


def _region(store: Store, run_id: str, rows: list[RegionTrace], negative_feedback_below: float) -> _Region:
    outcomes = [succeeded(row.reward, row.success, row.feedback_score, negative_feedback_below=negative_feedback_below)
                for row in rows]
    return _Region(rows, outcomes, _run_vectors(store, run_id, [row.trace_id for row in rows]))


def _run_vectors(store: Store, run_id: str, trace_ids: list[str]) -> np.ndarray | None:
    """The vectors the run embedded these traces by (their view text under its embedder and view),
    as unit rows; None when any is gone (the view was redone under other settings since)."""
    embedding = embedding_of_run(store, run_id)
    if embedding is None:
        return None
    model, view = embedding
    texts = view_texts_of(store, trace_ids, view=view)
    if len(texts) != len(trace_ids):
        return None
    table = vectors_in_order(store, [text_hash(texts[trace_id]) for trace_id in trace_ids], model=model, view=view)
    if table.num_rows != len(trace_ids):
        return None
    column = table.column("vector").combine_chunks()
    vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(len(trace_ids), -1).astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _from_region(store: Store, trace_id: str, cluster_id: int, region: _Region, checks: dict[str, Any],
                 sources: dict[str, Any], *, min_successful: int, required_share: float) -> None:
    """Add the tool checks and the reference the region's other successful traces suggest."""
    where = f"cluster {cluster_id}"
    positions = {row.trace_id: position for position, row in enumerate(region.traces)}
    successful = [position for position, outcome in enumerate(region.outcomes)
                  if outcome and region.traces[position].trace_id != trace_id]
    if trace_id not in positions or len(successful) < min_successful:
        sources["region"] = (f"{len(successful)} other successful traces in {where}; tool checks and a reference "
                             f"need {min_successful} (suggest.min_successful)")
        return
    count = len(successful)
    called = set(region.traces[positions[trace_id]].tools)
    callers = Counter(tool for position in successful for tool in region.traces[position].tools)
    needed = math.ceil(required_share * count - 1e-9)
    required = sorted((tool for tool, callers_of in callers.items() if callers_of >= needed and tool not in called),
                      key=lambda tool: (-callers[tool], tool))
    if required:
        checks["required_tools"] = required
        sources["required_tools"] = {tool: f"called by {callers[tool]} of {count} successful traces of {where}"
                                     for tool in required}
    forbidden = sorted(tool for tool in called if tool not in callers)
    if forbidden:
        checks["forbidden_tools"] = forbidden
        sources["forbidden_tools"] = {tool: f"called by none of the {count} successful traces of {where}"
                                      for tool in forbidden}
    reference = _nearest_answer(store, positions[trace_id], successful, region, where=where)
    if reference is not None:
        checks["reference"], sources["reference"] = reference


def _nearest_answer(store: Store, position: int, successful: list[int], region: _Region, *, where: str
                    ) -> tuple[str, str] | None:
    """The answer of the successful trace nearest the one at `position` that has an answer, and what it is."""
    if region.vectors is not None:
        similarity = region.vectors[successful] @ region.vectors[position]
        order = sorted(range(len(successful)), key=lambda index: (-similarity[index], successful[index]))
        ranked = [(successful[index], float(similarity[index])) for index in order]
    else:
        ranked = [(candidate, None) for candidate in successful]  # in region order: the most firmly held first
    for start in range(0, len(ranked), REFERENCE_CANDIDATES):
        batch = ranked[start:start + REFERENCE_CANDIDATES]
        answers = answers_of(store, [region.traces[candidate].trace_id for candidate, _ in batch])
        for candidate, cosine in batch:
            nearest = region.traces[candidate].trace_id
            if answers.get(nearest, "").strip():
                how = (f"nearest this one (cosine {cosine:.2f})" if cosine is not None
                       else "held most firmly (the run's vectors are gone)")
                return answers[nearest], f"the answer of {nearest}, the successful trace of {where} {how}"
    return None
