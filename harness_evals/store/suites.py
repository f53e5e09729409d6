"""Queries on the versions of each emitted suite (`suite_versions`)."""

from __future__ import annotations

from harness_evals.store.connection import Store


def suite_version_of(store: Store, name: str, sha256: str) -> int | None:
    """The version the store recorded for this content (the suite file's hash) of suite `name`."""
    row = store.one("SELECT version FROM suite_versions WHERE name = ? AND sha256 = ?", [name, sha256])
    return row[0] if row else None


def suite_versions(store: Store, name: str) -> set[int]:
    """Every version the store recorded of suite `name`."""
    return {version for (version,) in
            store.con.execute("SELECT version FROM suite_versions WHERE name = ?", [name]).fetchall()}
