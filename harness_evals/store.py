"""The DuckDB store: one file, ordered migrations applied on connect, run bookkeeping.

Every derived row carries the `run_id` of the run that made it. Writes of a stage happen inside
`Store.transaction()`, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from harness_evals.errors import UserError

DEFAULT_DB = Path("data/harness.duckdb")
DB_ENV_VAR = "HARNESS_EVALS_DB"
MEMORY_ENV_VAR = "HARNESS_EVALS_DUCKDB_MEMORY"  # e.g. 2GB: DuckDB's own cache, which by default may take 80% of RAM


def _initial_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,            -- ingest | mine | label | emit
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status VARCHAR NOT NULL,          -- running | succeeded | failed | interrupted (its process died)
            params JSON,
            summary JSON
        );
        CREATE TABLE traces (
            trace_id VARCHAR PRIMARY KEY,
            content_hash VARCHAR NOT NULL,
            timestamp TIMESTAMPTZ,
            input VARCHAR NOT NULL,
            output VARCHAR NOT NULL,
            steps JSON NOT NULL,
            messages JSON,
            metadata JSON NOT NULL,
            feedback JSON,
            source VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE eval_cases (
            case_id VARCHAR PRIMARY KEY,
            content_hash VARCHAR NOT NULL,
            input VARCHAR NOT NULL,
            expected JSON,
            metadata JSON NOT NULL,
            source VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE quarantine (
            source VARCHAR NOT NULL,
            line INTEGER NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE embeddings (
            content_hash VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            view VARCHAR NOT NULL,
            vector FLOAT[] NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (content_hash, model, view)
        );
        CREATE TABLE cluster_assignments (
            run_id VARCHAR NOT NULL,
            item_kind VARCHAR NOT NULL,       -- production | eval
            item_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,      -- -1 is HDBSCAN noise, kept as data
            outlier_score DOUBLE NOT NULL,
            probability DOUBLE NOT NULL,
            nearest_eval_similarity DOUBLE,   -- production traces only
            PRIMARY KEY (run_id, item_kind, item_id)
        );
        CREATE TABLE cluster_coverage (
            run_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,
            production_count INTEGER NOT NULL,
            eval_count INTEGER NOT NULL,
            coverage DOUBLE NOT NULL,
            gap_score DOUBLE NOT NULL,
            PRIMARY KEY (run_id, cluster_id)
        );
        CREATE TABLE labelling_queue (
            trace_id VARCHAR PRIMARY KEY,     -- a trace is queued at most once, ever
            run_id VARCHAR NOT NULL,          -- the run that queued it
            cluster_id INTEGER NOT NULL,
            reason VARCHAR NOT NULL,
            priority DOUBLE NOT NULL,
            state VARCHAR NOT NULL,           -- queued | labelled | emitted
            expected JSON,
            verdict VARCHAR,
            notes VARCHAR,
            labeller VARCHAR,
            label_run_id VARCHAR,
            case_id VARCHAR                   -- set when emitted into a suite
        );
        """
    )


def _queue_history(con: duckdb.DuckDBPyConnection) -> None:
    """Every state a queue item passes through, with the run that moved it there."""
    con.execute(
        """
        CREATE TABLE queue_events (
            trace_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL,           -- queued | labelled | skipped | emitted
            run_id VARCHAR NOT NULL,
            happened_at TIMESTAMPTZ NOT NULL
        );
        INSERT INTO queue_events
        SELECT q.trace_id, q.state, coalesce(q.label_run_id, q.run_id), coalesce(r.started_at, now())
        FROM labelling_queue q LEFT JOIN runs r ON r.run_id = coalesce(q.label_run_id, q.run_id);
        """
    )


def _trace_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Silent-failure flags per trace and run, and their count per cluster."""
    con.execute(
        """
        CREATE TABLE trace_flags (
            run_id VARCHAR NOT NULL,
            trace_id VARCHAR NOT NULL,
            detector VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            PRIMARY KEY (run_id, trace_id, detector)
        );
        ALTER TABLE cluster_coverage ADD COLUMN flagged_count INTEGER NOT NULL DEFAULT 0;
        """
    )


def _cluster_identity(con: duckdb.DuckDBPyConnection) -> None:
    """Stable cluster ids across runs: each run's lineage, the fitted model incremental runs reuse,
    and emerging regions."""
    con.execute(
        """
        CREATE TABLE cluster_lineage (
            run_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,      -- stable across runs
            event VARCHAR NOT NULL,           -- new | grew | shrank | steady | split | merged | gone
            source_cluster_id INTEGER,        -- split: the parent; merged: one absorbed; gone: where it went
            size INTEGER NOT NULL,
            previous_size INTEGER NOT NULL,
            emerging BOOLEAN NOT NULL,
            centroid FLOAT[],                 -- mean embedding of its production traces
            PRIMARY KEY (run_id, cluster_id)
        );
        CREATE TABLE cluster_models (
            run_id VARCHAR PRIMARY KEY,       -- the full run that fitted it
            model_key VARCHAR NOT NULL,       -- embedder, view and clustering parameters
            fitted_count INTEGER NOT NULL,
            noise_share DOUBLE NOT NULL,
            model BLOB NOT NULL               -- pickled ClusterModel
        );
        ALTER TABLE cluster_coverage ADD COLUMN emerging BOOLEAN NOT NULL DEFAULT false;
        """
    )


def _ingest_watermarks(con: duckdb.DuckDBPyConnection) -> None:
    """How far each JSON-lines source has been read, so a night reads only what was appended."""
    con.execute(
        """
        CREATE TABLE ingest_watermarks (
            source VARCHAR NOT NULL,          -- the file's absolute path
            kind VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            offset_bytes BIGINT NOT NULL,     -- read up to here: the end of its last complete line
            lines INTEGER NOT NULL,
            fingerprint VARCHAR NOT NULL,     -- of the bytes read: a file rewritten since is read from the start
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (source, kind, format)
        );
        """
    )


def _map_coordinates(con: duckdb.DuckDBPyConnection) -> None:
    """Where each trace and eval case lies on the 2-D coverage map of its run (NULL before)."""
    con.execute(
        """
        ALTER TABLE cluster_assignments ADD COLUMN map_x DOUBLE;
        ALTER TABLE cluster_assignments ADD COLUMN map_y DOUBLE;
        """
    )


def _prompt_assemblies(con: duckdb.DuckDBPyConnection) -> None:
    """One snapshot per distinct assembled prompt, and which one each trace was given, in which release."""
    con.execute(
        """
        CREATE TABLE prompt_assemblies (
            assembly_hash VARCHAR PRIMARY KEY,
            blocks JSON NOT NULL,             -- [{kind, name, text}] in prompt order
            run_id VARCHAR NOT NULL           -- the ingest that first saw it
        );
        CREATE TABLE trace_prompts (
            trace_id VARCHAR PRIMARY KEY,
            assembly_hash VARCHAR NOT NULL,
            release VARCHAR,                  -- metadata release / prompt_version / app_version / service.version
            run_id VARCHAR NOT NULL
        );
        """
    )


def _view_texts(con: duckdb.DuckDBPyConnection) -> None:
    """Each trace's redacted view text, kept so a night redacts only the traces it has not seen."""
    con.execute(
        """
        CREATE TABLE view_texts (
            trace_id VARCHAR NOT NULL,
            view VARCHAR NOT NULL,
            settings_key VARCHAR NOT NULL,    -- hash of the redaction rules and template lines it was made under
            text VARCHAR NOT NULL,            -- what is embedded
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (trace_id, view, settings_key)
        );
        """
    )


def _suite_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Each version of each emitted suite, so a version means one content per suite name and store,
    whichever folder it is written to."""
    con.execute(
        """
        CREATE TABLE suite_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            sha256 VARCHAR NOT NULL,          -- of the suite file's bytes
            cases INTEGER NOT NULL,
            path VARCHAR NOT NULL,            -- the suite file it was first written to
            run_id VARCHAR NOT NULL,          -- the emit run that recorded it
            PRIMARY KEY (name, version),
            UNIQUE (name, sha256)
        );
        """
    )


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    _initial_schema, _queue_history, _trace_flags, _cluster_identity, _ingest_watermarks, _map_coordinates,
    _prompt_assemblies, _view_texts, _suite_versions,
]
"""Ordered schema changes. Append only: a released migration is never edited or reordered."""


class StoreError(UserError):
    """The database cannot be used as asked; the message says how to fix it."""


def resolve_db_path(db: str | Path | None) -> Path:
    """--db wins, then $HARNESS_EVALS_DB, then data/harness.duckdb."""
    return Path(db or os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


_held_locks: dict[Path, tuple[Any, int]] = {}  # lock file -> (open handle, depth): re-entrant within a process


@contextmanager
def run_lock(db: str | Path | None) -> Iterator[None]:
    """One writing run at a time per database, however many times it opens the store.

    An advisory lock on `<db>.lock` that the operating system drops when the process dies, even
    by SIGKILL, so a crash never leaves the store locked. A second run fails at once, naming the
    holder. Nested use in one process (a flow and the commands it calls) is allowed.
    """
    import fcntl

    lock_path = resolve_db_path(db).resolve()
    lock_path = lock_path.with_name(lock_path.name + ".lock")
    if lock_path in _held_locks:
        handle, depth = _held_locks[lock_path]
        _held_locks[lock_path] = (handle, depth + 1)
    else:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(
                f"{lock_path.with_suffix('')} is busy: a harness-evals run holds {lock_path} ({holder}). Wait "
                "for it to finish, or use a different --db"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        _held_locks[lock_path] = (handle, 1)
    try:
        yield
    finally:
        handle, depth = _held_locks[lock_path]
        if depth > 1:
            _held_locks[lock_path] = (handle, depth - 1)
        else:
            del _held_locks[lock_path]
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def apply_migrations(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> int:
    """Apply pending migrations in order, each in its own transaction; return how many ran."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)")
    applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    if applied and max(applied) > len(MIGRATIONS):
        raise StoreError(
            f"the database is at schema version {max(applied)}, newer than this harness-evals "
            f"knows ({len(MIGRATIONS)}): upgrade harness-evals"
        )
    ran = 0
    for version, migration in enumerate(MIGRATIONS[:upto], start=1):
        if version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, migration.__name__.lstrip("_"), datetime.now(timezone.utc)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ran += 1
    return ran


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class Store:
    """An open harness-evals database. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = resolve_db_path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"no database at {self.path}: run `harness-evals ingest` first, or pass --db")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as error:
            raise StoreError(
                f"cannot open {self.path}: {error}. Another harness-evals process may be writing to it; "
                "wait for it to finish, or pass a different --db"
            ) from error
        memory = os.environ.get(MEMORY_ENV_VAR)
        if memory:
            if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory.strip()):
                self.close()
                raise StoreError(f"${MEMORY_ENV_VAR}={memory!r}: write a size such as 2GB or 500MB")
            self.con.execute(f"SET memory_limit = '{memory.strip()}'")
        if read_only:
            self._check_schema_is_current()
        else:
            apply_migrations(self.con)
            # DuckDB lets one process write at a time, so a run still `running` now is one whose
            # process died (killed, out of memory): say so rather than leave it looking alive.
            self.con.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")

    def _check_schema_is_current(self) -> None:
        """A read-only connection cannot migrate: an older file is named, with the way to upgrade it."""
        try:
            version = self.one("SELECT max(version) FROM schema_migrations")[0] or 0
        except duckdb.CatalogException:
            version = 0
        if version < len(MIGRATIONS):
            self.close()
            raise StoreError(
                f"{self.path} is at schema version {version}, older than this harness-evals reads "
                f"({len(MIGRATIONS)}): open it for writing once to upgrade it (any writing command does, such as "
                "`harness-evals mine` or `run`; in a notebook, Workspace(db, writable=True))"
            )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @contextmanager
    def run(self, kind: str, params: dict[str, Any]) -> Iterator[RunRecord]:
        """Record a run: `running` now, `succeeded` with its summary or `failed` at the end."""
        record = RunRecord(run_id=new_run_id(), kind=kind)
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', ?, NULL)",
            [record.run_id, kind, datetime.now(timezone.utc), json.dumps(params, default=str)],
        )
        try:
            yield record
        except BaseException:
            self._finish(record, "failed")
            raise
        self._finish(record, "succeeded")

    def _finish(self, record: RunRecord, status: str) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
            [datetime.now(timezone.utc), status, json.dumps(record.summary, default=str), record.run_id],
        )

    def insert(self, table: str, rows: pa.Table) -> None:
        """Append an Arrow table whose columns are in the table's column order."""
        if rows.num_rows == 0:
            return
        self.con.register("_rows_to_insert", rows)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM _rows_to_insert")
        finally:
            self.con.unregister("_rows_to_insert")

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row, or None. Fetches to the end: DuckDB 2 refuses other work on a
        connection while a result is only partly read."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def latest_run_id(self, kind: str) -> str | None:
        row = self.one(
            "SELECT run_id FROM runs WHERE kind = ? AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1", [kind]
        )
        return row[0] if row else None


class RunRecord:
    """The id of a run in progress, and the summary it will be closed with."""

    def __init__(self, run_id: str, kind: str) -> None:
        self.run_id = run_id
        self.kind = kind
        self.summary: dict[str, Any] = {}
