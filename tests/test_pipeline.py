from collections import Counter

import pytest

from harness_evals.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.pipeline import MineError, mine
from tests.conftest import topic_traces, write_jsonl

EVALS = [{"id": "e-refund-1", "input": "I want a refund for order 7"},
         {"id": "e-refund-2", "input": "please refund my order 3 it arrived broken"},
         {"id": "e-refund-3", "input": "refund order 5 to my card"}]
SETTINGS = dict(min_cluster_size=3, dimensions=8, covered_similarity=0.6, seed=0)


@pytest.fixture
def loaded(store, tmp_path):
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces()), kind="production")
    ingest_file(store, write_jsonl(tmp_path / "e.jsonl", EVALS), kind="eval")
    return store


def test_mining_queues_only_the_uncovered_topics(loaded):
    report = mine(loaded, budget=6, embedder=HashingEmbedder(64), **SETTINGS)
    queued = Counter(pick.trace_id.split("-")[0] for pick in report.picks)
    # each uncovered topic comes in three phrasings: one pick each, and none from the covered topic
    assert queued == {"password": 3, "shipping": 3}
    assert loaded.con.execute("SELECT count(*) FROM labelling_queue WHERE run_id = ?", [report.run_id]).fetchone()[0] == 6


def test_a_second_run_embeds_nothing_and_queues_different_traces(loaded):
    first = mine(loaded, budget=4, embedder=HashingEmbedder(64), **SETTINGS)
    second = mine(loaded, budget=4, embedder=HashingEmbedder(64), **SETTINGS)
    # 24 traces + 3 eval cases, but eval case 3 repeats trace refund-5 word for word: one vector
    assert (first.embedded, second.embedded, second.cached) == (26, 0, 26)
    assert not {p.trace_id for p in first.picks} & {p.trace_id for p in second.picks}


def test_every_point_is_assigned_with_the_run_id_and_noise_kept(loaded):
    report = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    rows = loaded.con.execute(
        "SELECT item_kind, count(*), count(DISTINCT run_id), min(cluster_id) >= -1 FROM cluster_assignments GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("eval", 3, 1, True), ("production", 24, 1, True)]
    coverage_total = loaded.con.execute(
        "SELECT sum(production_count) FROM cluster_coverage WHERE run_id = ?", [report.run_id]
    ).fetchone()[0]
    assert coverage_total == 24
    summary = loaded.con.execute("SELECT summary->>'queued', status FROM runs WHERE run_id = ?", [report.run_id]).fetchone()
    assert summary == ("0", "succeeded")


def test_the_same_data_and_seed_give_the_same_result(loaded, tmp_path):
    first = mine(loaded, budget=5, embedder=HashingEmbedder(64), **SETTINGS)
    loaded.con.execute("DELETE FROM labelling_queue")
    second = mine(loaded, budget=5, embedder=HashingEmbedder(64), **SETTINGS)
    assert [(p.trace_id, p.reason) for p in first.picks] == [(p.trace_id, p.reason) for p in second.picks]
    assert first.coverage == second.coverage


def test_mining_an_empty_store_says_what_to_do_first(store):
    with pytest.raises(MineError, match="harness-evals ingest PATH --kind production"):
        mine(store, budget=5, embedder=HashingEmbedder(64))


class RecordingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        return super().encode(texts)


def test_text_is_redacted_before_it_is_embedded(store, tmp_path):
    rows = [{**row, "input": f"{row['input']}, call me on (415) 555-2671"} for row in topic_traces()]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    embedder = RecordingEmbedder()
    mine(store, budget=2, embedder=embedder, min_cluster_size=3, dimensions=8, covered_similarity=0.6)
    assert len(embedder.seen) == 24
    assert all(text.endswith("call me on <PHONE_1>") for text in embedder.seen)


def test_a_night_redacts_only_the_traces_it_has_not_seen_and_new_rules_redo_them_all(loaded, tmp_path, monkeypatch):
    from harness_evals import pipeline
    from harness_evals.redact import RedactionRules

    redacted = []
    redact = pipeline._redacted_text
    monkeypatch.setattr(pipeline, "_redacted_text", lambda record, *rest: redacted.append(record.trace_id) or redact(record, *rest))
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    ingest_file(loaded, write_jsonl(tmp_path / "new.jsonl", [
        {"trace_id": "new-1", "timestamp": None, "input": "call me on +1 415 555 0100 about my refund"}]), kind="production")
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    assert (len(redacted), redacted[-1]) == (25, "new-1")
    rows = loaded.con.execute("SELECT run_id, count(*) FROM view_texts GROUP BY 1 ORDER BY 2").fetchall()
    assert rows == [(second.run_id, 1), (first.run_id, 24)]
    assert loaded.one("SELECT text FROM view_texts WHERE trace_id = 'new-1'")[0] == "call me on <PHONE_1> about my refund"

    third = mine(loaded, budget=0, embedder=HashingEmbedder(64), redaction=RedactionRules(deny={"TOPIC": r"\brefund\b"}), **SETTINGS)
    assert len(redacted) == 50
    assert loaded.con.execute("SELECT run_id, count(*) FROM view_texts GROUP BY 1").fetchall() == [(third.run_id, 25)]
    assert "refund" not in loaded.one("SELECT text FROM view_texts WHERE trace_id = 'new-1'")[0]


def test_a_night_runs_the_detectors_only_on_traces_it_has_not_seen_and_carries_the_rest(loaded, tmp_path, monkeypatch):
    from harness_evals import pipeline
    from harness_evals.signals import DetectorSettings, detect

    examined = []
    monkeypatch.setattr(pipeline, "detect", lambda record, settings: examined.append(record.trace_id) or detect(record, settings))
    refused = {"trace_id": "new-refusal", "timestamp": None, "input": "refund my order 9",
               "output": "I'm sorry, but I can't help with that."}
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    loaded.con.execute("UPDATE traces SET output = 'I cannot help with that, sorry.' WHERE trace_id = 'refund-1'")
    ingest_file(loaded, write_jsonl(tmp_path / "new.jsonl", [refused]), kind="production")
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    assert len(examined) == 25 and examined[-1] == "new-refusal"

    def flags_of(run_id):
        return loaded.con.execute("SELECT trace_id, detector FROM trace_flags WHERE run_id = ? ORDER BY 1, 2",
                                  [run_id]).fetchall()

    # refund-1 was examined before its output was edited behind the store's back: carried, not redone
    assert flags_of(second.run_id) == flags_of(first.run_id) + [("new-refusal", "refusal")]
    third = mine(loaded, budget=0, embedder=HashingEmbedder(64), detectors=DetectorSettings(enabled=["refusal"]), **SETTINGS)
    assert len(examined) == 50  # other settings: every trace examined again
    assert flags_of(third.run_id) == [("new-refusal", "refusal"), ("refund-1", "refusal")]
