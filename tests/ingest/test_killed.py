"""A real SIGKILL of a real ingest process: the DuckDB file stays consistent and a re-run finishes."""

import json
import signal

import pytest

from harness_evals.ingest import ingest_file
from harness_evals.store import Store
from tests.conftest import kill_when_stalled, trace

# The driver stalls at the moment to kill: inside the third batch's open transaction, after its
# rows are inserted; or between batches, with records read but not yet stored.
DRIVER = """
import sys, time
from pathlib import Path
import harness_evals.ingest as ingest
from harness_evals.store import Store

mode, db, path, marker = sys.argv[1:]

def stall():
    Path(marker).touch()
    time.sleep(600)

if mode == "mid-transaction":
    insert = Store.insert
    def stalling_insert(self, table, rows):
        insert(self, table, rows)
        if table == "traces" and self.one("SELECT count(*) FROM traces")[0] > 200:
            stall()
    Store.insert = stalling_insert
else:
    canonical = ingest.TRACE_FORMATS.get("canonical")
    def stalling_read(source):
        for number, parsed in enumerate(canonical.read(source)):
            if number == 250:
                stall()
            yield parsed
    ingest.TRACE_FORMATS.register("stalling", ingest.TraceFormat("stalling", canonical.sniff, stalling_read,
                                                                  canonical.shape))

with Store(db) as store:
    format = "canonical" if mode == "mid-transaction" else "stalling"
    ingest.ingest_file(store, path, kind="production", format=format, batch_records=100)
"""


@pytest.mark.parametrize("mode", ["mid-transaction", "between-batches"])
def test_a_killed_ingest_keeps_whole_batches_and_the_next_run_completes(tmp_path, mode):
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(trace(f"t{n:03}", f"request number {n}")) + "\n" for n in range(500)))
    db, marker = tmp_path / "h.duckdb", tmp_path / "stalled"
    assert kill_when_stalled(DRIVER, mode, str(db), str(path), str(marker), marker=marker) == -signal.SIGKILL

    with Store(db) as store:
        assert store.one("SELECT count(*) FROM traces")[0] == 200
        assert store.one("SELECT count(DISTINCT trace_id) FROM traces")[0] == 200
        assert store.con.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
        report = ingest_file(store, path, kind="production")
        assert (report.stored, report.unchanged, report.quarantined) == (300, 200, [])
        assert store.one("SELECT count(*) FROM traces")[0] == 500
