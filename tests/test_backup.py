import pytest

from harness_evals.backup import BackupError, export_parquet, restore_parquet
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.suite.emit import emit_suite
from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.mine.pipeline import mine
from harness_evals.store import Store
from tests.conftest import topic_traces, write_jsonl


def everything(store: Store) -> dict[str, tuple[list, list]]:
    """Each table's column types and every row, in a stable order."""
    tables = [row[0] for row in store.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
    return {
        table: (store.con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                                  f"WHERE table_name = '{table}' ORDER BY ordinal_position").fetchall(),
                store.con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall())
        for table in tables
    }


@pytest.fixture
def full_store(tmp_path):
    path = tmp_path / "h.duckdb"
    with Store(path) as store:
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces() + ["{broken"]), kind="production")
        ingest_file(store, write_jsonl(tmp_path / "chat.jsonl", [{"id": "c1", "metadata": {"release": "1"}, "messages": [
            {"role": "system", "content": "# Policy\nBe kind."}, {"role": "user", "content": "hello"}]}]),
            kind="production")
        mine(store, budget=3, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
        [trace_id] = store.con.execute("SELECT trace_id FROM labelling_queue LIMIT 1").fetchall()[0]
        import_labels(store, write_jsonl(tmp_path / "l.jsonl", [{"trace_id": trace_id, "expected": "a refund"}]))
        emit_suite(store, tmp_path / "suite")
    return path


def test_a_backup_restores_every_table_exactly(full_store, tmp_path):
    with Store(full_store, read_only=True) as store:
        counts = export_parquet(store, tmp_path / "backup")
        before = everything(store)
    assert counts["traces"] == 25 and counts["quarantine"] == 1 and counts["embeddings"] == 25
    assert all(rows for table, (_, rows) in before.items() if table not in ("trace_flags",))
    assert restore_parquet(tmp_path / "backup", tmp_path / "restored.duckdb") == counts
    with Store(tmp_path / "restored.duckdb", read_only=True) as restored:
        assert everything(restored) == before


def test_backup_and_restore_never_write_over_anything(full_store, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("mine")
    with Store(full_store, read_only=True) as store, pytest.raises(BackupError, match="is not empty"):
        export_parquet(store, tmp_path / "used")
    with Store(full_store, read_only=True) as store:
        export_parquet(store, tmp_path / "backup")
    with pytest.raises(BackupError, match="already exists: restore into a new --db path"):
        restore_parquet(tmp_path / "backup", full_store)
    with pytest.raises(BackupError, match="has no manifest.json"):
        restore_parquet(tmp_path / "used", tmp_path / "new.duckdb")


def test_a_damaged_backup_is_refused_and_leaves_no_file(full_store, tmp_path):
    with Store(full_store, read_only=True) as store:
        export_parquet(store, tmp_path / "backup")
    manifest = tmp_path / "backup" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"traces": 25', '"traces": 26'))
    with pytest.raises(BackupError, match="traces: the backup holds 25 rows, its manifest says 26"):
        restore_parquet(tmp_path / "backup", tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()
    assert not (tmp_path / "new.duckdb.partial").exists()
