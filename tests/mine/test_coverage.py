import numpy as np

from harness_evals.mine.coverage import (
    LocalReach, NearestEvalCase, calibrate_covered_similarity, nearest_eval_cases, score_coverage,
    through_labelled_reach, with_labelled_reach)
from harness_evals.records import ClusterCoverage, EmbeddedItems


def test_the_nearest_eval_case_is_the_one_of_best_cosine():
    production = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    evals = np.array([[1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
    positions, similarity = nearest_eval_cases(production, evals, chunk=2)
    assert positions.tolist() == [0, 1, 1]
    np.testing.assert_allclose(similarity, [1.0, 0.6, 0.96], rtol=1e-6)


def test_without_an_eval_set_nothing_is_near():
    positions, similarity = nearest_eval_cases(np.ones((2, 3)), np.zeros((0, 3)))
    assert (positions.tolist(), similarity.tolist()) == ([-1, -1], [-1.0, -1.0])


def test_the_default_judge_covers_a_trace_by_its_nearest_case_within_the_threshold():
    evals = EmbeddedItems(["e-refund", "e-login"], ["refund", "login"], np.array([[1.0, 0.0], [0.8, 0.6]], np.float32))
    traces = EmbeddedItems(["t1", "t2", "t3"], ["a", "b", "c"],
                           np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32))
    fixed = NearestEvalCase(0.9)
    verdicts = fixed.judge(traces, evals, fixed.calibrate(traces, evals))
    assert (verdicts.covered.tolist(), verdicts.covering_case_ids, verdicts.threshold) == (
        [True, False, True], ["e-refund", None, "e-login"], 0.9)
    np.testing.assert_allclose(verdicts.scores, [1.0, 0.6, 0.96], rtol=1e-6)
    calibration = NearestEvalCase().calibrate(traces, evals)  # two cases 0.8 apart: 0.8 - 0.15
    assert (round(calibration.values["threshold"], 4), calibration.label) == (0.65, "cosine 0.65")
    assert NearestEvalCase().judge(traces, evals, calibration).covered.tolist() == [True, False, True]
    nothing = EmbeddedItems([], [], np.zeros((0, 2), np.float32))
    verdicts = NearestEvalCase().judge(traces, nothing, NearestEvalCase().calibrate(traces, nothing))
    assert (verdicts.covered.tolist(), verdicts.covering_case_ids) == ([False] * 3, [None] * 3)


def test_a_calibration_says_when_it_hit_a_bound_or_rests_on_too_few_cases():
    traces = EmbeddedItems([], [], np.zeros((0, 2), np.float32))
    far_apart = EmbeddedItems(["a", "b"], ["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    floor, few = NearestEvalCase().calibrate(traces, far_apart).warnings
    assert floor.startswith("the covered similarity sits at its floor 0.40 (the eval cases' median cosine to "
                            "their nearest other case is 0.00): they are far apart")
    assert floor.endswith("or set [mine] covered_similarity (or --covered-similarity) to the cosine at which two "
                          "requests are one behaviour")
    assert few.startswith("calibrated on 2 eval cases, too few for a stable covered similarity (at least 30 wanted)")
    copies = EmbeddedItems([f"c{n}" for n in range(30)], ["same"] * 30, np.tile([[1.0, 0.0]], (30, 1)).astype(np.float32))
    cap, = NearestEvalCase().calibrate(traces, copies).warnings
    assert cap.startswith("the covered similarity sits at its cap 0.70 (the eval cases' median cosine to their "
                          "nearest other case is 1.00): they are near copies of each other")
    spaced = EmbeddedItems([f"c{n}" for n in range(30)], ["x"] * 30, _unit_pairs(15, cosine=0.75))
    assert NearestEvalCase().calibrate(traces, spaced).warnings == ()
    assert NearestEvalCase(0.5).calibrate(traces, far_apart).warnings == ()  # a threshold set by hand: nothing to say


def _unit_pairs(pairs: int, *, cosine: float) -> np.ndarray:
    """`pairs` pairs of unit vectors, each pair `cosine` apart and orthogonal to every other pair."""
    rows = np.zeros((2 * pairs, 2 * pairs), np.float32)
    for pair in range(pairs):
        rows[2 * pair, 2 * pair] = 1.0
        rows[2 * pair + 1, 2 * pair] = cosine
        rows[2 * pair + 1, 2 * pair + 1] = np.sqrt(1 - cosine ** 2)
    return rows


def test_coverage_per_cluster_counts_covered_traces_and_sorts_by_gap():
    production_labels = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    eval_labels = np.array([0, 2])
    similarity = np.array([0.9, 0.8, 0.2, 0.1, 0.3, 0.2, 0.95, 0.1])
    rows = score_coverage(production_labels, eval_labels, similarity >= 0.5)
    assert rows == [
        ClusterCoverage(cluster_id=0, production_count=4, eval_count=1, coverage=0.5, gap_score=2.0),
        ClusterCoverage(cluster_id=1, production_count=2, eval_count=0, coverage=0.0, gap_score=2.0),
        ClusterCoverage(cluster_id=-1, production_count=2, eval_count=0, coverage=0.5, gap_score=1.0),
        ClusterCoverage(cluster_id=2, production_count=0, eval_count=1, coverage=1.0, gap_score=0.0),
    ]


def test_the_covered_similarity_is_read_off_the_eval_sets_own_spacing():
    # nearest-other similarities: 0.8, 0.8, 0.6, 0.6 -> median 0.7, less the 0.15 margin
    evals = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0], [0.0, 0.8, 0.6]], dtype=np.float32)
    assert round(calibrate_covered_similarity(evals), 4) == 0.55
    assert calibrate_covered_similarity(evals, margin=0.5) == 0.4  # clipped to the lower bound
    assert calibrate_covered_similarity(evals[:1]) == 0.5  # too few cases to read a spacing from


def four_behaviours(*, traces_each: int = 6, spread: float = 0.08, seed: int = 0
                    ) -> tuple[EmbeddedItems, EmbeddedItems, list[str]]:
    """One domain of four behaviours (a telecom help desk: MMS, no service, mobile data, roaming):
    each a group of distinct phrasings (at `spread` 0.08, cosine about 0.85 to each other: linked,
    not copies), every two behaviours at cosine 0.55; eval cases for the first two only, and one
    stray phrasing of MMS far from everything (cosine 0.5 to its case)."""
    rng = np.random.default_rng(seed)
    dims = 32
    shared, unique = np.eye(dims)[0], np.eye(dims)[1:5]
    centres = np.sqrt(0.55) * shared + np.sqrt(0.45) * unique  # unit length, 0.55 to each other
    behaviours = ["mms", "no-service", "mobile-data", "roaming"]
    vectors, truth = [], []
    for behaviour, centre in zip(behaviours, centres, strict=True):
        for _ in range(traces_each):
            noisy = centre + rng.normal(0, spread, dims) * (np.arange(dims) >= 5)  # noise off the domain's axes
            vectors.append(noisy / np.linalg.norm(noisy))
            truth.append(behaviour)
    stray = 0.5 * centres[0] + np.sqrt(0.75) * np.eye(dims)[10]
    vectors.append(stray)
    truth.append("mms")
    traces = EmbeddedItems([f"t{i}" for i in range(len(truth))], truth, np.array(vectors, np.float32))
    evals = EmbeddedItems(["case-mms", "case-no-service"], behaviours[:2], centres[:2].astype(np.float32))
    return traces, evals, truth


def test_two_cases_in_a_domain_of_four_behaviours_cover_their_own_two():
    traces, evals, truth = four_behaviours()
    nearest = NearestEvalCase(0.4)
    swallowed = nearest.judge(traces, evals, nearest.calibrate(traces, evals)).covered
    assert swallowed.all()  # one global radius: the two cases cover the whole domain

    local = LocalReach(0.4)
    verdicts = local.judge(traces, evals, local.calibrate(traces, evals))
    covered_behaviours = {behaviour for behaviour, hit in zip(truth, verdicts.covered.tolist(), strict=True) if hit}
    assert covered_behaviours == {"mms", "no-service"}
    assert verdicts.covered.tolist() == [behaviour in ("mms", "no-service") for behaviour in truth]
    assert verdicts.covered[-1]  # the stray phrasing is no group: its case still covers it
    assert verdicts.covering_case_ids[:12] == ["case-mms"] * 6 + ["case-no-service"] * 6
    assert verdicts.covering_case_ids[12:24] == [None] * 12
    assert sorted(verdicts.uncovered_reasons) == list(range(12, 24))
    reason = verdicts.uncovered_reasons[12]
    assert reason.startswith("the nearest eval case case-")
    assert "this trace is one of 6 phrasings linked at cosine 0.70 that the case is not linked to" in reason


def test_local_reach_needs_a_group_before_it_calls_traffic_another_behaviour():
    traces, evals, truth = four_behaviours(traces_each=2)  # pairs: below min_structure, stray phrasings
    local = LocalReach(0.4)
    assert local.judge(traces, evals, local.calibrate(traces, evals)).covered.all()
    pairs = LocalReach(0.4, min_structure=2)
    assert not pairs.judge(traces, evals, pairs.calibrate(traces, evals)).covered[4:8].any()


def test_copies_of_one_request_are_one_phrasing_however_often_they_come():
    traces, evals, truth = four_behaviours(spread=0.005)  # each behaviour one request, repeated (cosine ~1)
    local = LocalReach(0.4)
    assert local.judge(traces, evals, local.calibrate(traces, evals)).covered.all()  # popular, not a structure
    single = LocalReach(0.4, min_structure=1)
    verdicts = single.judge(traces, evals, single.calibrate(traces, evals))
    # one phrasing is enough apart now: six copies of it count once, as the stray phrasing does
    assert verdicts.covered.tolist() == [behaviour in ("mms", "no-service") for behaviour in truth[:24]] + [False]
    assert "one of 1 phrasing linked" in verdicts.uncovered_reasons[12]


def test_local_reach_over_a_cell_larger_than_its_cap_places_the_rest_by_their_nearest_linked_trace():
    traces, evals, truth = four_behaviours(traces_each=40)
    whole = LocalReach(0.4)
    capped = LocalReach(0.4, max_cell=30)
    calibration = whole.calibrate(traces, evals)
    assert capped.judge(traces, evals, calibration).covered.tolist() == \
        whole.judge(traces, evals, calibration).covered.tolist()
    assert (capped.parameters, calibration.label) == (
        {"judge": "local-reach", "covered_similarity": 0.4, "link_similarity": 0.7, "min_structure": 3},
        "cosine 0.40, reach linked at 0.70")



def test_local_reach_with_no_case_within_the_threshold_covers_nothing():
    traces, _, _ = four_behaviours()
    elsewhere = EmbeddedItems(["case-billing"], ["billing"], np.eye(32, dtype=np.float32)[20:21])  # 0 to all
    far = LocalReach(0.4)
    verdicts = far.judge(traces, elsewhere, far.calibrate(traces, elsewhere))
    assert not verdicts.covered.any() and verdicts.uncovered_reasons == {}
    nothing = EmbeddedItems([], [], np.zeros((0, traces.vectors.shape[1]), np.float32))
    assert not LocalReach().judge(traces, nothing, LocalReach().calibrate(traces, nothing)).covered.any()


def test_a_trace_a_labeller_said_a_case_covers_carries_that_case_to_its_own_behaviour_only():
    traces, evals, truth = four_behaviours()
    judge = NearestEvalCase(0.8)  # each case its own behaviour: the others sit at 0.55
    before = judge.judge(traces, evals, judge.calibrate(traces, evals))
    assert [hit for hit, behaviour in zip(before.covered.tolist(), truth) if behaviour == "mobile-data"] == [False] * 6
    # a labeller: trace t13 (mobile data) is already covered by case-mms; case-gone left the eval set
    widened, stand_ins = with_labelled_reach(evals, traces, [("t13", "case-mms"), ("t20", "case-gone")])
    assert (widened.ids, stand_ins) == (["case-mms", "case-no-service", "case-mms"], ["t13"])
    verdicts = through_labelled_reach(judge.judge(traces, widened, judge.calibrate(traces, evals)), traces, widened,
                                      stand_ins)
    covered = {behaviour for behaviour, hit in zip(truth, verdicts.covered.tolist(), strict=True) if hit}
    assert covered == {"mms", "no-service", "mobile-data"}  # roaming, not vouched for, stays out
    assert not verdicts.covered[-1]  # the stray phrasing, 0.5 from its case, is no nearer to the mobile-data traces
    assert verdicts.covering_case_ids[12:18] == ["case-mms"] * 6
    assert verdicts.covered_through == {index: "t13" for index in range(12, 18)}  # the mms traces: by the case itself
    # roaming: each trace still names its nearest case, which covers it not
    assert verdicts.covering_case_ids[18:24] == [None] * 6
    assert set(verdicts.nearest_case_ids[18:24]) <= {"case-mms", "case-no-service"}
    assert with_labelled_reach(evals, traces, []) == (evals, [])
