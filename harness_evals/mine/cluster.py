"""Clustering production traces and eval cases together, behind the `Clusterer` seam.

A `Clusterer` fits clusters to vectors (points in none keep the label NOISE, as data) and returns
a `ClusterFit`, which places new vectors into those clusters without refitting and is kept
between runs as bytes of its own making. `PcaHdbscan` is the default: PCA, then HDBSCAN with its
prediction data, new points placed by `approximate_predict`. Its fit is kept as a versioned JSON
header and NumPy arrays (the PCA's, and what `approximate_predict` reads), never a pickle: a
stored fit reads back whatever moves in this package.

CLUSTERERS holds each clusterer's factory, called with the mining settings it may use as keywords:
`min_cluster_size`, `dimensions` and `seed` (a plugin's takes `**_` for those it ignores). One from
outside the package is an entry point in `harness_evals.clusterers`, or `module:function`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Protocol

import numpy as np

from harness_evals.records import NOISE, Assignments, MapChunks
from harness_evals.registry import Registry

FIT_SAMPLE = 50_000
PLACE_CHUNK = 100_000  # vectors per placement task: each carries the fitted model with it
STATE_FORMAT, STATE_VERSION = "pca-hdbscan", 1


class ClusterFit(Protocol):
    """A fitted clustering: places new points into its clusters, and keeps as bytes."""

    noise_share: float  # of the points it was fitted on, the share in no cluster: drift is measured against it

    def place(self, vectors: np.ndarray, *, map_chunks: MapChunks = map) -> Assignments:
        """New points with the fit's own labels (NOISE: in none of its clusters); nothing is refitted.
        Heavy work runs its chunks through `map_chunks` (records.MapChunks)."""
        ...

    def state(self) -> bytes:
        """What `Clusterer.restore` reads back: the fit, in a form of the clusterer's own."""
        ...


class Clusterer(Protocol):
    """Fits clusters to vectors, and reads back the fits it kept."""

    @property
    def parameters(self) -> dict[str, Any]:
        """What a fit depends on, as JSON. A run records them among its params, and a later run extends
        only a fit made under the same ones; name the clusterer in them when another may share their names."""
        ...

    @property
    def min_cluster_size(self) -> int:
        """The fewest traces that make a region: fewer new ones are no sign of drift or of an emerging region."""
        ...

    def fit(self, vectors: np.ndarray, *, map_chunks: MapChunks = map) -> tuple[Assignments, ClusterFit]:
        """Every vector's assignment, with the fit's own labels (NOISE kept), and the fit."""
        ...

    def restore(self, state: bytes) -> ClusterFit | None:
        """The fit `ClusterFit.state` wrote, or None for bytes it cannot read as its own (another
        clusterer's, another version's): the run then refits."""
        ...


def _unit(points: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return (points / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def fit_reducer(vectors: np.ndarray, *, dimensions: int, seed: int) -> Any | None:
    """A PCA to `dimensions` fitted on `vectors`, or None where there are too few to fit one.

    HDBSCAN on the raw 384 dimensions is about 20x slower and no better: density estimates
    degrade as dimensions grow.
    """
    from sklearn.decomposition import PCA

    components = min(dimensions, vectors.shape[0] - 1, vectors.shape[1])
    if components < 2:
        return None
    return PCA(n_components=components, random_state=seed).fit(vectors)


def _in_chunks(transform: Any, vectors: np.ndarray, chunk: int) -> np.ndarray:
    """`transform` applied `chunk` rows at a time: a PCA centres a float64 copy of what it is given."""
    return np.concatenate([transform(vectors[start : start + chunk]) for start in range(0, len(vectors), chunk)])


@dataclass(frozen=True)
class Projection:
    """A fitted PCA as its arrays, applied as scikit-learn's `PCA.transform` computes it (project, then
    subtract the projected mean), so a fit kept as arrays projects as it did when it was made."""

    mean: np.ndarray
    components: np.ndarray

    @classmethod
    def of(cls, reducer: Any | None) -> Projection | None:
        return None if reducer is None else cls(reducer.mean_, reducer.components_)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        projected = vectors @ self.components.T
        projected -= self.mean.reshape(1, -1) @ self.components.T
        return projected


def project(projection: Projection | None, vectors: np.ndarray, *, chunk: int = 100_000) -> np.ndarray:
    """Through the PCA, then back onto the unit sphere so Euclidean distance tracks cosine."""
    if projection is None or not len(vectors):
        return vectors
    return _in_chunks(lambda part: _unit(projection.transform(part)), vectors, chunk)


def map_coordinates(vectors: np.ndarray, *, seed: int, sample: int = FIT_SAMPLE, chunk: int = 100_000) -> np.ndarray:
    """Two PCA components: a map on which neighbours in embedding space stay near (zeros if too few).
    Fitted on a seeded sample beyond `sample` points, applied in chunks."""
    fitted = vectors if len(vectors) <= sample else vectors[
        np.sort(np.random.default_rng(seed).choice(len(vectors), size=sample, replace=False))]
    reducer = fit_reducer(fitted, dimensions=2, seed=seed)
    if reducer is None or reducer.n_components_ < 2:
        return np.zeros((len(vectors), 2))
    return _in_chunks(reducer.transform, vectors, chunk)


def reduce(vectors: np.ndarray, *, dimensions: int, seed: int) -> np.ndarray:
    return project(Projection.of(fit_reducer(vectors, dimensions=dimensions, seed=seed)), vectors)


def _all_noise(count: int) -> Assignments:
    return Assignments(labels=np.full(count, NOISE), outlier_scores=np.ones(count), probabilities=np.zeros(count))


def _hdbscan(points: np.ndarray, *, min_cluster_size: int, min_samples: int | None, prediction_data: bool):
    import hdbscan

    return hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method="leaf",  # many small regions: the long tail is what we are after
        prediction_data=prediction_data,
    ).fit(points.astype(np.float64))


def _assignments(clusterer: Any) -> Assignments:
    return Assignments(
        labels=clusterer.labels_.astype(np.int64),
        outlier_scores=np.nan_to_num(clusterer.outlier_scores_, nan=1.0),
        probabilities=clusterer.probabilities_,
    )


def cluster(points: np.ndarray, *, min_cluster_size: int, min_samples: int | None = None) -> Assignments:
    """HDBSCAN labels (noise kept as NOISE), GLOSH outlier scores and membership strengths.

    HDBSCAN itself is deterministic; randomness lives in the PCA, which takes the seed.
    """
    if points.shape[0] <= min_cluster_size:
        return _all_noise(points.shape[0])
    return _assignments(_hdbscan(points, min_cluster_size=min_cluster_size, min_samples=min_samples,
                                 prediction_data=False))


@dataclass
class PcaHdbscanFit:
    """The PCA and HDBSCAN (with its prediction data) of one fit; `clusterer` None: there were too
    few points to cluster, and everything is noise."""

    projection: Projection | None
    clusterer: Any | None
    noise_share: float

    def place(self, vectors: np.ndarray, *, map_chunks: MapChunks = map, chunk_size: int = PLACE_CHUNK) -> Assignments:
        """New points placed with HDBSCAN's own labels, `chunk_size` at a time through `map_chunks`:
        each point is placed on its own, so the chunks give the same result wherever they run."""
        if self.clusterer is None or not len(vectors):
            return _all_noise(len(vectors))
        parts = list(map_chunks(self.place_chunk, (vectors[start : start + chunk_size]
                                                   for start in range(0, len(vectors), chunk_size))))
        return Assignments(*(np.concatenate([getattr(part, name) for part in parts])
                             for name in ("labels", "outlier_scores", "probabilities")))

    def place_chunk(self, vectors: np.ndarray) -> Assignments:
        """Some points placed with HDBSCAN's own labels.

        A placed point's outlier score is 1 - its membership strength: hdbscan's own
        `approximate_predict_scores` scans the condensed tree once per point, which at a million
        points costs as much again as placing them."""
        from hdbscan import approximate_predict

        points = project(self.projection, vectors).astype(np.float64)
        labels, strengths = approximate_predict(self.clusterer, points)
        strengths = np.nan_to_num(np.asarray(strengths, dtype=np.float64), nan=0.0)
        return Assignments(np.asarray(labels, dtype=np.int64), 1.0 - strengths, strengths)

    def state(self) -> bytes:
        """A JSON header (format, version, the hdbscan that fitted it) and the arrays placement reads:
        the PCA's mean and components; HDBSCAN's fitted points, their core distances, its condensed
        tree and the maps from tree nodes to clusters and to their largest lambda."""
        arrays: dict[str, np.ndarray] = {}
        if self.projection is not None:
            arrays |= {"pca_mean": self.projection.mean, "pca_components": self.projection.components}
        if self.clusterer is not None:
            prediction = self.clusterer.prediction_data_
            arrays |= {
                "points": prediction.raw_data, "core_distances": prediction.core_distances,
                "condensed_tree": self.clusterer.condensed_tree_._raw_tree, "labels": self.clusterer.labels_,
                "cluster_map": np.array(sorted(prediction.cluster_map.items()), dtype=np.int64).reshape(-1, 2),
                "max_lambda_nodes": np.array(sorted(prediction.max_lambdas), dtype=np.int64),
                "max_lambdas": np.array([prediction.max_lambdas[node] for node in sorted(prediction.max_lambdas)],
                                        dtype=np.float64),
            }
        header = {"format": STATE_FORMAT, "version": STATE_VERSION, "hdbscan": version("hdbscan"),
                  "min_cluster_size": self.clusterer.min_cluster_size if self.clusterer is not None else None,
                  "noise_share": self.noise_share}
        buffer = io.BytesIO()
        np.savez(buffer, header=np.array(json.dumps(header)), **arrays)
        return buffer.getvalue()


@dataclass(frozen=True)
class PcaHdbscan:
    """PCA to `dimensions`, then HDBSCAN (leaf selection: many small regions; the long tail is what we
    are after). Beyond `fit_sample` points, both are fitted on a seeded sample of that many and the
    rest are placed with `approximate_predict`: HDBSCAN's cost grows faster than linearly with N, and
    a sample of tens of thousands already resolves every region dense enough to be a cluster at the
    minimum cluster size (rarer ones stay noise, as they would anyway)."""

    min_cluster_size: int
    dimensions: int
    seed: int  # for the PCA and the fit sample; HDBSCAN itself is deterministic
    fit_sample: int = FIT_SAMPLE

    @property
    def parameters(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, "min_cluster_size": self.min_cluster_size, "seed": self.seed}

    def fit(self, vectors: np.ndarray, *, map_chunks: MapChunks = map) -> tuple[Assignments, PcaHdbscanFit]:
        count = len(vectors)
        fitted = np.arange(count) if count <= self.fit_sample else np.sort(
            np.random.default_rng(self.seed).choice(count, size=self.fit_sample, replace=False))
        projection = Projection.of(fit_reducer(vectors[fitted], dimensions=self.dimensions, seed=self.seed))
        points = project(projection, vectors[fitted])
        if points.shape[0] <= self.min_cluster_size:
            return _all_noise(count), PcaHdbscanFit(projection, None, 1.0)
        clusterer = _hdbscan(points, min_cluster_size=self.min_cluster_size, min_samples=None, prediction_data=True)
        on_sample = _assignments(clusterer)
        fit = PcaHdbscanFit(projection, clusterer, float(np.mean(on_sample.labels == NOISE)))
        if len(fitted) == count:
            return on_sample, fit
        rest = np.setdiff1d(np.arange(count), fitted)
        placed = fit.place(vectors[rest], map_chunks=map_chunks)
        labels, outlier_scores, probabilities = np.empty(count, np.int64), np.empty(count), np.empty(count)
        labels[fitted], outlier_scores[fitted], probabilities[fitted] = (
            on_sample.labels, on_sample.outlier_scores, on_sample.probabilities)
        labels[rest], outlier_scores[rest], probabilities[rest] = (
            placed.labels, placed.outlier_scores, placed.probabilities)
        return Assignments(labels, outlier_scores, probabilities), fit

    def restore(self, state: bytes) -> PcaHdbscanFit | None:
        """The fit `PcaHdbscanFit.state` wrote, placing exactly as it did; None for other bytes, or for
        a fit made by another version of hdbscan, whose arrays may mean something else."""
        try:
            arrays = np.load(io.BytesIO(state), allow_pickle=False)
            header = json.loads(str(arrays["header"]))
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        if (header.get("format"), header.get("version"), header.get("hdbscan")) != (
                STATE_FORMAT, STATE_VERSION, version("hdbscan")):
            return None
        projection = Projection(arrays["pca_mean"], arrays["pca_components"]) if "pca_mean" in arrays else None
        clusterer = _hdbscan_for_placement(arrays, header["min_cluster_size"]) if "points" in arrays else None
        return PcaHdbscanFit(projection, clusterer, header["noise_share"])


ClustererFactory = Callable[..., Clusterer]
CLUSTERERS: Registry[ClustererFactory] = Registry("clusterer", "harness_evals.clusterers", {"pca-hdbscan": PcaHdbscan})


def _hdbscan_for_placement(arrays: Any, min_cluster_size: int) -> Any:
    """An HDBSCAN holding what `approximate_predict` reads, as the fit left it: the attributes
    hdbscan's `PredictionData` documents, set from the kept arrays. Its constructor would recompute
    the core distances, a nearest-neighbour query over every fitted point (seconds at 50,000); the
    search tree is rebuilt as that constructor builds it."""
    import hdbscan
    from hdbscan.prediction import PredictionData
    from sklearn.neighbors import KDTree

    clusterer = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=None,
                                cluster_selection_method="leaf", prediction_data=True)
    tree = arrays["condensed_tree"]
    clusterer.labels_ = arrays["labels"]
    clusterer.condensed_tree_ = tree
    prediction = PredictionData.__new__(PredictionData)
    prediction.raw_data = arrays["points"]
    prediction.tree = KDTree(prediction.raw_data, metric="euclidean")
    prediction.core_distances = arrays["core_distances"]
    prediction.cluster_tree = tree[tree["child_size"] > 1]
    prediction.cluster_map = {int(node): int(label) for node, label in arrays["cluster_map"].tolist()}
    prediction.max_lambdas = dict(zip(arrays["max_lambda_nodes"].tolist(), arrays["max_lambdas"].tolist(),
                                      strict=True))
    clusterer.prediction_data_ = prediction
    return clusterer
