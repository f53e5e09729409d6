"""Queries the draft checks of the labelling queue are made from (label.suggest): the traces of a
region as a mining run saw it, with the tools each called and its outcome signals, and the view
texts and answers of a few of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from harness_evals.store.connection import Store


class RegionTrace(NamedTuple):
    """A production trace of one region of one mining run."""

    run_id: str
    cluster_id: int
    trace_id: str
    tools: list[str]  # the agent's tool and subagent calls by name, each once (customer-side calls left out)
    reward: Any  # metadata.reward, metadata.success and feedback.score as JSON values (None where absent)
    success: Any
    feedback_score: Any
    probability: float  # how firmly the region holds it


def region_traces(store: Store, regions: Sequence[tuple[str, int]]) -> list[RegionTrace]:
    """Every production trace of each (run_id, cluster_id), region by region, the most firmly held first.

    A step counts as the agent's call unless it is an LLM call or the customer's own (τ²-bench's
    `requestor: user`, where the customer operates their phone)."""
    if not regions:
        return []
    rows = store.con.execute(
        """
        SELECT a.run_id, a.cluster_id, a.item_id,
               list_distinct([s->>'name' FOR s IN CAST(t.steps AS JSON[])
                              IF coalesce(s->>'type', 'tool_call') <> 'llm_call'
                                 AND coalesce(s->>'requestor', '') <> 'user']),
               t.metadata->'$.reward', t.metadata->'$.success', t.feedback->'$.score', a.probability
        FROM cluster_assignments a
        JOIN (SELECT unnest(?) AS run_id, unnest(?) AS cluster_id) r USING (run_id, cluster_id)
        JOIN traces t ON t.trace_id = a.item_id
        WHERE a.item_kind = 'production'
        ORDER BY a.run_id, a.cluster_id, a.probability DESC, a.item_id
        """,
        [[run_id for run_id, _ in regions], [cluster_id for _, cluster_id in regions]],
    ).fetchall()
    return [RegionTrace(run_id, cluster_id, trace_id, sorted(tools), *(_json(value) for value in signals), probability)
            for run_id, cluster_id, trace_id, tools, *signals, probability in rows]


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def embedding_of_run(store: Store, run_id: str) -> tuple[str, str] | None:
    """The embedder and view a mining run embedded its traces with; None: no such run."""
    row = store.one("SELECT params->>'$.embedder', params->>'$.view' FROM runs WHERE run_id = ?", [run_id])
    return None if row is None or None in row else (row[0], row[1])


def view_texts_of(store: Store, trace_ids: Sequence[str], *, view: str) -> dict[str, str]:
    """The text of `view` each of `trace_ids` was last embedded by, by trace id (those without one left out)."""
    return dict(store.con.execute(
        "SELECT trace_id, text FROM view_texts WHERE view = ? AND trace_id IN (SELECT unnest(?))",
        [view, list(trace_ids)],
    ).fetchall())


def answers_of(store: Store, trace_ids: Sequence[str]) -> dict[str, str]:
    """The final answer (output) of each of `trace_ids`, by trace id."""
    return dict(store.con.execute(
        "SELECT trace_id, output FROM traces WHERE trace_id IN (SELECT unnest(?))", [list(trace_ids)]
    ).fetchall())
