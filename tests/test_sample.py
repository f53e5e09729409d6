import numpy as np

from harness_evals.coverage import score_coverage
from harness_evals.records import Assignments
from harness_evals.sample import diverse_picks, select_for_labelling

IDS = [f"t{i}" for i in range(11)]
VECTORS = np.array(
    [[1, 0, 0], [0.99, 0.14, 0], [0.95, 0, 0.31], [0.6, 0.8, 0],  # cluster 0, t0/t1 near-duplicates
     [0, 1, 0], [0, 0.9, 0.44],                                    # cluster 1
     [0, 0, 1], [0, 0.6, 0.8],                                     # noise
     [0.7, 0.7, 0.1], [0.7, 0.1, 0.7],                             # cluster 2, covered
     [0, 0.954, 0.301]],                                           # cluster 1, between t4 and t5
    dtype=np.float32,
)
VECTORS /= np.linalg.norm(VECTORS, axis=1, keepdims=True)
LABELS = np.array([0, 0, 0, 0, 1, 1, -1, -1, 2, 2, 1])
OUTLIER = np.array([0.1, 0.1, 0.2, 0.3, 0.1, 0.2, 0.8, 0.9, 0.1, 0.1, 0.1])
SIMILARITY = np.array([0.2, 0.2, 0.3, 0.1, 0.3, 0.2, 0.2, 0.9, 0.9, 0.9, 0.25])
ASSIGNMENTS = Assignments(labels=LABELS, outlier_scores=OUTLIER, probabilities=1 - OUTLIER)
COVERAGE = score_coverage(LABELS, np.array([2]), SIMILARITY, covered_similarity=0.5)


def select(budget, exclude=()):
    return select_for_labelling(IDS, VECTORS, ASSIGNMENTS, SIMILARITY, COVERAGE, budget=budget,
                                covered_similarity=0.5, exclude=exclude)


def test_the_budget_goes_to_regions_in_proportion_to_their_gap():
    # cluster 0 (gap 4) is worth 4, 2, 1.33, 1 per pick; cluster 1 (gap 3) 3, 1.5, 1; the outlier t6 0.8 * 0.8
    assert [(p.trace_id, p.cluster_id, round(p.priority, 2)) for p in select(3)] == [
        ("t1", 0, 4.0), ("t10", 1, 3.0), ("t3", 0, 2.0)
    ]
    assert [(p.trace_id, round(p.priority, 2)) for p in select(8)] == [
        ("t1", 4.0), ("t10", 3.0), ("t3", 2.0), ("t4", 1.5), ("t2", 1.33), ("t0", 1.0), ("t5", 1.0), ("t6", 0.64)
    ]


def test_covered_traces_are_never_picked_even_with_budget_to_spare():
    assert {p.trace_id for p in select(100)} == {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t10"}


def test_excluded_traces_are_never_picked():
    assert [p.trace_id for p in select(2, exclude={"t1"})] == ["t0", "t10"]


def test_each_pick_says_why():
    reasons = {p.trace_id: p.reason for p in select(8)}
    assert reasons["t1"] == "cluster 0: 4 production traces, 0 eval cases, 0% covered; its most typical uncovered trace"
    assert reasons["t3"] == "cluster 0: 4 production traces, 0 eval cases, 0% covered; pick 2, least like the earlier picks"
    assert reasons["t6"] == "outlier in no cluster (outlier score 0.80); nearest eval case similarity 0.20"


def test_picks_within_a_region_avoid_near_duplicates():
    assert diverse_picks(VECTORS[:4], 4) == [1, 3, 2, 0]


def test_a_zero_budget_picks_nothing():
    assert select(0) == []
