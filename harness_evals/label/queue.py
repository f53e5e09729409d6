"""The labelling queue: a mining run's picks enter it, and it goes out for labelling.

A trace enters the queue once, ever, and moves queued → labelled → emitted, queued → skipped, or
queued → covered (an eval case already covers it: `covered_by`); each move is recorded in
`queue_events` with its run. QUEUE_FORMATS write the queue (JSONL, CSV, Label Studio tasks); a
format from outside the package is an entry point in `harness_evals.queue_formats`, or
`module:function`. Labels come back through `label.labels`.

Each item carries its trajectory (TRAJECTORY_FIELDS): the conversation, the steps in order, the
flags the run that queued it found, the outcome signals, the nearest eval case (to say `covered_by`
when it already covers the trace), and draft checks (`label.suggest`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from harness_evals.chat import decode_json_text, message_text
from harness_evals.config import SuggestSettings
from harness_evals.label.suggest import DEFAULTS as SUGGEST_DEFAULTS
from harness_evals.label.suggest import NEGATIVE_FEEDBACK_BELOW, succeeded, suggest
from harness_evals.records import QueuePick
from harness_evals.redact import Redactor
from harness_evals.registry import Registry
from harness_evals.store import Store
from harness_evals.store.queue import nearest_cases, queue_flags, queue_trajectories, queued_trace_ids, waiting_items

FIELDS_TO_FILL = ("expected", "verdict", "notes", "skip", "covered_by")
TRAJECTORY_FIELDS = ("conversation", "steps", "flags", "outcome", "nearest_case", "suggested", "suggested_from")
# Every field with text from the store: redacted, with placeholders numbered across them, before it leaves.
EXPORTED_TEXT = ("input", "output", "metadata", "conversation", "steps", "flags", "nearest_case", "suggested",
                 "suggested_from")
JSON_COLUMNS = ("metadata", *TRAJECTORY_FIELDS)  # a CSV cell holds each as JSON
PROMPT_ROLES = ("system", "developer")  # the assembled prompt, the same for every trace: `prompts` shows it
LABEL_STUDIO_CONFIG = """<View>
  <Style>.htx-text { white-space: pre-wrap; }</Style>
  <Header value="$reason"/>
  <View style="display: flex; gap: 1em;">
    <View style="flex: 3;">
      <Header value="Conversation" size="5"/>
      <Paragraphs name="conversation" value="$dialogue" layout="dialogue"/>
      <Header value="Steps" size="5"/>
      <Paragraphs name="steps" value="$step_lines" layout="dialogue"/>
    </View>
    <View style="flex: 2;">
      <Text name="signals" value="$signals"/>
      <Choices name="verdict" toName="conversation" choice="single">
        <Choice value="pass"/><Choice value="fail"/><Choice value="skip"/>
      </Choices>
      <TextArea name="expected" toName="conversation" rows="6"
                placeholder="What should the agent have done? Text, or a JSON object of checks"/>
      <TextArea name="covered_by" toName="conversation" rows="1"
                placeholder="Or: the id of the eval case that already covers this (no case of its own)"/>
      <Text name="suggested_from" value="$suggestion_notes"/>
      <TextArea name="notes" toName="conversation"/>
    </View>
  </View>
</View>"""
LABEL_STUDIO_MODEL_VERSION = "harness-evals suggested checks"
# A CSV cell a spreadsheet would run as a formula (trace text is the user's and the agent's: it can be
# `=HYPERLINK(...)`) is written with a `'` before it, as spreadsheets mark text; so that reading takes
# exactly that mark off again, a cell that already starts with quotes before such a character gets one more.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


def already_queued(store: Store) -> set[str]:
    return queued_trace_ids(store)


def record_events(store: Store, trace_ids: Sequence[str], *, state: str, run_id: str) -> None:
    count = len(trace_ids)
    store.insert("queue_events", {"trace_id": list(trace_ids), "state": [state] * count, "run_id": [run_id] * count,
                                  "happened_at": [datetime.now(timezone.utc)] * count})


def enqueue(store: Store, picks: Sequence[QueuePick], *, run_id: str) -> None:
    """Add picks in state `queued` (the label columns are left NULL). Call inside the run's transaction."""
    count = len(picks)
    store.insert("labelling_queue", {
        "trace_id": [p.trace_id for p in picks],
        "run_id": [run_id] * count,
        "cluster_id": [p.cluster_id for p in picks],
        "reason": [p.reason for p in picks],
        "priority": [p.priority for p in picks],
        "state": ["queued"] * count,
    })
    record_events(store, [p.trace_id for p in picks], state="queued", run_id=run_id)


def queued_items(store: Store, *, suggestions: SuggestSettings = SUGGEST_DEFAULTS,
                 negative_feedback_below: float = NEGATIVE_FEEDBACK_BELOW,
                 redactor: Redactor | None = None) -> list[dict[str, Any]]:
    """Every queued trace, highest priority first, with its trajectory and the fields a labeller
    fills in left empty (unredacted; `redactor`: the rules they will be redacted by)."""
    items = []
    waiting = waiting_items(store)
    trajectories = with_trajectories(store, [item["trace_id"] for item in waiting], suggestions=suggestions,
                                     negative_feedback_below=negative_feedback_below, redactor=redactor)
    for item in waiting:
        item["priority"] = round(item["priority"], 4)
        item["metadata"] = json.loads(item["metadata"])
        items.append({**item, **trajectories[item["trace_id"]], **dict.fromkeys(FIELDS_TO_FILL)})
    return items


def with_trajectories(store: Store, trace_ids: Sequence[str], *, suggestions: SuggestSettings = SUGGEST_DEFAULTS,
                      negative_feedback_below: float = NEGATIVE_FEEDBACK_BELOW, redactor: Redactor | None = None
                      ) -> dict[str, dict[str, Any]]:
    """TRAJECTORY_FIELDS of each of `trace_ids` in the queue, by trace id (unredacted):
    `conversation` (conversation_of), `steps` as stored, `flags` as [{detector, reason}] of the run
    that queued it, `outcome` {reward, success, feedback_score, succeeded}, `nearest_case` {case_id,
    similarity, input} (the eval case the run that queued it found nearest, or None), `suggested`
    (checks, or None) and `suggested_from` (label.suggest; `redactor`: the rules they will be redacted by)."""
    entries = queue_trajectories(store, trace_ids)
    flags = queue_flags(store, trace_ids)
    nearest = nearest_cases(store, trace_ids)
    parsed = [{**entry, **{key: json.loads(entry[key] or "null") for key in ("steps", "messages", "metadata",
                                                                            "feedback")}}
              for entry in entries.values()]
    drafts = suggest(store, parsed, min_successful=suggestions.min_successful,
                     required_share=suggestions.required_share, negative_feedback_below=negative_feedback_below,
                     redactor=redactor)
    trajectories = {}
    for entry in parsed:
        metadata, feedback = entry["metadata"] or {}, entry["feedback"] or {}
        signals = metadata.get("reward"), metadata.get("success"), feedback.get("score")
        draft, case = drafts[entry["trace_id"]], nearest.get(entry["trace_id"])
        trajectories[entry["trace_id"]] = {
            "conversation": conversation_of(entry["messages"], entry["input"], entry["output"]),
            "steps": entry["steps"],
            "flags": [{"detector": name, "reason": reason} for name, reason in flags.get(entry["trace_id"], [])],
            "outcome": {"reward": signals[0], "success": signals[1], "feedback_score": signals[2],
                        "succeeded": succeeded(*signals, negative_feedback_below=negative_feedback_below)},
            "nearest_case": case and {"case_id": case[0], "similarity": round(case[1], 4), "input": case[2]},
            "suggested": draft.checks,
            "suggested_from": draft.sources,
        }
    return trajectories


def conversation_of(messages: list[Any] | None, request: str, answer: str) -> list[dict[str, Any]]:
    """Who said what, in order: each message's `role` and `text`, and the names of the tools it
    calls (`tool_calls`). Left out: the system and developer messages (the prompt), and the agent's
    messages with neither text nor calls. A trace without messages: its request, then its answer."""
    if not messages:
        return [{"role": "user", "text": request}] + ([{"role": "assistant", "text": answer}] if answer else [])
    return [{"role": turn["role"], "text": turn["text"]}
            | ({"tool_calls": [call["name"] for call in turn["tool_calls"]]} if turn["tool_calls"] else {})
            for turn in turns_of(messages)]


def turns_of(messages: list[Any]) -> list[dict[str, Any]]:
    """The stored messages of a trace as conversation_of keeps them, calls whole: {role, text,
    tool_calls: [{name, arguments, id}], tool_call_id} (the call a `tool` message answers: its
    `tool_call_id`, or its `id` as τ²-bench names it; ids as text). Arguments sent as JSON text are decoded.
    A user message is kept without text too (only an image, say): it ends the agent's turn."""
    turns = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") in PROMPT_ROLES:
            continue
        text = message_text(message.get("content")) or message_text(message.get("parts"))
        calls = [whole for call in message.get("tool_calls") or [] if (whole := _call_of(call))]
        if text.strip() or calls or message.get("role") in ("tool", "user"):
            answers = _id_of(message.get("tool_call_id"))
            if answers is None and message.get("role") == "tool":
                answers = _id_of(message.get("id"))
            turns.append({"role": str(message.get("role")), "text": text, "tool_calls": calls,
                          "tool_call_id": answers})
    return turns


def _call_of(call: Any) -> dict[str, Any] | None:
    """{name, arguments, id} of a call as OpenAI chat (`function: {name, arguments}`) or τ²-bench
    (`name`, `arguments`) writes it; None for one without a name."""
    if not isinstance(call, dict):
        return None
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name = call.get("name") or function.get("name")
    if not name:
        return None
    arguments = call["arguments"] if "arguments" in call else function.get("arguments")
    return {"name": str(name), "arguments": decode_json_text(arguments), "id": _id_of(call.get("id"))}


def _id_of(value: Any) -> str | None:
    """A call's id as text: some traces number their calls 0, 1, … (None: it has none)."""
    return None if value is None or value == "" else str(value)


def dialogue_lines(item: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation as lines to read: {author: role, text}, a call shown as `(calls NAME)`."""
    return [{"author": turn["role"], "text": " ".join(filter(None, [
                turn["text"].strip(), *(f"(calls {name})" for name in turn.get("tool_calls", []))]))}
            for turn in item["conversation"]]


def step_lines(item: dict[str, Any]) -> list[dict[str, str]]:
    """Each step as a line to read: {author: `N. type name`, text: its arguments, then its result or error}."""
    lines = []
    for number, step in enumerate(item["steps"], start=1):
        outcome = (f"error: {_shown(step.get('error'))}" if step.get("error")
                   else f"result: {_shown(step.get('result'))}")
        lines.append({"author": f"{number}. {step.get('type', 'tool_call')} {step.get('name')}",
                      "text": f"arguments: {_shown(step.get('arguments'))}\n{outcome}"})
    return lines


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def transcript(item: dict[str, Any]) -> str:
    """The trajectory as one text: the conversation, then the steps, the flags and the outcome."""
    lines = [f"{line['author']}: {line['text']}" for line in dialogue_lines(item)]
    if item["steps"]:
        lines += ["", "steps:"] + [f"{line['author']}: {line['text']}".replace("\n", "; ") for line in step_lines(item)]
    return "\n".join(lines + ["", signals_text(item)])


def signals_text(item: dict[str, Any]) -> str:
    """The outcome signals and the flags, in a line each."""
    outcome = item["outcome"]
    known = [f"{name} {_shown(outcome[name])}" for name in ("reward", "success", "feedback_score")
             if outcome[name] is not None]
    reading = {True: "succeeded", False: "failed", None: "outcome unknown"}[outcome["succeeded"]]
    lines = [f"outcome: {', '.join(known)} ({reading})" if known else f"outcome: {reading}"]
    lines += [f"flag {flag['detector']}: {flag['reason']}" for flag in item["flags"]] or ["flags: none"]
    case = item["nearest_case"]
    lines.append(f"nearest eval case {case['case_id']} (cosine {case['similarity']:.2f}): {case['input']}" if case
                 else "nearest eval case: none")
    return "\n".join(lines)


def suggestion_text(item: dict[str, Any]) -> str:
    """Where each suggested check came from, a line each (or why there is none)."""
    lines = []
    for check, source in item["suggested_from"].items():
        if isinstance(source, dict):
            lines += [f"{check} {value}: {why}" for value, why in source.items()]
        else:
            lines.append(f"{check}: {source}")
    return "\n".join(["suggested checks:" if item["suggested"] else "no suggested checks:", *lines])


def _write_jsonl(items: list[dict[str, Any]], handle: TextIO) -> None:
    handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def _write_csv(items: list[dict[str, Any]], handle: TextIO) -> None:
    """A `transcript` column to read, and the structured fields as JSON (JSON_COLUMNS)."""
    fields = ["trace_id", "transcript", *(name for name in items[0] if name not in ("trace_id", "transcript"))] \
        if items else ["trace_id", *FIELDS_TO_FILL]
    writer = csv.DictWriter(handle, fieldnames=fields)
    writer.writeheader()
    rows = ({**item, "transcript": transcript(item),
             **{name: json.dumps(item[name], ensure_ascii=False) for name in JSON_COLUMNS}} for item in items)
    writer.writerows({name: as_inert_cell(value) for name, value in row.items()} for row in rows)


def as_inert_cell(value: Any) -> Any:
    """The value as a CSV cell no spreadsheet runs as a formula (FORMULA_START)."""
    return "'" + value if isinstance(value, str) and FORMULA_START.match(value) else value


def from_inert_cell(value: Any) -> Any:
    """The value `as_inert_cell` was given."""
    return value[1:] if isinstance(value, str) and value.startswith("'") and FORMULA_START.match(value) else value


def _write_label_studio(items: list[dict[str, Any]], handle: TextIO) -> None:
    """Label Studio tasks: import with LABEL_STUDIO_CONFIG as the labelling interface. Beside the
    item's fields, each task has the lines the interface shows (`dialogue`, `step_lines`,
    `signals`, `suggestion_notes`); its suggested checks come as a prediction for `expected`, which
    Label Studio shows filled in: submit it to accept, edit it, or clear it."""
    tasks = []
    for item in items:
        data = {k: v for k, v in item.items() if k not in FIELDS_TO_FILL}
        data |= {"dialogue": dialogue_lines(item),
                 "step_lines": step_lines(item) or [{"author": "steps", "text": "none"}],
                 "signals": signals_text(item), "suggestion_notes": suggestion_text(item)}
        task: dict[str, Any] = {"data": data}
        if item["suggested"]:
            task["predictions"] = [{"model_version": LABEL_STUDIO_MODEL_VERSION, "result": [{
                "from_name": "expected", "to_name": "conversation", "type": "textarea",
                "value": {"text": [json.dumps(item["suggested"], ensure_ascii=False)]}}]}]
        tasks.append(task)
    json.dump(tasks, handle, ensure_ascii=False, indent=1)


# A queue format writes the queued items (queued_items, redacted) to a UTF-8 text file opened with newline="".
QueueWriter = Callable[[list[dict[str, Any]], TextIO], None]
QUEUE_FORMATS: Registry[QueueWriter] = Registry("queue format", "harness_evals.queue_formats", {
    "jsonl": _write_jsonl, "csv": _write_csv, "labelstudio": _write_label_studio})


def export_queue(store: Store, out: str | Path, *, format: str = "jsonl", redactor: Redactor | None = None,
                 suggestions: SuggestSettings = SUGGEST_DEFAULTS,
                 negative_feedback_below: float = NEGATIVE_FEEDBACK_BELOW) -> int:
    """Write the queue for labelling; the same file, filled in, is what `import_labels` reads.

    Text is redacted (default rules unless `redactor` says otherwise): the file leaves the store.
    The draft checks are made now, each from its region in the run that queued it (label.suggest)."""
    write = QUEUE_FORMATS.get(format)
    redactor = redactor or Redactor()
    items = [redactor.redact_fields(item, EXPORTED_TEXT)
             for item in queued_items(store, suggestions=suggestions, negative_feedback_below=negative_feedback_below,
                                      redactor=redactor)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        write(items, handle)
    return len(items)
