"""Our exports, run by the real tools offline: `inspect eval` (mockllm) and `promptfoo eval` (a local
Python provider), over one suite with a case per check kind. Each verdict must be the one `suite run`
gives with the same agent."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness_evals.suite import load_suite
from harness_evals.suite.export import to_inspect, to_promptfoo
from tests.conftest import REPO, write_jsonl

PROMPTFOO = REPO / "tools" / "promptfoo" / "node_modules" / ".bin" / "promptfoo"  # `make install` runs npm ci there

# The agent under test, one behaviour per request; `suite run` calls `answer`, Inspect's mockllm and
# promptfoo's provider call it too. `grade` grades rubrics for all three.
AGENT = '''
def answer(request, messages):
    last = messages[-1]["content"]
    if len(messages) > 1:  # the multi-turn case: the user turned data saver off; this agent skips the lookup
        assert "Data Saver" in last, last
        return {"output": "Great, try again now.", "tool_calls": []}
    replies = {
        "say hello": ("  hello\\n", []),
        "refund order 4": ("Your refund is issued.", []),
        "hello": ("Sorry, I cannot help.", []),
        "what is my pin": ("Your PIN is 1234.", []),
        "as json": ('{"ok": true}', []),
        "refund order 7": ("Refunded.", ["lookup_order", "issue_refund"]),
        "I am angry": ("Transferring you.", ["transfer_to_human"]),
        "rate us": ("Thanks for the feedback!", []),
        "the fee": ("It is 5 euros.", []),
        "spaced": ("a b", []),
        "an email": ('"not-an-email"', []),
        "a name": ('{"name": "caf\u00e9"}', []),
        "an object": ('{"a": 1}', []),
        "a without b": ('{"a": 1}', []),
        "a string": ('{"a": 1}', []),
        "a alone": ('{"a": 1, "format": "x"}', []),
        "my order": ("Here it is.", ["get_order"]),
        "line separator": ("x a\u2028b y", []),
        "next line": ("x a\x85b y", []),
    }
    output, calls = replies[request]
    return {"output": output, "tool_calls": calls}


def grade(request, output, rubric):
    return "thank" in output.lower()
'''

MULTI_TURN = [
    {"role": "user", "content": "My mobile data is slow."},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "get_customer_by_phone", "id": "call_1",
                                                         "arguments": {"phone_number": "555-123-2002"}}]},
    {"role": "tool", "content": '{"customer_id": "C1001"}', "tool_call_id": "call_1"},
    {"role": "assistant", "content": "Please turn off Data Saver."},
    {"role": "user", "content": "", "tool_calls": [{"name": "toggle_data_saver_mode", "id": "call_2"}]},
    {"role": "tool", "content": "Data Saver Mode is now OFF.", "tool_call_id": "call_2"},
    {"role": "user", "content": "I turned Data Saver off."},
]
# One case per check kind (id: the check, and its verdict with this agent).
CASES = [
    {"id": "equals-passes", "input": "say hello", "expected": {"equals": "hello"}},
    {"id": "contains-all-fails", "input": "refund order 4", "expected": {"contains": ["refund", "order"]}},
    {"id": "not-contains-fails", "input": "hello", "expected": {"not_contains": ["sorry"]}},
    {"id": "regex-passes", "input": "what is my pin", "expected": {"regex": r"(?i)\bpin\b is (?P<digits>\d{4})"}},
    {"id": "json-schema-passes", "input": "as json",
     "expected": {"json_schema": {"type": "object", "required": ["ok"]}}},
    {"id": "tools-pass", "input": "refund order 7",
     "expected": {"required_tools": ["issue_refund"], "forbidden_tools": ["transfer_to_human"]}},
    {"id": "forbidden-tool-fails", "input": "I am angry", "expected": {"forbidden_tools": ["transfer_to_human"]}},
    {"id": "rubric-passes", "input": "rate us", "expected": {"rubric": "thanks the user"}},
    {"id": "multi-turn-tool-skipped-fails", "input": "My mobile data is slow.", "messages": MULTI_TURN,
     "expected": {"required_tools": ["get_details_by_id"]}},
    {"id": "reference-skipped", "input": "the fee", "expected": "5 euros"},
    {"id": "verbose-regex-passes", "input": "spaced", "expected": {"regex": r"(?x) a \  b"}},
    # schemas promptfoo's ajv (draft-07, strict, formats, JavaScript RegExps) judges otherwise: not translated
    {"id": "schema-format-passes", "input": "an email", "expected": {"json_schema": {"type": "string",
                                                                                  "format": "email"}}},
    {"id": "schema-pattern-passes", "input": "a name", "expected": {"json_schema": {
        "type": "object", "properties": {"name": {"type": "string", "pattern": r"^\w+$"}}}}},
    {"id": "schema-unknown-keyword-passes", "input": "an object",
     "expected": {"json_schema": {"type": "object", "example": {"a": 1}}}},
    {"id": "schema-dependencies-passes", "input": "a without b",
     "expected": {"json_schema": {"type": "object", "dependencies": {"a": ["b"]}}}},
    {"id": "schema-ref-fails", "input": "a string", "expected": {"json_schema": {  # promptfoo stopped at loading it
        "type": "object", "properties": {"a": {"$ref": "#/definitions/s"}}, "definitions": {"s": {"type": "string"}}}}},
    # line breaks YAML writers and readers fold apart, as promptfoo reads them in the tests file
    {"id": "line-separator-contains-passes", "input": "line separator", "expected": {"contains": ["a\u2028b"]}},
    {"id": "next-line-not-contains-passes", "input": "next line", "expected": {"not_contains": ["a\x85    b"]}},
    # promptfoo reads a tool name as a glob: get_* is left out, the exact name kept
    {"id": "glob-tool-name-passes", "input": "my order",
     "expected": {"forbidden_tools": ["get_*", "transfer_to_human"]}},
    # declared draft-07, jsonschema reads dependencies as ajv does; a property named format is no keyword
    {"id": "draft-07-schema-fails", "input": "a alone", "expected": {"json_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"format": {"type": "string"}}, "dependencies": {"a": ["b"]}}}},
]
UNTRANSLATED_FOR_PROMPTFOO = {"reference-skipped", "verbose-regex-passes", "schema-format-passes",
                              "schema-pattern-passes", "schema-unknown-keyword-passes", "schema-dependencies-passes",
                              "schema-ref-fails"}


# Offline for sure, online machines too: every HTTP request but to this machine goes to a closed port.
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
              "HF_HUB_OFFLINE": "1"}


def subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **NO_NETWORK, **extra}


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "agent.py").write_text(AGENT)
    write_jsonl(tmp_path / "regression.jsonl", CASES)
    return tmp_path


def suite_run_verdicts(project: Path) -> dict[str, str]:
    """`suite run`'s verdict of each case, from its JUnit report."""
    import xml.etree.ElementTree as ET

    subprocess.run([sys.executable, "-m", "harness_evals.cli", "suite", "run", "regression.jsonl", "--target",
                    "agent:answer", "--grader", "agent:grade", "--junit", "run.xml"], cwd=project,
                   env=subprocess_env(), capture_output=True, text=True, timeout=300)
    verdicts = {}
    for case in ET.parse(project / "run.xml").getroot().findall("testcase"):
        verdicts[case.get("name")] = ("failed" if case.find("failure") is not None
                                      else "skipped" if case.find("skipped") is not None else "passed")
    return verdicts


def test_suite_run_gives_the_verdicts_the_case_ids_say(project):
    says = {"passes": "passed", "pass": "passed", "fails": "failed", "skipped": "skipped"}
    assert suite_run_verdicts(project) == {case["id"]: says[case["id"].rsplit("-", 1)[1]] for case in CASES}


def test_inspect_reads_our_dataset_with_chat_input_and_the_reference_as_target(project):
    from inspect_ai.dataset import json_dataset
    from inspect_ai.model import ChatMessageAssistant, ChatMessageTool, ChatMessageUser

    path = project / "inspect.jsonl"
    path.write_text(to_inspect(load_suite(project / "regression.jsonl")))
    samples = {sample.id: sample for sample in json_dataset(str(path))}
    assert samples["contains-all-fails"].target == ""  # never a check: includes() would pass on any one item
    assert samples["reference-skipped"].target == "5 euros"
    assert samples["tools-pass"].metadata["checks"] == CASES[5]["expected"]
    chat = samples["multi-turn-tool-skipped-fails"].input
    assert [type(message) for message in chat] == [ChatMessageUser, ChatMessageAssistant, ChatMessageTool,
                                                    ChatMessageAssistant, ChatMessageUser, ChatMessageUser,
                                                    ChatMessageUser]
    assert (chat[1].tool_calls[0].function, chat[1].tool_calls[0].arguments) == (
        "get_customer_by_phone", {"phone_number": "555-123-2002"})
    assert (chat[2].tool_call_id, chat[2].function) == ("call_1", "get_customer_by_phone")
    assert chat[4].text == "(I run toggle_data_saver_mode)"  # the user's own tool, as user text
    assert chat[5].text == "(toggle_data_saver_mode says: Data Saver Mode is now OFF.)"


INSPECT_TASK = '''
from inspect_ai import task
from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ChatMessageTool, ModelOutput
from inspect_ai.tool import ToolCall

from agent import answer
from harness_evals.suite.inspect_scorer import mockllm_answering, suite_task


def play(messages):
    """mockllm as the agent: its tool calls first, then (after their results) its answer."""
    request = next(m.text for m in messages if m.role == "user")
    turn = answer(request, [{"role": m.role, "content": m.text} for m in messages if m.source == "input"])
    if isinstance(messages[-1], ChatMessageTool) or not turn["tool_calls"]:
        return turn["output"]
    calls = [ToolCall(id=f"call_{n}", function=name, arguments={}) for n, name in enumerate(turn["tool_calls"])]
    return ModelOutput(model="mockllm", choices=[ChatCompletionChoice(
        message=ChatMessageAssistant(content="", tool_calls=calls, model="mockllm"), stop_reason="tool_calls")])


@task
def agent_under_test():
    return suite_task("inspect.jsonl", grader="agent:grade", model=mockllm_answering(play))
'''


def inspect_verdicts(project: Path, *args: str) -> dict[str, str]:
    """Run `inspect eval` offline, and read each sample's verdict from the log it wrote."""
    result = subprocess.run([str(Path(sys.executable).parent / "inspect"), "eval", *args, "--model", "mockllm/model",
                             "--log-dir", "logs", "--log-format", "json", "--display", "plain", "--no-log-realtime"],
                            cwd=project, env=subprocess_env(TIKTOKEN_CACHE_DIR=str(project / "tiktoken")),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [log] = (project / "logs").glob("*.json")
    samples = json.loads(log.read_text())["samples"]
    assert [sample.get("error") for sample in samples] == [None] * len(samples)  # fetching o200k_base fails them
    values = {"C": "passed", "I": "failed", "N": "skipped"}
    assert {name for sample in samples for name in sample["scores"]} <= {"suite_checks", "harness_evals/suite_checks"}
    return {sample["id"]: values[next(iter(sample["scores"].values()))["value"]] for sample in samples}


def test_inspect_eval_offline_gives_suite_runs_verdicts(project):
    (project / "inspect.jsonl").write_text(to_inspect(load_suite(project / "regression.jsonl")))
    (project / "task.py").write_text(INSPECT_TASK)
    assert inspect_verdicts(project, "task.py") == suite_run_verdicts(project)


def test_the_documented_offline_inspect_run_answers_every_sample_and_scores_it(project):
    (project / "inspect.jsonl").write_text(to_inspect(load_suite(project / "regression.jsonl")))
    task = REPO / "harness_evals" / "suite" / "inspect_scorer.py"  # `harness_evals/regression` once installed
    # Inspect runs a task file in its own folder: the dataset is named from anywhere
    verdicts = inspect_verdicts(project, f"{task}@regression", "-T", f"dataset={project / 'inspect.jsonl'}",
                                "-T", "mock_answer=Thanks for the refund order")  # -T splits at commas
    assert verdicts["contains-all-fails"] == "passed"  # this answer has both words
    assert verdicts["tools-pass"] == "failed"  # it calls no tool
    assert verdicts["rubric-passes"] == "skipped"  # no grader given


def test_in_inspect_a_rubrics_grader_gets_the_cases_request_as_in_suite_run(tmp_path):
    (tmp_path / "grading.py").write_text("def grade(request, output, rubric):\n"
                                         "    return request == 'my data is slow'\n")
    write_jsonl(tmp_path / "regression.jsonl", [{
        "id": "multi-turn-rubric-passes", "input": "my data is slow", "expected": {"rubric": "is polite"},
        "messages": [{"role": "user", "content": "my data is slow"}, {"role": "assistant", "content": "Which phone?"},
                     {"role": "user", "content": "the 555 one"}]}])
    (tmp_path / "inspect.jsonl").write_text(to_inspect(load_suite(tmp_path / "regression.jsonl")))
    (tmp_path / "task.py").write_text(
        "from inspect_ai import task\n"
        "from harness_evals.suite.inspect_scorer import mockllm_answering, suite_task\n\n\n"
        "@task\n"
        "def graded():\n"
        "    return suite_task('inspect.jsonl', grader='grading:grade', model=mockllm_answering('Thanks'))\n")
    assert inspect_verdicts(tmp_path, "task.py") == {"multi-turn-rubric-passes": "passed"}  # not "the 555 one"


PROVIDER = '''
"""The agent as a promptfoo provider: its answer, and a span per tool call sent to promptfoo's
OTLP receiver (on 127.0.0.1) under the trace promptfoo names, so trajectory assertions see them."""
import json
import os
import time
import urllib.request

from agent import answer


def call_api(prompt, options, context):
    variables = context["vars"]
    turn = answer(variables["input"], variables["messages"])
    _, trace_id, parent_id, _ = context["traceparent"].split("-")
    now = time.time_ns()
    spans = [{"traceId": trace_id, "spanId": os.urandom(8).hex(), "parentSpanId": parent_id, "name": f"tool {name}",
              "kind": 1, "startTimeUnixNano": str(now + n), "endTimeUnixNano": str(now + n + 1),
              "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": name}}]}
             for n, name in enumerate(turn["tool_calls"])]
    if spans:
        body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "agent"},
                                                                                   "spans": spans}]}]}
        request = urllib.request.Request(f"http://127.0.0.1:{os.environ['OTLP_PORT']}/v1/traces",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()
    return {"output": turn["output"]}
'''
GRADER = '''
"""The rubric grader as a promptfoo provider: promptfoo's rubric prompt holds the output and the rubric."""
import json
import re

from agent import grade


def call_api(prompt, options, context):
    asked = json.loads(prompt)[-1]["content"]
    output, rubric = re.fullmatch(r"<Output>\\n(.*)\\n</Output>\\n<Rubric>\\n(.*)\\n</Rubric>", asked, re.S).groups()
    passed = grade(None, output, rubric)
    return {"output": json.dumps({"pass": passed, "score": float(passed), "reason": "graded by agent.grade"})}
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_promptfoo_eval_offline_gives_suite_runs_verdicts(project):
    assert PROMPTFOO.exists(), f"{PROMPTFOO} is missing: `make install` installs promptfoo with npm ci"
    (project / "tests.yaml").write_text(to_promptfoo(load_suite(project / "regression.jsonl")))
    (project / "provider.py").write_text(PROVIDER)
    (project / "grader.py").write_text(GRADER)
    port = free_port()
    (project / "promptfooconfig.yaml").write_text(
        "prompts: ['{{ messages | dump }}']\n"
        "providers: ['file://provider.py']\n"
        "tests: file://tests.yaml\n"
        f"tracing: {{enabled: true, otlp: {{http: {{enabled: true, host: 127.0.0.1, port: {port}}}}}}}\n")
    env = subprocess_env(PROMPTFOO_DISABLE_TELEMETRY="1", PROMPTFOO_DISABLE_UPDATE="1", OTLP_PORT=str(port),
                         PROMPTFOO_CONFIG_DIR=str(project / ".promptfoo"), PROMPTFOO_PYTHON=sys.executable,
                         PROMPTFOO_DISABLE_SHARING="1", PYTHONPATH=os.pathsep.join([str(REPO), str(project)]))
    run = subprocess.run([str(PROMPTFOO), "eval", "-c", "promptfooconfig.yaml", "--no-cache", "--grader",
                          "file://grader.py", "-j", "1", "-o", "out.json"], cwd=project, env=env, capture_output=True,
                         text=True, timeout=600)
    assert (project / "out.json").exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((project / "out.json").read_text())["results"]["results"]
    promptfoo = {r["testCase"]["description"]: "passed" if r["success"] else "failed" for r in results}
    expected = {case: verdict for case, verdict in suite_run_verdicts(project).items()
                if case not in UNTRANSLATED_FOR_PROMPTFOO}
    assert {case: promptfoo[case] for case in expected} == expected, {r["testCase"]["description"]: r["gradingResult"]
                                                                       ["reason"] for r in results}
    untranslated = {r["testCase"]["description"]: r["testCase"]["metadata"].get("untranslated") for r in results}
    assert untranslated["verbose-regex-passes"] == [
        "regex '(?x) a \\\\  b': the verbose flag (?x) has no JavaScript form: write the pattern without it"]
    assert untranslated["reference-skipped"][0].startswith("reference: a reference answer alone")
    assert untranslated["glob-tool-name-passes"] == [
        "forbidden_tools 'get_*': promptfoo would read it as a pattern (it holds * or ?) or a template"]
    why = "json_schema: promptfoo's is-json (ajv, JSON Schema draft-07, strict) would judge it otherwise: "
    assert {case: untranslated[case] for case in UNTRANSLATED_FOR_PROMPTFOO if case.startswith("schema-")} == {
        "schema-format-passes": [why + "ajv checks format, jsonschema does not"],
        "schema-pattern-passes": [why + "pattern: ajv reads JavaScript RegExps, jsonschema Python's re"],
        "schema-unknown-keyword-passes": [why + "keywords outside draft-07, which ajv's strict mode refuses: example"],
        "schema-dependencies-passes": [why + "dependencies: jsonschema reads the schema by the newest draft, which "
                                       "gives them another meaning (declare $schema "
                                       "http://json-schema.org/draft-07/schema# to keep them)"],
        "schema-ref-fails": [why + "promptfoo resolves $ref against the whole tests file as it loads it (an internal "
                             "$ref stops the eval)"]}


def test_the_promptfoo_file_is_ascii_and_reads_back_in_python_as_every_text_was(project):
    import yaml

    texts = ["a\u2028b", "a\u0085b", "a\u2029b", "caf\u00e9 \U0001F600", "x  \n  y ", "\ttab", "a\r\nb",
             "\ufeffbom", "a\u200bb", " lead", "trail ", "\x1b[0m"]
    cases = load_suite(write_jsonl(project / "texts.jsonl", [
        {"id": f"t{n}", "input": text, "expected": {"contains": [text]}} for n, text in enumerate(texts)]))
    written = to_promptfoo(cases)
    assert written.isascii()
    tests = yaml.safe_load(written)
    assert [(test["vars"]["input"], test["assert"][0]["value"]) for test in tests] == [(text, text) for text in texts]


TAU2_TASKS = '''
from inspect_ai import task
from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ChatMessageTool, ModelOutput
from inspect_ai.tool import ToolCall

from harness_evals.suite.inspect_scorer import mockllm_answering, suite_task


def agent(calls):
    def play(messages):
        if isinstance(messages[-1], ChatMessageTool) or not calls:
            return "Both lines are active."
        return ModelOutput(model="mockllm", choices=[ChatCompletionChoice(stop_reason="tool_calls", message=
            ChatMessageAssistant(content="", model="mockllm", tool_calls=[
                ToolCall(id="lookup", function=name, arguments={"line_id": "L1001"}) for name in calls]))])
    return play


@task
def looks_up():
    return suite_task("multiturn_inspect.jsonl", model=mockllm_answering(agent(["get_details_by_id"])))


@task
def skips_the_tool():
    return suite_task("multiturn_inspect.jsonl", model=mockllm_answering(agent([])))
'''


def test_a_case_emitted_from_a_tau2_trace_runs_in_inspect_and_its_tool_check_fails_when_the_agent_skips_it(tmp_path):
    golden = Path(__file__).parent / "golden" / "multiturn.jsonl"  # emitted by test_emit from a τ²-bench trace
    (tmp_path / "multiturn_inspect.jsonl").write_text(to_inspect(load_suite(golden)))
    (tmp_path / "task.py").write_text(TAU2_TASKS)
    assert inspect_verdicts(tmp_path, "task.py@looks_up") == {"case-c73259d999573999": "passed"}
    for log in (tmp_path / "logs").glob("*.json"):
        log.unlink()
    assert inspect_verdicts(tmp_path, "task.py@skips_the_tool") == {"case-c73259d999573999": "failed"}
    [log] = (tmp_path / "logs").glob("*.json")
    [sample] = json.loads(log.read_text())["samples"]
    assert next(iter(sample["scores"].values()))["explanation"] == "required_tools: get_details_by_id was not called"
    assert len(sample["messages"]) > 24  # the conversation went in as chat messages, the agent's turn after it
