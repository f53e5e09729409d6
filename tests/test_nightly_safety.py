"""One run at a time, and a mining run killed mid-way leaves the store consistent for the next."""

import os
import signal
import subprocess
import sys

import pytest

from harness_evals.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.pipeline import mine
from harness_evals.store import Store, StoreError, run_lock
from tests.conftest import REPO, kill_when_stalled, topic_traces, write_jsonl

HOLD_LOCK = """
import sys, time
from harness_evals.store import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""

# Mines with an embedder that stalls on its second chunk, after the first chunk is committed.
STALLING_MINE = """
import sys, time
from pathlib import Path
from harness_evals.embed import HashingEmbedder
from harness_evals.pipeline import mine
from harness_evals.store import Store

class Stalling(HashingEmbedder):
    calls = 0
    def encode(self, texts):
        Stalling.calls += 1
        if Stalling.calls == 2:
            Path(sys.argv[2]).touch()
            time.sleep(600)
        return super().encode(texts)

with Store(sys.argv[1]) as store:
    mine(store, budget=3, embedder=Stalling(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, stdout=subprocess.PIPE, text=True)


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
    rows = [{**row, "trace_id": f"{row['trace_id']}-{n}", "input": f"{row['input']} variant {n}"}
            for n in range(30) for row in topic_traces(8)]
    with Store(db) as store:
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
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
