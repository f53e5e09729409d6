"""The nightly flow on a local Dask cluster of two worker processes gives what the default runner gives."""

import re

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows import EPHEMERAL_STARTUP_TIMEOUT_SECONDS
from flows.nightly import nightly
from harness_evals.mine import embed
from harness_evals.config import MineSettings, Settings, Source
from harness_evals.mine.regions import DRIFT_MARGIN
from harness_evals.store import Store
from tests.conftest import SAMPLE

pytestmark = pytest.mark.integration


def nights(tmp_path, name: str, dask: str | None):
    """Night one on the τ-bench traces; night two adds the chat traces, placed into night one's clusters."""
    sources = [Source(path=SAMPLE / "traces.jsonl", kind="production"), Source(path=SAMPLE / "evals.jsonl", kind="eval")]
    settings = Settings(sources=sources, labels=[], queue_out=tmp_path / f"{name}.jsonl", suite_dir=tmp_path / name,
                        report_out=tmp_path / f"{name}.html", mine=MineSettings(budget=10), dask=dask)
    db = str(tmp_path / f"{name}.duckdb")
    first = nightly(settings=settings, db=db)
    settings.sources.append(Source(path=SAMPLE / "chat_traces.jsonl", kind="production"))
    second = nightly(settings=settings, db=db)
    with Store(db, read_only=True) as store:
        assignments = store.con.execute(
            "SELECT r.started_at, a.item_id, a.cluster_id, a.outlier_score, coalesce(a.nearest_eval_similarity, 0) "
            "FROM cluster_assignments a JOIN runs r USING (run_id) ORDER BY 1, 2").fetchall()
        vectors = store.con.execute("SELECT content_hash, vector FROM embeddings ORDER BY 1").fetchall()
    return first.mined, second.mined, [row[1:] for row in assignments], vectors


def models_loaded() -> int:
    return sum(embedder._model is not None for embedder in embed._RESIDENT.values())


def test_dask_workers_mine_what_the_default_runner_mines(tmp_path):
    from distributed import Client, LocalCluster

    # the cluster closes inside the harness: its workers log to the harness's Prefect API
    with (prefect_test_harness(server_startup_timeout=EPHEMERAL_STARTUP_TIMEOUT_SECONDS),
          LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster):
        local = nights(tmp_path, "default", None)
        assert models_loaded() == 0  # the default runner encodes with the embedder it was given
        distributed = nights(tmp_path, "dask", cluster.scheduler_address)
        with Client(cluster.scheduler_address) as client:
            assert sum(client.run(models_loaded).values()) >= 1
    assert models_loaded() == 0  # the workers encoded, not this process

    for ours, theirs in zip(local[:2], distributed[:2], strict=True):
        assert (ours.mode, ours.mode_reason, ours.embedded) == (theirs.mode, theirs.mode_reason, theirs.embedded)
        assert ours.coverage == theirs.coverage
        assert [(p.trace_id, p.reason) for p in ours.picks] == [(p.trace_id, p.reason) for p in theirs.picks]
    # night two placed its 80 new traces into night one's clusters (on the workers, under Dask), found
    # them drifting and refitted. The shares move with BLAS and thread counts; their relation does not.
    drift = re.fullmatch(r"drift: (\d+)% of the 80 new traces fit no cluster, against (\d+)% at the fit",
                         local[1].mode_reason)
    assert drift and int(drift[1]) - int(drift[2]) >= 100 * DRIFT_MARGIN - 1, local[1].mode_reason  # each figure rounded
    assert [row[:2] for row in local[2]] == [row[:2] for row in distributed[2]]
    # torch's thread count differs between the processes: scores agree to float precision, not bit for bit
    assert [row[2:] for row in local[2]] == [pytest.approx(row[2:], abs=1e-5) for row in distributed[2]]
    assert [h for h, _ in local[3]] == [h for h, _ in distributed[3]]
    for (_, ours), (_, theirs) in zip(local[3], distributed[3], strict=True):
        assert ours == pytest.approx(theirs, abs=1e-5)


def test_an_address_where_no_scheduler_answers_fails_before_anything_runs_with_the_fix():
    from flows.nightly import DaskUnreachable, check_dask

    with pytest.raises(DaskUnreachable, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9 .*leave --dask out"):
        check_dask("tcp://127.0.0.1:9", timeout=1)
