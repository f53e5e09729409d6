"""A week of nights on generated traffic: stable ids, incremental nights, a topic that appears on day 4."""

import random

import pytest

from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from tests.conftest import trace, write_jsonl

TOPICS = {
    "refund": "refund my order {n} it arrived {adjective}",
    "password": "reset the password of account {n} it is {adjective}",
    "shipping": "where is parcel {n} tracking looks {adjective}",
    "subscription": "cancel subscription plan {n} billing is {adjective}",  # appears on day 4
}
ADJECTIVES = ["broken", "late", "wrong", "odd", "bad", "weird"]


def day_of_traffic(day: int, rng: random.Random, per_topic: int = 12) -> list[dict]:
    topics = [t for t in TOPICS if t != "subscription" or day >= 4]
    return [trace(f"{topic}-d{day}-{n}", TOPICS[topic].format(n=rng.randint(100, 999), adjective=rng.choice(ADJECTIVES)))
            for topic in topics for n in range(per_topic)]


def topic_clusters(store, run_id: str) -> dict[str, set[int]]:
    rows = store.con.execute(
        "SELECT item_id, cluster_id FROM cluster_assignments WHERE run_id = ? AND item_kind = 'production'", [run_id]
    ).fetchall()
    clusters: dict[str, set[int]] = {}
    for item_id, cluster_id in rows:
        if cluster_id != -1:
            clusters.setdefault(item_id.split("-")[0], set()).add(cluster_id)
    return clusters


@pytest.fixture
def week(store, tmp_path):
    rng = random.Random(7)
    ingest_file(store, write_jsonl(tmp_path / "evals.jsonl", [
        {"id": "e-refund", "input": "refund my order 1 it arrived broken"},
        {"id": "e-password", "input": "reset the password of account 1 it is wrong"},
    ]), kind="eval")
    nights = []
    for day in range(1, 8):
        traffic = day_of_traffic(day, rng, per_topic=72 if day == 1 else 12)  # day 1 brings a backfill of history
        ingest_file(store, write_jsonl(tmp_path / f"day{day}.jsonl", traffic), kind="production")
        nights.append(mine(store, budget=3, embedder=HashingEmbedder(64), min_cluster_size=5, dimensions=8,
                           covered_similarity=0.6))
    return nights


def test_a_new_topic_on_day_4_is_emerging_that_night_and_known_topics_keep_their_ids(store, week):
    assert [night.mode for night in week] == ["full", "incremental", "incremental", "full",
                                              "incremental", "incremental", "incremental"]
    assert week[3].mode_reason.startswith("drift: ")
    assert [night.emerging for night in week[:3]] == [[], [], []]

    day4 = topic_clusters(store, week[3].run_id)
    assert len(day4["subscription"]) >= 1 and set(week[3].emerging) == day4["subscription"]
    assert {row.event for row in week[3].lineage if row.cluster_id in day4["subscription"]} == {"new"}
    assert all("emerging region" in pick.reason for pick in week[3].picks if pick.cluster_id in day4["subscription"])

    first = topic_clusters(store, week[0].run_id)
    for night in week:  # every region of night 1 keeps its id all week (a refit may add regions)
        clusters = topic_clusters(store, night.run_id)
        for topic in ("refund", "password", "shipping"):
            assert first[topic] <= clusters[topic], (night.run_id, topic)
        assert sum(len(ids) for ids in clusters.values()) == len(set().union(*clusters.values()))  # no id shared
    assert topic_clusters(store, week[-1].run_id)["subscription"] == day4["subscription"]


def test_each_night_reports_what_was_new_and_coverage_trends(store, week):
    assert [night.new_traces for night in week] == [216, 36, 36, 48, 48, 48, 48]
    summaries = [row[0] for row in store.con.execute(
        "SELECT summary->>'$.covered_traffic' FROM runs WHERE kind = 'mine' ORDER BY started_at").fetchall()]
    assert len(summaries) == 7
    assert week[3].covered_traffic < week[2].covered_traffic  # a whole uncovered topic arrived


def test_the_same_night_run_twice_gives_the_same_regions(store, tmp_path):
    rng = random.Random(1)
    ingest_file(store, write_jsonl(tmp_path / "day1.jsonl", day_of_traffic(1, rng)), kind="production")
    runs = [mine(store, budget=0, embedder=HashingEmbedder(64), min_cluster_size=5, dimensions=8,
                 covered_similarity=0.6, full=True) for _ in range(2)]
    assignments = [store.con.execute(
        "SELECT item_id, cluster_id, outlier_score FROM cluster_assignments WHERE run_id = ? ORDER BY item_id",
        [run.run_id]).fetchall() for run in runs]
    assert assignments[0] == assignments[1]
    assert [row.event for row in runs[1].lineage] == ["steady"] * len(runs[1].lineage)
