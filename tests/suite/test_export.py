"""Our exports, read by the real tools: Inspect AI's dataset loader and promptfoo's own CLI."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness_evals.suite import load_suite
from harness_evals.suite.export import to_inspect, to_promptfoo
from tests.conftest import REPO, write_jsonl

PROMPTFOO_VERSION = "0.121.20"  # the newest release that still runs on Node 20
CASES = [
    {"id": "c1", "input": "refund order 4",
     "expected": {"contains": ["refund"], "regex": r"order \d", "required_tools": ["issue_refund"]},
     "metadata": {"verdict": "fail"}},
    {"id": "c2", "input": "hello", "expected": {"not_contains": ["sorry"], "json_schema": {"type": "object"}},
     "metadata": {}},
    {"id": "c3", "input": "what is the fee", "expected": {"equals": "hello"}, "metadata": {}},
]


@pytest.fixture
def cases(tmp_path):
    return load_suite(write_jsonl(tmp_path / "s.jsonl", CASES))


def test_inspect_ai_reads_our_dataset(cases, tmp_path):
    from inspect_ai.dataset import json_dataset

    path = tmp_path / "inspect.jsonl"
    path.write_text(to_inspect(cases))
    samples = list(json_dataset(str(path)))
    assert [(s.id, s.input, s.target) for s in samples] == [
        ("c1", "refund order 4", ["refund"]), ("c2", "hello", []), ("c3", "what is the fee", "hello")
    ]
    assert samples[0].metadata == {"verdict": "fail", "checks": CASES[0]["expected"]}


@pytest.fixture(scope="session")
def promptfoo() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed: the promptfoo export is not checked against promptfoo's CLI")
    prefix = REPO / ".cache" / "promptfoo"
    binary = prefix / "node_modules" / ".bin" / "promptfoo"
    if not binary.exists():
        subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                        f"promptfoo@{PROMPTFOO_VERSION}"], check=True, capture_output=True, timeout=900)
    return binary


def test_promptfoo_runs_our_tests_and_applies_our_assertions(cases, tmp_path, promptfoo):
    (tmp_path / "tests.yaml").write_text(to_promptfoo(cases))
    (tmp_path / "promptfooconfig.yaml").write_text(
        'prompts: ["{{input}}"]\nproviders: ["echo"]\ntests: file://tests.yaml\n'
    )
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(tmp_path / ".promptfoo")}
    validated = subprocess.run([str(promptfoo), "validate", "config", "-c", "promptfooconfig.yaml"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    subprocess.run([str(promptfoo), "eval", "-c", "promptfooconfig.yaml", "--no-cache", "-o", "out.json"],
                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    results = json.loads((tmp_path / "out.json").read_text())["results"]["results"]
    # the echo provider answers with the input: c1 holds "refund" and matches /order \d/; c2 is not JSON; c3 is
    # not "hello"
    assert {r["testCase"]["description"]: r["success"] for r in results} == {"c1": True, "c2": False, "c3": False}
