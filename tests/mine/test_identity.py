import numpy as np

from harness_evals.mine.identity import Lineage, is_emerging, match_clusters, relabel


def members(prefix: str, count: int, start: int = 0) -> set[str]:
    return {f"{prefix}{n}" for n in range(start, start + count)}


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=float)
    return vector / np.linalg.norm(vector)


NO_CENTROIDS: dict = {}


def test_unchanged_clusters_keep_their_ids_whatever_hdbscan_calls_them():
    previous = {4: members("a", 10), 7: members("b", 10)}
    current = {0: members("b", 10), 1: members("a", 10)}
    stable, lineage = match_clusters(previous, NO_CENTROIDS, current, NO_CENTROIDS, next_id=8)
    assert stable == {0: 7, 1: 4}
    assert lineage == [Lineage(4, "steady", None, 10, 10), Lineage(7, "steady", None, 10, 10)]


def test_growth_shrinkage_split_merge_and_gone_are_told_apart():
    previous = {0: members("a", 10), 1: members("b", 10), 2: members("c", 6), 3: members("d", 6), 4: members("e", 5)}
    current = {
        0: members("a", 10) | members("new", 10),  # a grew
        1: members("b", 7),                        # b shrank (3 fell to noise)
        2: members("c", 4),                        # c split in two...
        3: members("c", 2, start=4),
        4: members("d", 6) | members("e", 5),      # d and e merged
    }
    stable, lineage = match_clusters(previous, NO_CENTROIDS, current, NO_CENTROIDS, next_id=5)
    assert stable == {0: 0, 1: 1, 2: 2, 3: 5, 4: 3}
    assert lineage == [
        Lineage(0, "grew", None, 20, 10), Lineage(1, "shrank", None, 7, 10), Lineage(2, "shrank", None, 4, 6),
        Lineage(3, "merged", 4, 11, 6), Lineage(4, "gone", 3, 0, 5), Lineage(5, "split", 2, 2, 0),
    ]


def test_all_new_traffic_is_a_new_cluster_unless_it_sits_on_a_vanished_ones_centroid():
    previous = {0: members("a", 5), 1: members("b", 5)}
    current = {0: members("a", 5), 1: members("x", 5), 2: members("y", 5)}
    centroids_before = {0: unit(1, 0, 0), 1: unit(0, 1, 0)}
    centroids_now = {0: unit(1, 0, 0), 1: unit(0, 0, 1), 2: unit(0.05, 1, 0)}
    stable, lineage = match_clusters(previous, centroids_before, current, centroids_now, next_id=2)
    assert stable == {0: 0, 1: 2, 2: 1}
    assert [(row.cluster_id, row.event) for row in lineage] == [(0, "steady"), (1, "steady"), (2, "new")]


def test_the_first_run_numbers_clusters_in_order_and_nothing_is_emerging():
    stable, lineage = match_clusters({}, NO_CENTROIDS, {0: members("a", 3), 1: members("b", 3)}, NO_CENTROIDS,
                                     next_id=0)
    assert stable == {0: 0, 1: 1}
    assert not any(is_emerging(row.size, row.size, 0.0, min_fresh=1, has_history=False) for row in lineage)


def test_emerging_means_mostly_new_traffic_enough_of_it_and_mostly_uncovered():
    assert is_emerging(12, 12, 0.1, min_fresh=5, has_history=True)  # a new region
    assert not is_emerging(12, 12, 0.6, min_fresh=5, has_history=True)  # covered
    assert is_emerging(15, 5, 0.0, min_fresh=5, has_history=True)  # grew by half again
    assert not is_emerging(16, 5, 0.0, min_fresh=5, has_history=True)  # grew by less
    assert not is_emerging(12, 4, 0.0, min_fresh=5, has_history=True)  # carved out of old noise by a refit


def test_relabel_keeps_noise():
    assert relabel(np.array([0, -1, 1]), {0: 5, 1: 3}).tolist() == [5, -1, 3]
