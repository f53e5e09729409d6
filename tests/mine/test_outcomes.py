"""Outcomes per region: each region's failure rate is counted, stored, shown, and weighs in the queue."""

import shutil

import pytest

from harness_evals import Workspace
from harness_evals.ingest import ingest_file
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.mine.pipeline import mine
from harness_evals.records import NOISE
from harness_evals.store import Store
from tests.conftest import REPO, topic_traces, write_jsonl

FIXTURES = REPO / "tests" / "fixtures"
SETTINGS = dict(min_cluster_size=3, dimensions=8, seed=0)


def with_outcome(row: dict) -> dict:
    """The topic traces with outcomes as the field gives them: every refund fails (τ-bench's reward
    0.0), shipping succeeds (reward 1.0), and password carries user feedback, one of them negative and
    one with a success flag that its feedback contradicts."""
    topic, n = row["trace_id"].split("-")
    if topic == "refund":
        return {**row, "metadata": {"task_id": int(n), "trial": 0, "reward": 0.0}}
    if topic == "shipping":
        return {**row, "metadata": {"task_id": int(n), "trial": 0, "reward": 1.0}}
    if n == "0":
        return {**row, "feedback": {"score": 0.2, "comment": "still locked out"}}
    if n == "1":
        return {**row, "metadata": {"success": True}, "feedback": {"score": 0.0}}
    return {**row, "feedback": {"score": 0.9}} if n != "7" else {**row, "metadata": {"reward": "n/a"}}


@pytest.fixture
def db(tmp_path):
    with Store(tmp_path / "h.duckdb") as store:
        rows = [with_outcome(row) for row in topic_traces()]
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", [*rows, rows[0]]), kind="production")  # refund-0 twice
        for name in ("tau_bench_airline.json", "tau2_telecom.json"):  # two failed airline trials, two passed telecom
            ingest_file(store, FIXTURES / name, kind="production")
    return tmp_path / "h.duckdb"


def mined(db, **settings):
    with Store(db) as store:
        return mine(store, embedder=HashingEmbedder(64), **SETTINGS, **settings)


# what each trace's signals say, by the definition the queue uses (label.suggest.succeeded)
FAILED = {*(f"refund-{n}" for n in range(8)), "password-0", "password-1", "tau-0-0-3c26faadd357f784",
          "tau-5-0-3086af59f99b7d36"}
WITHOUT_OUTCOME = {"password-7"}


def expected_counts(workspace: Workspace) -> dict[int, tuple[int, int]]:
    """(with an outcome, failed) of each region, counted from its traces' assignments."""
    counts: dict[int, tuple[int, int]] = {}
    for row in workspace.assignments().to_pylist():
        if row["item_kind"] == "production":
            known, failed = counts.get(row["cluster_id"], (0, 0))
            counts[row["cluster_id"]] = (known + (row["item_id"] not in WITHOUT_OUTCOME),
                                         failed + (row["item_id"] in FAILED))
    return counts


def test_each_region_counts_its_traces_with_an_outcome_and_the_failed_ones(db):
    report = mined(db, budget=0)
    with Workspace(db) as workspace:
        rows = workspace.clusters().to_pylist()
        assert {row["cluster_id"]: (row["outcome_count"], row["failed_count"]) for row in rows} == \
            expected_counts(workspace)
        summary = workspace.summary()
    assert all(row["failure_rate"] == row["failed_count"] / row["outcome_count"] for row in rows)
    # password-7's reward "n/a" is no outcome; password-1's success flag is contradicted by its feedback
    assert report.outcomes == (27, 12, 12 / 27)
    assert (summary["outcome_traces"], summary["failed_traces"], summary["failure_rate"]) == (27, 12, 0.4444)


def test_a_pick_in_a_region_that_fails_more_often_than_the_store_says_so_and_only_then(db, tmp_path):
    shutil.copy(db, tmp_path / "copy.duckdb")
    unweighted = mined(db, budget=5, failure_weight=1.0)
    weighted = mined(tmp_path / "copy.duckdb", budget=5)
    assert not any("region fails" in pick.reason for pick in unweighted.picks)
    regions = {row.cluster_id: row for row in weighted.coverage}
    said = {pick.cluster_id: pick.reason.split("; ")[-1] for pick in weighted.picks if "region fails" in pick.reason}
    assert said  # the region holding the refunds (8 of 8 failed) is among them
    for cluster_id, reason in said.items():
        row = regions[cluster_id]
        assert reason.startswith(f"region fails {row.failed_count} of {row.outcome_count} with an outcome, "
                                 "against 44% across the store (its traces weigh ")
        assert row.failure_rate > 12 / 27


def test_a_store_without_outcomes_counts_none_and_weighs_nothing(tmp_path):
    with Store(tmp_path / "h.duckdb") as store:
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces()), kind="production")
    report = mined(tmp_path / "h.duckdb", budget=3)
    assert report.outcomes == (0, 0, None)
    assert all(row.failure_rate is None for row in report.coverage)
    assert not any("region fails" in pick.reason for pick in report.picks)
    with Workspace(tmp_path / "h.duckdb") as workspace:
        assert {row["failure_rate"] for row in workspace.clusters().to_pylist()} == {None}
        assert workspace.summary()["failure_rate"] is None


def test_noise_has_its_failure_rate_counted_but_never_weighs(db):
    report = mined(db, budget=28)
    (noise,) = [row for row in report.coverage if row.cluster_id == NOISE]
    assert noise.outcome_count and noise.failure_rate > 12 / 27  # two failed refunds in no region
    assert not any("region fails" in pick.reason for pick in report.picks if pick.cluster_id == NOISE)
