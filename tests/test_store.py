import sqlite3

import duckdb
import pytest

from harness_evals import Workspace
from harness_evals.store import MIGRATIONS, Store, StoreError, apply_migrations, resolve_db_path


def tables(con) -> set[str]:
    return {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_migrations_create_every_table_from_an_empty_database(tmp_path):
    with Store(tmp_path / "new.duckdb") as store:
        assert {"runs", "traces", "eval_cases", "quarantine", "embeddings", "cluster_assignments",
                "cluster_coverage", "labelling_queue", "schema_migrations"} <= tables(store.con)
        versions = [row[0] for row in store.con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
        assert versions == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("previous", range(len(MIGRATIONS)))
def test_upgrading_from_each_previous_schema_applies_only_what_is_missing(tmp_path, previous):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, upto=previous) == previous
    con.close()
    with Store(path) as store:
        assert store.con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    with Store(path) as store:  # a second connect applies nothing
        assert apply_migrations(store.con) == 0


def test_a_database_newer_than_the_code_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from_the_future', now())", [len(MIGRATIONS) + 1])
    con.close()
    with pytest.raises(StoreError, match="upgrade harness-evals"):
        Store(path)


def test_run_is_marked_failed_and_its_transaction_rolled_back(store):
    with pytest.raises(RuntimeError):
        with store.run("mine", {"budget": 1}) as run, store.transaction() as con:
            con.execute("INSERT INTO quarantine VALUES ('f', 1, 'r', 'x', ?)", [run.run_id])
            raise RuntimeError("boom")
    assert store.con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_run_succeeds_with_its_summary(store):
    with store.run("mine", {}) as run:
        run.summary = {"queued": 3}
    assert store.con.execute("SELECT status, summary::VARCHAR FROM runs").fetchall() == [("succeeded", '{"queued": 3}')]
    assert store.latest_run_id("mine") == run.run_id


def test_db_path_comes_from_the_flag_then_the_environment_then_the_settings_file_then_the_default(monkeypatch):
    monkeypatch.setenv("HARNESS_EVALS_DB", "/tmp/from-env.duckdb")
    assert str(resolve_db_path("given.duckdb", "from-file.duckdb")) == "given.duckdb"
    assert str(resolve_db_path(None, "from-file.duckdb")) == "/tmp/from-env.duckdb"
    monkeypatch.delenv("HARNESS_EVALS_DB")
    assert str(resolve_db_path(None, "from-file.duckdb")) == "from-file.duckdb"
    assert str(resolve_db_path(None)) == "data/harness.duckdb"


def test_read_only_open_of_a_missing_database_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="harness-evals ingest"):
        Store(tmp_path / "absent.duckdb", read_only=True)


def test_queue_history_is_backfilled_from_the_previous_schema(tmp_path):
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=1)
    con.execute("INSERT INTO runs VALUES ('r1', 'mine', '2026-11-20 02:00:00+00', NULL, 'succeeded', NULL, NULL)")
    con.execute("INSERT INTO labelling_queue VALUES ('t1', 'r1', 3, 'why', 1.0, 'queued', NULL, NULL, NULL, NULL, "
                "NULL, NULL)")
    con.close()
    with Store(path) as store:
        assert store.con.execute("SELECT trace_id, state, run_id, epoch(happened_at) FROM queue_events").fetchall() == [
            ("t1", "queued", "r1", 1795140000)
        ]


def test_duckdb_memory_can_be_capped_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_EVALS_DUCKDB_MEMORY", "1GB")
    with Store(tmp_path / "h.duckdb") as store:
        assert store.one("SELECT current_setting('memory_limit')")[0] == "953.6 MiB"
    monkeypatch.setenv("HARNESS_EVALS_DUCKDB_MEMORY", "lots")
    with pytest.raises(StoreError, match="write a size such as 2GB"):
        Store(tmp_path / "h.duckdb")


# What --db may point at by mistake: refused in one line, before anything is written.

def foreign_database(path):
    """A DuckDB file another tool made, with a table named as one of ours."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE traces (id INTEGER, payload VARCHAR)")
    con.execute("INSERT INTO traces VALUES (1, 'theirs'), (1, 'theirs again')")
    con.close()
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_a_duckdb_database_made_by_another_tool_is_refused_and_left_as_it_is(tmp_path, read_only):
    path = foreign_database(tmp_path / "theirs.duckdb")
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"theirs.duckdb is a DuckDB database made by another tool \(tables: traces\), "
                                         r"not a harness-evals store; it was left as it is"):
        Store(path, read_only=read_only)
    assert path.read_bytes() == before
    assert sorted(path.parent.iterdir()) == [path]  # no write-ahead log either
    con = duckdb.connect(str(path), read_only=True)
    assert tables(con) == {"traces"} and con.execute("SELECT count(*) FROM traces").fetchone()[0] == 2


def test_another_tools_schema_migrations_table_does_not_make_its_database_ours(tmp_path):
    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version VARCHAR PRIMARY KEY)")
    con.execute("INSERT INTO schema_migrations VALUES ('20240101000000')")
    con.execute("CREATE TABLE users (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match=r"made by another tool \(tables: schema_migrations, users\)"):
        Store(path)
    assert tables(duckdb.connect(str(path), read_only=True)) == {"schema_migrations", "users"}


def test_an_empty_duckdb_database_becomes_a_store_and_reading_one_says_to_ingest(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreError, match=r"empty.duckdb is an empty database: run `harness-evals ingest` first"):
        Store(path, read_only=True)
    with Store(path) as store:
        assert "runs" in tables(store.con)


@pytest.mark.parametrize("read_only", [False, True])
def test_a_folder_a_sqlite_file_and_other_files_are_refused_before_duckdb_opens_them(tmp_path, read_only):
    folder = tmp_path / "stores"
    folder.mkdir()
    sqlite_file = tmp_path / "app.db"
    sqlite = sqlite3.connect(sqlite_file)
    sqlite.execute("CREATE TABLE traces (id INTEGER)")
    sqlite.commit()
    sqlite.close()
    empty = tmp_path / "h.duckdb"
    empty.touch()
    text = tmp_path / "traces.jsonl"
    text.write_text('{"trace_id": "a"}\n')
    for path, message in [
        (folder, rf"stores is a folder, not a database file: pass --db a file such as {folder}/harness.duckdb"),
        (sqlite_file, r"app.db is a SQLite file, not a harness-evals DuckDB store"),
        (empty, r"h.duckdb is an empty file: delete it, and harness-evals creates its store there"),
        (text, r"traces.jsonl is not a DuckDB database"),
    ]:
        before = sorted(tmp_path.rglob("*"))
        with pytest.raises(StoreError, match=message):
            Store(path, read_only=read_only)
        assert sorted(tmp_path.rglob("*")) == before, path


def test_a_run_recorded_running_whose_process_is_gone_reads_as_interrupted_without_a_write(tmp_path):
    path = tmp_path / "h.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))  # as a killed run leaves it: `running`, and no process holds the run lock
    con.execute("INSERT INTO runs VALUES ('r-killed', 'mine', now(), NULL, 'running', NULL, NULL)")
    con.close()
    before = path.read_bytes()
    with Store(path, read_only=True) as store:
        assert store.dead_run_ids == ["r-killed"]
    with Workspace(path) as workspace:
        assert workspace.runs().select(["run_id", "status"]).to_pylist() == [
            {"run_id": "r-killed", "status": "interrupted"}]
    assert path.read_bytes() == before
    with Store(path) as store:  # and the next writer records it so
        assert store.one("SELECT status FROM runs")[0] == "interrupted"
