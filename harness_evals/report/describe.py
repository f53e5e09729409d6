"""What each region of a mining run is about: keywords, representative traces, tools, coverage.

Keywords are class-based TF-IDF (BERTopic's c-TF-IDF, on scikit-learn's CountVectorizer): a
term scores high in a cluster when it is frequent there and rare across clusters. The
representatives are the traces HDBSCAN holds most firmly in the cluster. Text is redacted: a
description is made to be shown. A `Namer` (say, an LLM) may turn keywords and examples into a
name; none is used unless given, so nothing needs a network.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness_evals.records import NOISE
from harness_evals.redact import Redactor
from harness_evals.store import Store
from harness_evals.store.clusters import clustered_requests, coverage_by_cluster

Namer = Callable[[list[str], list[str]], str]  # (keywords, example requests) -> a short name

# What every support conversation says, whatever it is about: words that would top every cluster.
CHAT_FILLER = {"hi", "hello", "hey", "thanks", "thank", "please", "need", "want", "like", "help", "just", "know",
               "got", "get", "ve", "ll", "d", "m", "s", "t", "does", "did", "make", "sure", "able", "today", "hoping",
               "wondering", "possible", "assist", "okay", "ok", "yes", "sorry"}


@dataclass(frozen=True)
class ClusterDescription:
    cluster_id: int
    name: str
    keywords: list[str]
    examples: list[str]  # the most representative requests, redacted
    size: int
    eval_count: int
    coverage: float
    gap: float
    flagged: int
    emerging: bool
    top_tools: list[str]
    error_share: float  # of its traces with a failed step
    outcome_count: int = 0  # traces with a reward, success flag or feedback score (0: a run before they were counted)
    failed_count: int = 0  # of those, the failed

    @property
    def failure_rate(self) -> float | None:
        """Failed traces among those with an outcome; None when none has one."""
        return self.failed_count / self.outcome_count if self.outcome_count else None


def keywords_by_cluster(documents: dict[int, str], *, top: int = 5) -> dict[int, list[str]]:
    """c-TF-IDF over one document per cluster (its requests joined)."""
    from sklearn.feature_extraction.text import CountVectorizer

    ids = sorted(documents)
    try:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        vectorizer = CountVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | CHAT_FILLER), ngram_range=(1, 2),
                                     token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z-]+\b")
        counts = vectorizer.fit_transform([documents[i] for i in ids]).toarray().astype(float)
    except ValueError:  # nothing but stop words and placeholders
        return {i: [] for i in ids}
    frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(ids)
    scores = frequency * np.log(1 + average_words / np.maximum(counts.sum(axis=0), 1.0))
    terms = vectorizer.get_feature_names_out()
    return {i: [terms[j] for j in np.argsort(-scores[row], kind="stable")[:top] if scores[row, j] > 0]
            for row, i in enumerate(ids)}


def describe_clusters(store: Store, run_id: str, *, redactor: Redactor | None = None, namer: Namer | None = None,
                      examples: int = 3) -> list[ClusterDescription]:
    """Every cluster of a mining run, noise included (NOISE: the traces in no cluster), largest gap first,
    with its coverage and outcomes as the run counted them."""
    redactor = redactor or Redactor()
    requests: dict[int, list[str]] = {}
    tools: dict[int, Counter[str]] = {}
    errors: Counter[int] = Counter()
    for cluster_id, request, steps in clustered_requests(store, run_id):
        requests.setdefault(cluster_id, []).append(redactor.redact(request))
        parsed = json.loads(steps or "[]")
        tools.setdefault(cluster_id, Counter()).update(s.get("name") for s in parsed if s.get("type") != "llm_call")
        errors[cluster_id] += any(s.get("error") for s in parsed)
    keywords = keywords_by_cluster({c: "\n".join(texts) for c, texts in requests.items()})
    coverage = {row[0]: row[1:] for row in coverage_by_cluster(store, run_id)}
    descriptions = []
    for cluster_id, texts in requests.items():
        size, eval_count, covered, gap, flagged, emerging, with_outcome, failed = coverage.get(
            cluster_id, (len(texts), 0, 0.0, 0.0, 0, False, 0, 0))
        chosen = list(dict.fromkeys(texts))[:examples]  # the most firmly held, repeats once
        words = keywords.get(cluster_id, [])
        if namer is not None:
            name = namer(words, chosen)
        else:
            name = ("in no cluster: " if cluster_id == NOISE else "") + (", ".join(words[:3]) or "(no keywords)")
        descriptions.append(ClusterDescription(
            cluster_id=cluster_id, name=name, keywords=words, examples=chosen, size=size, eval_count=eval_count,
            coverage=covered, gap=gap, flagged=flagged, emerging=bool(emerging),
            top_tools=[name for name, _ in tools[cluster_id].most_common(3) if name],
            error_share=errors[cluster_id] / len(texts), outcome_count=with_outcome or 0, failed_count=failed or 0,
        ))
    return sorted(descriptions, key=lambda d: (-d.gap, d.cluster_id))
