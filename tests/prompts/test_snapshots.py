"""Prompt assemblies in the store: listed, diffed across releases, checked, snapshotted, and flagged in mining."""

import json
from collections import Counter

import pytest

from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from harness_evals.prompts.assembly import PromptContract
from harness_evals.prompts.snapshots import check, diff, list_assemblies, write_snapshots
from tests.conftest import write_jsonl
from tests.test_cli import invoke

BASE = "You help ACME customers.\n# Policy\nNever share card numbers.\n# Refunds\nFollow the Policy for refunds over $100."
TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("issue_refund", "lookup_order")]
CONTRACT = PromptContract(block_requires={"Refunds": ["Policy"]})


def chat(trace_id: str, release: str, system: str, request: str, called: str = "lookup_order") -> dict:
    return {"id": trace_id, "created": "2026-11-20T10:00:00Z", "metadata": {"release": release}, "tools": TOOLS,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": request},
                         {"role": "assistant", "content": None, "tool_calls": [
                             {"id": "c1", "type": "function", "function": {"name": called, "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                         {"role": "assistant", "content": "done"}]}


@pytest.fixture
def two_releases(store, tmp_path):
    dropped = BASE.replace("# Policy\nNever share card numbers.\n", "")
    rows = [chat(f"a{n}", "2026.11.1", BASE, f"refund my order {n} it arrived broken") for n in range(6)]
    rows += [chat(f"b{n}", "2026.11.2", dropped, f"refund my order {n} it arrived broken") for n in range(4)]
    rows += [chat("b9", "2026.11.2", dropped, "cancel order 9 now", called="cancel_order")]
    ingest_file(store, write_jsonl(tmp_path / "chat.jsonl", rows), kind="production")
    return store


def test_each_distinct_assembly_is_stored_once_with_its_traffic(two_releases):
    stats = list_assemblies(two_releases)
    assert [(s.traces, s.releases, s.assembly.names) for s in stats] == [
        (6, ["2026.11.1"], ["preamble", "Policy", "Refunds", "tool:issue_refund", "tool:lookup_order"]),
        (5, ["2026.11.2"], ["preamble", "Refunds", "tool:issue_refund", "tool:lookup_order"]),
    ]
    assert two_releases.one("SELECT count(*) FROM prompt_assemblies")[0] == 2


def test_the_diff_names_the_dropped_block_and_the_clusters_it_reaches(two_releases):
    mine(two_releases, budget=0, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=4, covered_similarity=0.6)
    [(change, affected)] = diff(two_releases, before="2026.11.1", after="2026.11.2")
    assert change.status == "changed" and "-Never share card numbers." in change.block_diffs[0]
    assert sum(affected.values()) == 5


def test_a_contract_violation_is_caught_counted_and_flagged_for_sampling(two_releases):
    found = check(two_releases, CONTRACT)
    assert Counter(v.release for v in found) == {"2026.11.2": 6}
    assert Counter(v.problem for v in found) == {"block 'Refunds' needs block 'Policy', which is missing": 5,
                                                 "tool 'cancel_order' is called but not defined": 1}
    report = mine(two_releases, budget=2, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=4,
                  covered_similarity=0.6, prompt_contract=CONTRACT)
    flagged = {row[0] for row in two_releases.con.execute(
        "SELECT trace_id FROM trace_flags WHERE run_id = ? AND detector = 'prompt_contract'", [report.run_id]).fetchall()}
    assert flagged == {"b0", "b1", "b2", "b3", "b9"}
    assert any("flagged: prompt_contract" in pick.reason for pick in report.picks)


def test_snapshots_are_files_to_commit_that_do_not_churn(two_releases, tmp_path):
    written = write_snapshots(two_releases, tmp_path / "prompts")
    assert len(written) == 2
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "prompts").iterdir()}
    write_snapshots(two_releases, tmp_path / "prompts")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "prompts").iterdir()} == before
    index = json.loads((tmp_path / "prompts" / "index.json").read_text())
    assert [entry["traces"] for entry in index] == [6, 5]
    assert "===== system: Policy =====\nNever share card numbers." in written[0].read_text()


def test_prompts_check_gates_ci_with_its_exit_code(two_releases, tmp_path):
    db = two_releases.path
    two_releases.close()
    (tmp_path / "contract.toml").write_text('[block_requires]\nRefunds = ["Policy"]\n')
    result = invoke("prompts", "check", "--contract", tmp_path / "contract.toml", "--db", db)
    assert result.exit_code == 1
    assert "6 violations in 5 traces" in result.output
    assert "by release: 2026.11.2 (6)" in result.output
    (tmp_path / "ok.toml").write_text('required_blocks = ["Refunds"]\ntools_defined_when_used = false\n')
    assert invoke("prompts", "check", "--contract", tmp_path / "ok.toml", "--db", db).exit_code == 0
    result = invoke("prompts", "diff", "--from", "2026.11.1", "--to", "2026.11.2", "--db", db)
    assert result.exit_code == 0 and "-Never share card numbers." in result.output
    assert invoke("prompts", "diff", "--from", "2026.10", "--to", "2026.11.2", "--db", db).exit_code == 2
