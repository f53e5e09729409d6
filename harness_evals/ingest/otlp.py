"""OpenTelemetry traces as OTLP JSON: a file holding one `{"resourceSpans": [...]}` document, or
JSON lines of them (the OTLP file exporter). Spans are grouped by traceId into one trace.

Two attribute vocabularies are read:
- OpenTelemetry GenAI semantic conventions: `gen_ai.operation.name` (`invoke_agent`,
  `execute_tool`, `chat`, …), `gen_ai.tool.name`, `gen_ai.tool.call.arguments`,
  `gen_ai.tool.call.result`, `gen_ai.agent.name`, `gen_ai.input.messages` /
  `gen_ai.output.messages` (JSON: `[{"role", "parts": [{"type": "text", "content"}]}]`);
- OpenInference: `openinference.span.kind` (`AGENT`, `TOOL`, `LLM`, `CHAIN`, …), `input.value`,
  `output.value`, `tool.name`, `tool.parameters`, `llm.input_messages.<i>.message.role|content`.
A span whose status code is ERROR (2) marks its step with the status message or `error.type`.
Steps follow the span tree depth first, siblings by start time; the root span is the trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness_evals.chat import decode_json_text, message_text
from harness_evals.ingest.framing import (RAW_EXCERPT_CHARS, Parsed, Unreadable, convert, json_lines, problem_with,
                                          read_document)
from harness_evals.prompts.assembly import assemble, release_of
from harness_evals.records import Step, Trace

STATUS_ERROR = (2, "STATUS_CODE_ERROR")
GENAI_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")


def _span_tokens(attrs: dict[str, Any]) -> int:
    """A span instrumented by both conventions reports the same usage twice; count it once."""
    genai = sum(int(attrs.get(key) or 0) for key in GENAI_TOKEN_KEYS)
    return genai or int(attrs.get("llm.token_count.total") or 0)


def looks_like_otlp(value: Any) -> bool:
    return isinstance(value, dict) and "resourceSpans" in value


def any_value(value: dict[str, Any]) -> Any:
    """An OTLP AnyValue as a Python value (int64s arrive as strings in OTLP JSON)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    return None


def attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    return {pair["key"]: any_value(pair.get("value") or {}) for pair in pairs}


def span_attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes: OTLP's key-value pairs decoded, or an object of them already decoded
    (a reader of another span format, such as Phoenix's, hands spans over in OTLP's shape)."""
    value = span.get("attributes", [])
    return value if isinstance(value, dict) else attributes(value)


def _documents(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, document or Unreadable) for JSON lines; (1, document) for one pretty-printed document."""
    lines = json_lines(path)
    first = next(lines, None)
    if first is not None and isinstance(first[2], Unreadable):
        document = read_document(path)
        if not isinstance(document, Unreadable):
            problem = problem_with(document)
            yield 1, Unreadable(problem) if problem else document
            return
    if first is not None:
        yield first[0], first[2]
    for line, _, value in lines:
        yield line, value


def _spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every span of one OTLP document, with its resource's attributes; raises on a wrong shape."""
    spans = []
    for resource_spans in document["resourceSpans"]:
        resource = attributes((resource_spans.get("resource") or {}).get("attributes", []))
        for scope_spans in resource_spans.get("scopeSpans", []):
            spans += [{**span, "_resource": resource} for span in scope_spans.get("spans", [])]
    return spans


def read_otlp(path: Path) -> Iterator[Parsed]:
    """Spans are grouped by trace over the whole file (a trace's spans may sit on any line), so
    an OTLP file is held in memory; JSON-lines formats stream."""
    spans_by_trace: dict[str, list[dict[str, Any]]] = {}
    first_line: dict[str, int] = {}
    for line, document in _documents(path):
        if isinstance(document, Unreadable):
            yield Parsed(line, "", document.reason)
            continue
        if not looks_like_otlp(document):
            yield Parsed(line, json.dumps(document)[:RAW_EXCERPT_CHARS], "not an OTLP document: no resourceSpans")
            continue
        try:
            spans = _spans(document)
        except (TypeError, AttributeError, KeyError) as error:
            yield Parsed(line, json.dumps(document)[:RAW_EXCERPT_CHARS],
                         f"not an OTLP document: unexpected shape: {type(error).__name__}: {error}")
            continue
        for span in spans:
            trace_id = span.get("traceId") if isinstance(span, dict) else None
            if not trace_id or not isinstance(trace_id, str):
                yield Parsed(line, json.dumps(span)[:RAW_EXCERPT_CHARS], "span without a traceId")
                continue
            spans_by_trace.setdefault(trace_id, []).append(span)
            first_line.setdefault(trace_id, line)
    for trace_id, spans in spans_by_trace.items():
        raw = json.dumps(spans, default=str)[:RAW_EXCERPT_CHARS]
        yield Parsed(first_line[trace_id], raw, convert(lambda s, t=trace_id: spans_to_trace(t, s), spans))


def _is_error(span: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    status = span.get("status") or {}
    if status.get("code") in STATUS_ERROR:
        return status.get("message") or attrs.get("error.type") or "error"
    return None


def _messages(value: Any) -> list[dict[str, Any]]:
    """GenAI `gen_ai.*.messages`: a JSON string or list of {role, parts:[{type, content}]}."""
    value = decode_json_text(value)
    return value if isinstance(value, list) else []


def _text_of(message: dict[str, Any]) -> str:
    return message_text(message.get("parts")) or message_text(message.get("content"))


def _openinference_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    messages: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, field = key[len(prefix):].partition(".message.")
            if index.isdigit() and field in ("role", "content"):
                messages.setdefault(int(index), {})[field] = value
    return [messages[i] for i in sorted(messages)]


def _step(span: dict[str, Any], attrs: dict[str, Any]) -> Step | None:
    operation = attrs.get("gen_ai.operation.name")
    kind = str(attrs.get("openinference.span.kind", "")).upper()
    error = _is_error(span, attrs)
    if operation == "execute_tool" or kind == "TOOL":
        return Step(
            type="tool_call",
            name=attrs.get("gen_ai.tool.name") or attrs.get("tool.name") or span.get("name", "tool"),
            # OpenInference's `tool.parameters` is the tool's parameter schema; some instrumentors put the
            # arguments there, so it is read only when the span has no input
            arguments=decode_json_text(
                attrs.get("gen_ai.tool.call.arguments", attrs.get("input.value", attrs.get("tool.parameters")))
            ),
            result=attrs.get("gen_ai.tool.call.result", attrs.get("output.value")),
            error=error,
        )
    if operation == "invoke_agent" or kind == "AGENT":
        return Step(type="subagent_call", name=attrs.get("gen_ai.agent.name") or span.get("name", "agent"), error=error)
    if operation in ("chat", "text_completion", "generate_content") or kind == "LLM":
        model = attrs.get("gen_ai.request.model") or attrs.get("llm.model_name") or span.get("name", "llm")
        return Step(type="llm_call", name=str(model), error=error)
    return None


def _system_texts(attrs: dict[str, Any]) -> list[str]:
    """GenAI `gen_ai.system_instructions` (parts) and system messages; OpenInference system messages."""
    texts = [message_text(decode_json_text(attrs.get("gen_ai.system_instructions")))]
    texts += [_text_of(m) for m in _messages(attrs.get("gen_ai.input.messages")) if m.get("role") == "system"]
    texts += [_text_of(m) for m in _openinference_messages(attrs, "llm.input_messages.") if m.get("role") == "system"]
    return [text for text in texts if text and text.strip()]


def _tool_definitions(attrs: dict[str, Any]) -> list[Any]:
    """GenAI `gen_ai.tool.definitions` (a list); OpenInference `llm.tools.N.tool.json_schema` (one each)."""
    definitions = decode_json_text(attrs.get("gen_ai.tool.definitions"))
    found = list(definitions) if isinstance(definitions, list) else []
    numbered = sorted((int(key.split(".")[2]), value) for key, value in attrs.items()
                      if re.fullmatch(r"llm\.tools\.\d+\.tool\.json_schema", key))
    return found + [decode_json_text(value) for _, value in numbered]


def _openinference_context(attrs: dict[str, Any]) -> dict[str, Any]:
    """OpenInference's session, user, tags and metadata on the root span, those that are set; a
    release among the metadata (`version`, `app_version`, …) is the trace's release."""
    metadata = decode_json_text(attrs.get("metadata"))
    context = {"session": attrs.get("session.id"), "user": attrs.get("user.id"), "tags": attrs.get("tag.tags"),
               "metadata": metadata if isinstance(metadata, dict) else None}
    if isinstance(metadata, dict) and (release := release_of(metadata)) is not None:
        context["release"] = release
    return {key: value for key, value in context.items() if value not in (None, [], {})}


def spans_to_trace(trace_id: str, spans: list[dict[str, Any]]) -> Trace:
    ids = {span.get("spanId") for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parentSpanId") or None
        children.setdefault(parent if parent in ids else None, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: int(s.get("startTimeUnixNano") or 0))
    roots = children.get(None, [])
    if not roots:
        raise ValueError("no root span: every span names a parent")

    ordered = []
    stack = list(reversed(roots))
    while stack:
        span = stack.pop()
        ordered.append(span)
        stack.extend(reversed(children.get(span.get("spanId"), [])))

    root = roots[0]
    root_attrs = span_attributes(root)
    steps, inputs, outputs, tokens, instructions, tools = [], [], [], 0, [], []
    for span in ordered:
        attrs = span_attributes(span)
        tokens += _span_tokens(attrs)
        instructions += _system_texts(attrs)
        tools += _tool_definitions(attrs)
        inputs += [m for m in _messages(attrs.get("gen_ai.input.messages")) if m.get("role") == "user"]
        inputs += [m for m in _openinference_messages(attrs, "llm.input_messages.") if m.get("role") == "user"]
        outputs += [m for m in _messages(attrs.get("gen_ai.output.messages")) if m.get("role") == "assistant"]
        outputs += [m for m in _openinference_messages(attrs, "llm.output_messages.") if m.get("role") == "assistant"]
        if span is not root:
            step = _step(span, attrs)
            if step is not None:
                steps.append(step)
    request = next((text for text in (_text_of(m) for m in inputs) if text.strip()), None)
    if request is None and isinstance(root_attrs.get("input.value"), str):
        request = root_attrs["input.value"]
    if not request:
        raise ValueError("no user message in any span (gen_ai.input.messages, llm.input_messages, input.value)")
    answer = root_attrs.get("output.value") if isinstance(root_attrs.get("output.value"), str) else None
    if answer is None:
        answer = next((text for text in (_text_of(m) for m in reversed(outputs)) if text.strip()), "")
    start = int(root.get("startTimeUnixNano") or 0)
    end = max(int(s.get("endTimeUnixNano") or 0) for s in spans)
    release = root.get("_resource", {}).get("service.version") or root_attrs.get("gen_ai.agent.version")
    return Trace(
        trace_id=trace_id,
        timestamp=datetime.fromtimestamp(start / 1e9, tz=timezone.utc) if start else None,
        input=request,
        output=answer,
        steps=steps,
        metadata={
            "service": root.get("_resource", {}).get("service.name"),
            "agent": root_attrs.get("gen_ai.agent.name"),
            "root_span": root.get("name"),
            "spans": len(spans),
            "latency_ms": round((end - start) / 1e6, 3) if start and end else None,
            "tokens": tokens or None,
            "error": _is_error(root, root_attrs),
        } | _openinference_context(root_attrs) | ({"release": str(release)} if release else {}),
        prompt=assemble(list(dict.fromkeys(instructions)), tools),
    )
