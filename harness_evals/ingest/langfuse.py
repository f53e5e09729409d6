"""Langfuse trace exports, in any of the forms Langfuse writes them (JSON lines, or one JSON document
holding a list or a single object):

- traces with their observations nested: the public API's `GET /traces/{id}` (`TraceWithFullDetails`:
  `id`, `timestamp`, `name`, `input`, `output`, `sessionId`, `userId`, `release`, `version`, `tags`,
  `metadata`, `environment`, `observations`, `scores`), one trace a record;
- the UI's "Download trace as JSON": `{trace, observations}`, or `{observations, scores}`;
- the traces table's batch export: traces without observations, each score a column of its own
  (`"helpfulness": [0.8]`);
- observations alone, each with its `traceId` (the observations table's batch export, `GET
  /v2/observations`), grouped into traces by `grouping.grouped_rows`; the trace's name, tags and user
  come from the observations' `traceName`, `traceTags` (or `tags`) and `userId`.

Observations form a tree by `parentObservationId`, siblings by `startTime`; one observation that
holds all the others (an agent's root span) stands for the trace, and the rest are its steps. `GENERATION` and
`EMBEDDING` observations are `llm_call` steps (named by their model), `TOOL` and `RETRIEVER`
`tool_call`s (input as arguments, output as result), `AGENT` and `CHAIN` `subagent_call`s; each
keeps its `observation_type`, and one at `level` ERROR fails with its `statusMessage`. `SPAN`,
`EVENT`, `EVALUATOR` and `GUARDRAIL` observations are structure, not steps: one that failed is
listed in the trace's `metadata.errors`. The request is the trace's input (else the root
observation's, else the first generation's user message), the answer its output likewise from the
end; scores become `feedback.scores`, and a trace with a single numeric score has it as
`feedback.score` (with its comment).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness_evals.chat import decode_json_text, message_text
from harness_evals.ingest.framing import Parsed, first_value, lines_or_items, parsed_record
from harness_evals.ingest.grouping import grouped_rows
from harness_evals.ingest.payloads import answer_text, as_text, chat_message, chat_messages, instant, request_text
from harness_evals.prompts.assembly import assemble
from harness_evals.records import Step, Trace

STEP_TYPES = {"GENERATION": "llm_call", "EMBEDDING": "llm_call", "TOOL": "tool_call", "RETRIEVER": "tool_call",
              "AGENT": "subagent_call", "CHAIN": "subagent_call"}
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)  # where an observation without a start time sorts
TRACE_FIELDS = {"id", "timestamp", "name", "input", "output", "sessionId", "userId", "release", "version", "tags",
                "metadata", "public", "bookmarked", "environment", "htmlPath", "latency", "totalCost", "observations",
                "scores", "comments", "projectId", "createdAt", "updatedAt", "externalId", "_deprecation"}


def looks_like_langfuse(value: Any) -> bool:
    record = value[0] if isinstance(value, list) and value else value
    if not isinstance(record, dict):
        return False
    if isinstance(record.get("observations"), list) and ("id" in record or isinstance(record.get("trace"), dict)
                                                         or "scores" in record):
        return True
    return _is_observation(record) or ("id" in record and "timestamp" in record
                                       and {"sessionId", "userId", "public"} <= record.keys())


def _is_observation(record: dict[str, Any]) -> bool:
    return {"id", "traceId", "type", "startTime"} <= record.keys()


def read_langfuse(path: Path) -> Iterator[Parsed]:
    first = first_value(path)
    if isinstance(first, list):
        first = first[0] if first else None
    if isinstance(first, dict) and _is_observation(first):
        yield from grouped_rows(path, trace_id_of=lambda row: row.get("traceId"),
                                is_root=lambda row: not row.get("parentObservationId"), build=observations_to_trace,
                                what="observation", id_columns=["traceId"])
        return
    for location, raw, value in lines_or_items(path):
        yield parsed_record(location, raw, value, read_langfuse_trace)


def read_langfuse_trace(record: dict[str, Any]) -> Trace:
    """One trace record: a trace with its observations nested, a UI download, or a traces-table row."""
    if isinstance(record.get("trace"), dict):
        trace = record["trace"]
    elif "id" in record:
        trace = record
    else:
        trace = _trace_of_observations(record.get("observations") or [])
    observations = [o for o in record.get("observations") or trace.get("observations") or [] if isinstance(o, dict)]
    scores = record.get("scores") if isinstance(record.get("scores"), list) else trace.get("scores")
    score_columns = {key: value for key, value in trace.items() if key not in TRACE_FIELDS and isinstance(value, list)}
    scores = [s for s in scores or [] if isinstance(s, dict)] + [
        {"name": name, "value": value} for name, values in score_columns.items() for value in values]
    return _trace(trace, observations, scores)


def observations_to_trace(trace_id: str, observations: list[dict[str, Any]]) -> Trace:
    return _trace({**_trace_of_observations(observations), "id": trace_id}, observations, [])


def _trace_of_observations(observations: list[dict[str, Any]]) -> dict[str, Any]:
    """What observations say of their trace: Langfuse copies its id, name, tags and user onto each."""
    first = next((o for o in observations if isinstance(o, dict)), {})
    return {"id": first.get("traceId"), "timestamp": first.get("traceTimestamp"), "name": first.get("traceName"),
            "tags": first.get("traceTags") or first.get("tags"), "userId": first.get("userId"),
            "sessionId": first.get("sessionId"), "release": first.get("release")}


def _trace(trace: dict[str, Any], observations: list[dict[str, Any]], scores: list[dict[str, Any]]) -> Trace:
    if not trace.get("id"):
        raise ValueError("no trace id: neither the trace nor its observations name one")
    ordered = _tree_order(observations)
    roots = [o for o in ordered if not o.get("parentObservationId")
             or o["parentObservationId"] not in {other.get("id") for other in observations}]
    root = roots[0] if roots else {}
    # one observation that holds all the others stands for the trace itself, as a root span does
    wrapper = root if len(roots) == 1 and len(ordered) > 1 else None
    generations = [o for o in ordered if o.get("type") == "GENERATION"]
    request = (request_text(trace.get("input")) or request_text(root.get("input"))
               or next((text for o in generations if (text := request_text(o.get("input")))), None)
               or as_text(trace.get("input")))
    if not request:
        raise ValueError("no request: the trace, its root observation and its generations hold no input")
    answer = (answer_text(trace.get("output")) or answer_text(root.get("output"))
              or next((text for o in reversed(generations) if (text := answer_text(o.get("output")))), None)
              or as_text(trace.get("output")))
    failed = [f"{o.get('name') or o.get('type')}: {o.get('statusMessage') or 'error'}" for o in ordered
              if o.get("level") == "ERROR" and o.get("type") not in STEP_TYPES]
    tokens = sum(int((o.get("usageDetails") or o.get("usage") or {}).get("total") or 0) for o in generations)
    return Trace(
        trace_id=str(trace["id"]),
        timestamp=trace.get("timestamp") or root.get("startTime"),
        input=request,
        output=answer,
        steps=[_step(o) for o in ordered if o.get("type") in STEP_TYPES and o is not wrapper],
        messages=_conversation(generations),
        metadata={key: value for key, value in {
            "name": trace.get("name"),
            "session": trace.get("sessionId"),
            "user": trace.get("userId"),
            "tags": trace.get("tags"),
            "release": trace.get("release"),
            "version": trace.get("version"),
            "environment": trace.get("environment"),
            "observations": len(observations) or None,
            "latency_ms": round(trace["latency"] * 1000, 3) if isinstance(trace.get("latency"), int | float) else None,
            "tokens": tokens or None,
            "errors": failed,
            "metadata": trace.get("metadata"),
        }.items() if value not in (None, [], {}, "")},
        feedback=_feedback(scores),
        prompt=assemble(
            list(dict.fromkeys(message_text(m.get("content")) for o in generations for m in chat_messages(o.get("input"))
                               if m.get("role") == "system" and message_text(m.get("content")).strip())),
            [tool for o in generations if isinstance(o.get("input"), dict) for tool in o["input"].get("tools") or []],
        ),
    )


def _tree_order(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {o.get("id") for o in observations}
    children: dict[Any, list[dict[str, Any]]] = {}
    for observation in observations:
        parent = observation.get("parentObservationId")
        children.setdefault(parent if parent in ids else None, []).append(observation)
    for siblings in children.values():
        siblings.sort(key=lambda o: instant(o.get("startTime")) or EARLIEST)
    ordered, stack = [], list(reversed(children.get(None, [])))
    while stack:
        observation = stack.pop()
        ordered.append(observation)
        stack.extend(reversed(children.get(observation.get("id"), [])))
    return ordered


def _step(observation: dict[str, Any]) -> Step:
    kind = STEP_TYPES[observation["type"]]
    name = str(observation.get("name") or observation["type"].lower())
    error = (observation.get("statusMessage") or "error") if observation.get("level") == "ERROR" else None
    fields = {"type": kind, "error": error, "observation_type": observation["type"]}
    if kind == "llm_call":
        return Step(name=str(observation.get("model") or name), **fields)
    if kind == "subagent_call":
        return Step(name=name, **fields)
    result = decode_json_text(observation.get("output"))
    if (message := chat_message(result)) is not None:  # a tool that answers with a chat message
        result = message_text(message.get("content"))
    return Step(name=name, arguments=decode_json_text(observation.get("input")), result=result, **fields)


def _conversation(generations: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The last generation's messages and its reply: the conversation as the model last saw it."""
    if not generations:
        return None
    last = generations[-1]
    reply = chat_message(decode_json_text(last.get("output")))
    messages = chat_messages(last.get("input")) + ([reply] if reply else [])
    return messages or None


def _feedback(scores: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not scores:
        return None
    kept = [{key: value for key, value in {
        "name": score.get("name"),
        "value": score.get("stringValue") if score.get("dataType") in ("CATEGORICAL", "TEXT") else score.get("value"),
        "comment": score.get("comment"),
        "source": score.get("source"),
        "observation": score.get("observationId"),
    }.items() if value is not None} for score in scores]
    feedback: dict[str, Any] = {"scores": kept}
    numeric = [score for score in kept if isinstance(score.get("value"), int | float)]
    if len(kept) == 1 and numeric:
        feedback["score"] = numeric[0]["value"]
        if numeric[0].get("comment"):
            feedback["comment"] = numeric[0]["comment"]
    return feedback
