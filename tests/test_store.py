import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import harness_evals
from harness_evals import Workspace
from harness_evals.store import MIGRATIONS, TABLES, Store, StoreError, apply_migrations, resolve_db_path
from tests.conftest import sqlite_database


def before(migration: str) -> int:
    """The schema version just before `migration` runs."""
    return [step.__name__ for step in MIGRATIONS].index(migration)


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


def test_each_trace_keeps_the_verdict_its_run_drew_when_verdicts_come_to_be_stored(tmp_path):
    path = tmp_path / "before-verdicts.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_coverage_verdicts"))
    con.execute("INSERT INTO runs VALUES ('r1', 'mine', '2026-11-20 02:00:00+00', '2026-11-20 02:01:00+00', "
                "'succeeded', '{}', '{\"covered_similarity\": 0.6}')")
    con.execute("""INSERT INTO cluster_assignments VALUES
                   ('r1', 'production', 'refund-0', 0, 0.1, 0.9, 0.75, 0.1, 0.2),
                   ('r1', 'production', 'password-0', -1, 0.8, 0.0, 0.2, 0.3, 0.4),
                   ('r1', 'eval', 'e-refund', 0, 0.0, 1.0, NULL, 0.1, 0.2)""")
    con.close()
    with Store(path) as store:  # what that run's report drew, at its summary's covered similarity
        assert store.con.execute("SELECT item_id, covered, covering_case_id FROM cluster_assignments ORDER BY 1"
                                 ).fetchall() == [("e-refund", None, None), ("password-0", False, None),
                                                  ("refund-0", True, None)]


def test_runs_from_before_rulers_were_kept_stay_in_the_trend_as_a_series_of_their_own(tmp_path):
    from harness_evals.report.workspace import Workspace, coverage_series

    path = tmp_path / "before-rulers.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_coverage_rulers"))
    con.execute("INSERT INTO runs VALUES ('r1', 'mine', '2026-11-20 02:00:00+00', '2026-11-20 02:01:00+00', "
                "'succeeded', '{\"view\": \"intent\"}', '{\"covered_similarity\": 0.52, \"covered_traffic\": 0.83}')")
    con.close()
    with Store(path) as store:
        assert store.one("SELECT count(*) FROM coverage_rulers") == (0,)
        assert store.con.sql("SELECT * FROM coverage_rulers LIMIT 0").columns == list(TABLES["coverage_rulers"].columns)
    with Workspace(path) as workspace:
        series = coverage_series(workspace.trend().to_pylist())
    assert [(s.ruler, s.view, [row["covered_traffic"] for row in rows]) for s, rows in series] == [
        ("none (cosine 0.52)", "intent", [0.83])]


def test_regions_of_runs_from_before_outcomes_were_counted_show_no_failure_rate_rather_than_none_failed(tmp_path):
    from harness_evals.report.describe import describe_clusters

    path = tmp_path / "before-outcomes.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_region_outcomes"))
    con.execute("INSERT INTO runs VALUES ('r1', 'mine', '2026-11-20 02:00:00+00', '2026-11-20 02:01:00+00', "
                "'succeeded', '{\"view\": \"intent\"}', '{\"covered_traffic\": 0.5, \"traces\": 2}')")
    con.execute("""INSERT INTO traces VALUES ('t1', 'h1', NULL, 'refund order 7', '', '[]', NULL,
                   '{"reward": 0.0}', NULL, 'f', 'i1')""")
    con.execute("INSERT INTO cluster_assignments VALUES ('r1', 'production', 't1', 4, 0.0, 1.0, 0.2, 0.1, 0.2, "
                "false, NULL)")
    con.execute("INSERT INTO cluster_coverage VALUES ('r1', 4, 1, 0, 0.0, 1.0, 0, false)")
    con.close()
    with Store(path) as store:
        columns = store.con.sql("SELECT * FROM cluster_coverage LIMIT 0").columns
        assert columns == list(TABLES["cluster_coverage"].columns)
        (description,) = describe_clusters(store, "r1")
    assert (description.outcome_count, description.failed_count, description.failure_rate) == (0, 0, None)
    with Workspace(path) as workspace:
        (row,) = workspace.clusters().to_pylist()
        (trend,) = workspace.trend().to_pylist()
    assert (row["outcome_count"], row["failed_count"], row["failure_rate"]) == (None, None, None)
    assert (trend["outcome_traces"], trend["failed_traces"]) == (None, None)


def test_pickled_fits_are_dropped_when_fits_come_to_be_kept_as_arrays_and_the_next_run_refits(tmp_path):
    import json
    import pickle

    from harness_evals.mine.embed import HashingEmbedder
    from harness_evals.ingest import ingest_file
    from harness_evals.mine.pipeline import mine
    from tests.conftest import topic_traces, write_jsonl

    path = tmp_path / "pickled-fits.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_cluster_fits_as_arrays"))
    key = {"embedder": "hashing-64", "view": "intent", "dimensions": 8, "min_cluster_size": 3, "seed": 0}
    con.execute("INSERT INTO runs VALUES ('r1', 'mine', '2026-11-20 02:00:00+00', '2026-11-20 02:01:00+00', "
                "'succeeded', ?, '{\"covered_similarity\": 0.6}')", [json.dumps(key)])
    con.execute("INSERT INTO cluster_assignments VALUES ('r1', 'production', 'refund-0', 0, 0.1, 0.9, 0.75, 0.1, 0.2, "
                "true, NULL)")
    con.execute("INSERT INTO cluster_models VALUES ('r1', ?, 1, 0.0, ?)",
                [json.dumps(key, sort_keys=True), pickle.dumps({"a": "ClusterModel of the old layout"})])
    con.close()
    with Store(path) as store:
        assert store.one("SELECT count(*) FROM cluster_models") == (0,)
        assert store.con.sql("SELECT * FROM cluster_models LIMIT 0").columns == list(TABLES["cluster_models"].columns)
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces()), kind="production")
        report = mine(store, budget=0, embedder=HashingEmbedder(64), covered_similarity=0.6,
                      **{name: key[name] for name in ("dimensions", "min_cluster_size", "seed")})
        assert (report.mode, report.mode_reason) == ("full", "no earlier fit to extend")
        assert store.one("SELECT count(*) FROM cluster_models WHERE run_id = ?", [report.run_id]) == (1,)


def test_eval_cases_stored_before_messages_were_kept_have_none_and_their_file_is_unchanged_when_ingested_again(
        tmp_path):
    import hashlib
    import json

    from harness_evals.ingest import ingest_file
    from tests.conftest import write_jsonl

    case = {"id": "e1", "input": "refund order 4", "expected": {"contains": ["refund"]}, "metadata": {"suite": "smoke"}}
    evals = write_jsonl(tmp_path / "evals.jsonl", [case])
    path = tmp_path / "before-messages.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_eval_case_messages"))
    con.execute("INSERT INTO runs VALUES ('r1', 'ingest', '2026-11-20 02:00:00+00', NULL, 'succeeded', NULL, NULL)")
    # the case as ingest stored and hashed it then
    con.execute("INSERT INTO eval_cases VALUES ('e1', ?, 'refund order 4', ?, ?, ?, 'r1')", [
        hashlib.sha256(json.dumps(case, sort_keys=True).encode()).hexdigest(), json.dumps(case["expected"]),
        json.dumps(case["metadata"]), str(evals)])
    con.close()
    with Store(path) as store:
        assert store.one("SELECT case_id, messages FROM eval_cases") == ("e1", None)
        report = ingest_file(store, evals, kind="eval")
        assert (report.stored, report.unchanged, report.quarantined) == (0, 1, [])


def test_labels_and_verdicts_from_before_labelled_reach_stay_and_name_no_covering_or_nearest_case(tmp_path):
    from harness_evals.label.queue import with_trajectories

    path = tmp_path / "before.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, upto=before("_labelled_reach"))
    con.execute("INSERT INTO traces (trace_id, input, output, steps, metadata, content_hash, source, run_id) "
                "VALUES ('t1', 'refund me', 'ok', '[]', '{}', 'h1', 'f', 'r0')")
    con.execute("INSERT INTO labelling_queue VALUES ('t1', 'r1', 3, 'why', 1.0, 'labelled', '\"refunds\"', NULL, "
                "NULL, NULL, 'r2', NULL)")
    con.execute("INSERT INTO cluster_assignments (run_id, item_kind, item_id, cluster_id, outlier_score, probability, "
                "nearest_eval_similarity, covered) VALUES ('r1', 'production', 't1', 3, 0.1, 0.9, 0.3, false)")
    con.close()
    with Store(path) as store:
        assert store.con.execute("SELECT state, expected, covered_by FROM labelling_queue").fetchall() == [
            ("labelled", '"refunds"', None)]
        assert store.con.execute("SELECT nearest_case_id FROM cluster_assignments").fetchall() == [(None,)]
        assert with_trajectories(store, ["t1"])["t1"]["nearest_case"] is None


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
    sqlite_file = sqlite_database(tmp_path / "app.db")
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


# Rows are written by column name, from one spec per table.

def test_rows_land_in_their_columns_by_name_whatever_their_order(store):
    store.insert("view_texts", pa.table({"run_id": ["r1", "r1"], "text": ["refund my order", "refund my order"],
                                         "view": ["intent", "intent"], "trace_id": ["t1", "t2"],
                                         "settings_key": ["k1", "k1"]}))
    stored = store.con.execute("SELECT trace_id, view, settings_key, text, run_id FROM view_texts ORDER BY 1").fetchall()
    assert stored == [("t1", "intent", "k1", "refund my order", "r1"), ("t2", "intent", "k1", "refund my order", "r1")]


def test_columns_left_out_take_their_default_or_null(store):
    store.insert("cluster_coverage", {"gap_score": [0.5], "run_id": ["r1"], "cluster_id": [3], "production_count": [4],
                                      "eval_count": [0], "coverage": [0.0]})
    store.insert("labelling_queue", {"trace_id": ["t1"], "run_id": ["r1"], "cluster_id": [3], "reason": ["why"],
                                     "priority": [1.0], "state": ["queued"]})
    assert store.one("SELECT flagged_count, emerging FROM cluster_coverage") == (0, False)
    assert store.one("SELECT expected, verdict, case_id FROM labelling_queue") == (None, None, None)


@pytest.mark.parametrize("rows", [
    pa.table({"trace_id": ["t1"], "state": ["queued"], "run_id": ["r1"], "at": [datetime.now(timezone.utc)]}),
    pa.table({"trace_id": pa.array([], pa.string()), "at": pa.array([], pa.string())}),  # no rows: refused all the same
])
def test_a_column_the_table_lacks_is_refused_naming_the_table_and_the_column(store, rows):
    with pytest.raises(ValueError, match=r"cannot insert into queue_events: it has no column at; the rows lack "
                                         r".*happened_at, which cannot be NULL \(its columns: trace_id, state, "
                                         r"run_id, happened_at\)"):
        store.insert("queue_events", rows)
    assert store.one("SELECT count(*) FROM queue_events") == (0,)


def test_rows_without_a_column_that_cannot_be_null_are_refused_naming_it(store):
    with pytest.raises(ValueError, match="cannot insert into queue_events: the rows lack run_id, happened_at, which "
                                         "cannot be NULL"):
        store.insert("queue_events", pa.table({"trace_id": ["t1"], "state": ["queued"]}))
    with pytest.raises(ValueError, match="cannot insert into queue_events: it has no column at"):
        store.insert("queue_events", {"trace_id": ["t1"], "state": ["queued"], "run_id": ["r1"], "at": [None]})
    with pytest.raises(ValueError, match="no table named queue_event "):
        store.insert("queue_event", {"trace_id": ["t1"]})


def test_each_table_has_one_spec_naming_its_migrated_columns_and_their_types(store):
    stored = tables(store.con) - {"schema_migrations"}
    assert set(TABLES) == stored
    for name, spec in TABLES.items():
        schema = store.con.sql(f"SELECT * FROM {name} LIMIT 0").to_arrow_table().schema
        assert list(spec.columns) == schema.names, name
        for column, arrow_type in spec.columns.items():
            produced = schema.field(column).type
            if pa.types.is_timestamp(produced):  # DuckDB names UTC Etc/UTC
                produced = pa.timestamp(produced.unit, tz="UTC")
            assert arrow_type.equals(produced, check_metadata=False), (name, column, arrow_type, produced)


def test_upserts_replace_or_keep_the_row_already_stored(store):
    row = {"assembly_hash": ["h1"], "blocks": ['[{"kind": "system", "name": "s", "text": "be brief"}]'],
           "run_id": ["r1"]}
    store.insert("prompt_assemblies", row)
    store.insert("prompt_assemblies", {**row, "run_id": ["r2"]}, on_conflict="ignore")
    watermark = {"source": ["/f.jsonl"], "kind": ["production"], "format": ["canonical"], "offset_bytes": [10],
                 "lines": [1], "fingerprint": ["f1"], "run_id": ["r1"]}
    store.insert("ingest_watermarks", watermark)
    store.insert("ingest_watermarks", {**watermark, "offset_bytes": [20], "run_id": ["r2"]}, on_conflict="replace")
    assert store.one("SELECT run_id FROM prompt_assemblies") == ("r1",)
    assert store.con.execute("SELECT offset_bytes, run_id FROM ingest_watermarks").fetchall() == [(20, "r2")]


# SQL, or a use of the store's connection: a query run, a method that runs one, a statement's keywords.
SQL = re.compile(r"\.(execute|executemany|sql|one)\(|\.con\b|\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|"
                 r"CREATE TABLE|ALTER TABLE|DROP TABLE)\b")


def sql_outside_the_store(package: Path) -> list[str]:
    """Each line of the package's modules outside store/ that holds SQL, as path:line: text."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package)
        if module.parts[0] == "store":
            continue
        found += [f"{module}:{number}: {line.strip()}" for number, line in
                  enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if SQL.search(line)]
    return found


def test_sql_lives_in_the_store_package_and_its_queries_only():
    assert sql_outside_the_store(Path(harness_evals.__file__).parent) == []
