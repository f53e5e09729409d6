import duckdb
import pytest

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


def test_db_path_comes_from_the_flag_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.setenv("HARNESS_EVALS_DB", "/tmp/from-env.duckdb")
    assert str(resolve_db_path("given.duckdb")) == "given.duckdb"
    assert str(resolve_db_path(None)) == "/tmp/from-env.duckdb"
    monkeypatch.delenv("HARNESS_EVALS_DB")
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
