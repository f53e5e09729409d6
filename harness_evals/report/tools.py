"""Tool misuse patterns across traffic: how each tool and subagent is used, against its definition.

A tool is part of the prompt: its name, description, parameter names and return format are text
the model reads, and when one tool is misused in ways that each look harmless the fix is its
interface. The signal is the pattern across many runs, so a pattern is a finding once it has shown
up in `min_traces` traces (three by default). The report reads the traces of a mining run (every
stored trace when no run placed them), the run's regions and flags, and the tool definitions of
the assembled prompt each trace was given (`prompts/assembly.py`). It counts the agent's calls
only: a step a user made (τ²-bench telecom's customer, `requestor: user`) is left out.

Findings, each with its counts, example traces (arguments redacted) and the release it started in:
argument use against the definition (names it lacks, required ones missing, values of the wrong
JSON type), the argument shapes its errors follow, confusion (one tool fails or comes back empty
and another is called next with similar arguments), reach (a tool a region invokes far less or
more than the rest of the traffic that could call it, by Fisher's exact test with the
Benjamini-Hochberg false discovery rate), definition lints, and with a release the shifts from
the release before it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from harness_evals.config import ToolSettings
from harness_evals.errors import UserError
from harness_evals.mine.signals import (
    DetectorSettings,
    TraceRecord,
    agent_calls,
    call_key,
    negative_feedback,
    returned_nothing,
    signature,
)
from harness_evals.prompts.assembly import release_of
from harness_evals.records import NOISE
from harness_evals.redact import Placeholders, Redactor
from harness_evals.store import Store
from harness_evals.store.prompts import assembly_blocks
from harness_evals.store.tools import flagged_by, is_mining_run, traced_calls

DEFAULTS = ToolSettings()  # the settings model holds the defaults
AGENT_STEPS = {"tool_call": "tool", "subagent_call": "subagent"}
# What a description says when it tells the model when (or when not) to use the tool.
WHEN_TO_USE = re.compile(r"\b(use (?:this|it|when|for|to|only|if|before|after|instead)|when|if|before|after|only|"
                         r"unless|instead|do not|don'?t|never|must|should)\b", re.IGNORECASE)
EXAMPLES = 5  # trace ids a finding cites
GENERAL_USE = 0.25  # reach is tested for tools called in this share of the other traces that could call them
FINDING_KINDS = ("unknown_argument", "missing_argument", "wrong_type", "error_shape", "repeated", "confusion", "reach",
                 "undefined", "unused", "no_when_to_use", "undescribed_parameters", "shift")


@dataclass(frozen=True)
class TracedCalls:
    """One trace as the tool report reads it."""

    trace_id: str
    release: str | None
    timestamp: datetime | None
    calls: list[dict[str, Any]]  # the agent's tool and subagent steps, in order
    failure: str | None  # why it counts as failed (a reward below 1, negative feedback, a flag); None: it did not
    flags: list[str]  # the detectors that flagged it in the mining run
    cluster_id: int | None  # its region in the mining run; None: the run did not place it
    assembly: str | None  # the hash of its assembled prompt
    definitions: dict[str, dict[str, Any]] | None  # tool name -> definition in its prompt; None: defines none

    def calls_of(self, name: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call.get("name") == name]

    @cached_property
    def names(self) -> set[str]:
        return {call.get("name") for call in self.calls}

    @cached_property
    def repeats(self) -> list[bool]:
        """Per call, whether it is the call just before it again (name and arguments)."""
        keys = [call_key(call) for call in self.calls]
        return [position > 0 and keys[position - 1] == key for position, key in enumerate(keys)]


@dataclass(frozen=True)
class ToolUsage:
    name: str
    kind: str  # tool | subagent
    calls: int
    traces: int  # traces calling it
    errors: int  # calls that failed
    empty: int  # calls that came back with nothing (quiet tools, such as think, never count)
    repeated: int  # calls identical to the call just before them (name and arguments)
    last_before_failure: int  # failed traces whose last call it was
    defined: bool | None  # in the prompt of a trace calling it; None: no prompt of its traces defines tools

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls

    @property
    def empty_rate(self) -> float:
        return self.empty / self.calls

    @property
    def repeated_rate(self) -> float:
        return self.repeated / self.calls

    @property
    def failure_share(self) -> float:
        """Of the traces calling it, the share that failed with it as their last call."""
        return self.last_before_failure / self.traces


@dataclass(frozen=True)
class Finding:
    kind: str  # one of FINDING_KINDS
    tools: tuple[str, ...]
    what: str  # the pattern, with its counts, in one line
    traces: int  # traces it touches
    trace_ids: tuple[str, ...]  # the first EXAMPLES of them, by trace id
    started: str | None  # the earliest release it shows up in
    example: Any = None  # the arguments (or definition) of one case, redacted
    counts: dict[str, Any] = field(default_factory=dict)  # the numbers behind `what`


@dataclass(frozen=True)
class ToolReport:
    run_id: str | None  # the mining run whose traces, regions and flags were read
    release: str | None  # only this release's traces; None: all
    previous_release: str | None  # what `release` was compared with
    traces: int
    failed: int
    definitions_seen: bool  # some trace's prompt defines tools: argument and definition findings need that
    usage: list[ToolUsage]  # most called first
    findings: list[Finding]  # most traces touched first
    min_traces: int

    def to_json(self) -> dict[str, Any]:
        usage = [{**asdict(row), "error_rate": row.error_rate, "empty_rate": row.empty_rate,
                  "repeated_rate": row.repeated_rate, "failure_share": row.failure_share} for row in self.usage]
        return {**asdict(self), "usage": usage}


# ---- reading the traffic -------------------------------------------------------------------------

def failure_of(metadata: dict[str, Any], feedback: dict[str, Any] | None, steps: list[dict[str, Any]],
               flags: list[str], detectors: DetectorSettings) -> str | None:
    """Why a trace counts as failed: a reward below 1 (on a 0..1 scale, as benchmarks give it), a
    success that is false, negative feedback (the detector's threshold), or a flag; None: none of these."""
    reward = metadata.get("reward")
    if isinstance(reward, bool):
        reward = float(reward)
    if isinstance(reward, int | float) and 0 <= reward < 1:
        return f"reward {reward:g}"
    if metadata.get("success") is False:
        return "success is false"
    said = negative_feedback(TraceRecord("", "", "", steps, metadata, feedback), signature(steps, metadata), detectors)
    if said:
        return said
    return f"flagged: {', '.join(flags)}" if flags else None


def tool_definitions(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """Tool name -> its definition ({name, description, parameters}) in an assembly's blocks; None: it defines none."""
    found = {}
    for block in blocks:
        if block.get("kind") == "tool":
            try:
                definition = json.loads(block.get("text") or "{}")
            except ValueError:
                definition = {}
            found[block["name"].removeprefix("tool:")] = definition if isinstance(definition, dict) else {}
    return found or None


def read_calls(store: Store, *, run_id: str | None, placed_only: bool = True,
               detectors: DetectorSettings | None = None) -> list[TracedCalls]:
    """Each trace (by trace id) with its calls, failure, flags, region and its prompt's tool
    definitions. `run_id`: the mining run whose regions and flags are read, and (`placed_only`)
    whose traces; None: every stored trace, in no region."""
    detectors = detectors or DetectorSettings()
    definitions = {digest: tool_definitions(json.loads(blocks)) for digest, blocks in assembly_blocks(store)}
    flags = flagged_by(store, run_id) if run_id else {}
    traffic = []
    for trace_id, timestamp, steps, metadata, feedback, digest, cluster_id in traced_calls(
            store, run_id, placed_only=placed_only and run_id is not None):
        steps, metadata, feedback = json.loads(steps), json.loads(metadata), json.loads(feedback or "null")
        traced_flags = flags.get(trace_id, [])
        traffic.append(TracedCalls(
            trace_id=trace_id, release=release_of(metadata), timestamp=timestamp, calls=agent_calls(steps),
            failure=failure_of(metadata, feedback, steps, traced_flags, detectors), flags=traced_flags,
            cluster_id=cluster_id, assembly=digest, definitions=definitions.get(digest) if digest else None))
    return traffic


def release_order(traffic: Iterable[TracedCalls]) -> list[str]:
    """The releases, oldest first: by their earliest trace; by name (numbers as numbers) when some
    release has no trace with a timestamp, since a date and no date do not compare."""
    first: dict[str, datetime | None] = {}
    for trace in traffic:
        if trace.release is None:
            continue
        seen = first.get(trace.release)
        if trace.release not in first or (trace.timestamp is not None and (seen is None or trace.timestamp < seen)):
            first[trace.release] = trace.timestamp
    if any(timestamp is None for timestamp in first.values()):
        return sorted(first, key=_natural)
    return sorted(first, key=lambda release: (first[release], _natural(release)))


def _natural(name: str) -> list[Any]:
    """"2026.11.10" after "2026.11.2": digits compare as numbers (split() alternates text and digits)."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", name))]


def previous_release(traffic: Sequence[TracedCalls], release: str) -> str | None:
    """The release before `release`; None when it is the first. A UserError naming the known ones if unknown."""
    order = release_order(traffic)
    if release not in order:
        raise UserError(f"no trace of release {release!r}; releases: {', '.join(order) or 'none (no trace names one)'}")
    position = order.index(release)
    return order[position - 1] if position else None


# ---- argument use -------------------------------------------------------------------------------

def _fits(value: Any, expected: Any) -> bool:
    """Whether a JSON value is of the JSON Schema `type` (a name or a list of names); an unknown name fits."""
    kinds = expected if isinstance(expected, list) else [expected]
    for kind in kinds:
        if kind == "integer":
            fits = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer())
        elif kind == "number":
            fits = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            python = {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}.get(kind)
            fits = python is None or isinstance(value, python)
        if fits:
            return True
    return False


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Parameters:
    """A definition's `parameters` (JSON Schema) as the report reads them; a part of another shape
    than the schema's counts as absent, never as an error."""

    properties: dict[str, Any] | None  # name -> schema; None: the definition names none
    required: list[str]
    # additionalProperties given as true or as a schema ({} included): names beyond `properties` are fine. Left
    # out, a name the definition lacks is reported: it is what the model was told, whatever a validator allows
    allows_more: bool

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Parameters:
        parameters = definition.get("parameters") if isinstance(definition.get("parameters"), dict) else {}
        properties = parameters.get("properties") if isinstance(parameters.get("properties"), dict) else None
        required = parameters.get("required") if isinstance(parameters.get("required"), list) else []
        more = parameters.get("additionalProperties")
        return cls(properties, [name for name in required if isinstance(name, str)],
                   more is True or isinstance(more, dict))


def argument_problems(arguments: Any, definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, argument, detail) for each way a call's arguments miss its definition's parameters:
    unknown_argument (a name it lacks, unless it allows more), missing_argument (a required one),
    wrong_type (a value not of its JSON type; argument "(arguments)" when they are
    not an object)."""
    parameters = Parameters.of(definition)
    properties, required = parameters.properties, parameters.required
    arguments = {} if arguments is None else arguments
    if not isinstance(arguments, dict):
        return [("wrong_type", "(arguments)", json_type(arguments))]
    problems = []
    if properties is not None and not parameters.allows_more:
        problems += [("unknown_argument", name, "") for name in arguments if name not in properties]
    problems += [("missing_argument", name, "") for name in required if name not in arguments]
    for name, value in arguments.items():
        schema = (properties or {}).get(name)
        expected = schema.get("type") if isinstance(schema, dict) else None
        if expected is not None and not _fits(value, expected):
            problems.append(("wrong_type", name, json_type(value)))
    return problems


def value_shape(value: Any) -> str:
    """What a value looks like, not what it is: "2024-05-20" is 9-9-9, "#W4923227" is #a9, prose is text."""
    if isinstance(value, bool) or value is None:
        return json_type(value)
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "[" + (value_shape(value[0]) if value else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(value)) + "}"
    text = str(value).strip()
    if len(text) > 24 or " " in text:
        return "text"
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", text)) or '""'


def argument_shape(arguments: Any) -> str:
    """The shape of a call's arguments: `{date: 9-9-9, origin: a}`."""
    if isinstance(arguments, dict):
        return "{" + ", ".join(f"{name}: {value_shape(value)}" for name, value in sorted(arguments.items())) + "}"
    return "{}" if arguments is None else value_shape(arguments)


def _similar_arguments(first: Any, second: Any) -> bool:
    """Two calls' arguments look alike: half their names shared, or a value passed to both."""
    if not isinstance(first, dict) or not isinstance(second, dict) or not first or not second:
        return False
    if len(first.keys() & second.keys()) * 2 >= len(first.keys() | second.keys()):
        return True
    values = {json.dumps(value, sort_keys=True) for value in first.values() if _telling(value)}
    return any(json.dumps(value, sort_keys=True) in values for value in second.values() if _telling(value))


def _telling(value: Any) -> bool:
    """A value that says which thing a call is about (an id, a name), not a flag or a blank."""
    if isinstance(value, bool) or value is None:
        return False
    return bool(value) and (not isinstance(value, str) or len(value.strip()) >= 2)


# ---- evidence -----------------------------------------------------------------------------------

class _Seen:
    """Where one pattern showed up: each trace with how many of its calls, the details seen (how many
    calls each), and the first example. `narrowed` keeps those of some traces: a release's finding
    quotes what its own traces did, not another release's."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._details_of: dict[str, Counter[str]] = {}
        self._examples: dict[str, Any] = {}  # each trace's first example, in the order traces were added

    def add(self, trace: TracedCalls, example: Any = None, detail: str = "", calls: int = 1) -> None:
        if example is not None:
            self._examples.setdefault(trace.trace_id, example)
        self.calls[trace.trace_id] += calls
        if detail:
            self._details_of.setdefault(trace.trace_id, Counter())[detail] += calls

    @property
    def details(self) -> Counter[str]:
        return sum(self._details_of.values(), Counter())

    @property
    def example(self) -> Any:
        return next(iter(self._examples.values()), None)

    def within(self, selected: set[str]) -> list[str]:
        return sorted(trace_id for trace_id in self.calls if trace_id in selected)

    def narrowed(self, trace_ids: Iterable[str]) -> _Seen:
        kept, seen = set(trace_ids), _Seen()
        seen.calls = Counter({trace_id: n for trace_id, n in self.calls.items() if trace_id in kept})
        seen._details_of = {trace_id: counts for trace_id, counts in self._details_of.items() if trace_id in kept}
        seen._examples = {trace_id: example for trace_id, example in self._examples.items() if trace_id in kept}
        return seen


class _Patterns(dict):
    """Pattern key -> _Seen, made on first use."""

    def __missing__(self, key: Any) -> _Seen:
        self[key] = _Seen()
        return self[key]


def _started(trace_ids: Iterable[str], by_id: dict[str, TracedCalls], order: list[str]) -> str | None:
    rank = {release: position for position, release in enumerate(order)}
    releases = [by_id[trace_id].release for trace_id in trace_ids if by_id[trace_id].release in rank]
    return min(releases, key=rank.__getitem__) if releases else None


def _fdr(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: many tests, few false findings."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(p) for p in false_discovery_control(p_values)]


def _fisher(table: list[list[int]], alternative: str = "two-sided") -> float:
    from scipy.stats import fisher_exact

    return float(fisher_exact(table, alternative=alternative).pvalue)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "none"


# ---- the report ---------------------------------------------------------------------------------

def tool_report(store: Store, *, run_id: str | None = None, release: str | None = None,
                min_traces: int = DEFAULTS.min_traces, significance: float = DEFAULTS.significance,
                detectors: DetectorSettings | None = None, redactor: Redactor | None = None,
                embedder: Any = None) -> ToolReport:
    """The tool report of a mining run's traces (the latest run by default; every stored trace when
    none ran), or of one `release`'s stored traces compared with the release before it when given.
    `embedder` (an `embed.Embedder`) also compares the descriptions of confused tools by cosine;
    None: by text only."""
    if run_id is not None and not is_mining_run(store, run_id):
        raise UserError(f"no mining run {run_id!r} in this store: `harness-evals status` lists the runs")
    run_id = run_id or store.latest_run_id("mine")
    # a release's traces count whether or not the run placed them (those ingested since are in no region)
    traffic = read_calls(store, run_id=run_id, placed_only=release is None, detectors=detectors)
    return analyse(traffic, run_id=run_id, release=release, min_traces=min_traces, significance=significance,
                   quiet_tools=(detectors or DetectorSettings()).quiet_tools, redactor=redactor, embedder=embedder)


def analyse(traffic: Sequence[TracedCalls], *, run_id: str | None = None, release: str | None = None,
            min_traces: int = DEFAULTS.min_traces, significance: float = DEFAULTS.significance,
            quiet_tools: Sequence[str] = (), redactor: Redactor | None = None, embedder: Any = None) -> ToolReport:
    """The tool report of `traffic` (all of it, or `release`'s traces against the release before)."""
    redactor = redactor or Redactor()
    order = release_order(traffic)
    before = previous_release(traffic, release) if release is not None else None
    selected = [trace for trace in traffic if release is None or trace.release == release]
    context = _Context(traffic, selected, order, min_traces, significance, set(quiet_tools), redactor)
    findings = (_argument_findings(context) + _error_shape_findings(context) + _repeat_findings(context)
                + _confusion_findings(context, embedder)
                + _reach_findings(context) + _definition_findings(context))
    if release is not None and before is not None:
        findings += _shift_findings(context, release, before)
    findings.sort(key=lambda f: (-f.traces, FINDING_KINDS.index(f.kind), f.tools, f.what))
    return ToolReport(run_id=run_id, release=release, previous_release=before, traces=len(selected),
                      failed=sum(1 for trace in selected if trace.failure), definitions_seen=context.defines_tools,
                      usage=usage(selected, quiet_tools=quiet_tools), findings=findings, min_traces=min_traces)


def release_shifts(traffic: Sequence[TracedCalls], *, release: str, before: str,
                   min_traces: int = DEFAULTS.min_traces, significance: float = DEFAULTS.significance,
                   quiet_tools: Sequence[str] = ()) -> list[Finding]:
    """The tools whose behaviour shifted from `before` to `release` (the `shift` findings alone)."""
    selected = [trace for trace in traffic if trace.release == release]
    context = _Context(traffic, selected, release_order(traffic), min_traces, significance, set(quiet_tools),
                       Redactor())
    return _shift_findings(context, release, before)


@dataclass
class _Context:
    traffic: Sequence[TracedCalls]  # every trace read: where a pattern started is looked for in all of them
    selected: list[TracedCalls]  # the traces reported on
    order: list[str]
    min_traces: int
    significance: float
    quiet_tools: set[str]
    redactor: Redactor

    def __post_init__(self) -> None:
        self.by_id = {trace.trace_id: trace for trace in self.traffic}
        self.selected_ids = {trace.trace_id for trace in self.selected}
        self.defines_tools = any(trace.definitions for trace in self.selected)

    def came_back_empty(self, call: dict[str, Any]) -> bool:
        return not call.get("error") and call.get("name") not in self.quiet_tools and returned_nothing(call)

    def finding(self, kind: str, tools: tuple[str, ...], what: str, trace_ids: list[str], *, example: Any = None,
                started: str | None = None, **counts: Any) -> Finding:
        placeholders = Placeholders()  # a finding quotes descriptions and argument names: redacted as examples are
        return Finding(kind, tools, self.redactor.redact(what, placeholders), len(trace_ids),
                       tuple(trace_ids[:EXAMPLES]), started or _started(trace_ids, self.by_id, self.order),
                       None if example is None else self.redactor.redact_value(example, placeholders), counts)

    def from_patterns(self, patterns: _Patterns, describe: Callable[[Any, _Seen, list[str]], tuple[str, str, Any]]
                      ) -> list[Finding]:
        """A finding of each pattern seen in `min_traces` of the selected traces; `describe(key, seen,
        trace_ids)` gives its kind, its line and its example."""
        found = []
        for key, seen in patterns.items():
            trace_ids = seen.within(self.selected_ids)
            if len(trace_ids) < self.min_traces:
                continue
            kind, what, example = describe(key, seen.narrowed(trace_ids), trace_ids)
            everywhere = sorted(seen.calls)  # where it started: in any release read, not only the selected one
            found.append(self.finding(kind, key[1:2] if kind != "confusion" else key[1:3], what, trace_ids,
                                      example=example, started=_started(everywhere, self.by_id, self.order),
                                      calls=sum(seen.calls[t] for t in trace_ids)))
        return found


def usage(traffic: Iterable[TracedCalls], *, quiet_tools: Sequence[str] = ()) -> list[ToolUsage]:
    """Per tool and subagent: calls, traces, errors, empty results, repeats, last call before a failure."""
    counts: dict[str, Counter[str]] = {}
    kinds: dict[str, str] = {}
    defined: dict[str, bool | None] = {}
    for trace in traffic:
        for call, repeated in zip(trace.calls, trace.repeats, strict=True):
            name = call.get("name")
            kinds.setdefault(name, AGENT_STEPS[call.get("type", "tool_call")])
            tally = counts.setdefault(name, Counter())
            tally["calls"] += 1
            tally["errors"] += bool(call.get("error"))
            tally["empty"] += not call.get("error") and name not in quiet_tools and returned_nothing(call)
            tally["repeated"] += repeated
        for name in trace.names:
            counts[name]["traces"] += 1
            if trace.definitions is not None:
                defined[name] = defined.get(name, False) or name in trace.definitions
        if trace.failure and trace.calls:
            counts[trace.calls[-1].get("name")]["last_before_failure"] += 1
    rows = [ToolUsage(name, kinds[name], tally["calls"], tally["traces"], tally["errors"], tally["empty"],
                      tally["repeated"], tally["last_before_failure"], defined.get(name))
            for name, tally in counts.items()]
    return sorted(rows, key=lambda row: (-row.calls, row.name))


def _argument_findings(context: _Context) -> list[Finding]:
    patterns = _Patterns()
    for trace in context.traffic:
        for call in trace.calls:
            definition = (trace.definitions or {}).get(call.get("name"))
            if definition is None:
                continue
            for kind, argument, detail in argument_problems(call.get("arguments"), definition):
                patterns[(kind, call.get("name"), argument)].add(trace, call.get("arguments"), detail)

    def describe(key: Any, seen: _Seen, trace_ids: list[str]) -> tuple[str, str, Any]:
        kind, tool, argument = key
        calls = sum(seen.calls[t] for t in trace_ids)
        where = f"{calls} calls in {len(trace_ids)} traces"
        if kind == "unknown_argument":
            return kind, f"{tool} is called with {argument}, a name its definition does not have: {where}", seen.example
        if kind == "missing_argument":
            return kind, f"{tool} is called without {argument}, which its definition requires: {where}", seen.example
        given = ", ".join(name for name, _ in seen.details.most_common())
        return kind, f"{tool}'s {argument} is given as {given}, not the type its definition says: {where}", seen.example

    return context.from_patterns(patterns, describe)


def _error_shape_findings(context: _Context) -> list[Finding]:
    """Per tool, the argument shapes whose calls fail far more often than its calls of other shapes.
    Each trace counts once per tool and shape, failed when one of those calls failed: a trace that
    retries one failing call forty times is one failure, not forty independent ones."""
    shapes: dict[str, Counter[tuple[str, bool]]] = {}  # tool -> (shape, failed) -> traces
    failing = _Patterns()
    for trace in context.traffic:
        failed_by_shape: dict[tuple[str, str], bool] = {}
        for call in trace.calls:
            shape = argument_shape(call.get("arguments"))
            key = (call.get("name"), shape)
            failed_by_shape[key] = failed_by_shape.get(key, False) or bool(call.get("error"))
            if call.get("error"):
                failing[key].add(trace, {"arguments": call.get("arguments"), "error": call.get("error")})
        if trace.trace_id in context.selected_ids:
            for (name, shape), failed in failed_by_shape.items():
                shapes.setdefault(name, Counter())[(shape, failed)] += 1
    tests = []
    for (tool, shape), seen in failing.items():
        trace_ids = seen.within(context.selected_ids)
        counts = shapes.get(tool, Counter())
        failed, calls = counts[(shape, True)], counts[(shape, True)] + counts[(shape, False)]
        other_failed = sum(n for (other, error), n in counts.items() if error and other != shape)
        other_calls = sum(n for (other, _), n in counts.items() if other != shape)
        if len(trace_ids) < context.min_traces or not other_calls:
            continue
        p = _fisher([[failed, calls - failed], [other_failed, other_calls - other_failed]], "greater")
        tests.append((p, tool, shape, seen, trace_ids, failed, calls, other_failed, other_calls))
    found = []
    for adjusted, (_, tool, shape, seen, trace_ids, failed, calls, other_failed, other_calls) in zip(
            _fdr([test[0] for test in tests]), tests, strict=True):
        if adjusted > context.significance:
            continue
        found.append(context.finding(
            "error_shape", (tool,),
            f"{tool} fails in {failed} of {calls} traces calling it shaped {shape}, against {other_failed} of "
            f"{other_calls} calling it with other shapes", trace_ids, example=seen.narrowed(trace_ids).example,
            started=_started(sorted(seen.calls), context.by_id, context.order),
            shape=shape, failed=failed, calls=calls, other_failed=other_failed, other_calls=other_calls,
            p_adjusted=adjusted))
    return found


def _repeat_findings(context: _Context) -> list[Finding]:
    """A tool called again with the same arguments right after itself: a loop, or a retry that cannot help."""
    patterns = _Patterns()
    for trace in context.traffic:
        for call, repeated in zip(trace.calls, trace.repeats, strict=True):
            if repeated:
                patterns[("repeated", call.get("name"))].add(trace, call.get("arguments"))

    def describe(key: Any, seen: _Seen, trace_ids: list[str]) -> tuple[str, str, Any]:
        calls = [seen.calls[t] for t in trace_ids]
        return ("repeated", f"{key[1]} is called again with the same arguments right after itself: {sum(calls)} times "
                f"in {len(trace_ids)} traces, up to {max(calls)} in one", seen.example)

    return context.from_patterns(patterns, describe)


def _confusion_findings(context: _Context, embedder: Any) -> list[Finding]:
    """One tool fails or comes back empty, and the agent calls another next with similar arguments."""
    patterns = _Patterns()
    descriptions: dict[str, str] = {}
    for trace in context.traffic:
        for name, definition in (trace.definitions or {}).items():
            if isinstance(definition.get("description"), str):
                descriptions.setdefault(name, definition["description"])
        for first, second in zip(trace.calls, trace.calls[1:]):
            if first.get("name") == second.get("name") or not (first.get("error") or context.came_back_empty(first)):
                continue
            if _similar_arguments(first.get("arguments"), second.get("arguments")):
                patterns[("confusion", first.get("name"), second.get("name"))].add(
                    trace, {first.get("name"): first.get("arguments"), second.get("name"): second.get("arguments")},
                    "failed" if first.get("error") else "came back empty")
    cosines = _description_cosines(patterns, descriptions, embedder)

    def describe(key: Any, seen: _Seen, trace_ids: list[str]) -> tuple[str, str, Any]:
        _, first, second = key
        calls = sum(seen.calls[t] for t in trace_ids)
        how = " or ".join(detail for detail, _ in seen.details.most_common())
        alike = [f"names {difflib.SequenceMatcher(None, first, second).ratio():.0%} alike"]
        if first in descriptions and second in descriptions:
            ratio = difflib.SequenceMatcher(None, descriptions[first], descriptions[second]).ratio()
            alike.append(f"descriptions {ratio:.0%} alike" + (
                f" (cosine {cosines[(first, second)]:.2f})" if (first, second) in cosines else ""))
        return ("confusion", f"{first} {how}, then {second} was called with similar arguments: {calls} times in "
                f"{len(trace_ids)} traces; {', '.join(alike)}", seen.example)

    return context.from_patterns(patterns, describe)


def _description_cosines(patterns: _Patterns, descriptions: dict[str, str], embedder: Any
                         ) -> dict[tuple[str, str], float]:
    pairs = [(first, second) for _, first, second in patterns if first in descriptions and second in descriptions]
    if embedder is None or not pairs:
        return {}
    names = sorted({name for pair in pairs for name in pair})
    vectors = dict(zip(names, embedder.encode([f"{name}: {descriptions[name]}" for name in names]), strict=True))
    return {(first, second): float(vectors[first] @ vectors[second]) for first, second in pairs}


def _reach_findings(context: _Context) -> list[Finding]:
    """Per region, the tools it invokes far less (at most half as often) or far more (twice as often)
    than the rest of the traffic that could call them, by Fisher's exact test. Only tools in general
    use elsewhere (GENERAL_USE of the traces that could call them): regions are found by what is
    asked, so a tool made for one kind of request is naturally in its region and no other."""
    regions: dict[int, list[TracedCalls]] = {}
    for trace in context.selected:
        if trace.cluster_id is not None and trace.cluster_id != NOISE:
            regions.setdefault(trace.cluster_id, []).append(trace)
    if not regions:
        return []
    tools = sorted({name for trace in context.selected for name in trace.names})
    kinds = {call.get("name"): AGENT_STEPS[call.get("type", "tool_call")] for t in context.selected for call in t.calls}
    tests = []
    for tool in tools:
        could = _could_call(context.selected, tool)
        able = [trace for trace in context.selected if could(trace)]  # once per tool: regions count from it
        per_region, calling = Counter(trace.cluster_id for trace in able), Counter(
            trace.cluster_id for trace in able if tool in trace.names)
        for cluster_id in sorted(regions):
            inside, hits = per_region[cluster_id], calling[cluster_id]
            outside, elsewhere = len(able) - inside, sum(calling.values()) - hits
            if inside < context.min_traces or not outside:
                continue
            rate, other = hits / inside, elsewhere / outside
            if other < GENERAL_USE:
                continue
            if rate * 2 <= other:
                direction = "less"
            elif rate >= 2 * other and hits:
                direction = "more"
            else:
                continue
            touched = sorted(trace.trace_id for trace in regions[cluster_id]
                             if could(trace) and (tool in trace.names) == (direction == "more"))
            if len(touched) < context.min_traces:
                continue
            p = _fisher([[hits, inside - hits], [elsewhere, outside - elsewhere]])
            tests.append((p, tool, cluster_id, direction, touched, hits, inside, elsewhere, outside))
    found = []
    store_failed = sum(trace.failure is not None for trace in context.selected)
    for adjusted, (_, tool, cluster_id, direction, touched, hits, inside, elsewhere, outside) in zip(
            _fdr([test[0] for test in tests]), tests, strict=True):
        if adjusted > context.significance:
            continue
        what = "subagent" if kinds[tool] == "subagent" else "tool"
        failed = sum(context.by_id[trace_id].failure is not None for trace_id in touched)
        # whether the traces that go their own way also fail more: what tells a task's shape from a misuse
        outcome = (f"; {failed} of those {len(touched)} failed, against {_share(store_failed, len(context.selected))} "
                   "of all traces" if store_failed else "")
        found.append(context.finding(
            "reach", (tool,),
            f"the {tool} {what} is invoked in {hits} of {inside} traces of region {cluster_id}, against "
            f"{_share(elsewhere, outside)} elsewhere ({elsewhere} of {outside}): far {direction} often{outcome}",
            touched, region=cluster_id, direction=direction, invoked=hits, region_traces=inside, elsewhere=elsewhere,
            elsewhere_traces=outside, p_adjusted=adjusted, failed=failed))
    return found


def _could_call(traffic: Sequence[TracedCalls], tool: str) -> Callable[[TracedCalls], bool]:
    """Whether a trace could have called `tool`. Where its prompt defines tools: when it defines this
    one. Where it defines none, a region's trace could when some trace of the region called it (a
    region that never does may not have the tool at all: another app's traffic); a trace in no
    region, when it called it or more tools called alongside it (in some trace) than tools never are."""
    regions = {trace.cluster_id for trace in traffic if tool in trace.names}
    alongside = {name for trace in traffic if tool in trace.names for name in trace.names}

    def could(trace: TracedCalls) -> bool:
        if trace.definitions is not None:
            return tool in trace.definitions or tool in trace.names
        if trace.cluster_id is not None and trace.cluster_id != NOISE:
            return trace.cluster_id in regions
        return tool in trace.names or len(trace.names & alongside) * 2 > len(trace.names)

    return could


def _definition_findings(context: _Context) -> list[Finding]:
    """Lints of the definitions in the prompts: each tool called but not defined there; and one
    finding each for the tools defined but never called, those whose description never says when to
    use them, and those with parameters without a description (a tool counts once its definition
    was given to `min_traces` traces)."""
    patterns = _Patterns()
    for trace in context.traffic:
        if trace.definitions is None:
            continue
        for name in sorted(trace.names - trace.definitions.keys()):
            patterns[("undefined", name)].add(trace)
        for name, definition in trace.definitions.items():
            if name not in trace.names:
                patterns[("unused", name)].add(trace)
            description = definition.get("description") if isinstance(definition.get("description"), str) else ""
            if not WHEN_TO_USE.search(description):
                patterns[("no_when_to_use", name)].add(trace, description, description or "(no description)")
            undescribed = [parameter for parameter, schema in (Parameters.of(definition).properties or {}).items()
                           if not (isinstance(schema, dict) and schema.get("description"))]
            if undescribed:
                patterns[("undescribed_parameters", name)].add(trace, undescribed, ", ".join(undescribed))
    called = {name for trace in context.selected for name in trace.names}
    defined_somewhere = {name for trace in context.selected for name in trace.definitions or {}}
    lints: dict[str, list[tuple[str, list[str], _Seen]]] = {}
    found = []
    for (kind, tool), seen in sorted(patterns.items()):
        trace_ids = seen.within(context.selected_ids)
        if len(trace_ids) < context.min_traces or (kind == "unused" and tool in called):
            continue
        if kind == "undefined":
            where = "no prompt defines it" if tool not in defined_somewhere else "other traces' prompts define it"
            found.append(context.finding(
                kind, (tool,), f"{tool} is called in {len(trace_ids)} traces whose prompt does not define it; {where}",
                trace_ids, started=_started(sorted(seen.calls), context.by_id, context.order)))
        else:
            lints.setdefault(kind, []).append((tool, trace_ids, seen))
    for kind, tools in lints.items():
        counts = {len(trace_ids) for _, trace_ids, _ in tools}
        each = []
        for tool, trace_ids, seen in tools:
            said = [_quoted(detail) if kind == "no_when_to_use" else detail
                    for detail, _ in seen.narrowed(trace_ids).details.most_common()]
            said += [f"{len(trace_ids)} traces"] if len(counts) > 1 else []
            each.append(f"{tool} ({'; '.join(said)})" if said else tool)
        what = {"unused": "Tools defined in the prompt and never called",
                "no_when_to_use": "Tools described by what they do, not when to use them",
                "undescribed_parameters": "Tools with parameters that have no description"}[kind]
        touched = sorted({trace_id for _, trace_ids, _ in tools for trace_id in trace_ids})
        everywhere = sorted({trace_id for _, _, seen in tools for trace_id in seen.calls})
        found.append(context.finding(
            kind, tuple(tool for tool, _, _ in tools),
            f"{what} ({len(tools)}): " + ", ".join(each)
            + (f" (each in the prompt of {counts.pop()} traces)" if len(counts) == 1 else ""), touched,
            started=_started(everywhere, context.by_id, context.order),
            traces_per_tool={tool: len(trace_ids) for tool, trace_ids, _ in tools}))
    return found


def _quoted(description: str) -> str:
    if description == "(no description)":
        return description
    return f'"{description[:60]}…"' if len(description) > 60 else f'"{description}"'


SHIFT_METRICS = ("errors", "empty results", "repeats", "argument problems", "use")


def call_events(trace: TracedCalls, position: int, *, quiet_tools: Iterable[str] = ()) -> dict[str, bool]:
    """Which per-call shift metrics the trace's call at `position` shows (argument problems only
    where its prompt defines the tool)."""
    call = trace.calls[position]
    events = {"errors": bool(call.get("error")),
              "empty results": not call.get("error") and call.get("name") not in quiet_tools and returned_nothing(call),
              "repeats": trace.repeats[position]}
    definition = (trace.definitions or {}).get(call.get("name"))
    if definition is not None:
        events["argument problems"] = bool(argument_problems(call.get("arguments"), definition))
    return events


def shows(trace: TracedCalls, shift: Finding, *, quiet_tools: Iterable[str] = ()) -> bool:
    """Whether a trace went through a shift: it calls the tool and, where the behaviour grew more
    common, shows it (a failing call, an empty result, a repeat, an argument problem)."""
    tool = shift.tools[0]
    if tool not in trace.names:
        return False
    if shift.counts["metric"] == "use" or shift.counts["direction"] == "down":
        return True
    return any(call_events(trace, position, quiet_tools=quiet_tools).get(shift.counts["metric"], False)
               for position, call in enumerate(trace.calls) if call.get("name") == tool)


def _shift_findings(context: _Context, release: str, before: str) -> list[Finding]:
    """Per tool, what changed from the release before: its error rate, empty results, repeats (the
    same call right after itself), argument problems and its use, by Fisher's exact test over
    traces: of the traces calling the tool (or all, for its use), those that show the behaviour
    once or more (a trace retrying one failing call many times is one). A finding cites the traces
    that show it, in the release where it is the more common."""
    tallies: dict[tuple[str, str, str], Counter[str]] = {}  # (tool, metric, release) -> {"of": n, "hit": k}
    showing: dict[tuple[str, str, str], list[str]] = {}  # (tool, metric, release) -> traces showing it
    traces = Counter(trace.release for trace in context.traffic)
    for trace in context.traffic:
        if trace.release not in (release, before):
            continue
        shown: dict[tuple[str, str], bool] = {}  # (tool, metric) -> whether one of its calls here shows it
        for position, call in enumerate(trace.calls):
            for metric, happened in call_events(trace, position, quiet_tools=context.quiet_tools).items():
                shown[(call.get("name"), metric)] = shown.get((call.get("name"), metric), False) or happened
        for (name, metric), happened in shown.items():
            tally = tallies.setdefault((name, metric, trace.release), Counter())
            tally["of"] += 1
            tally["hit"] += happened
            if happened:
                showing.setdefault((name, metric, trace.release), []).append(trace.trace_id)
        for name in trace.names:
            tallies.setdefault((name, "use", trace.release), Counter())["hit"] += 1
            showing.setdefault((name, "use", trace.release), []).append(trace.trace_id)
    tests = []
    for name in sorted({tool for tool, _, _ in tallies}):
        for metric in SHIFT_METRICS:
            now, then = tallies.get((name, metric, release), Counter()), tallies.get((name, metric, before), Counter())
            now_of = traces[release] if metric == "use" else now["of"]
            then_of = traces[before] if metric == "use" else then["of"]
            if not now_of or not then_of or now["hit"] * then_of == then["hit"] * now_of:
                continue
            up = now["hit"] * then_of > then["hit"] * now_of
            cited = sorted(set(showing.get((name, metric, release if up else before), [])))
            if len(cited) < context.min_traces:
                continue
            p = _fisher([[now["hit"], now_of - now["hit"]], [then["hit"], then_of - then["hit"]]])
            tests.append((p, name, metric, up, cited, now["hit"], now_of, then["hit"], then_of))
    found = []
    for adjusted, (_, name, metric, up, cited, now, now_of, then, then_of) in zip(
            _fdr([test[0] for test in tests]), tests, strict=True):
        if adjusted > context.significance:
            continue
        unit = "traces" if metric == "use" else "traces calling it"
        what = {"errors": "fails in", "empty results": "comes back empty in", "repeats": "repeats itself in",
                "argument problems": "misses its definition in", "use": "is called in"}[metric]
        found.append(context.finding(
            "shift", (name,), f"{name} {what} {now} of {now_of} {unit} in {release}, against {then} of {then_of} "
            f"in {before}", cited, started=release, metric=metric, direction="up" if up else "down",
            now=now, now_of=now_of, then=then, then_of=then_of, p_adjusted=adjusted))
    return found
