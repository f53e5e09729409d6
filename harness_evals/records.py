"""Typed records that flow between the stages.

Input records (`Trace`, `EvalCase`, `Label`) are pydantic models: they are validated at the edge,
where a readable error matters. Stage outputs are frozen dataclasses over numpy arrays: they are
built by our own code, in bulk, where validation would only cost time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import numpy as np
from pydantic import (BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer,
                      model_validator)

from harness_evals.prompts.assembly import PromptAssembly
from harness_evals.suite.model import ExpectedField

NOISE = -1
"""HDBSCAN's label for points in no cluster. Kept as data: the long tail lives there."""

EMITTED_SOURCE = "suite:"
"""The source of an eval case `emit` made from a label, before the suite's name: one labelled
phrasing of a behaviour, unlike the cases a team wrote."""

MapChunks = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]
"""How the heavy pure steps (encoding texts, placing vectors into clusters) run over their chunks:
the shape of the builtin `map`, which is the default (one after another, in this process). The
nightly flow passes one that runs each chunk as a task on its task runner (Dask workers under
`--dask`). The functions it is given are picklable, since a chunk may run in another process."""



def content_hash(record: BaseModel) -> str:
    """A record's identity by content: a changed record under a stored id is told apart by it."""
    canonical = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Step(BaseModel):
    """One action inside a trajectory: a tool call, a subagent call, or an LLM call."""

    model_config = ConfigDict(extra="allow")

    type: Literal["tool_call", "subagent_call", "llm_call"] = "tool_call"
    name: str = Field(min_length=1)
    arguments: Any = None
    result: Any = None
    error: str | None = None


class Trace(BaseModel):
    """One production agent trajectory in the canonical schema (README, "Trace schema")."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(min_length=1, max_length=512)
    timestamp: datetime | None
    input: str
    output: str = ""
    steps: list[Step] = Field(default_factory=list)
    messages: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    feedback: dict[str, Any] | None = None
    # The assembled prompt, derived from the record by its reader (or given, in the canonical
    # schema). Kept out of model_dump, and so out of the content hash: it is stored on its own.
    prompt: PromptAssembly | None = Field(default=None, exclude=True)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _read_timestamp(cls, value: Any) -> Any:
        """ISO 8601 and Unix seconds or milliseconds (pydantic's own), and RFC 2822 (HTTP, email headers)."""
        if not isinstance(value, str) or not value.strip():
            return value
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return text
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(
                f"{value!r} is not a timestamp this reads: use ISO 8601 (2026-11-20T10:00:00Z), RFC 2822 "
                "(Fri, 20 Nov 2026 10:00:00 +0000) or Unix seconds/milliseconds"
            ) from None

    @field_validator("timestamp")
    @classmethod
    def _assume_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value

    @field_validator("input")
    @classmethod
    def _input_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input is empty: a trace needs the user's request to be mined")
        return value


class EvalCase(BaseModel):
    """One case of an existing eval set, as a reader in `ingest/evalsets/` made it from its source's
    record: `input` is the request as text (what the mining views embed, `evalsets.cases.input_text`),
    and a chat input keeps its messages as the source gave them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512)
    input: str = Field(min_length=1)
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[dict[str, Any]] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_messages(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A case without messages dumps, and so hashes, as it did before messages were kept: an eval
        file ingested then is unchanged when ingested again."""
        dumped = handler(self)
        if dumped.get("messages") is None:
            dumped.pop("messages", None)
        return dumped


class Label(BaseModel):
    """A human judgement of one production trace: what it should have done."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1)
    expected: ExpectedField | None = None
    verdict: Literal["pass", "fail"] | None = None
    notes: str | None = None
    labeller: str | None = None
    skip: bool = False  # not worth a regression case; leaves the queue without one
    # the eval case that already covers this trace's behaviour: no case of its own, and evidence of that case's reach
    covered_by: str | None = Field(default=None, min_length=1)

    @field_validator("skip", mode="before")
    @classmethod
    def _unfilled_skip_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("covered_by", mode="before")
    @classmethod
    def _unfilled_covered_by_is_none(cls, value: Any) -> Any:
        return None if value is None or (isinstance(value, str) and not value.strip()) else str(value).strip()

    @model_validator(mode="after")
    def _expected_unless_skipped(self) -> Label:
        if self.covered_by is not None and (self.expected is not None or self.skip):
            raise ValueError(f"covered_by {self.covered_by!r} says an eval case already covers this trace, so it gets "
                             f"no case of its own: clear {'expected' if self.expected is not None else 'skip'}, "
                             "or clear covered_by")
        if self.expected is None and not self.skip and self.covered_by is None:
            raise ValueError("expected is missing: say what the agent should have done (copy `suggested` into it "
                             "to take the draft checks), set covered_by to the eval case that already covers it, "
                             "or set skip")
        return self


@dataclass(frozen=True)
class Quarantined:
    """A record that could not be stored, with where it was and why."""

    source: str
    line: int
    reason: str
    raw: str


@dataclass(frozen=True)
class Assignments:
    """Cluster membership of every point of one clustering run, noise included."""

    labels: np.ndarray  # int, NOISE for points in no cluster
    outlier_scores: np.ndarray  # GLOSH, 0 = core of a cluster, 1 = most outlying
    probabilities: np.ndarray  # strength of membership in the assigned cluster

    def take(self, positions: slice | np.ndarray) -> Assignments:
        """The assignments of some of the points (views, not copies, for a slice)."""
        return Assignments(self.labels[positions], self.outlier_scores[positions], self.probabilities[positions])


@dataclass(frozen=True)
class EmbeddedItems:
    """Production traces or eval cases as a run embedded them: ids, the (redacted) text of the
    run's view, and unit vectors, row for row."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class CoverageVerdicts:
    """A coverage judge's verdict on every production trace, in trace order. It is what the gap
    table, the sampler, the store (`cluster_assignments.covered`) and the report count as covered:
    none of them judges again."""

    covered: np.ndarray  # bool
    covering_case_ids: list[str | None]  # the eval case that covers each trace; None where none does
    scores: np.ndarray  # higher is nearer to covered; stored as cluster_assignments.nearest_eval_similarity
    threshold: float | None = None  # the score from which a trace is covered, for a judge that draws one line
    # why a trace is not covered where its score reaches the threshold (a judge that draws more than one line)
    uncovered_reasons: dict[int, str] = field(default_factory=dict)
    # the nearest eval case of each trace, covering or not (what a labeller compares it with); empty: not said
    nearest_case_ids: list[str | None] = field(default_factory=list)
    # covered through a trace a labeller said its case covers (mine.coverage.with_labelled_reach): that trace's id
    covered_through: dict[int, str] = field(default_factory=dict)

    @classmethod
    def at_threshold(cls, scores: np.ndarray, threshold: float, nearest_case_ids: list[str | None] | None = None
                     ) -> CoverageVerdicts:
        """Covered where the score reaches `threshold`, by the nearest case where it does."""
        covered = scores >= threshold
        nearest = nearest_case_ids or [None] * len(scores)
        return cls(covered, [case_id if hit else None for case_id, hit in zip(nearest, covered.tolist(), strict=True)],
                   scores, threshold, nearest_case_ids=nearest_case_ids or [])


@dataclass(frozen=True)
class Calibration:
    """What a coverage judge fits from the eval set: the values its verdicts read (JSON), the label
    every coverage figure is printed with ("cosine 0.52"), and what a person should know about how
    well it rests (a bound hit, too few eval cases), each with what to do."""

    values: dict[str, Any]
    label: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ruler:
    """A calibration kept in the store and reused by every mining run with the same judge and
    embedder, until the eval set changes enough to matter or a refit is asked for."""

    ruler_id: str  # r1, r2, ... in the order the store's rulers were fitted
    judge_key: dict[str, Any]  # the judge's parameters and the embedder: the rulers of one key replace each other
    calibration: Calibration
    eval_inputs: tuple[str, ...]  # a digest of each eval case (id and text) it was fitted on
    reason: str  # why it was fitted
    fitted_at: datetime
    fresh: bool = False  # fitted by this run (and stored with it)

    @property
    def name(self) -> str:
        """How a coverage figure names its ruler: "cosine 0.52, ruler r3"."""
        return f"{self.calibration.label}, ruler {self.ruler_id}"


@dataclass(frozen=True)
class ClusterCoverage:
    """How well the eval set covers one cluster of production traffic."""

    cluster_id: int
    production_count: int
    eval_count: int
    coverage: float  # share of the cluster's production traces with an eval case nearby
    gap_score: float  # uncovered production traffic: production_count * (1 - coverage)
    flagged_count: int = 0  # production traces a silent-failure detector flagged
    emerging: bool = False  # new or fast-growing since the last run, and mostly uncovered
    outcome_count: int = 0  # production traces with an outcome (a reward, success flag or feedback score)
    failed_count: int = 0  # of those, the ones that failed (label.suggest.succeeded)

    @property
    def failure_rate(self) -> float | None:
        """Failed traces among those with an outcome; None when none has one."""
        return self.failed_count / self.outcome_count if self.outcome_count else None


@dataclass(frozen=True)
class QueuePick:
    """One production trace chosen for labelling, and why."""

    trace_id: str
    cluster_id: int
    reason: str
    priority: float
