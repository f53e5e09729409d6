"""The DuckDB store: one file, ordered migrations applied on connect (`migrations`), one column
spec per table (`tables`), the open store, its run lock and run bookkeeping (`connection`), and
the named queries the stages read and write it with, one module per area (`queue`, `suggestions`, `embeddings`,
`prompts`, `clusters`, `rulers`, `runs`, `traces`, `suites`, `tools`, `backup`). SQL goes here, nowhere else
(tests/test_store.py checks)."""

from harness_evals.store.connection import (
    DB_ENV_VAR,
    DEFAULT_DB,
    DUCKDB_MAGIC,
    MEMORY_ENV_VAR,
    SNAPSHOT_LIMIT,
    SQLITE_HEADER,
    LockHolder,
    RunRecord,
    Snapshot,
    Store,
    new_run_id,
    resolve_db_path,
    run_lock,
    run_lock_holder,
)
from harness_evals.store.errors import StoreBusy, StoreError
from harness_evals.store.migrations import MIGRATIONS, apply_migrations
from harness_evals.store.tables import TABLES, TableSpec

__all__ = [
    "DB_ENV_VAR", "DEFAULT_DB", "DUCKDB_MAGIC", "MEMORY_ENV_VAR", "MIGRATIONS", "SNAPSHOT_LIMIT", "SQLITE_HEADER",
    "TABLES", "LockHolder", "RunRecord", "Snapshot", "Store", "StoreBusy", "StoreError", "TableSpec",
    "apply_migrations", "new_run_id", "resolve_db_path", "run_lock", "run_lock_holder",
]
