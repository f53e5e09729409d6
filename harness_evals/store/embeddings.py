"""Queries on what mining caches per trace: the view texts it embeds (`view_texts`, keyed by view
and the redaction settings), the vectors (`embeddings`, keyed by content hash, model and view) and
the agent's calls by name (`trace_tools`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

from harness_evals.store.connection import Store


def embedded_hashes(store: Store, *, model: str, view: str) -> set[str]:
    """The content hashes that have a cached `model` vector of `view`."""
    return {
        row[0]
        for row in store.con.execute(
            "SELECT content_hash FROM embeddings WHERE model = ? AND view = ?", [model, view]
        ).fetchall()
    }


def vectors_in_order(store: Store, hashes: Sequence[str], *, model: str, view: str) -> pa.Table:
    """The cached vectors of `hashes` as Arrow (`position` in `hashes`, `vector`), in their order;
    a hash without a vector has no row. Joined in DuckDB and fetched as Arrow, which becomes one
    NumPy array without a Python object per vector."""
    wanted = pa.table({"content_hash": hashes, "position": pa.array(range(len(hashes)), pa.int64())})
    store.con.register("_wanted_vectors", wanted)
    try:
        return store.con.sql(
            """
            SELECT w.position, e.vector FROM _wanted_vectors w
            JOIN embeddings e ON e.content_hash = w.content_hash AND e.model = ? AND e.view = ?
            ORDER BY w.position
            """,
            params=[model, view],
        ).to_arrow_table()
    finally:
        store.con.unregister("_wanted_vectors")


def kept_view_texts(store: Store, *, view: str, settings_key: str) -> dict[str, str]:
    """trace_id -> the view text an earlier run kept for it under these settings."""
    return dict(store.con.execute("SELECT trace_id, text FROM view_texts WHERE view = ? AND settings_key = ?",
                                  [view, settings_key]).fetchall())


def forget_view_texts_but(store: Store, *, view: str, settings_key: str) -> None:
    """Drop this view's texts kept under other settings: no run reads them again."""
    store.con.execute("DELETE FROM view_texts WHERE view = ? AND settings_key <> ?", [view, settings_key])


def traces_with_kept_tools(store: Store) -> set[str]:
    """The traces whose calls an earlier run kept."""
    return {row[0] for row in store.con.execute("SELECT trace_id FROM trace_tools").fetchall()}


def kept_tools(store: Store, trace_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The agent's calls by name an earlier run kept for each of `trace_ids`, by trace id."""
    return {trace_id: tuple(json.loads(tools)) for trace_id, tools in store.con.execute(
        "SELECT trace_id, tools FROM trace_tools WHERE trace_id IN (SELECT unnest(?))", [list(trace_ids)]
    ).fetchall()}
