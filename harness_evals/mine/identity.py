"""Stable cluster identity across runs, and the lineage of each cluster.

HDBSCAN numbers its clusters afresh on every fit. To follow a region of traffic night after
night, each fitted cluster is matched to the previous run's clusters by shared members: the
previous cluster holding most of its known members (at least `min_overlap` of them) is its
parent, and the largest child of a parent inherits the parent's id; other children are splits
with new ids. A cluster with no parent by members (its traffic is all new) may still inherit
the id of a parentless previous cluster whose centroid it sits on (cosine >= `same_centroid`).
A previous cluster no one inherits is gone, merged into the cluster that took most of its
members, if any. Noise (-1) is never matched: it is not a region.

A region is *emerging* when traffic new since the last run makes up a third of it or more (it is
new, or grew by half again) and at least `min_fresh` traces, while the eval set covers less than
half of it: that is where tomorrow's failures come from. Counting new traffic, not the cluster's
size, keeps a region that a refit merely carved out of old noise from passing for an emerging one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import dataclass

import numpy as np

from harness_evals.records import NOISE

GROWTH = 1.2  # size ratio at which a matched cluster grew (or, inverted, shrank)
EMERGING_SHARE = 1 / 3  # of a region's traces new since the last run: it is new or grew by half again


@dataclass(frozen=True)
class Lineage:
    cluster_id: int  # the stable id
    event: str  # new | grew | shrank | steady | split | merged | gone
    source_cluster_id: int | None  # split: the parent; merged: a cluster absorbed; gone: where it went
    size: int
    previous_size: int


def match_clusters(
    previous: Mapping[int, Set[str]],
    previous_centroids: Mapping[int, np.ndarray],
    current: Mapping[int, Set[str]],
    current_centroids: Mapping[int, np.ndarray],
    *,
    next_id: int,
    min_overlap: float = 0.5,
    same_centroid: float = 0.9,
) -> tuple[dict[int, int], list[Lineage]]:
    """(current label -> stable id, lineage rows). Labels and ids exclude NOISE; `next_id` is the
    first id never used before. Deterministic: ties break on the smaller id."""
    known = set().union(*previous.values()) if previous else set()
    owner = {member: cluster_id for cluster_id, members in previous.items() for member in members}
    parent: dict[int, tuple[int, int]] = {}  # current label -> (previous id, shared members)
    for label in sorted(current):
        shared = Counter(owner[m] for m in current[label] if m in owner)
        carried = len(current[label] & known)
        if shared:
            best, count = min(shared.items(), key=lambda item: (-item[1], item[0]))
            if count >= min_overlap * carried:
                parent[label] = (best, count)

    stable: dict[int, int] = {}
    events: dict[int, tuple[str, int | None]] = {}
    for label, (previous_id, _) in sorted(parent.items(), key=lambda item: (-item[1][1], item[0])):
        if previous_id not in stable.values():
            stable[label] = previous_id
        else:
            stable[label], next_id = next_id, next_id + 1
            events[label] = ("split", previous_id)

    heirless = sorted(set(previous) - set(stable.values()))
    for label in sorted(set(current) - set(stable)):
        candidates = [(float(current_centroids[label] @ previous_centroids[p]), p) for p in heirless
                      if p in previous_centroids and p not in stable.values()]
        similarity, previous_id = max(candidates, key=lambda c: (c[0], -c[1]), default=(0.0, None))
        if previous_id is not None and similarity >= same_centroid:
            stable[label] = previous_id
        else:
            stable[label], next_id = next_id, next_id + 1
            events[label] = ("new", None)

    lineage = []
    absorbed: dict[int, list[int]] = {}
    inherited = set(stable.values())
    for previous_id in sorted(set(previous) - inherited):
        takers = Counter(stable[label] for label, members in current.items() for _ in previous[previous_id] & members)
        taker = min(takers.items(), key=lambda item: (-item[1], item[0]))[0] if takers else None
        if taker is not None:
            absorbed.setdefault(taker, []).append(previous_id)
        lineage.append(Lineage(previous_id, "gone", taker, 0, len(previous[previous_id])))
    for label in sorted(current, key=lambda label: stable[label]):
        cluster_id, size = stable[label], len(current[label])
        event, source = events.get(label, (None, None))
        previous_size = len(previous.get(cluster_id, ())) if event is None else 0
        if event is None:
            if absorbed.get(cluster_id):
                event, source = "merged", absorbed[cluster_id][0]
            elif size >= previous_size * GROWTH and size > previous_size:
                event = "grew"
            elif size * GROWTH <= previous_size and size < previous_size:
                event = "shrank"
            else:
                event = "steady"
        lineage.append(Lineage(cluster_id, event, source, size, previous_size))
    return stable, sorted(lineage, key=lambda row: (row.cluster_id, row.event))


def is_emerging(size: int, fresh: int, coverage: float, *, min_fresh: int, has_history: bool) -> bool:
    """`fresh` of its `size` traces are new since the last run; never on a store's first run."""
    return has_history and coverage < 0.5 and fresh >= min_fresh and fresh >= EMERGING_SHARE * size


def relabel(labels: np.ndarray, stable: Mapping[int, int]) -> np.ndarray:
    """HDBSCAN labels as stable ids; noise stays NOISE."""
    return np.array([NOISE if label == NOISE else stable[int(label)] for label in labels], dtype=np.int64)
