import numpy as np

from harness_evals.coverage import calibrate_covered_similarity, nearest_eval_similarity, score_coverage
from harness_evals.records import ClusterCoverage


def test_nearest_eval_similarity_is_the_best_cosine():
    production = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    evals = np.array([[1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
    np.testing.assert_allclose(nearest_eval_similarity(production, evals, chunk=2), [1.0, 0.6, 0.96], rtol=1e-6)


def test_without_an_eval_set_nothing_is_near():
    assert nearest_eval_similarity(np.ones((2, 3)), np.zeros((0, 3))).tolist() == [-1.0, -1.0]


def test_coverage_per_cluster_counts_covered_traces_and_sorts_by_gap():
    production_labels = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    eval_labels = np.array([0, 2])
    similarity = np.array([0.9, 0.8, 0.2, 0.1, 0.3, 0.2, 0.95, 0.1])
    rows = score_coverage(production_labels, eval_labels, similarity, covered_similarity=0.5)
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
