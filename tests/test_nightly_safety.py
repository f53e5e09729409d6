"""One run at a time, and a mining run killed mid-way leaves the store consistent for the next."""

import os
import re
import signal
import subprocess
import sys

import duckdb
import pytest
from typer.testing import CliRunner

from harness_evals import Workspace
from harness_evals.store import connection as store_connection
from harness_evals.cli import app
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from harness_evals.store import Store, StoreError, run_lock
from tests.conftest import REPO, kill_when_stalled, topic_traces, write_jsonl

HOLD_LOCK = """
import sys, time
from harness_evals.store import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""

# Mines as `harness-evals mine` does, with an embedder that stalls on its second chunk, after the
# first chunk is committed; says so on stdout and by touching a marker file.
STALLING_MINE = """
import sys, time
from pathlib import Path
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.mine.pipeline import mine
from harness_evals.store import Store, run_lock

class Stalling(HashingEmbedder):
    calls = 0
    def encode(self, texts):
        Stalling.calls += 1
        if Stalling.calls == 2:
            Path(sys.argv[2]).touch()
            print("stalled", flush=True)
            time.sleep(600)
        return super().encode(texts)

with run_lock(sys.argv[1]), Store(sys.argv[1]) as store:
    mine(store, budget=3, embedder=Stalling(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, stdout=subprocess.PIPE, text=True)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness_evals.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})


def many_traces(tmp_path):
    """720 traces: enough that mining embeds them in two chunks."""
    rows = [{**row, "trace_id": f"{row['trace_id']}-{n}", "input": f"{row['input']} variant {n}"}
            for n in range(30) for row in topic_traces(8)]
    return write_jsonl(tmp_path / "t.jsonl", rows)


def test_a_second_run_on_the_same_database_is_refused_with_the_holder_named(tmp_path):
    db = tmp_path / "h.duckdb"
    holder = start(HOLD_LOCK, str(db))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=rf"is busy: a harness-evals run holds .*h.duckdb.lock \(pid {holder.pid}, since"):
            with run_lock(db):
                pass
        result = subprocess.run([sys.executable, "-m", "harness_evals.cli", "ingest", str(REPO / "data/sample/traces.jsonl"),
                                 "--db", str(db)], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2 and "is busy" in result.stderr
        os.kill(holder.pid, signal.SIGKILL)  # the operating system drops the lock with the process
        holder.wait()
        with run_lock(db), run_lock(db):  # and one process may nest it
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_mining_run_killed_mid_way_leaves_the_store_consistent_and_the_next_run_completes(tmp_path):
    db, marker = tmp_path / "h.duckdb", tmp_path / "stalled"
    with Store(db) as store:
        ingest_file(store, many_traces(tmp_path), kind="production")
    assert kill_when_stalled(STALLING_MINE, str(db), str(marker), marker=marker) == -signal.SIGKILL

    with Store(db) as store:
        assert store.one("SELECT status FROM runs WHERE kind = 'mine'")[0] == "interrupted"
        assert store.one("SELECT count(*) FROM embeddings")[0] == 512  # the first chunk, committed
        for table in ("cluster_assignments", "cluster_coverage", "cluster_lineage", "labelling_queue", "trace_flags"):
            assert store.one(f"SELECT count(*) FROM {table}")[0] == 0, table
        report = mine(store, budget=3, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8,
                      covered_similarity=0.6)
        assert (report.cached, report.embedded, report.traces) == (512, 720 - 512, 720)
        assert store.one("SELECT count(*) FROM labelling_queue")[0] == 3


# Reading while a run writes: DuckDB lets no second process open the file, so readers read a copy.

def test_status_during_a_mining_run_reads_a_copy_naming_the_run_and_after_a_kill_reads_it_interrupted(
        tmp_path, monkeypatch):
    db = tmp_path / "h.duckdb"
    with Store(db) as store:
        ingest_file(store, many_traces(tmp_path), kind="production")
    writer = start(STALLING_MINE, str(db), str(tmp_path / "stalled"))
    try:
        assert writer.stdout.readline().strip() == "stalled"
        result = cli("status", "--db", str(db))
        assert result.returncode == 0, result.stderr
        run_id = re.search(r"being written by mine run (\S+) \(pid (\d+), started ", result.stderr)
        assert run_id and int(run_id[2]) == writer.pid, result.stderr
        assert re.search(rf"│ {run_id[1]} +│ mine +│ running +│", result.stdout), result.stdout
        with Workspace(db) as workspace:  # a notebook reads the copy too
            assert workspace.store.snapshot is not None
            assert workspace.runs().select(["kind", "status"]).to_pylist()[-1] == {"kind": "mine", "status": "running"}
        busy = cli("ingest", str(tmp_path / "t.jsonl"), "--db", str(db))  # a second writer learns which run
        assert busy.returncode == 2 and f"(pid {writer.pid}, since " in busy.stderr
        assert f"; mine run {run_id[1]})" in busy.stderr
        monkeypatch.setattr(store_connection, "SNAPSHOT_LIMIT", 1024)  # a store too large to copy: one line instead
        result = CliRunner().invoke(app, ["status", "--db", str(db)])
        assert result.exit_code == 2 and re.fullmatch(
            rf"error: {re.escape(str(db))} is being written by a harness-evals run \(pid {writer.pid}, since "
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC; mine run {run_id[1]}\), and at 0.0 GiB it is too large to copy "
            r"to read meanwhile: wait for the run to finish", result.output.strip()), result.output
    finally:
        writer.kill()  # SIGKILL: nothing of the writer's closes the store
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    result = cli("status", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "being written" not in result.stderr
    assert re.search(rf"│ {run_id[1]} +│ mine +│ interrupted +│", result.stdout), result.stdout
    with Workspace(db) as workspace:
        assert workspace.runs().select(["kind", "status"]).to_pylist()[-1] == {"kind": "mine", "status": "interrupted"}
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before  # read, not written; no copy left


def test_a_run_holding_the_lock_before_opening_the_store_reads_as_running(tmp_path):
    """A flow holds the run lock across the stores it opens one after another: its runs are alive
    while it does, and only a run begun before it took the lock is one whose process died."""
    db = tmp_path / "h.duckdb"
    Store(db).close()
    holder = start(HOLD_LOCK, str(db))
    try:
        assert holder.stdout.readline().strip() == "held"
        con = duckdb.connect(str(db))
        con.execute("INSERT INTO runs VALUES ('r-old', 'mine', now() - INTERVAL 1 HOUR, NULL, 'running', NULL, NULL)")
        con.execute("INSERT INTO runs VALUES ('r-live', 'ingest', now(), NULL, 'running', NULL, NULL)")
        con.close()
        with Workspace(db) as workspace:
            assert workspace.store.snapshot is None
            assert workspace.runs().select(["run_id", "status"]).to_pylist() == [
                {"run_id": "r-old", "status": "interrupted"}, {"run_id": "r-live", "status": "running"}]
    finally:
        holder.kill()
        holder.wait()
    with Workspace(db) as workspace:
        assert set(workspace.runs().column("status").to_pylist()) == {"interrupted"}
