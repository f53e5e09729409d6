from dataclasses import replace

import numpy as np

from harness_evals.mine.coverage import score_coverage
from harness_evals.records import NOISE, Assignments, ClusterCoverage, CoverageVerdicts
from harness_evals.mine.sample import (
    FAILURE_WEIGHT, alike_graph, failure_weights, select_for_labelling, wilson_lower_bound,
)

THRESHOLD = 0.9
BASIS = np.eye(4, dtype=np.float32)


def unit(vector):
    return vector / np.linalg.norm(vector)


# four alike requests (a), two (b), a lone one (c), and two the eval set covers (d)
IDS = ["a0", "a1", "a2", "a3", "b0", "b1", "c0", "d0", "d1"]
VECTORS = np.array(
    [unit(BASIS[0] + 0.05 * k * BASIS[2]) for k in range(4)]
    + [unit(BASIS[1]), unit(BASIS[1] + 0.1 * BASIS[3])]
    + [unit(BASIS[2] + BASIS[3])]
    + [unit(BASIS[3]), unit(BASIS[3] + 0.1 * BASIS[0])],
    dtype=np.float32,
)
LABELS = np.array([0, 0, 0, 0, 1, 1, -1, 2, 2])
OUTLIER = np.array([0.0, 0.1, 0.1, 0.2, 0.0, 0.1, 0.7, 0.0, 0.1])
NEAREST_EVAL = np.array([0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.5, 0.95, 0.92])
ASSIGNMENTS = Assignments(labels=LABELS, outlier_scores=OUTLIER, probabilities=1 - OUTLIER)
COVERAGE = score_coverage(LABELS, np.array([2]), NEAREST_EVAL >= THRESHOLD)


def judged(scores, threshold=THRESHOLD):
    """The default judge's verdicts for these nearest-eval-case similarities."""
    return CoverageVerdicts.at_threshold(np.asarray(scores), threshold)


def stands(pick):
    """What a pick's reason says it stands for, up to "alike"."""
    return next(part for part in pick.reason.split("; ") if part.startswith("stands for")).split(" alike")[0]


def select(budget, exclude=()):
    return select_for_labelling(IDS, VECTORS, ASSIGNMENTS, judged(NEAREST_EVAL), COVERAGE, budget=budget,
                                alike_similarity=THRESHOLD, exclude=exclude)


def test_picks_go_to_the_largest_uncovered_region_first_and_never_twice_to_one():
    assert [(p.trace_id, p.cluster_id, p.priority) for p in select(2)] == [("a0", 0, 4.0), ("b0", 1, 2.0)]


def test_mining_stops_when_only_near_duplicates_are_left():
    assert [p.trace_id for p in select(10)] == ["a0", "b0", "c0"]


def test_with_budget_left_the_search_goes_round_again_with_a_finer_threshold():
    angles = np.radians([0, 20, 40, 60, 80])  # uncovered requests spread on an arc
    arc = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    ids = [f"deg{d}" for d in (0, 20, 40, 60, 80)]
    nowhere = Assignments(labels=np.full(5, -1), outlier_scores=np.zeros(5), probabilities=np.zeros(5))
    picks = select_for_labelling(ids, arc, nowhere, judged(np.zeros(5), 0.55), [], budget=10, alike_similarity=0.55)
    # cosine 0.55 (57°): 40° is alike to all; 0.775 (39°): the ends are not; 0.8875: nothing new;
    # 0.94375 (19°): 20° and 60° are not; 0.97: nothing new; then only near-duplicates remain
    assert [(p.trace_id, p.reason.split("; ")[1].split(" that")[0]) for p in picks] == [
        ("deg40", "stands for 5 traces alike at cosine 0.55"),
        ("deg0", "stands for 1 trace alike at cosine 0.78"),
        ("deg80", "stands for 1 trace alike at cosine 0.78"),
        ("deg20", "stands for 1 trace alike at cosine 0.94"),
        ("deg60", "stands for 1 trace alike at cosine 0.94"),
    ]
    assert "a finer round" not in picks[0].reason
    assert all("(a finer round: every such trace was spoken for at cosine 0.55)" in p.reason for p in picks[1:])


def test_already_queued_traces_speak_for_their_neighbours_and_are_not_picked_again():
    assert [p.trace_id for p in select(10, exclude={"b1", "a2"})] == ["c0"]
    assert [p.trace_id for p in select(10, exclude={"b1"})] == ["a0", "c0"]


def test_each_pick_says_why():
    reasons = {p.trace_id: p.reason for p in select(3)}
    assert reasons["a0"] == (
        "not covered: no eval case within cosine 0.90 (the nearest is at 0.20); stands for 4 traces alike at "
        "cosine 0.90 that no eval case covers or a detector flagged; in cluster 0 (4 traces, 0 eval cases, 0% covered)"
    )
    assert reasons["c0"] == (
        "not covered: no eval case within cosine 0.90 (the nearest is at 0.50); stands for 1 trace alike at "
        "cosine 0.90 that no eval case covers or a detector flagged; in no cluster (outlier score 0.70)"
    )


def test_a_covered_pick_is_there_for_its_flags_and_names_its_case_and_the_ruler():
    case_ids = [None] * 7 + ["eval-d", "eval-d"]
    verdicts = CoverageVerdicts(NEAREST_EVAL >= THRESHOLD, [c if s >= THRESHOLD else None for c, s in
                                                           zip(case_ids, NEAREST_EVAL)], NEAREST_EVAL, THRESHOLD)
    flags = [()] * 7 + [("refusal",), ()]
    picks = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, verdicts, COVERAGE, budget=10, alike_similarity=THRESHOLD,
                                 flags=flags, ruler="cosine 0.90, ruler r3")
    reasons = {p.trace_id: p.reason for p in picks}
    assert reasons["d0"].startswith("covered by eval case eval-d at 0.95 (cosine 0.90, ruler r3), but flagged; "
                                    "flagged: refusal; stands for 1 trace alike")
    assert reasons["a0"].startswith("not covered: no eval case within cosine 0.90, ruler r3 (the nearest is at 0.20)")
    assert "d1" not in reasons  # covered and not flagged


def test_a_pick_names_its_nearest_case_and_a_covered_one_the_trace_a_labeller_vouched_through():
    case_ids = [None] * 7 + ["eval-d", "eval-d"]
    verdicts = CoverageVerdicts(NEAREST_EVAL >= THRESHOLD, [c if s >= THRESHOLD else None for c, s in
                                                           zip(case_ids, NEAREST_EVAL)], NEAREST_EVAL, THRESHOLD,
                                nearest_case_ids=["eval-a"] * 7 + ["eval-d"] * 2, covered_through={7: "t-vouched"})
    picks = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, verdicts, COVERAGE, budget=10, alike_similarity=THRESHOLD,
                                 flags=[()] * 7 + [("refusal",), ()], ruler="cosine 0.90, ruler r3")
    reasons = {p.trace_id: p.reason for p in picks}
    assert reasons["a0"].startswith("not covered: no eval case within cosine 0.90, ruler r3 (the nearest is eval-a, "
                                    "at 0.20)")
    assert reasons["d0"].startswith("covered by eval case eval-d through trace t-vouched, which a labeller said it "
                                    "covers, at 0.95 (cosine 0.90, ruler r3), but flagged; flagged: refusal")


def test_a_trace_near_a_case_but_outside_its_reach_says_why_it_is_not_covered():
    reach = "the nearest eval case eval-d is at 0.95, but this trace is one of 3 linked at cosine 0.70 that the " \
            "case is not linked to: a behaviour of their own"
    covered = NEAREST_EVAL >= THRESHOLD
    covered[7] = False
    verdicts = CoverageVerdicts(covered, [None] * 7 + [None, "eval-d"], NEAREST_EVAL, THRESHOLD, {7: reach})
    picks = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, verdicts, COVERAGE, budget=10, alike_similarity=THRESHOLD,
                                 ruler="cosine 0.90, reach linked at 0.70, ruler r1")
    reasons = {p.trace_id: p.reason for p in picks}
    assert reasons["d0"].startswith(f"not covered (cosine 0.90, reach linked at 0.70, ruler r1): {reach}; stands for")
    assert reasons["a0"].startswith("not covered: no eval case within cosine 0.90, reach linked at 0.70, ruler r1 "
                                    "(the nearest is at 0.20)")


def test_an_exact_copy_of_an_eval_case_is_never_queued_unless_flagged():
    scores = np.array([1.0, 1.0, 0.1])  # two copies of an eval case, and one request far from every case
    vectors = np.array([BASIS[0], BASIS[0], BASIS[1]])
    nowhere = Assignments(labels=np.full(3, -1), outlier_scores=np.zeros(3), probabilities=np.zeros(3))
    plain = select_for_labelling(["copy0", "copy1", "far"], vectors, nowhere, judged(scores, 0.5), [], budget=5,
                                 alike_similarity=0.5)
    assert [p.trace_id for p in plain] == ["far"]
    flagged = select_for_labelling(["copy0", "copy1", "far"], vectors, nowhere, judged(scores, 0.5), [], budget=5,
                                   alike_similarity=0.5, flags=[(), ("loop",), ()])
    assert [p.trace_id for p in flagged] == ["copy1", "far"]


def test_a_zero_budget_or_a_fully_covered_store_picks_nothing():
    assert select(0) == []
    covered = np.full(len(IDS), 0.99)
    assert select_for_labelling(IDS, VECTORS, ASSIGNMENTS, judged(covered), COVERAGE, budget=5,
                                alike_similarity=THRESHOLD) == []


def test_the_alike_graph_is_symmetric_and_holds_each_trace_itself():
    graph = alike_graph(VECTORS, threshold=THRESHOLD, chunk=4).toarray()
    assert (graph == graph.T).all() and graph.diagonal().all()
    assert graph[:4, :4].all() and not graph[:4, 4:].any()
    assert graph.sum() == 16 + 4 + 1 + 4


def test_a_pool_beyond_max_pool_is_sampled_keeping_flagged_traces_and_scaling_counts():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8))
    vectors = np.concatenate([centre + rng.normal(scale=0.02, size=(300, 8)) for centre in centres])
    vectors[599] = rng.normal(size=8)  # a lone flagged request, far from both regions
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"t{n}" for n in range(600)]
    labels = Assignments(np.repeat([0, 1], 300), np.zeros(600), np.ones(600))
    coverage = [ClusterCoverage(0, 300, 0, 0.0, 300.0), ClusterCoverage(1, 300, 0, 0.0, 300.0)]
    flags = [("loop",) if n == 599 else () for n in range(600)]
    whole = select_for_labelling(ids, vectors, labels, judged(np.zeros(600)), coverage, budget=3,
                                 alike_similarity=0.9, flags=flags)
    sampled = select_for_labelling(ids, vectors, labels, judged(np.zeros(600)), coverage, budget=3,
                                   alike_similarity=0.9, flags=flags, max_pool=100)
    assert {p.cluster_id for p in sampled[:2]} == {p.cluster_id for p in whole[:2]} == {0, 1}
    assert sampled[2].trace_id == whole[2].trace_id == "t599"  # flagged: always in the pool
    stands_for = [int(p.reason.split("stands for ")[1].split(" ")[0]) for p in sampled[:2]]
    assert all(250 <= count <= 350 for count in stands_for)  # scaled back from the sample of 100


def test_a_request_repeated_word_for_word_counts_once():
    # five copies of one request; two different requests of another kind
    vectors = np.array([BASIS[0]] * 5 + [BASIS[1], unit(BASIS[1] + 0.1 * BASIS[2])], dtype=np.float32)
    ids = [f"copy{n}" for n in range(5)] + ["new0", "new1"]
    nowhere = Assignments(labels=np.full(7, -1), outlier_scores=np.zeros(7), probabilities=np.zeros(7))
    picks = select_for_labelling(ids, vectors, nowhere, judged(np.zeros(7)), [], budget=2, alike_similarity=0.9)
    assert [(p.trace_id, p.priority, stands(p)) for p in picks] == [
        ("new0", 2.0, "stands for 2 traces"),
        ("copy0", 1.0, "stands for 5 traces"),  # the count stays traffic
    ]


def test_a_flagged_copy_of_a_repeated_request_keeps_its_whole_weight():
    # three copies of one request, the last flagged; two different requests of another kind
    vectors = np.array([BASIS[0]] * 3 + [BASIS[1], unit(BASIS[1] + 0.1 * BASIS[2])], dtype=np.float32)
    ids = ["copy0", "copy1", "copy2", "new0", "new1"]
    nowhere = Assignments(labels=np.full(5, -1), outlier_scores=np.zeros(5), probabilities=np.zeros(5))
    flags = [(), (), ("refusal",), (), ()]
    picks = select_for_labelling(ids, vectors, nowhere, judged(np.zeros(5)), [], budget=2, alike_similarity=0.9,
                                 flags=flags)
    assert [(p.trace_id, round(p.priority, 2)) for p in picks] == [("copy2", 3.67), ("new0", 2.0)]  # 3 + 2 x 1/3
    assert "; flagged: refusal; " in picks[0].reason  # of the tied copies, the one that failed


def test_a_regions_failure_rate_weighs_by_its_lower_bound_against_the_stores_rate():
    assert round(wilson_lower_bound(2, 3), 3) == 0.254
    assert round(wilson_lower_bound(30, 60), 3) == 0.396
    assert (wilson_lower_bound(0, 0), wilson_lower_bound(0, 5)) == (0.0, 0.0)
    # 62 failed of 200 across the store (31%): 2 failed of 3 is luck as much as evidence, 30 of 60 is not
    rows = [ClusterCoverage(0, 3, 0, 0.0, 3.0, outcome_count=3, failed_count=2),
            ClusterCoverage(1, 60, 0, 0.0, 60.0, outcome_count=60, failed_count=30),
            ClusterCoverage(2, 40, 0, 0.0, 40.0, outcome_count=40, failed_count=0),
            ClusterCoverage(3, 7, 0, 0.0, 7.0),  # no outcome
            ClusterCoverage(NOISE, 100, 0, 0.0, 100.0, outcome_count=97, failed_count=30)]
    weights = failure_weights(rows)
    assert list(weights) == [1] and round(weights[1], 2) == 1.28
    assert failure_weights(rows, failure_weight=1.0) == {}
    everything_fails = [ClusterCoverage(0, 50, 0, 0.0, 50.0, outcome_count=50, failed_count=50),
                        ClusterCoverage(1, 950, 0, 0.0, 950.0, outcome_count=950, failed_count=0)]
    assert failure_weights(everything_fails) == {0: FAILURE_WEIGHT}  # 0.95 at least, 19x the store's 5%: capped


def test_picks_go_first_to_a_region_that_fails_more_often_than_the_store_and_say_so():
    # cluster 1 (two traces) fails both, cluster 0 (four) none; 4 failed of 108 with an outcome in the store
    coverage = [replace(row, outcome_count=n, failed_count=failed) for row, (n, failed) in
                zip(COVERAGE, [(4, 0), (2, 2), (100, 2), (2, 0)], strict=True)]
    assert [row.cluster_id for row in coverage] == [0, 1, NOISE, 2]
    picks = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, judged(NEAREST_EVAL), coverage, budget=2,
                                 alike_similarity=THRESHOLD)
    assert [(p.trace_id, p.priority) for p in picks] == [("b0", 6.0), ("a0", 4.0)]  # 2 traces weighing 3x, then 4
    assert picks[0].reason.endswith("in cluster 1 (2 traces, 0 eval cases, 0% covered); region fails 2 of 2 with an "
                                    "outcome, against 4% across the store (its traces weigh 3.0x)")
    assert "region fails" not in picks[1].reason
    unweighted = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, judged(NEAREST_EVAL), coverage, budget=2,
                                      alike_similarity=THRESHOLD, failure_weight=1.0)
    assert [p.trace_id for p in unweighted] == ["a0", "b0"]


def test_a_covered_similarity_near_one_still_gets_its_first_round():
    picks = select_for_labelling(IDS, VECTORS, ASSIGNMENTS, judged(NEAREST_EVAL, 0.99), COVERAGE, budget=3,
                                 alike_similarity=0.99)
    assert len(picks) == 3
