"""The stored prompt assemblies: listed with their traffic, compared across releases, checked
against a contract, and written as files to commit and review."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_evals.errors import UserError
from harness_evals.files import write_atomically
from harness_evals.prompts.assembly import (
    AssemblyChange,
    PromptAssembly,
    PromptBlock,
    PromptContract,
    changed_blocks,
    closest,
    diff_releases,
    violations,
)
from harness_evals.store import Store
from harness_evals.store.clusters import production_clusters
from harness_evals.store.prompts import (
    assembly_blocks,
    assembly_traffic,
    release_assemblies,
    traced_assemblies,
    traced_releases,
    traces_given,
)


@dataclass(frozen=True)
class AssemblyStats:
    digest: str
    assembly: PromptAssembly
    traces: int
    share: float  # of all traces with an assembly
    releases: list[str]
    first_seen: str | None
    last_seen: str | None


@dataclass(frozen=True)
class Violation:
    trace_id: str
    release: str | None
    digest: str
    cluster_id: int | None  # in the latest mining run
    problem: str


def _assembly(blocks_json: str) -> PromptAssembly:
    return PromptAssembly(blocks=[PromptBlock(**block) for block in json.loads(blocks_json)])


def list_assemblies(store: Store) -> list[AssemblyStats]:
    rows = assembly_traffic(store)
    total = sum(row[2] for row in rows)
    return [AssemblyStats(digest, _assembly(blocks), traces, traces / total, releases or [], first, last)
            for digest, blocks, traces, releases, first, last in rows]


def _assemblies_of(store: Store, release: str) -> dict[str, tuple[PromptAssembly, float]]:
    """Digest -> (assembly, share of the release's traced traffic) of each assembly given in `release`."""
    rows = release_assemblies(store, release)
    total = sum(count for _, _, count in rows)
    return {digest: (_assembly(blocks), count / total) for digest, blocks, count in rows}


def _release_assemblies(store: Store, release: str) -> dict[str, tuple[PromptAssembly, float]]:
    assemblies = _assemblies_of(store, release)
    if not assemblies:
        known = traced_releases(store)
        raise UserError(f"no traced prompt in release {release!r}; releases in the store: {', '.join(known) or 'none'}")
    return assemblies


def block_changes(store: Store, *, before: str, after: str) -> dict[str, list[str]]:
    """The assemblies given in `after` and in no trace of `before`, by digest, each with what it
    changes (`changed_blocks`) from the assembly of `before` it replaces (`diff_releases`), or, one
    that appeared beside the old ones (a partial rollout), from the closest of them. Empty when
    `after` traced no prompt."""
    old, new = _assemblies_of(store, before), _assemblies_of(store, after)
    earlier = {digest: assembly for digest, (assembly, _) in old.items()}
    found = {}
    for change in diff_releases(old, new):
        if change.after is not None:
            base = change.before or closest(new[change.after][0], earlier)
            found[change.after] = changed_blocks(earlier[base] if base else None, new[change.after][0])
    return found


def _latest_clusters(store: Store) -> dict[str, int]:
    run_id = store.latest_run_id("mine")
    if run_id is None:
        return {}
    return production_clusters(store, run_id)


def diff(store: Store, *, before: str, after: str) -> list[tuple[AssemblyChange, Counter[int]]]:
    """Each change between two releases, with the clusters (latest mining run) of the `after`
    release's traces that were given the new or changed assembly."""
    changes = diff_releases(_release_assemblies(store, before), _release_assemblies(store, after))
    clusters = _latest_clusters(store)
    result = []
    for change in changes:
        affected: Counter[int] = Counter()
        if change.after is not None:
            for trace_id in traces_given(store, change.after, after):
                if trace_id in clusters:
                    affected[clusters[trace_id]] += 1
        result.append((change, affected))
    return result


def check(store: Store, contract: PromptContract, *, steps: Mapping[str, list[dict[str, Any]]] | None = None
          ) -> list[Violation]:
    """Every trace whose assembly breaks the contract, with what it breaks. `steps`: each trace's
    steps already parsed (mining holds them), instead of reading and parsing them again."""
    clusters = _latest_clusters(store)
    assemblies = {digest: _assembly(blocks) for digest, blocks in assembly_blocks(store)}
    found = []
    for trace_id, digest, release, stored_steps in traced_assemblies(store, with_steps=steps is None):
        trace_steps = steps.get(trace_id, []) if steps is not None else json.loads(stored_steps or "[]")
        called = [s.get("name") for s in trace_steps if s.get("type") == "tool_call"]
        found += [Violation(trace_id, release, digest, clusters.get(trace_id), problem)
                  for problem in violations(assemblies[digest], called, contract)]
    return found


def write_snapshots(store: Store, out_dir: str | Path) -> list[Path]:
    """One file per assembly (`<first 12 of its hash>.txt`) and an `index.json` of traffic and
    releases, written so that a re-run without new traffic changes no byte. Files of assemblies
    no longer traced are removed: the folder mirrors the store."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = list_assemblies(store)
    written, index = [], []
    for item in stats:
        path = out_dir / f"{item.digest[:12]}.txt"
        _write_if_changed(path, item.assembly.text())
        written.append(path)
        index.append({"file": path.name, "sha256": item.digest, "traces": item.traces, "releases": item.releases,
                      "first_seen": item.first_seen, "last_seen": item.last_seen,
                      "blocks": item.assembly.names})
    for stale in set(out_dir.glob("*.txt")) - set(written):
        stale.unlink()
    _write_if_changed(out_dir / "index.json", json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    return written


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomically(path, text)
