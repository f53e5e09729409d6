"""An open store: where its file is, the checks before DuckDB opens it, the run lock, the `Store`
that migrates on connect, inserts rows by column name and records runs, and the copy a reader
takes of a store another process writes.

Every derived row carries the `run_id` of the run that made it. Writes of a stage happen inside
`Store.transaction()`, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from harness_evals.store.errors import StoreBusy, StoreError
from harness_evals.store.migrations import MIGRATIONS, apply_migrations
from harness_evals.store.tables import TABLES, _mismatch

DEFAULT_DB = Path("data/harness.duckdb")
DB_ENV_VAR = "HARNESS_EVALS_DB"
MEMORY_ENV_VAR = "HARNESS_EVALS_DUCKDB_MEMORY"  # e.g. 2GB: DuckDB's own cache, which by default may take 80% of RAM


def resolve_db_path(db: str | Path | None, configured: str | Path | None = None) -> Path:
    """--db wins, then $HARNESS_EVALS_DB, then `configured` (the settings file's db), then
    data/harness.duckdb. The environment beats the file, as it does for most tools: a shell or a CI
    job points one run at another store without editing the file everyone shares."""
    return Path(db or os.environ.get(DB_ENV_VAR) or configured or DEFAULT_DB)


SQLITE_HEADER = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # bytes 8 to 12 of every DuckDB file


def _check_is_a_database_file(path: Path) -> None:
    """Refuse what DuckDB would mishandle, before it or the run lock touches anything: a folder, a
    SQLite file (DuckDB would try to download its SQLite extension), a file that is not DuckDB's."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file: pass --db a file such as {path / DEFAULT_DB.name}")
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror}: pass --db a file you can read") from None
    if header.startswith(SQLITE_HEADER):
        raise StoreError(f"{path} is a SQLite file, not a harness-evals DuckDB store: pass --db a harness-evals "
                         "store, or a new file for harness-evals to create one in")
    if not header:
        raise StoreError(f"{path} is an empty file: delete it, and harness-evals creates its store there, or pass "
                         "--db a harness-evals store")
    if header[8:12] != DUCKDB_MAGIC:
        raise StoreError(f"{path} is not a DuckDB database: pass --db a harness-evals store, or a new file for "
                         "harness-evals to create one in")


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "Could not set lock" in str(error):
            named = re.search(r"\(PID (\d+)\)", str(error))
            pid = int(named[1]) if named else None
            raise StoreBusy(
                f"cannot open {path}: another process{f' (pid {pid})' if pid else ''} has it open, a harness-evals "
                "run or a notebook's Workspace; wait for it to finish, or pass a different --db", pid
            ) from None
        raise StoreError(f"cannot open {path}: {error}; pass --db a harness-evals store, or a new file in a folder "
                         "you can write") from None


def _foreign_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of a database some other tool made (none for a harness-evals store or an empty one):
    ours is the one whose `schema_migrations` starts with our first migration."""
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY 1"
    ).fetchall()]
    if tables in ([], ["schema_migrations"]):  # new, or ours before its first migration committed
        return []
    try:
        first = con.execute("SELECT name FROM schema_migrations WHERE version = 1").fetchall()
    except duckdb.Error:  # no such table, or another tool's with other columns
        return tables
    return [] if first == [(MIGRATIONS[0].__name__.lstrip("_"),)] else tables


def _refuse_a_foreign_database(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    tables = _foreign_tables(con)
    if tables:
        listed = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise StoreError(f"{path} is a DuckDB database made by another tool (tables: {listed}), not a harness-evals "
                         "store; it was left as it is: pass --db a harness-evals store, or a new file")


def _refuse_a_foreign_database_before_writing(path: Path) -> None:
    """Looked at read-only: opening another tool's database for writing could already change it
    (DuckDB replays its write-ahead log into the file)."""
    if not path.exists():
        return
    try:
        probe = _connect(path, read_only=True)
    except duckdb.ConnectionException:  # this process has it open for writing, so looked at it then
        return
    except StoreBusy:  # another process writes it: the run lock or the store's own open says who
        return
    with probe:
        _refuse_a_foreign_database(probe, path)


def _lock_path(db: str | Path | None) -> Path:
    path = resolve_db_path(db).resolve()
    return path.with_name(path.name + ".lock")


@dataclass(frozen=True)
class LockHolder:
    """The process holding a database's run lock, as its line in the lock file names it."""

    pid: int | None  # None: it has not written its line yet
    since: datetime | None  # to the second
    run: str | None = None  # the run under way, such as "mine run 20261120T020000-ab12cd"

    def __str__(self) -> str:
        """As its line in the lock file reads."""
        if self.pid is None:
            return "another process"
        return f"pid {self.pid}, since {self.since:%Y-%m-%d %H:%M:%S} UTC" + (f"; {self.run}" if self.run else "")


_HOLDER_LINE = re.compile(r"pid (\d+), since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC(?:; (.+))?")


def _read_holder(handle: Any) -> LockHolder:
    handle.seek(0)
    named = _HOLDER_LINE.fullmatch(handle.read().strip())
    if named is None:
        return LockHolder(pid=None, since=None)
    since = datetime.strptime(named[2], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return LockHolder(pid=int(named[1]), since=since, run=named[3])


def _write_holder(handle: Any, holder: LockHolder) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder}\n")
    handle.flush()


def run_lock_holder(db: str | Path | None) -> LockHolder | None:
    """Who holds `db`'s run lock, or None when no one does, found without a write.

    The probe takes the lock shared for an instant, and gives it back; a run starting in that
    instant waits for it (see run_lock).
    """
    import fcntl

    try:
        handle = _lock_path(db).open("r")
    except FileNotFoundError:
        return None
    except OSError:  # unreadable: a holder cannot be told apart from none, so assume one
        return LockHolder(pid=None, since=None)
    with handle:
        holder = _read_holder(handle)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return holder
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


_held_locks: dict[Path, tuple[Any, int]] = {}  # lock file -> (open handle, depth): re-entrant within a process


@contextmanager
def run_lock(db: str | Path | None) -> Iterator[None]:
    """One writing run at a time per database, however many times it opens the store.

    An advisory lock on `<db>.lock` that the operating system drops when the process dies, even
    by SIGKILL, so a crash never leaves the store locked. A second run fails at once, naming the
    holder (and its run under way, see Store.run). Nested use in one process (a flow and the
    commands it calls) is allowed.
    """
    import fcntl

    lock_path = _lock_path(db)
    if lock_path in _held_locks:
        handle, depth = _held_locks[lock_path]
        _held_locks[lock_path] = (handle, depth + 1)
    else:
        _check_is_a_database_file(resolve_db_path(db))
        _refuse_a_foreign_database_before_writing(resolve_db_path(db))  # and before its lock lands beside it
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = lock_path.open("a+")
        except OSError as error:
            raise StoreError(f"cannot create {lock_path}, the run lock beside the database: {error.strerror}; pass "
                             "--db a file in a folder you can write") from None
        _take(handle, lock_path)
        _write_holder(handle, LockHolder(pid=os.getpid(), since=datetime.now(timezone.utc)))
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


def _take(handle: Any, lock_path: Path, attempts: int = 20) -> None:
    """Lock at once, or fail naming the holder. A holder that names no one is a reader's probe
    (run_lock_holder), or a run between taking the lock and naming itself: both are gone within
    moments, so only they are waited for."""
    import fcntl

    for attempt in range(attempts):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _read_holder(handle)
            if holder.pid is not None or attempt == attempts - 1:
                handle.close()
                raise StoreError(
                    f"{lock_path.with_suffix('')} is busy: a harness-evals run holds {lock_path} ({holder}). Wait "
                    "for it to finish, or use a different --db"
                ) from None
            time.sleep(0.05)


def _name_the_run_in_its_lock(db: Path, run: RunRecord | None) -> None:
    """Name the run under way (None: it is over) in the lock this process holds on `db`, if any, so
    that whoever finds the store busy learns which run has it."""
    held = _held_locks.get(_lock_path(db))
    if held is not None:
        holder = _read_holder(held[0])
        _write_holder(held[0], LockHolder(holder.pid, holder.since, f"{run.kind} run {run.run_id}" if run else None))




@contextmanager
def in_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block does to `con`, or roll all of it back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class Store:
    """An open harness-evals database. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = resolve_db_path(path)
        self.snapshot: Snapshot | None = None  # set when another process was writing: this reads a copy
        self.dead_run_ids: list[str] = []  # recorded `running`, with no process left running them
        self._table_columns: dict[str, dict[str, bool]] = {}  # Store.insert's view of the schema
        _check_is_a_database_file(self.path)
        if read_only:
            if not self.path.exists():
                raise StoreError(f"no database at {self.path}: run `harness-evals ingest` first, or pass --db")
            try:
                self.con = _connect(self.path, read_only=True)
            except StoreBusy as busy:
                self.snapshot = Snapshot.take(self.path, busy.writer_pid)
                self.con = self.snapshot.con
        else:
            _refuse_a_foreign_database_before_writing(self.path)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the folder {self.path.parent}: {error.strerror}; pass --db a file in "
                                 "a folder you can write") from None
            self.con = _connect(self.path, read_only=False)
        try:
            self._limit_memory()
            if read_only:
                _refuse_a_foreign_database(self.con, self.path)
                self._check_schema_is_current()
                if self.snapshot is None:
                    self.dead_run_ids = self._runs_whose_process_died()
            else:
                apply_migrations(self.con)
                # DuckDB lets one process write at a time, so a run still `running` now is one whose
                # process died (killed, out of memory): say so rather than leave it looking alive.
                self.con.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        except BaseException:
            self.close()
            raise

    def _limit_memory(self) -> None:
        memory = os.environ.get(MEMORY_ENV_VAR)
        if memory:
            if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory.strip()):
                raise StoreError(f"${MEMORY_ENV_VAR}={memory!r}: write a size such as 2GB or 500MB")
            self.con.execute(f"SET memory_limit = '{memory.strip()}'")

    def _check_schema_is_current(self) -> None:
        """A read-only connection cannot migrate: an older file is named, with the way to upgrade it."""
        try:
            version = self.one("SELECT max(version) FROM schema_migrations")[0] or 0
        except duckdb.CatalogException:
            version = 0
        if version == 0:
            raise StoreError(f"{self.path} is an empty database: run `harness-evals ingest` first, or pass --db")
        if version < len(MIGRATIONS):
            raise StoreError(
                f"{self.path} is at schema version {version}, older than this harness-evals reads "
                f"({len(MIGRATIONS)}): open it for writing once to upgrade it (any writing command does, such as "
                "`harness-evals mine` or `run`; in a notebook, Workspace(db, writable=True))"
            )

    def _runs_whose_process_died(self) -> list[str]:
        """Runs recorded `running` that no process runs any more. Read while no one has the store open
        for writing, so a live run holds the run lock, and took it before its run began; a killed
        run's process gave the lock up when it died (the next writer marks such runs `interrupted`)."""
        holder = run_lock_holder(self.path)
        if holder is None:
            sql, params = "SELECT run_id FROM runs WHERE status = 'running'", []
        elif holder.since is None:  # held by a process that has not named itself yet: trust the rows
            return []
        else:
            sql, params = "SELECT run_id FROM runs WHERE status = 'running' AND started_at < ?", [holder.since]
        return [row[0] for row in self.con.execute(sql + " ORDER BY started_at", params).fetchall()]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        if self.snapshot is not None:
            self.snapshot.remove()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with in_transaction(self.con):
            yield self.con

    @contextmanager
    def run(self, kind: str, params: dict[str, Any]) -> Iterator[RunRecord]:
        """Record a run: `running` now, `succeeded` with its summary or `failed` at the end."""
        record = RunRecord(run_id=new_run_id(), kind=kind)
        self.insert("runs", {"run_id": [record.run_id], "kind": [kind], "started_at": [datetime.now(timezone.utc)],
                             "status": ["running"], "params": [json.dumps(params, default=str)]})
        _name_the_run_in_its_lock(self.path, record)
        try:
            yield record
        except BaseException:
            self._finish(record, "failed")
            raise
        finally:
            _name_the_run_in_its_lock(self.path, None)
        self._finish(record, "succeeded")

    def succeed(self, record: RunRecord) -> None:
        """Mark the run succeeded with its summary now, in the transaction that writes its rows, so the
        rows and the status land together (the end of `run` marks it again, the same)."""
        self._finish(record, "succeeded")

    def _finish(self, record: RunRecord, status: str) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
            [datetime.now(timezone.utc), status, json.dumps(record.summary, default=str), record.run_id],
        )

    def insert(self, table: str, rows: pa.Table | Mapping[str, Any], *,
               on_conflict: Literal["replace", "ignore"] | None = None) -> None:
        """Append rows to `table`, each column into the column of its name: an Arrow table, or columns
        by name, which the table's spec types (TableSpec.rows). A column left out takes its default,
        or NULL. `on_conflict`: a row whose key is stored already replaces it, or is dropped.

        Rows with a column the table lacks, or without one that cannot be NULL, are refused whole,
        even when there are none: a caller that names a column wrongly fails in its first test."""
        required = self._columns_of(table)
        if not isinstance(rows, pa.Table):
            rows = TABLES[table].rows(rows)
        unknown = [name for name in rows.column_names if name not in required]
        missing = [name for name, needed in required.items() if needed and name not in rows.column_names]
        if unknown or missing:
            raise ValueError(_mismatch(table, list(required), unknown=unknown, missing=missing))
        if rows.num_rows == 0:
            return
        verb = f"INSERT OR {on_conflict.upper()}" if on_conflict else "INSERT"
        self.con.register("_rows_to_insert", rows)
        try:
            self.con.execute(f"{verb} INTO {table} BY NAME SELECT * FROM _rows_to_insert")
        finally:
            self.con.unregister("_rows_to_insert")

    def _columns_of(self, table: str) -> dict[str, bool]:
        """The table's columns in order, each with whether a row must give it (NOT NULL, no default).
        Read from the database once per table: migrations have run by the time anything is inserted."""
        if table not in self._table_columns:
            columns = {name: not nullable and default is None for name, nullable, default in self.con.execute(
                """SELECT column_name, is_nullable, column_default FROM duckdb_columns()
                   WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?
                   ORDER BY column_index""", [table]).fetchall()}
            if not columns:
                raise ValueError(f"no table named {table} to insert into: the tables are {', '.join(TABLES)}")
            self._table_columns[table] = columns
        return self._table_columns[table]

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


SNAPSHOT_LIMIT = 4 * 2**30  # bytes: a copy worth seconds is read; one that takes minutes is not made


class Snapshot:
    """A private copy of a store that another process has open for writing, read in its place.

    DuckDB lets no second process open a file one process writes. The copy is of the file and its
    write-ahead log, taken while neither changed: what a crash at that instant would have left,
    which DuckDB opens as it would after the crash. It takes the store's size in disk space while
    the reader is open; a 2 GB store took 1 to 5 s to copy on a loaded 2-core machine (once 28 s,
    with the disk busy), so a store over SNAPSHOT_LIMIT is not copied.
    """

    def __init__(self, folder: tempfile.TemporaryDirectory, con: duckdb.DuckDBPyConnection, writer_pid: int | None,
                 taken_at: datetime) -> None:
        self.folder = folder
        self.con = con
        self.writer_pid = writer_pid
        self.taken_at = taken_at

    @classmethod
    def take(cls, path: Path, writer_pid: int | None, attempts: int = 3) -> Snapshot:
        """A copy of `path`, which process `writer_pid` has open for writing, or a StoreError naming
        the run that has it. The copy goes beside the store (the disk sized for it) or else in the
        temporary folder, wherever it leaves free at least as much again as it takes."""
        log = path.with_name(path.name + ".wal")
        for _ in range(attempts):
            # A write between the two looks changes a file's size or modification time.
            before = [_file_state(path), _file_state(log)]
            size = sum(state[0] for state in before if state)
            if size > SNAPSHOT_LIMIT:
                raise _busy(path, writer_pid, f"at {size / 2**30:.1f} GiB it is too large to copy to read meanwhile")
            folder = _folder_with_room_for(path, size)
            if folder is None:
                raise _busy(path, writer_pid, "no folder has room to copy it to read meanwhile")
            copy = Path(folder.name) / path.name
            taken_at = datetime.now(timezone.utc)
            try:
                shutil.copyfile(path, copy)
                if before[1] is not None:
                    shutil.copyfile(log, copy.with_name(log.name))
            except OSError as error:
                folder.cleanup()
                raise _busy(path, writer_pid, f"copying it to read meanwhile failed ({error.strerror})") from None
            if [_file_state(path), _file_state(log)] == before:
                try:
                    return cls(folder, duckdb.connect(str(copy), read_only=True), writer_pid, taken_at)
                except duckdb.Error:  # torn by a write the file states missed
                    pass
            folder.cleanup()
        raise _busy(path, writer_pid, f"it changed each of the {attempts} times it was copied to read")

    def remove(self) -> None:
        self.folder.cleanup()


def _busy(path: Path, pid: int | None, why: str) -> StoreError:
    """The one line a reader gets when it cannot read a copy: which run has the store, and why."""
    holder = run_lock_holder(path)
    if holder is not None and holder.pid is not None:
        writer = f"a harness-evals run ({holder})"
    else:
        writer = f"another process (pid {pid})" if pid else "another process"
    return StoreError(f"{path} is being written by {writer}, and {why}: wait for the run to finish")


def _folder_with_room_for(path: Path, size: int) -> tempfile.TemporaryDirectory | None:
    for parent, prefix in ((path.parent, f".{path.name}.copy-"), (Path(tempfile.gettempdir()), f"{path.name}.copy-")):
        try:
            if shutil.disk_usage(parent).free >= 2 * size:
                return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)
        except OSError:  # not writable
            continue
    return None


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


class RunRecord:
    """The id of a run in progress, and the summary it will be closed with."""

    def __init__(self, run_id: str, kind: str) -> None:
        self.run_id = run_id
        self.kind = kind
        self.summary: dict[str, Any] = {}
