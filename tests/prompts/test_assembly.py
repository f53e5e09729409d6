import json

import pytest

from harness_evals.errors import UserError
from harness_evals.ingest.otlp import spans_to_trace
from harness_evals.prompts.assembly import (PromptBlock, PromptContract, assembly_from_messages, diff_releases, load_contract,
                                   split_system_prompt, violations)

BASE = "You help ACME customers.\n# Policy\nNever share card numbers.\n# Refunds\nFollow the Policy for refunds over $100."
TOOLS = [{"type": "function", "function": {"name": "issue_refund", "parameters": {"type": "object"}}}]


def test_a_system_prompt_splits_at_headings_or_top_level_tags():
    assert [(b.name, b.text) for b in split_system_prompt(BASE)] == [
        ("preamble", "You help ACME customers."), ("Policy", "Never share card numbers."),
        ("Refunds", "Follow the Policy for refunds over $100."),
    ]
    tagged = "Be brief.\n<policy>\nNo card numbers.\n</policy>\n<tone>\nWarm.\n</tone>"
    assert [(b.name, b.text) for b in split_system_prompt(tagged)] == [
        ("preamble", "Be brief."), ("policy", "No card numbers."), ("tone", "Warm.")]
    assert split_system_prompt("Just be helpful.") == [PromptBlock(kind="system", name="system", text="Just be helpful.")]


def test_chat_messages_and_tools_make_the_assembly_and_context_comes_after():
    messages = [{"role": "system", "content": BASE}, {"role": "user", "content": "refund please"},
                {"role": "developer", "content": "The customer is on the gold plan."}]
    assembly = assembly_from_messages(messages, TOOLS)
    assert [(b.kind, b.name) for b in assembly.blocks] == [
        ("system", "preamble"), ("system", "Policy"), ("system", "Refunds"), ("context", "context"),
        ("tool", "tool:issue_refund")]
    assert assembly_from_messages([{"role": "user", "content": "hi"}]) is None
    assert assembly.digest == assembly_from_messages(messages, TOOLS).digest


def attribute(key, value):
    return {"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}


def test_otlp_genai_instructions_and_tool_definitions_per_the_semantic_conventions():
    spans = [{
        "traceId": "t1", "spanId": "a", "name": "chat gpt-4o", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
        "_resource": {"service.name": "support", "service.version": "2026.11.2"},
        "attributes": [
            attribute("gen_ai.operation.name", "chat"),
            attribute("gen_ai.system_instructions", [{"type": "text", "content": BASE}]),
            attribute("gen_ai.input.messages", [{"role": "user", "parts": [{"type": "text", "content": "refund"}]}]),
            attribute("gen_ai.tool.definitions", [{"type": "function", "name": "issue_refund",
                                                   "parameters": {"type": "object"}}]),
        ],
    }]
    trace = spans_to_trace("t1", spans)
    assert trace.metadata["release"] == "2026.11.2"
    assert trace.prompt.names == ["preamble", "Policy", "Refunds", "tool:issue_refund"]


def test_otlp_openinference_system_messages_and_tool_schemas():
    spans = [{
        "traceId": "t2", "spanId": "a", "name": "ChatOpenAI", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
        "attributes": [
            attribute("openinference.span.kind", "LLM"),
            attribute("llm.input_messages.0.message.role", "system"),
            attribute("llm.input_messages.0.message.content", "Be brief."),
            attribute("llm.input_messages.1.message.role", "user"),
            attribute("llm.input_messages.1.message.content", "where is my order"),
            attribute("llm.tools.0.tool.json_schema", TOOLS[0]),
        ],
    }]
    trace = spans_to_trace("t2", spans)
    assert [(b.kind, b.name) for b in trace.prompt.blocks] == [("system", "system"), ("tool", "tool:issue_refund")]


def test_a_release_that_dropped_a_block_is_a_change_with_its_diff():
    before = assembly_from_messages([{"role": "system", "content": BASE}], TOOLS)
    after = assembly_from_messages([{"role": "system", "content": BASE.replace("# Policy\nNever share card numbers.\n",
                                                                              "")}], TOOLS)
    [change] = diff_releases({before.digest: (before, 1.0)}, {after.digest: (after, 1.0)})
    assert (change.status, change.before, change.after) == ("changed", before.digest, after.digest)
    assert change.block_diffs == ["--- before/Policy\n+++ /dev/null\n@@ -1 +0,0 @@\n-Never share card numbers.\n"]
    other = assembly_from_messages([{"role": "system", "content": "Something else entirely."}])
    statuses = [c.status for c in diff_releases({before.digest: (before, 1.0)}, {other.digest: (other, 1.0)})]
    assert statuses == ["appeared", "vanished"]


def test_the_contract_names_each_broken_rule():
    contract = PromptContract(required_blocks=["Policy"], required_markers=["card numbers"],
                              block_requires={"Refunds": ["Policy"]}, forbidden=["{{"])
    broken = assembly_from_messages([{"role": "system", "content": "# Refunds\nFollow {{policy}}."}], TOOLS)
    assert violations(broken, ["issue_refund", "cancel_order"], contract) == [
        "block 'Policy' is missing", "marker 'card numbers' is missing", "block 'Refunds' needs block 'Policy', which is missing",
        "forbidden text '{{' is present", "tool 'cancel_order' is called but not defined",
    ]
    kept = assembly_from_messages([{"role": "system", "content": BASE}], TOOLS)
    assert violations(kept, ["issue_refund"], contract) == []


def test_contract_files_in_toml_or_yaml_and_their_errors(tmp_path):
    (tmp_path / "c.toml").write_text('required_blocks = ["Policy"]\n[block_requires]\nRefunds = ["Policy"]\n')
    (tmp_path / "c.yaml").write_text("required_blocks: [Policy]\nblock_requires: {Refunds: [Policy]}\n")
    assert load_contract(tmp_path / "c.toml") == load_contract(tmp_path / "c.yaml")
    (tmp_path / "bad.toml").write_text('required_block = ["Policy"]\n')
    with pytest.raises(UserError, match="required_block: Extra inputs are not permitted"):
        load_contract(tmp_path / "bad.toml")
