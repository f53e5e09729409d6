import numpy as np

from harness_evals.mine.coverage import NearestEvalCase, calibrate_covered_similarity, nearest_eval_cases, score_coverage
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
