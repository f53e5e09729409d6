"""The DuckDB store: one file, ordered migrations applied on connect, one column spec per table,
run bookkeeping, and the queries the stages read and write it with."""

from harness_evals.store.connection import (
    DB_ENV_VAR,
    DEFAULT_DB,
    DUCKDB_MAGIC,
    MEMORY_ENV_VAR,
    MIGRATIONS,
    SNAPSHOT_LIMIT,
    SQLITE_HEADER,
    TABLES,
    LockHolder,
    RunRecord,
    Snapshot,
    Store,
    StoreBusy,
    StoreError,
    TableSpec,
    apply_migrations,
    new_run_id,
    resolve_db_path,
    run_lock,
    run_lock_holder,
)

__all__ = [
    "DB_ENV_VAR", "DEFAULT_DB", "DUCKDB_MAGIC", "MEMORY_ENV_VAR", "MIGRATIONS", "SNAPSHOT_LIMIT", "SQLITE_HEADER",
    "TABLES", "LockHolder", "RunRecord", "Snapshot", "Store", "StoreBusy", "StoreError", "TableSpec",
    "apply_migrations", "new_run_id", "resolve_db_path", "run_lock", "run_lock_holder",
]
