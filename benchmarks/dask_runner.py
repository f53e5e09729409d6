"""The mining subflow in this process against a local Dask cluster, on the same traffic.

Run by hand: .venv/bin/python benchmarks/dask_runner.py [--traces 10000] [--workers 2]

Traffic: the first `--traces` CLINC150 requests (../shared/corpora/clinc150, shuffled with seed 0)
and one eval case per intent, ingested into two fresh stores. Timed: the real `harness-evals-mine`
subflow (embedding with MiniLM from cold, clustering, coverage, sampling) on Prefect's ephemeral
API, once with the default runner and once with a `LocalCluster` of `--workers` worker processes
(one thread each) reached through `--dask ADDRESS`'s code path. Compared: cluster assignments and
queue picks (equal or not) and the largest difference between the two stores' vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import numpy as np  # noqa: E402

from flows.nightly import mine_flow, task_runner_for  # noqa: E402
from harness_evals.config import MineSettings  # noqa: E402
from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.redact import RedactionRules  # noqa: E402
from harness_evals.store import Store  # noqa: E402

CLINC = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "clinc150" / "data_full.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pairs = [pair for split in json.loads(CLINC.read_text()).values() for pair in split]
    random.Random(0).shuffle(pairs)
    evals = {intent: text for text, intent in reversed(pairs) if intent != "oos"}
    folder = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    (folder / "traces.jsonl").write_text("".join(
        json.dumps({"trace_id": f"t{n}", "timestamp": None, "input": text}) + "\n" for n, (text, _) in enumerate(pairs[: args.traces])))
    (folder / "evals.jsonl").write_text("".join(
        json.dumps({"id": f"eval-{intent}", "input": text}) + "\n" for intent, text in evals.items()))

    from distributed import LocalCluster

    results = {}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster:
        for name, address in (("default runner", None), (f"dask, {args.workers} workers", cluster.scheduler_address)):
            db = str(folder / f"{name.split(',')[0]}.duckdb")
            with Store(db) as store:
                ingest_file(store, folder / "traces.jsonl", kind="production")
                ingest_file(store, folder / "evals.jsonl", kind="eval")
            start = time.perf_counter()
            report = mine_flow.with_options(task_runner=task_runner_for(address))(
                db, MineSettings(budget=50), RedactionRules(), False, None, address is not None)
            seconds = time.perf_counter() - start
            with Store(db, read_only=True) as store:
                assignments = store.con.execute(
                    "SELECT item_id, cluster_id FROM cluster_assignments ORDER BY item_id").fetchall()
                vectors = np.array([row[0] for row in store.con.execute(
                    "SELECT vector FROM embeddings ORDER BY content_hash").fetchall()], dtype=np.float32)
            results[name] = (seconds, report, assignments, vectors)

    print(f"{args.traces} CLINC150 requests + {len(evals)} eval cases, MiniLM from cold\n")
    print("| runner | mine subflow | embedded | clusters | queued |\n|---|---|---|---|---|")
    for name, (seconds, report, _, _) in results.items():
        print(f"| {name} | {seconds:.1f} s | {report.embedded} | {report.clusters} | {len(report.picks)} |")
    (_, ours, our_assignments, our_vectors), (_, theirs, their_assignments, their_vectors) = results.values()
    print(f"\nsame assignments: {our_assignments == their_assignments}; same picks: "
          f"{[p.trace_id for p in ours.picks] == [p.trace_id for p in theirs.picks]}; "
          f"largest vector difference: {np.abs(our_vectors - their_vectors).max():.2e}")


if __name__ == "__main__":
    main()
