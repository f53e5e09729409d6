"""LangSmith run exports: runs (`list_runs` dumped as JSON lines, or a bulk export's Parquet files),
one run a row, grouped into one trace per `trace_id` (`grouping.grouped_rows`).

A run has `id`, `trace_id` (its root's id), `parent_run_id`, `dotted_order`, `run_type`, `name`,
`start_time`, `end_time`, `inputs`, `outputs`, `error`, `extra` (`metadata`, `invocation_params`),
`tags`, `status`, `feedback_stats`, `total_tokens`. An object field may also arrive as JSON text,
as a Parquet file holds it. The root run is the trace; every other run is a step, depth first,
siblings in `dotted_order` (their start times): `llm` and `embedding` runs are `llm_call`s named by
their model, `tool` and `retriever` runs `tool_call`s with the run's inputs as arguments and its
output as result, and the rest (`chain`, `prompt`, `parser`) `subagent_call`s; each keeps its
`run_type` and its `error`. A LangChain tool whose error was handed back to the model as a
ToolMessage with status `error` fails its step too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness_evals.chat import decode_json_text, message_text
from harness_evals.ingest.framing import Parsed
from harness_evals.ingest.grouping import grouped_rows
from harness_evals.ingest.payloads import answer_text, as_text, chat_message, chat_messages, instant, request_text
from harness_evals.prompts.assembly import assemble, release_of
from harness_evals.records import Step, Trace

OBJECT_FIELDS = ("inputs", "outputs", "extra", "events", "serialized", "feedback_stats", "tags")
STEP_TYPES = {"llm": "llm_call", "embedding": "llm_call", "tool": "tool_call", "retriever": "tool_call"}
SESSION_KEYS = ("session_id", "thread_id", "conversation_id")  # the metadata keys LangSmith groups threads by


def looks_like_langsmith(value: Any) -> bool:
    return isinstance(value, dict) and "run_type" in value and "id" in value and (
        "trace_id" in value or "dotted_order" in value)


def read_langsmith(path: Path) -> Iterator[Parsed]:
    return grouped_rows(path, trace_id_of=_trace_id, is_root=lambda run: not run.get("parent_run_id"),
                        build=runs_to_trace, what="run", id_columns=["trace_id", "id", "parent_run_id"])


def _trace_id(run: dict[str, Any]) -> Any:
    """A run's trace; an export without `trace_id` still names a root run's by its own id."""
    return run.get("trace_id") or (run.get("id") if not run.get("parent_run_id") else None)


def runs_to_trace(trace_id: str, rows: list[dict[str, Any]]) -> Trace:
    runs = [{**row, **{key: decode_json_text(row[key]) for key in OBJECT_FIELDS if isinstance(row.get(key), str)}}
            for row in rows]
    ids = {str(run.get("id")) for run in runs}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for run in runs:
        parent = str(run["parent_run_id"]) if run.get("parent_run_id") else None
        children.setdefault(parent if parent in ids else None, []).append(run)
    for siblings in children.values():
        siblings.sort(key=lambda run: (str(run.get("dotted_order") or ""), str(run.get("start_time") or "")))
    roots = children.get(None, [])
    if not roots:
        raise ValueError("no root run: every run names a parent")
    root = next((run for run in roots if str(run.get("id")) == trace_id), roots[0])
    ordered, stack = [], list(reversed(roots))
    while stack:
        run = stack.pop()
        ordered.append(run)
        stack.extend(reversed(children.get(str(run.get("id")), [])))

    llm_runs = [run for run in ordered if run.get("run_type") == "llm"]
    inputs, outputs = root.get("inputs"), root.get("outputs")
    request = request_text(inputs) or next(
        (text for run in llm_runs if (text := request_text(run.get("inputs")))), None) or as_text(inputs)
    if not request:
        raise ValueError("no request: the root run's inputs are empty and no LLM run has a user message")
    answer = answer_text(outputs) or next(
        (text for run in reversed(llm_runs) if (text := answer_text(run.get("outputs")))), None) or as_text(outputs)
    metadata = (root.get("extra") or {}).get("metadata") or {}
    return Trace(
        trace_id=trace_id,
        timestamp=root.get("start_time"),
        input=request,
        output=answer,
        steps=[_step(run) for run in ordered if run is not root],
        messages=_conversation(root, llm_runs),
        metadata=_dropped_nulls({
            "run_name": root.get("name"),
            "tags": root.get("tags"),
            "session": next((str(metadata[key]) for key in SESSION_KEYS if metadata.get(key)), None),
            "release": metadata.get("revision_id") or release_of(metadata),
            "runs": len(runs),
            "latency_ms": _latency_ms(root),
            "tokens": root.get("total_tokens") or sum(int(run.get("total_tokens") or 0) for run in llm_runs) or None,
            "error": root.get("error"),
            "metadata": metadata,
        }),
        feedback=_feedback(root.get("feedback_stats")),
        prompt=assemble(
            list(dict.fromkeys(message_text(m.get("content")) for run in llm_runs for m in chat_messages(run.get("inputs"))
                               if m.get("role") == "system" and message_text(m.get("content")).strip())),
            [tool for run in llm_runs for tool in ((run.get("extra") or {}).get("invocation_params") or {}).get("tools") or []],
        ),
    )


def _step(run: dict[str, Any]) -> Step:
    run_type = str(run.get("run_type") or "")
    kind = STEP_TYPES.get(run_type, "subagent_call")
    name = str(run.get("name") or run_type or "run")
    error = run.get("error") or None
    if kind == "llm_call":
        extra = run.get("extra") or {}
        model = (extra.get("metadata") or {}).get("ls_model_name") or (extra.get("invocation_params") or {}).get("model")
        return Step(type=kind, name=str(model or name), error=error, run_type=run_type)
    if kind == "subagent_call":
        return Step(type=kind, name=name, error=error, run_type=run_type)
    inputs, outputs = run.get("inputs") or {}, run.get("outputs") or None
    arguments = decode_json_text(inputs["input"]) if isinstance(inputs, dict) and set(inputs) == {"input"} else inputs
    result = outputs["output"] if isinstance(outputs, dict) and set(outputs) == {"output"} else outputs
    if (message := chat_message(result)) is not None:  # a LangChain tool returns a ToolMessage
        result = message_text(message.get("content"))
        error = error or (result if message.get("status") == "error" else None)
    return Step(type=kind, name=name, arguments=arguments, result=result, error=error, run_type=run_type)


def _conversation(root: dict[str, Any], llm_runs: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The root run's messages (a LangGraph state holds the whole conversation), else the last LLM
    run's: what it was given and what it answered."""
    messages = chat_messages(root.get("outputs")) or chat_messages(root.get("inputs"))
    if not messages and llm_runs:
        last = llm_runs[-1]
        generations = (last.get("outputs") or {}).get("generations") or []
        replies = [chat_message(g.get("message")) for batch in generations
                   for g in (batch if isinstance(batch, list) else [batch]) if isinstance(g, dict)]
        messages = chat_messages(last.get("inputs")) + [reply for reply in replies if reply]
    return messages or None


def _latency_ms(run: dict[str, Any]) -> float | None:
    start, end = instant(run.get("start_time")), instant(run.get("end_time"))
    return round((end - start).total_seconds() * 1000, 3) if start and end else None


def _feedback(stats: Any) -> dict[str, Any] | None:
    """`feedback_stats` kept whole; with one feedback key, its mean is the trace's `score`."""
    if not isinstance(stats, dict) or not stats:
        return None
    feedback: dict[str, Any] = {"stats": stats}
    if len(stats) == 1 and isinstance(mean := (next(iter(stats.values())) or {}).get("avg"), int | float):
        feedback["score"] = mean
    return feedback


def _dropped_nulls(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, [], {})}
