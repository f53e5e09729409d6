import io
from datetime import datetime, timezone
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pytest

from harness_evals import Workspace
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import (
    MineError, Traffic, _case_digest, _refit_reason, mine, prepare, read_traffic, team_cases)
from harness_evals.redact import RedactionRules
from harness_evals.records import Assignments, Calibration, CoverageVerdicts, Ruler
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


def tonight(store, *, redaction=None, detectors=None):
    """What the next run's prepare stage makes of the store: the texts it redacts, the traces it examines."""
    from harness_evals.redact import RedactionRules
    from harness_evals.mine.signals import DetectorSettings

    return prepare(store, read_traffic(store, view="intent"), redaction=redaction or RedactionRules(),
                   detectors=detectors or DetectorSettings(), prompt_contract=None)


def test_a_night_redacts_only_the_traces_it_has_not_seen_and_new_rules_redo_them_all(loaded, tmp_path):
    from harness_evals.redact import RedactionRules

    assert len(tonight(loaded).texts.fresh) == 24
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    ingest_file(loaded, write_jsonl(tmp_path / "new.jsonl", [
        {"trace_id": "new-1", "timestamp": None, "input": "call me on +1 415 555 0100 about my refund"}]), kind="production")
    assert list(tonight(loaded).texts.fresh) == ["new-1"]
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    rows = loaded.con.execute("SELECT run_id, count(*) FROM view_texts GROUP BY 1 ORDER BY 2").fetchall()
    assert rows == [(second.run_id, 1), (first.run_id, 24)]
    assert loaded.one("SELECT text FROM view_texts WHERE trace_id = 'new-1'")[0] == "call me on <PHONE_1> about my refund"

    rules = RedactionRules(deny={"TOPIC": r"\brefund\b"})
    assert len(tonight(loaded, redaction=rules).texts.fresh) == 25
    third = mine(loaded, budget=0, embedder=HashingEmbedder(64), redaction=rules, **SETTINGS)
    assert loaded.con.execute("SELECT run_id, count(*) FROM view_texts GROUP BY 1").fetchall() == [(third.run_id, 25)]
    assert "refund" not in loaded.one("SELECT text FROM view_texts WHERE trace_id = 'new-1'")[0]


def test_a_night_runs_the_detectors_only_on_traces_it_has_not_seen_and_carries_the_rest(loaded, tmp_path):
    from harness_evals.mine.signals import DetectorSettings

    refused = {"trace_id": "new-refusal", "timestamp": None, "input": "refund my order 9",
               "output": "I'm sorry, but I can't help with that."}
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    loaded.con.execute("UPDATE traces SET output = 'I cannot help with that, sorry.' WHERE trace_id = 'refund-1'")
    ingest_file(loaded, write_jsonl(tmp_path / "new.jsonl", [refused]), kind="production")
    assert tonight(loaded).flags.examined == ["new-refusal"]
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)

    def flags_of(run_id):
        return loaded.con.execute("SELECT trace_id, detector FROM trace_flags WHERE run_id = ? ORDER BY 1, 2",
                                  [run_id]).fetchall()

    # refund-1 was examined before its output was edited behind the store's back: carried, not redone
    assert flags_of(second.run_id) == flags_of(first.run_id) + [("new-refusal", "refusal")]
    only_refusals = DetectorSettings(enabled=["refusal"])
    assert len(tonight(loaded, detectors=only_refusals).flags.examined) == 25  # other settings: every trace again
    third = mine(loaded, budget=0, embedder=HashingEmbedder(64), detectors=only_refusals, **SETTINGS)
    assert flags_of(third.run_id) == [("new-refusal", "refusal"), ("refund-1", "refusal")]


class KeywordJudge:
    """Covers every trace whose text holds `word`, by the first eval case whose text holds it too. Its
    score is the nearest eval case's cosine, which it does not judge by: the refund traces score
    high (the eval set's refund cases are near) and stay uncovered."""

    def __init__(self, word: str) -> None:
        self.word = word

    @property
    def parameters(self):
        return {"judge": "keyword", "word": self.word}

    def calibrate(self, traces, evals):
        return Calibration({}, f"the word {self.word!r}")

    def judge(self, traces, evals, calibration):
        case_id = next((case_id for case_id, text in zip(evals.ids, evals.texts) if self.word in text), None)
        covered = np.array([self.word in text for text in traces.texts], dtype=bool)
        return CoverageVerdicts(covered, [case_id if hit else None for hit in covered.tolist()],
                                (traces.vectors @ evals.vectors.T).max(axis=1))


def test_the_coverage_judge_given_decides_what_the_sampler_the_gap_table_and_the_workspace_count_covered(
        loaded, tmp_path):
    ingest_file(loaded, write_jsonl(tmp_path / "e2.jsonl", [{"id": "e-password", "input": "my password is lost"}]),
                kind="eval")
    report = mine(loaded, budget=6, embedder=HashingEmbedder(64), coverage_judge=KeywordJudge("password"), **SETTINGS)
    # the cosine judge covers the refund topic (test_mining_queues_only_the_uncovered_topics); this one covers passwords
    assert set(Counter(pick.trace_id.split("-")[0] for pick in report.picks)) == {"refund", "shipping"}
    refund_scores = [float(pick.reason.split("score ")[1].split(")")[0]) for pick in report.picks
                     if pick.trace_id.startswith("refund")]
    assert min(refund_scores) >= 0.6  # as near as the cosine judge counts covered, and still picked
    assert report.covered_traffic == pytest.approx(8 / 24)
    loaded.close()  # as a notebook would read it, after the run
    with Workspace(loaded.path) as workspace:
        rows = workspace.assignments().to_pylist()
        production = [row for row in rows if row["item_kind"] == "production"]
        assert all(row["covered"] == row["item_id"].startswith("password") for row in production)
        assert {row["covering_case_id"] for row in production if row["covered"]} == {"e-password"}
        assert {row["covered"] for row in rows if row["item_kind"] == "eval"} == {None}
        for cluster in workspace.clusters().to_pylist():  # each region's coverage is its share of password traces
            members = [row for row in production if row["cluster_id"] == cluster["cluster_id"]]
            assert cluster["coverage"] == pytest.approx(sum(row["covered"] for row in members) / len(members))
        assert workspace.summary()["covered_traffic"] == round(8 / 24, 4)


@dataclass(frozen=True)
class CentresFit:
    centres: np.ndarray
    radius: float
    noise_share: float = 0.0

    def place(self, vectors, *, map_chunks=map):
        distances = np.linalg.norm(vectors[:, None, :] - self.centres[None, :, :], axis=2)
        nearest = distances.min(axis=1)
        outlier = np.minimum(nearest / self.radius, 1.0)
        return Assignments(np.where(nearest > self.radius, -1, distances.argmin(axis=1)), outlier, 1.0 - outlier)

    def state(self):
        buffer = io.BytesIO()
        np.savez(buffer, centres=self.centres, radius=self.radius)
        return buffer.getvalue()


@dataclass(frozen=True)
class NearestCentre:
    """k-means centres; a point farther than `radius` from every centre is in no cluster."""

    k: int
    radius: float = 1.2
    min_cluster_size: int = 3

    @property
    def parameters(self):
        return {"clusterer": "nearest-centre", "k": self.k}

    def fit(self, vectors, *, map_chunks=map):
        from sklearn.cluster import KMeans

        fit = CentresFit(KMeans(self.k, n_init=10, random_state=0).fit(vectors).cluster_centers_, self.radius)
        assignments = fit.place(vectors)
        return assignments, replace(fit, noise_share=float(np.mean(assignments.labels == -1)))

    def restore(self, state):
        arrays = np.load(io.BytesIO(state), allow_pickle=False)
        return CentresFit(arrays["centres"], float(arrays["radius"]))


def test_the_clusterer_given_fits_the_regions_and_a_night_places_new_traces_into_its_kept_fit(loaded, tmp_path):
    def cluster_of(run_id, trace_id):
        return loaded.one("SELECT cluster_id FROM cluster_assignments WHERE run_id = ? AND item_id = ?",
                          [run_id, trace_id])[0]

    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), clusterer=NearestCentre(k=3), **SETTINGS)
    assert (first.mode, first.mode_reason) == ("full", "first run of this view and clustering")
    assert 1 <= first.clusters <= 3
    state = loaded.one("SELECT state FROM cluster_models WHERE run_id = ?", [first.run_id])[0]
    assert np.load(io.BytesIO(state))["centres"].shape == (3, 64)  # the clusterer's own bytes are what is kept
    ingest_file(loaded, write_jsonl(tmp_path / "new.jsonl", [
        {"trace_id": "new-refund", "timestamp": None, "input": "refund order 99 to my card"}]), kind="production")
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), clusterer=NearestCentre(k=3), **SETTINGS)
    assert (second.mode, second.mode_reason) == ("incremental", "1 new traces placed into the last fit's clusters")
    assert cluster_of(second.run_id, "new-refund") == cluster_of(second.run_id, "refund-2") != -1
    # the default clusterer's fit is another: its first run does not extend this one
    assert mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS).mode_reason.startswith("first run")


def test_a_clusterer_may_not_give_a_run_parameter_another_value(loaded):
    @dataclass(frozen=True)
    class Reseeded(NearestCentre):
        @property
        def parameters(self):
            return {"k": self.k, "seed": 5}

    with pytest.raises(ValueError, match="the clusterer's parameters seed clash"):
        mine(loaded, budget=0, embedder=HashingEmbedder(64), clusterer=Reseeded(k=3), **SETTINGS)


CALIBRATED = dict(min_cluster_size=3, dimensions=8, seed=0)  # covered similarity calibrated: a ruler is fitted


def rulers(store):
    return store.con.execute("SELECT ruler_id, label, eval_count, reason FROM coverage_rulers ORDER BY fitted_at"
                             ).fetchall()


def test_the_ruler_is_fitted_once_and_reused_while_the_eval_set_hardly_changes(loaded, tmp_path):
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    assert (first.ruler.ruler_id, first.ruler.fresh, second.ruler.ruler_id, second.ruler.fresh) == ("r1", True, "r1", False)
    assert second.ruler.calibration == first.ruler.calibration
    threshold = first.ruler.calibration.values["threshold"]
    assert first.ruler.calibration.label == f"cosine {threshold:.2f}, reach linked at 0.70"  # the default, local-reach
    assert rulers(loaded) == [("r1", f"cosine {threshold:.2f}, reach linked at 0.70", 3,
                               "the first ruler for this judge and embedder")]
    assert [loaded.one("SELECT summary->>'ruler' FROM runs WHERE run_id = ?", [r.run_id])[0] for r in (first, second)
            ] == ["r1", "r1"]
    # 17 cases more where the ruler was fitted on 3: a new ruler
    ingest_file(loaded, write_jsonl(tmp_path / "e2.jsonl", [{"id": f"e-more-{n}", "input": f"cancel plan {n}"}
                                                         for n in range(17)]), kind="eval")
    assert mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED).ruler.ruler_id == "r2"
    assert rulers(loaded)[1][2:] == (20, "the eval set changed since ruler r1 (17 cases new, 0 reworded, 0 gone, of 3)")
    ingest_file(loaded, write_jsonl(tmp_path / "e3.jsonl", [{"id": "e-one-more", "input": "close my account"}]),
                kind="eval")
    again = mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    assert (again.ruler.ruler_id, again.eval_cases) == ("r2", 21)  # 1 of 20 changed: the ruler stands


def test_a_refit_is_asked_for_or_follows_the_judge_and_each_is_recorded(loaded):
    mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    refitted = mine(loaded, budget=0, embedder=HashingEmbedder(64), refit_ruler=True, **CALIBRATED)
    fixed = mine(loaded, budget=0, embedder=HashingEmbedder(64), covered_similarity=0.6, **CALIBRATED)
    back = mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    assert [r.ruler.ruler_id for r in (refitted, fixed, back)] == ["r2", "r3", "r2"]
    assert [row[3] for row in rulers(loaded)] == ["the first ruler for this judge and embedder",
                                                  "refitted as asked (ruler r1 before)",
                                                  "the first ruler for this judge and embedder"]
    assert fixed.ruler.calibration.label == "cosine 0.60, reach linked at 0.70"


def test_coverage_is_judged_on_requests_whatever_view_groups_the_traffic(loaded):
    by_request = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    for view in ("trajectory", "outcome"):
        report = mine(loaded, budget=0, embedder=HashingEmbedder(64), view=view, **SETTINGS)
        assert (report.eval_cases, report.covered_traffic, report.ruler.ruler_id) == (
            3, by_request.covered_traffic, by_request.ruler.ruler_id)
        assert report.covered_traffic == pytest.approx(8 / 24)  # the refund topic
        clustered = loaded.con.execute("SELECT count(*) FROM cluster_assignments WHERE run_id = ? AND item_kind = 'eval'",
                                       [report.run_id]).fetchone()[0]
        assert clustered == 0  # an eval case has no trajectory to be grouped by
    loaded.close()
    with Workspace(loaded.path) as workspace:
        from harness_evals.report.workspace import coverage_series

        series = coverage_series(workspace.trend().to_pylist())
    assert [(s.ruler, s.view, len(rows)) for s, rows in series] == [
        ("r1 (cosine 0.60, reach linked at 0.70)", view, 1) for view in ("intent", "trajectory", "outcome")]


def test_local_reach_is_chosen_by_name_and_its_ruler_names_the_reach(loaded):
    report = mine(loaded, budget=3, embedder=HashingEmbedder(64), coverage_judge="local-reach", **SETTINGS)
    assert (report.ruler.name, report.ruler.judge_key["judge"]) == (
        "cosine 0.60, reach linked at 0.70, ruler r1", "local-reach")
    stored = loaded.con.execute("SELECT label FROM coverage_rulers WHERE ruler_id = 'r1'").fetchone()
    assert stored == ("cosine 0.60, reach linked at 0.70",)


def test_new_traffic_or_redaction_rules_do_not_reword_the_eval_set_under_the_ruler(loaded, tmp_path):
    # a line every request of tonight's traffic opens with is template, and the view drops it; one eval case
    # holds it too, so its view text changes, but the case as the team wrote it does not
    ingest_file(loaded, write_jsonl(tmp_path / "e.jsonl", [{"id": "e-greeting", "input": "Welcome to ACME support\n"
                                                                                       "refund order 9 please"}]),
                kind="eval")
    first = mine(loaded, budget=0, embedder=HashingEmbedder(64), **CALIBRATED)
    ingest_file(loaded, write_jsonl(tmp_path / "t2.jsonl", [
        {"trace_id": f"w{n}", "input": f"Welcome to ACME support\nwhere is parcel {n}"} for n in range(40)]),
        kind="production")
    later = mine(loaded, budget=0, embedder=HashingEmbedder(64), redaction=RedactionRules(allow=["ACME"]),
                 **CALIBRATED)
    assert (first.ruler.ruler_id, later.ruler.ruler_id, later.ruler.fresh) == ("r1", "r1", False)


def test_a_fixed_threshold_is_never_refitted_when_the_eval_set_grows(loaded, tmp_path):
    fixed = [mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)]
    ingest_file(loaded, write_jsonl(tmp_path / "e2.jsonl", [{"id": f"e-new-{n}", "input": f"close account {n}"}
                                                         for n in range(3)]), kind="eval")
    fixed.append(mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS))
    # 3 new cases of 3 is a change to refit on, but a fixed cosine comes out the same: one ruler, one series
    assert [(r.ruler.ruler_id, r.ruler.fresh) for r in fixed] == [("r1", True), ("r1", False)]


def test_a_case_reworded_under_its_id_is_one_change_and_emitted_cases_are_none():
    kept = Ruler("r1", {}, Calibration({"threshold": 0.5}, "cosine 0.50"),
                 tuple(_case_digest(f"e{n}", f"request {n}") for n in range(10)), "first", datetime.now(timezone.utc))
    reworded = tuple(_case_digest(f"e{n}", f"request {n}" if n else "asked again") for n in range(10))
    assert _refit_reason(kept, reworded, refit=False, refit_share=0.1) == (
        "the eval set changed since ruler r1 (0 cases new, 1 reworded, 0 gone, of 10)")
    assert _refit_reason(kept, reworded, refit=False, refit_share=0.2) is None  # 1 of 10: the ruler stands
    traffic = Traffic("intent", ["t1"], ["e1", "suite:regression:c1"], ["request 1", "labelled"], frozenset(),
                      [False, True])
    assert team_cases(traffic) == (_case_digest("e1", "request 1"),)


def test_the_run_is_marked_succeeded_in_the_transaction_that_writes_its_rows(loaded, monkeypatch):
    def fails(record):
        raise RuntimeError("killed between the rows and the status")

    monkeypatch.setattr(loaded, "succeed", fails)
    with pytest.raises(RuntimeError):
        mine(loaded, budget=3, embedder=HashingEmbedder(64), **SETTINGS)
    counts = [loaded.one(f"SELECT count(*) FROM {table}")[0]
              for table in ("cluster_assignments", "labelling_queue", "coverage_rulers", "trace_tools")]
    assert (counts, loaded.one("SELECT status FROM runs WHERE kind = 'mine'")) == ([0, 0, 0, 0], ("failed",))


def test_a_trace_labelled_covered_by_a_case_carries_its_reach_to_what_is_alike_without_a_new_ruler(loaded, tmp_path):
    from harness_evals.label.labels import import_labels
    from harness_evals.store.clusters import assignments_table

    first = mine(loaded, budget=6, embedder=HashingEmbedder(64), **SETTINGS)
    password = sorted(p.trace_id for p in first.picks if p.trace_id.startswith("password"))
    assert password and all("(the nearest is e-refund-" in p.reason for p in first.picks)
    vouched = password[0]
    report = import_labels(loaded, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": vouched, "covered_by": "e-refund-1"}]))
    assert (report.covered, report.applied, report.refused) == (1, 0, [])

    second = mine(loaded, budget=0, embedder=HashingEmbedder(64), **SETTINGS)
    assert (second.ruler.ruler_id, second.eval_cases) == (first.ruler.ruler_id, 3)  # evidence is no eval case
    rows = {row["item_id"]: row for row in assignments_table(loaded, second.run_id).to_pylist()
            if row["item_kind"] == "production"}
    assert rows[vouched]["covered"] and rows[vouched]["covering_case_id"] == "e-refund-1"
    # the same phrasing of the password topic comes along; the shipping topic, vouched for by nobody, does not
    same_phrasing = [t for t in rows if t.startswith("password") and int(t.split("-")[1]) % 3 == int(vouched[-1]) % 3]
    assert len(same_phrasing) >= 2
    assert all(rows[t]["covered"] and rows[t]["covering_case_id"] == "e-refund-1" for t in same_phrasing)
    assert not any(rows[t]["covered"] for t in rows if t.startswith("shipping"))
    assert second.covered_traffic > first.covered_traffic
