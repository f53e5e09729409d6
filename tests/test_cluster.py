import numpy as np

from harness_evals.cluster import cluster, reduce
from harness_evals.records import NOISE


def blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 32) * 5
    points = np.vstack([centre + rng.normal(scale=0.05, size=(20, 32)) for centre in centres])
    lone = -np.ones((1, 32))  # far from every blob
    vectors = np.vstack([points, lone])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_three_blobs_become_three_clusters_and_the_lone_point_is_scored_noise():
    result = cluster(blobs(), min_cluster_size=5)
    labels = result.labels
    assert len(set(labels[:60])) == 3
    assert [len(set(labels[i : i + 20])) for i in (0, 20, 40)] == [1, 1, 1]
    assert labels[60] == NOISE
    assert result.outlier_scores[60] == result.outlier_scores.max()
    assert result.probabilities[60] == 0.0


def test_reduce_is_seeded_and_returns_unit_vectors():
    first, second = reduce(blobs(), dimensions=8, seed=3), reduce(blobs(), dimensions=8, seed=3)
    assert first.shape == (61, 8)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)


def test_too_few_points_for_a_cluster_are_all_noise():
    result = cluster(np.eye(3), min_cluster_size=5)
    assert result.labels.tolist() == [NOISE] * 3
    assert result.outlier_scores.tolist() == [1.0] * 3


def test_clusters_survive_the_reduction():
    labels = cluster(reduce(blobs(), dimensions=8, seed=0), min_cluster_size=5).labels
    assert [len(set(labels[i : i + 20])) for i in (0, 20, 40)] == [1, 1, 1]
    assert len(set(labels[:60])) == 3


def test_beyond_the_fit_sample_the_rest_is_placed_into_the_clusters_of_the_sample():
    from harness_evals.cluster import fit_clusters

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([centre + rng.normal(scale=0.05, size=(200, 16)) for centre in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    whole, _ = fit_clusters(vectors, dimensions=4, min_cluster_size=10, seed=0)
    sampled, model = fit_clusters(vectors, dimensions=4, min_cluster_size=10, seed=0, fit_sample=150)
    assert model.fitted_count == 600 and model.stable_ids == {}
    truth = np.repeat([0, 1, 2], 200)
    for labels in (whole.labels, sampled.labels):  # every blob one cluster, told apart from the others
        assert all(len(set(labels[truth == blob]) - {-1}) == 1 for blob in range(3))
        assert len({int(labels[truth == blob][labels[truth == blob] != -1][0]) for blob in range(3)}) == 3
    assert (sampled.labels == -1).mean() < 0.05


def test_placement_runs_in_chunks_through_the_given_map_and_gives_what_one_pass_gives():
    import pickle

    from harness_evals.cluster import fit_clusters

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([centre + rng.normal(scale=0.05, size=(100, 16)) for centre in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _, model = fit_clusters(vectors[::2], dimensions=4, min_cluster_size=10, seed=0)
    model.stable_ids = {label: label + 100 for label in range(3)}
    whole = model.assign(vectors[1::2])
    chunks = []

    def elsewhere(fn, items):  # as a worker would: the function and each chunk cross a process boundary
        for item in items:
            chunks.append(len(item))
            yield pickle.loads(pickle.dumps(fn))(pickle.loads(pickle.dumps(item)))

    chunked = model.assign(vectors[1::2], map_chunks=elsewhere, chunk_size=40)
    assert chunks == [40, 40, 40, 30]
    assert set(whole.labels.tolist()) == {100, 101, 102}
    for name in ("labels", "outlier_scores", "probabilities"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
