"""Queries on the stored prompt assemblies (`prompt_assemblies`) and which one each trace was
given, in which release (`trace_prompts`). Blocks are JSON text: [{kind, name, text}]."""

from __future__ import annotations

from typing import Any

from harness_evals.store.connection import Store


def assembly_traffic(store: Store) -> list[tuple[Any, ...]]:
    """(assembly_hash, blocks, traces, releases, first seen, last seen) of each assembly, the most
    traced first; the releases sorted (None when no trace names one), the times to the minute."""
    return store.con.execute(
        """SELECT p.assembly_hash, a.blocks, count(*) AS traces,
                  list(DISTINCT p.release ORDER BY p.release) FILTER (WHERE p.release IS NOT NULL),
                  strftime(min(t.timestamp), '%Y-%m-%d %H:%M'), strftime(max(t.timestamp), '%Y-%m-%d %H:%M')
           FROM trace_prompts p JOIN prompt_assemblies a USING (assembly_hash) JOIN traces t USING (trace_id)
           GROUP BY ALL ORDER BY traces DESC, p.assembly_hash"""
    ).fetchall()


def release_assemblies(store: Store, release: str) -> list[tuple[str, str, int]]:
    """(assembly_hash, blocks, traces) of each assembly given in `release`."""
    return store.con.execute(
        """SELECT p.assembly_hash, a.blocks, count(*) FROM trace_prompts p JOIN prompt_assemblies a USING (assembly_hash)
           WHERE p.release = ? GROUP BY ALL""",
        [release],
    ).fetchall()


def traced_releases(store: Store) -> list[str]:
    """Every release a traced prompt names, sorted."""
    return [row[0] for row in store.con.execute(
        "SELECT DISTINCT release FROM trace_prompts WHERE release IS NOT NULL ORDER BY 1").fetchall()]


def traces_given(store: Store, assembly_hash: str, release: str) -> list[str]:
    """The traces of `release` that were given the assembly `assembly_hash`."""
    return [trace_id for (trace_id,) in store.con.execute(
        "SELECT trace_id FROM trace_prompts WHERE assembly_hash = ? AND release = ?", [assembly_hash, release]
    ).fetchall()]


def assembly_blocks(store: Store) -> list[tuple[str, str]]:
    """(assembly_hash, blocks) of every stored assembly."""
    return store.con.execute("SELECT assembly_hash, blocks FROM prompt_assemblies").fetchall()


def traced_assemblies(store: Store, *, with_steps: bool) -> list[tuple[str, str, str | None, str | None]]:
    """(trace_id, assembly_hash, release, steps as JSON text, or None unless `with_steps`) of each
    trace given a prompt, by trace id."""
    query = ("""SELECT p.trace_id, p.assembly_hash, p.release, t.steps FROM trace_prompts p JOIN traces t USING (trace_id)
                ORDER BY p.trace_id""" if with_steps else
             "SELECT trace_id, assembly_hash, release, NULL FROM trace_prompts ORDER BY trace_id")
    return store.con.execute(query).fetchall()
