"""Parts a team writes in its own code, outside harness_evals, and names as module:function."""

import csv
import json
from dataclasses import dataclass

import numpy as np

from harness_evals.records import Assignments, Calibration, CoverageVerdicts


def answer_in_capitals(trace, sig, settings):
    """A detector: an answer written in capitals reads as shouting at the customer."""
    letters = [character for character in trace.output if character.isalpha()]
    if len(letters) >= 8 and all(character.isupper() for character in letters):
        return f"the answer is in capitals ({len(letters)} letters)"
    return None


def write_tsv(items, handle):
    """A queue format: tab-separated, the columns a spreadsheet team labels in."""
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    writer.writerow(["trace_id", "input", "expected"])
    writer.writerows([item["trace_id"], item["input"], ""] for item in items)


def to_markdown(cases):
    """A suite format: a table to paste into a review."""
    rows = [f"| {case.id} | {case.input} | {json.dumps(case.metadata, sort_keys=True)} |" for case in cases]
    return "\n".join(["| id | input | metadata |", "|---|---|---|", *rows]) + "\n"


class OneRegionFit:
    noise_share = 0.0

    def place(self, vectors, *, map_chunks=map):
        count = len(vectors)
        return Assignments(np.zeros(count, dtype=np.int64), np.zeros(count), np.ones(count))

    def state(self):
        return b"one-region v1"


@dataclass(frozen=True)
class OneRegion:
    """A clusterer: a team that reads its traffic as one region (it sorts the queue by coverage alone)."""

    min_cluster_size: int

    @property
    def parameters(self):
        return {"clusterer": "one-region", "min_cluster_size": self.min_cluster_size}

    def fit(self, vectors, *, map_chunks=map):
        fit = OneRegionFit()
        return fit.place(vectors), fit

    def restore(self, state):
        return OneRegionFit() if state == b"one-region v1" else None


def one_region(*, min_cluster_size, **_):
    return OneRegion(min_cluster_size)


@dataclass(frozen=True)
class WordForWord:
    """A coverage judge: an eval case covers a trace whose request holds the case's request word for word."""

    parameters = {"judge": "word-for-word"}

    def calibrate(self, traces, evals):
        return Calibration({}, "word for word")

    def judge(self, traces, evals, calibration):
        covering = [next((case for case, text in zip(evals.ids, evals.texts) if text.lower() in trace.lower()), None)
                    for trace in traces.texts]
        covered = np.array([case is not None for case in covering], dtype=bool)
        return CoverageVerdicts(covered, covering, covered.astype(np.float64))


def word_for_word(*, covered_similarity, **_):
    return WordForWord()
