from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from harness_evals.mine.embed import HashingEmbedder
from harness_evals.store import Store

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

TOPICS = {
    "refund": ["I want a refund for order {n}", "please refund my order {n} it arrived broken",
               "refund order {n} to my card"],
    "password": ["I forgot my password for account {n}", "reset the password on account {n}",
                 "my password for account {n} does not work"],
    "shipping": ["where is my parcel {n}", "track parcel {n} shipping status", "parcel {n} is late where is it"],
}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def trace(trace_id: str, text: str, **extra) -> dict:
    return {"trace_id": trace_id, "timestamp": "2026-11-20T10:00:00Z", "input": text, "output": "ok", **extra}


def sqlite_database(path: Path) -> Path:
    """A SQLite file with a `traces` table: what a user may pass as --db by mistake."""
    sqlite = sqlite3.connect(path)
    sqlite.execute("CREATE TABLE traces (trace_id TEXT)")
    sqlite.commit()
    sqlite.close()
    return path


def topic_traces(per_topic: int = 8) -> list[dict]:
    rows = []
    for topic, templates in TOPICS.items():
        for n in range(per_topic):
            rows.append(trace(f"{topic}-{n}", templates[n % len(templates)].format(n=n)))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "test.duckdb") as opened:
        yield opened


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dimensions=64)


def kill_when_stalled(script: str, *args: str, marker: Path) -> int:
    """Run `script` in a new Python process, SIGKILL it once it touches `marker`; its return code."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO)
    try:
        for _ in range(600):
            if marker.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), f"the driver exited with {process.returncode} before stalling"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    return process.returncode
