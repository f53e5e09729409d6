from importlib.metadata import version

import numpy as np

from harness_evals.mine.cluster import PcaHdbscan, cluster, reduce
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


def test_a_kept_projection_projects_bit_for_bit_as_the_fitted_pca_does():
    from harness_evals.mine.cluster import Projection, fit_reducer

    vectors = blobs().astype(np.float32)  # as vectors are stored
    pca = fit_reducer(vectors, dimensions=8, seed=0)
    np.testing.assert_array_equal(Projection.of(pca).transform(vectors), pca.transform(vectors))


def test_too_few_points_for_a_cluster_are_all_noise():
    result = cluster(np.eye(3), min_cluster_size=5)
    assert result.labels.tolist() == [NOISE] * 3
    assert result.outlier_scores.tolist() == [1.0] * 3


def test_clusters_survive_the_reduction():
    labels = cluster(reduce(blobs(), dimensions=8, seed=0), min_cluster_size=5).labels
    assert [len(set(labels[i : i + 20])) for i in (0, 20, 40)] == [1, 1, 1]
    assert len(set(labels[:60])) == 3


def test_beyond_the_fit_sample_the_rest_is_placed_into_the_clusters_of_the_sample():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([centre + rng.normal(scale=0.05, size=(200, 16)) for centre in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    whole, _ = PcaHdbscan(min_cluster_size=10, dimensions=4, seed=0).fit(vectors)
    sampled, fit = PcaHdbscan(min_cluster_size=10, dimensions=4, seed=0, fit_sample=150).fit(vectors)
    assert fit.noise_share < 0.05  # of the 150 fitted
    truth = np.repeat([0, 1, 2], 200)
    for labels in (whole.labels, sampled.labels):  # every blob one cluster, told apart from the others
        assert all(len(set(labels[truth == blob]) - {-1}) == 1 for blob in range(3))
        assert len({int(labels[truth == blob][labels[truth == blob] != -1][0]) for blob in range(3)}) == 3
    assert (sampled.labels == -1).mean() < 0.05


def three_blobs(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([centre + rng.normal(scale=0.05, size=(100, 16)) for centre in centres])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_placement_runs_in_chunks_through_the_given_map_and_gives_what_one_pass_gives():
    import pickle

    vectors = three_blobs(1)
    _, fit = PcaHdbscan(min_cluster_size=10, dimensions=4, seed=0).fit(vectors[::2])
    whole = fit.place(vectors[1::2])
    chunks = []

    def elsewhere(fn, items):  # as a worker would: the function and each chunk cross a process boundary
        for item in items:
            chunks.append(len(item))
            yield pickle.loads(pickle.dumps(fn))(pickle.loads(pickle.dumps(item)))

    chunked = fit.place(vectors[1::2], map_chunks=elsewhere, chunk_size=40)
    assert chunks == [40, 40, 40, 30]
    assert set(whole.labels.tolist()) == {0, 1, 2}
    for name in ("labels", "outlier_scores", "probabilities"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))


def test_a_kept_fit_is_a_json_header_and_arrays_and_places_exactly_as_the_fit_did():
    import io
    import json

    rng = np.random.default_rng(2)
    scattered = rng.normal(size=(60, 16))  # requests alike to nothing: some of them land in no cluster
    vectors = np.concatenate([three_blobs(2), scattered / np.linalg.norm(scattered, axis=1, keepdims=True)])
    clusterer = PcaHdbscan(min_cluster_size=10, dimensions=4, seed=0)
    _, fit = clusterer.fit(vectors[::2])
    stored = np.load(io.BytesIO(fit.state()), allow_pickle=False)  # no pickle inside: nothing runs on load
    header = json.loads(str(stored["header"]))
    assert (header["format"], header["version"], header["hdbscan"]) == ("pca-hdbscan", 1, version("hdbscan"))
    restored = clusterer.restore(fit.state())
    placed, again = fit.place(vectors[1::2]), restored.place(vectors[1::2])
    for name in ("labels", "outlier_scores", "probabilities"):
        np.testing.assert_array_equal(getattr(again, name), getattr(placed, name))
    assert NOISE in placed.labels and len(set(placed.labels.tolist())) > 3
    assert restored.noise_share == fit.noise_share


def test_a_fit_of_too_few_points_keeps_and_places_everything_as_noise():
    clusterer = PcaHdbscan(min_cluster_size=5, dimensions=4, seed=0)
    assignments, fit = clusterer.fit(np.eye(3, 8))
    restored = clusterer.restore(fit.state())
    assert assignments.labels.tolist() == restored.place(np.eye(2, 8)).labels.tolist()[:2] + [NOISE] == [NOISE] * 3
    assert restored.noise_share == 1.0


def test_bytes_it_did_not_write_and_a_fit_by_another_hdbscan_are_not_read_back():
    import io
    import json
    import pickle

    clusterer = PcaHdbscan(min_cluster_size=10, dimensions=4, seed=0)
    _, fit = clusterer.fit(three_blobs(3))
    stored = dict(np.load(io.BytesIO(fit.state()), allow_pickle=False))
    header = json.loads(str(stored["header"]))
    buffer = io.BytesIO()
    np.savez(buffer, **{**stored, "header": np.array(json.dumps({**header, "hdbscan": "0.8.1"}))})
    assert clusterer.restore(buffer.getvalue()) is None  # its arrays may mean something else: refit
    assert clusterer.restore(pickle.dumps({"a": "pickled ClusterModel"})) is None
    assert clusterer.restore(b"") is None
