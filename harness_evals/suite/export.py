"""Write a suite for the harnesses CI already runs: Inspect AI datasets and promptfoo tests.

Both carry the conversation of a multi-turn case (Inspect ChatMessage input; a `messages` var in
OpenAI chat form for a promptfoo chat prompt) and each check with the same meaning as `suite run`
gives it: in Inspect through our scorer (suite/inspect_scorer.py), in promptfoo as assertions,
and a check promptfoo has no assertion for is named in the file with the reason.

Each format is a function `(cases) -> text` in SUITE_FORMATS; one from outside the package is an
entry point in `harness_evals.suite_formats`, or `module:function`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness_evals.registry import Registry
from harness_evals.suite.jsregex import Untranslatable, python_space, to_javascript
from harness_evals.suite.model import Expected, Message, SuiteCase, ToolCall, expected_json, load_suite


def reference_answer(expected: Expected | str) -> str:
    """The case's reference answer: its `expected` when that is text, else `expected.reference`, else ""."""
    if isinstance(expected, str):
        return expected
    return expected.reference or ""


def chat_turns(case: SuiteCase) -> list[dict[str, Any]]:
    """The case's conversation in the roles a chat API takes: {role, content, tool_calls, answers}
    (`answers`: the call a tool result answers, or None). Only the assistant calls tools there, so
    a user's own calls (τ²-bench's telecom customer) and their results become user text. A result
    answers the earliest unanswered call with its id (or the earliest, if it names none); a call
    without an id gets `call_M_N`, the message's place and the call's."""
    turns: list[dict[str, Any]] = []
    pending: list[tuple[ToolCall, str]] = []  # unanswered calls and who made them, oldest first
    for place, message in enumerate(case.messages or [Message(role="user", content=case.input)]):
        calls = [call if call.id else call.model_copy(update={"id": f"call_{place}_{n}"})
                 for n, call in enumerate(message.tool_calls, start=1)]
        pending += [(call, message.role) for call in calls]
        turn = {"role": message.role, "content": message.content, "tool_calls": calls, "answers": None}
        if message.role == "user" and calls:
            turn["content"] = "\n".join(filter(None, [message.content, *(f"(I run {call.name}" + (
                "" if call.arguments is None else f" {json.dumps(call.arguments, ensure_ascii=False)}") + ")"
                for call in calls)]))
            turn["tool_calls"] = []
        elif message.role == "tool":
            found = next((i for i, (call, _) in enumerate(pending) if message.tool_call_id in (None, call.id)), None)
            if found is not None:
                call, caller = pending.pop(found)
                turn = ({"role": "user", "content": f"({call.name} says: {message.content})", "tool_calls": [],
                         "answers": None} if caller == "user" else turn | {"answers": call})
        turns.append(turn)
    return turns


def _arguments_object(arguments: Any) -> dict[str, Any]:
    """Chat APIs take a call's arguments as an object: a trace's other values go under `arguments`."""
    if isinstance(arguments, dict):
        return arguments
    return {} if arguments is None else {"arguments": arguments}


def inspect_input(case: SuiteCase) -> str | list[dict[str, Any]]:
    """A single-turn case's input text, or the conversation as Inspect ChatMessage records."""
    if case.messages is None:
        return case.input
    messages = []
    for turn in chat_turns(case):
        message: dict[str, Any] = {"role": turn["role"], "content": turn["content"]}
        if turn["tool_calls"]:
            message["tool_calls"] = [{"id": call.id, "function": call.name, "type": "function",
                                      "arguments": _arguments_object(call.arguments)} for call in turn["tool_calls"]]
        if turn["answers"] is not None:
            message |= {"tool_call_id": turn["answers"].id, "function": turn["answers"].name}
        messages.append(message)
    return messages


def openai_messages(case: SuiteCase) -> list[dict[str, Any]]:
    """The conversation as OpenAI chat messages (arguments as JSON text): promptfoo's chat prompt."""
    messages = []
    for turn in chat_turns(case):
        message: dict[str, Any] = {"role": turn["role"], "content": turn["content"]}
        if turn["tool_calls"]:
            message["tool_calls"] = [{"id": call.id, "type": "function", "function": {
                "name": call.name, "arguments": json.dumps(_arguments_object(call.arguments), ensure_ascii=False)}}
                for call in turn["tool_calls"]]
        if turn["answers"] is not None:
            message["tool_call_id"] = turn["answers"].id
        messages.append(message)
    return messages


def to_inspect(cases: Sequence[SuiteCase]) -> str:
    """Inspect AI dataset JSONL (`json_dataset` reads it): `input` (text, or ChatMessage records for
    a multi-turn case), `target` (the reference answer, reference_answer: for people and
    model-graded scorers, never one of our checks), `id`, and `metadata` with the checks under
    `checks`, which the `harness_evals/suite_checks` scorer applies (suite/inspect_scorer.py), and
    the case's `input` (its request, which a rubric's grader gets as `suite run` gives it)."""
    lines = []
    for case in cases:
        record = {
            "id": case.id,
            "input": inspect_input(case),
            "target": reference_answer(case.expected),
            "metadata": {**case.metadata, "checks": expected_json(case.expected), "input": case.input},
        }
        lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    return "".join(lines)


# promptfoo's is-json checks a schema with ajv by JSON Schema draft-07 in strict mode (a keyword outside
# DRAFT_07_KEYWORDS is an error), with ajv-formats; `suite run`'s jsonschema by the draft its $schema
# names, the newest without one, and without checking formats. A schema is translated only where
# the two judge every answer alike (_schema_differences).
DRAFT_07_KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly",
    "definitions", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "contentMediaType", "contentEncoding",
    "items", "additionalItems", "maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties",
    "required", "properties", "patternProperties", "additionalProperties", "dependencies", "propertyNames", "if",
    "then", "else", "allOf", "anyOf", "oneOf", "not"})
DRAFT_07_SCHEMA = "http://json-schema.org/draft-07/schema"  # the $schema ajv takes for it (not https)
NEWER_SCHEMA_KEYWORDS = ("$defs", "prefixItems", "dependentRequired", "dependentSchemas", "unevaluatedItems",
                         "unevaluatedProperties", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef",
                         "minContains", "maxContains")
# Where a schema holds schemas: under these keywords (one, or a list), and as the values of these maps.
SUBSCHEMA_KEYWORDS = ("items", "additionalItems", "contains", "additionalProperties", "propertyNames", "if", "then",
                      "else", "allOf", "anyOf", "oneOf", "not", "prefixItems", "unevaluatedItems",
                      "unevaluatedProperties")
SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "dependencies", "$defs", "dependentSchemas")
PROMPTFOO_NOTES = """\
# promptfoo tests written by `harness-evals suite export --format promptfoo`.
# Use them with `tests: file://THIS_FILE` and a chat prompt that sends each test's conversation:
#   prompts: ['{{{{ messages | dump }}}}']     (vars.messages: OpenAI chat messages; vars.input: the request)
# What each check became:
#   equals        a javascript assertion: both sides stripped of Python's whitespace, then compared exactly
#   contains      icontains / not-icontains (case-insensitive, as ours)
#   regex         a javascript assertion with the pattern translated from Python's syntax (suite/jsregex.py)
#   json_schema   is-json with the schema (ajv, draft-07, strict) where ajv judges it as jsonschema does: not
#                 with $ref, $id, format, pattern, patternProperties or keywords outside draft-07, nor with
#                 dependencies, additionalItems or a list of items unless $schema names draft-07
#   rubric        llm-rubric: it needs a grader provider (--grader, or defaultTest.options.provider);
#                 without one promptfoo fails the test where `suite run` skips the rubric
#   required_tools / forbidden_tools
#                 trajectory:tool-used / not-trajectory:tool-used: they read the trace of the test, so
#                 turn on tracing (tracing: {{enabled: true, otlp: {{http: {{enabled: true}}}}}}) and have the
#                 provider send a span per tool call (attribute gen_ai.tool.name) to the OTLP receiver with the
#                 traceparent promptfoo gives it; without a trace the assertion fails, as ours does
#                 when a target reports no tool calls. promptfoo matches names ignoring case (ours
#                 do not: Lookup is not lookup), and reads * and ?: a name with them is not translated
{untranslated}"""


def _js_string(text: str) -> str:
    """A JavaScript string literal holding `text`, with no `{`, `}`, `%` or `#` in it: promptfoo
    renders assertion values as Nunjucks templates before it runs them."""
    literal = json.dumps(text, ensure_ascii=True)
    return "".join(f"\\u{ord(char):04x}" if char in "{}%#" else char for char in literal)


def _python_strip(expression: str) -> str:
    space = python_space()
    return f"{expression}.replace(new RegExp({_js_string(f'^[{space}]+|[{space}]+$')}, 'gu'), '')"


def _templated(text: str) -> bool:
    """Would promptfoo read the value as a template or a file (so its meaning changes)?"""
    return any(mark in text for mark in ("{{", "{%", "{#")) or text.startswith(("file://", "package:"))


def _contains(text: str, *, inverse: bool) -> dict[str, Any]:
    if not _templated(text):
        return {"type": "not-icontains" if inverse else "icontains", "value": text}
    found = f"String(output).toLowerCase().includes({_js_string(text)}.toLowerCase())"
    return {"type": "javascript", "value": f"!{found}" if inverse else found}


def _promptfoo_asserts(expected: Expected | str) -> tuple[list[dict[str, Any]], list[str]]:
    """The assertions for a case's checks, and `check: why` for each check that has none."""
    if isinstance(expected, str):
        expected = Expected(reference=expected)
    asserts: list[dict[str, Any]] = []
    untranslated = []
    if expected.equals is not None:
        stripped = _js_string(expected.equals.strip())
        asserts.append({"type": "javascript", "value": f"{_python_strip('String(output)')} === {stripped}"})
    asserts += [_contains(text, inverse=False) for text in expected.contains]
    asserts += [_contains(text, inverse=True) for text in expected.not_contains]
    if expected.regex is not None:
        try:
            source, flags = to_javascript(expected.regex)
            asserts.append({"type": "javascript",
                            "value": f"new RegExp({_js_string(source)}, {_js_string(flags)}).test(String(output))"})
        except Untranslatable as why:
            untranslated.append(f"regex {expected.regex!r}: {why}")
    if expected.json_schema is not None:
        differences = _schema_differences(expected.json_schema)
        if differences:
            untranslated.append("json_schema: promptfoo's is-json (ajv, JSON Schema draft-07, strict) would judge "
                                "it otherwise: " + "; ".join(differences))
        else:
            asserts.append({"type": "is-json", "value": expected.json_schema})
    for check, names, kind in (("required_tools", expected.required_tools, "trajectory:tool-used"),
                               ("forbidden_tools", expected.forbidden_tools, "not-trajectory:tool-used")):
        # promptfoo reads each name as a glob (* and ?), and as a template or a file like any listed value
        globs = [name for name in names if "*" in name or "?" in name or _templated(name)]
        untranslated += [f"{check} {name!r}: promptfoo would read it as a pattern (it holds * or ?) or a template"
                         for name in globs]
        if exact := [name for name in names if name not in globs]:
            asserts.append({"type": kind, "value": exact})
    if expected.rubric is not None:
        if _templated(expected.rubric):
            untranslated.append("rubric: promptfoo would read it as a template (it holds {{, {% or {#)")
        else:
            asserts.append({"type": "llm-rubric", "value": expected.rubric})
    if expected.reference is not None:
        untranslated.append("reference: a reference answer alone is for a person or a grader; `suite run` skips "
                            "it, and promptfoo has no skipped verdict")
    return asserts, untranslated


def _schema_differences(schema: dict[str, Any]) -> list[str]:
    """Where promptfoo's ajv would judge an answer otherwise than `suite run`'s jsonschema, or
    refuse the schema (ajv's strict mode); none: is-json is exact."""
    declared = str(schema.get("$schema", ""))
    if declared and declared.rstrip("#") != DRAFT_07_SCHEMA:
        return [f"$schema {declared} is not draft-07 as ajv names it ({DRAFT_07_SCHEMA}#)"]
    schemas = _schemas_in(schema)
    keywords = {keyword for each in schemas for keyword in each}
    differences = []
    if newer := sorted(keywords & set(NEWER_SCHEMA_KEYWORDS)):
        differences.append(f"keywords of drafts after 7: {', '.join(newer)}")
    if unknown := sorted(keywords - DRAFT_07_KEYWORDS - set(NEWER_SCHEMA_KEYWORDS)):
        differences.append(f"keywords outside draft-07, which ajv's strict mode refuses: {', '.join(unknown)}")
    if any(("if" in each) != ("then" in each or "else" in each) for each in schemas):
        differences.append("if without then or else, or then or else without if, which ajv's strict mode refuses")
    if any("additionalItems" in each and not isinstance(each.get("items"), list) for each in schemas):
        differences.append("additionalItems without a list of items, which ajv's strict mode refuses")
    if "$ref" in keywords:
        differences.append("promptfoo resolves $ref against the whole tests file as it loads it (an internal $ref "
                           "stops the eval)")
    if "$id" in keywords:
        differences.append("ajv keeps each schema by its $id, and a second one with the same $id is an error")
    if "format" in keywords:
        differences.append("ajv checks format, jsonschema does not")
    if used := sorted(keywords & {"pattern", "patternProperties"}):
        differences.append(f"{' and '.join(used)}: ajv reads JavaScript RegExps, jsonschema Python's re")
    by_draft_07 = sorted(keywords & {"dependencies", "additionalItems"}
                         | ({"items as a list"} if any(isinstance(each.get("items"), list) for each in schemas)
                            else set()))
    if by_draft_07 and not declared:
        differences.append(f"{', '.join(by_draft_07)}: jsonschema reads the schema by the newest draft, which gives "
                           f"them another meaning (declare $schema {DRAFT_07_SCHEMA}# to keep them)")
    return differences


def _schemas_in(schema: Any) -> list[dict[str, Any]]:
    """The schema and every schema inside it, found by keyword (a property named `format` is no keyword)."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    for keyword, value in schema.items():
        if keyword in SUBSCHEMA_MAPS and isinstance(value, dict):
            inner = list(value.values())
        elif keyword in SUBSCHEMA_KEYWORDS:
            inner = value if isinstance(value, list) else [value]
        else:
            continue
        found += [each for item in inner for each in _schemas_in(item)]
    return found


def to_promptfoo(cases: Sequence[SuiteCase]) -> str:
    """promptfoo test cases (a YAML list, for `tests: file://...`), a header of notes first: each
    test's vars (`input`, and `messages` for a chat prompt), its assertions (each check as an
    assertion of the same meaning, _promptfoo_asserts), and in its metadata the case id, the checks,
    and `untranslated`: each check with no assertion, and why (listed in the header too)."""
    import yaml

    tests, refused = [], []
    for case in cases:
        asserts, untranslated = _promptfoo_asserts(case.expected)
        test: dict[str, Any] = {"description": case.id,
                                "vars": {"input": case.input, "messages": openai_messages(case)}}
        if asserts:
            test["assert"] = asserts
        test["metadata"] = {"case_id": case.id, "checks": json.dumps(expected_json(case.expected), sort_keys=True)}
        if untranslated:
            test["metadata"]["untranslated"] = untranslated
            refused += [f"#   {case.id}: {why}" for why in untranslated]
        tests.append(test)
    listed = "# Not translated (kept in each test's metadata.untranslated):\n" + "\n".join(refused) + "\n" \
        if refused else "# Every check was translated.\n"
    header = PROMPTFOO_NOTES.format(untranslated=listed)
    # ASCII, every other character escaped: PyYAML writes U+2028, U+2029 and U+0085 raw, as line breaks
    # js-yaml (promptfoo's reader) folds apart from PyYAML; escaped, both read the same text
    return header + yaml.safe_dump(tests, sort_keys=False, allow_unicode=False, width=1000)

SuiteWriter = Callable[[Sequence[SuiteCase]], str]
SUITE_FORMATS: Registry[SuiteWriter] = Registry("suite format", "harness_evals.suite_formats",
                                                {"inspect": to_inspect, "promptfoo": to_promptfoo})


def export_suite(suite: str | Path, out: str | Path, *, format: str) -> int:
    """Write the suite file's cases to `out` in a SUITE_FORMATS format; the number of cases."""
    write = SUITE_FORMATS.get(format)
    cases = load_suite(suite)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(write(cases), encoding="utf-8")
    return len(cases)
