"""`suite run` as CI runs it: a subprocess, with the mining stack made unimportable."""

import functools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness_evals.errors import UserError
from tests.conftest import REPO, write_jsonl

# The suite consumer must work on the core install: make the heavy mining stack unimportable.
CORE_ONLY = (
    "import sys\n"
    "for name in ('numpy', 'duckdb', 'pyarrow', 'torch', 'sentence_transformers', 'sklearn', 'hdbscan', 'prefect'):\n"
    "    sys.modules[name] = None\n"
    "from harness_evals.cli import app\n"
    "app()\n"
)

AGENT = '''
def good(request):
    if "refund" in request:
        return {"output": "Your refund is issued.", "tool_calls": [{"name": "lookup_order"}, "issue_refund"]}
    return "Happy to help."


async def broken(request):
    return {"output": "Sorry, I cannot help.", "tool_calls": ["transfer_to_human"]}


def crashes(request):
    raise RuntimeError("agent down")
'''

CASES = [
    {"id": "c1", "input": "refund order 4",
     "expected": {"contains": ["refund"], "required_tools": ["issue_refund"], "forbidden_tools": ["transfer_to_human"]}},
    {"id": "c2", "input": "hello", "expected": {"not_contains": ["sorry"]}},
    {"id": "c3", "input": "rate us", "expected": "thanks the user"},
]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "agent.py").write_text(AGENT)
    write_jsonl(tmp_path / "regression.jsonl", CASES)
    return tmp_path


def harness_evals(cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's harness_evals, wherever the venv's install points
    return subprocess.run([sys.executable, "-c", CORE_ONLY, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_correct_target_passes(project):
    result = harness_evals(project, "suite", "run", "regression.jsonl", "--target", "agent:good", "--junit", "out.xml")
    assert result.returncode == 0, result.stderr
    assert "2 passed, 0 failed, 1 skipped" in result.stdout
    report = ET.parse(project / "out.xml").getroot()
    assert (report.get("tests"), report.get("failures"), report.get("skipped")) == ("3", "0", "1")


def test_a_broken_target_fails_with_each_broken_check_named(project):
    result = harness_evals(project, "suite", "run", "regression.jsonl", "--target", "agent:broken", "--junit", "out.xml")
    assert result.returncode == 1
    assert "0 passed, 2 failed, 1 skipped" in result.stdout
    assert ("FAILED c1: contains: output lacks 'refund'; required_tools: issue_refund was not called; "
            "forbidden_tools: transfer_to_human was called") in result.stderr
    failures = ET.parse(project / "out.xml").getroot().findall("testcase/failure")
    assert len(failures) == 2


def test_a_crashing_target_fails_its_cases_and_the_run_completes(project):
    result = harness_evals(project, "suite", "run", "regression.jsonl", "--target", "agent:crashes")
    assert result.returncode == 1
    assert "0 passed, 3 failed, 0 skipped" in result.stdout
    assert "FAILED c1: RuntimeError: agent down" in result.stderr


def test_a_wrong_target_is_a_one_line_error(project):
    result = harness_evals(project, "suite", "run", "regression.jsonl", "--target", "agent:nothing")
    assert result.returncode == 2
    assert "agent has no function nothing" in result.stderr


def test_suite_check_exits_1_on_problems_and_0_on_a_clean_suite(project):
    assert harness_evals(project, "suite", "check", "regression.jsonl").returncode == 0
    write_jsonl(project / "leaky.jsonl", [{**CASES[0], "input": "email ana@example.com about the refund"}])
    result = harness_evals(project, "suite", "check", "leaky.jsonl")
    assert result.returncode == 1
    assert "line 1 (c1): input holds EMAIL (ana…om)" in result.stderr


@pytest.mark.parametrize(("target", "returncode", "summary"), [("agent:good", 0, "2 passed, 1 skipped"),
                                                               ("agent:broken", 1, "2 failed, 1 skipped")])
def test_the_generated_pytest_module_runs_each_case_as_a_test(project, target, returncode, summary):
    written = harness_evals(project, "suite", "pytest", "regression.jsonl", "--target", target, "--out",
                            "test_regression.py")
    assert written.returncode == 0, written.stderr
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_regression.py"],
                            cwd=project, capture_output=True, text=True, timeout=120)
    assert result.returncode == returncode, result.stdout
    assert summary in result.stdout


def test_a_target_in_the_working_directory_loads_and_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    from harness_evals.suite.runner import load_callable

    package = tmp_path / "my_agent_under_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "entry.py").write_text("from wording import polite\n\n\ndef run(request):\n    return polite(request)\n")
    (tmp_path / "wording.py").write_text("def polite(text):\n    return f'Happy to help: {text}'\n")
    monkeypatch.chdir(tmp_path)
    for name in ("my_agent_under_test", "my_agent_under_test.entry", "wording"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # removed again after the test
    before = list(sys.path)
    run = load_callable("my_agent_under_test.entry:run")
    assert run("refund order 4") == "Happy to help: refund order 4"  # its own top-level import found too
    assert sys.path == before
    with pytest.raises(UserError, match="cannot import no_such_agent"):
        load_callable("no_such_agent:run")
    assert sys.path == before


def test_suite_export_runs_on_the_core_install_with_a_format_from_the_working_directory(project):
    (project / "review.py").write_text("def lines(cases):\n    return ''.join(f'{case.id}: {case.input}\\n' for case in cases)\n")
    result = harness_evals(project, "suite", "export", "regression.jsonl", "--format", "review:lines", "--out", "review.txt")
    assert result.returncode == 0, result.stderr
    assert (project / "review.txt").read_text() == "c1: refund order 4\nc2: hello\nc3: rate us\n"


# --- multi-turn cases (issue 19): the target gets the messages, tool checks use the calls it reports ---

MULTI_TURN_AGENT = '''
def looks_up(messages):
    """Plays the agent's next turn: after the user changed a setting, it checks the lines."""
    last = messages[-1]
    assert last["role"] == "user" and any(m.get("tool_calls") for m in messages), "not the conversation"
    return {"output": "Let me check your lines.", "tool_calls": [{"function": {"name": "get_details_by_id"}}]}


def skips_the_tool(request, messages):
    assert isinstance(request, str) and request != messages[-1]["content"]
    return {"output": "Please restart your phone.", "tool_calls": []}


class Turn:
    def __init__(self, output, tool_calls):
        self.output, self.tool_calls = output, tool_calls


def reports_nothing(messages):
    return "Please restart your phone."


def as_an_object(messages):
    return Turn("Transferring you.", ["transfer_to_human_agents"])
'''


@pytest.mark.parametrize(("target", "returncode", "failure"), [
    ("agent:looks_up", 0, None),
    ("agent:skips_the_tool", 1, "required_tools: get_details_by_id was not called"),
    ("agent:reports_nothing", 1, "tools: the target reported no tool calls"),
    ("agent:as_an_object", 1, "required_tools: get_details_by_id was not called; "
                              "forbidden_tools: transfer_to_human_agents was called"),
])
def test_a_multi_turn_case_is_run_against_a_target_that_gets_the_messages(tmp_path, target, returncode, failure):
    (tmp_path / "agent.py").write_text(MULTI_TURN_AGENT)
    suite = (Path(__file__).parent / "golden" / "multiturn.jsonl").read_text()  # emitted from a τ²-bench trace
    (tmp_path / "multiturn.jsonl").write_text(suite)
    result = harness_evals(tmp_path, "suite", "run", "multiturn.jsonl", "--target", target)
    assert result.returncode == returncode, result.stdout + result.stderr
    if failure:
        assert failure in result.stderr
    else:
        assert "1 passed, 0 failed, 0 skipped" in result.stdout


def test_a_one_argument_target_gets_the_request_of_a_multi_turn_case(tmp_path):
    (tmp_path / "agent.py").write_text(AGENT)
    write_jsonl(tmp_path / "s.jsonl", [{"id": "m1", "input": "refund order 4", "expected": {"contains": ["refund"]},
                                        "messages": [{"role": "user", "content": "refund order 4"},
                                                     {"role": "assistant", "content": "Which card?"},
                                                     {"role": "user", "content": "the visa"}]}])
    result = harness_evals(tmp_path, "suite", "run", "s.jsonl", "--target", "agent:good")
    assert "1 passed" in result.stdout, result.stderr


def test_the_generated_pytest_module_finds_its_suite_from_any_working_directory(project):
    (project / "tests").mkdir()
    written = harness_evals(project, "suite", "pytest", "regression.jsonl", "--target", "agent:good", "--out",
                            "tests/test_regression.py")
    assert written.returncode == 0, written.stderr
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(project)])}  # the agent, as an installed package
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(project / "tests" / "test_regression.py")], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 skipped" in result.stdout


def with_settings(messages, temperature=0.0):
    return f"{temperature}: {messages[-1]['content']}"


def request_first(request, messages, mode):
    return f"{mode}: {request} / {messages[-1]['content']}"


class AnAgent:
    def __call__(self, messages, *, model="small"):
        return f"{model}: {messages[-1]['content']}"


async def request_optional(request=None, messages=None):
    return f"{request} / {messages[-1]['content']}"


@pytest.mark.parametrize(("target", "answer"), [
    (with_settings, "0.0: the visa"),  # a parameter after messages is left at its default
    (functools.partial(request_first, mode="fast"), "fast: refund order 4 / the visa"),
    (AnAgent(), "small: the visa"),
    (request_optional, "refund order 4 / the visa"),
])
def test_a_target_gets_the_request_only_in_a_parameter_before_messages(target, answer):
    from harness_evals.suite.model import SuiteCase
    from harness_evals.suite.runner import call_target

    case = SuiteCase(id="m1", input="refund order 4", expected={"contains": ["refund"]},
                     messages=[{"role": "user", "content": "refund order 4"},
                               {"role": "assistant", "content": "Which card?"},
                               {"role": "user", "content": "the visa"}])
    assert call_target(target, case) == answer
