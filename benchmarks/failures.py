"""Silent-failure benchmark: with a labelling budget, how many queued trajectories failed?

Run by hand: .venv/bin/python benchmarks/failures.py [--seeds 0 1 2] [--budgets 20 40]

Data: τ-bench (200 airline trajectories) and τ²-bench (444 airline/retail/telecom simulations)
from ../shared/corpora, ingested with the project's own readers; reward 0 is a failure. Per
seed, the eval set is the opening request of one trajectory of 30% of the tasks. Methods, all
on the same store and MiniLM vectors:
- random: a seeded uniform sample;
- intent: `mine` on the intent view with every detector off;
- intent+flags: `mine` on the intent view with the default detectors;
- trajectory+flags: `mine` on the trajectory view with the default detectors.
Reported: the share of queued trajectories that failed, and how many distinct failing tasks
the queue reaches (a task fails in several trials; one labelled failure per task is what a
regression suite needs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.mine.embed import get_embedder  # noqa: E402
from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.mine.pipeline import mine  # noqa: E402
from harness_evals.mine.signals import DetectorSettings  # noqa: E402
from harness_evals.store import Store  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SOURCES = {
    "tau-bench": sorted((CORPORA / "tau-bench-trajectories").glob("*.json")),
    "tau2-bench": sorted((CORPORA / "tau2-bench-trajectories").glob("*/*_1trial*.json")),
}
EVAL_SHARE = 0.3


def task_key(metadata: dict) -> str:
    return f"{metadata.get('domain') or 'airline'}:{metadata.get('task_id')}"


def run_corpus(name: str, files: list[Path], seeds: list[int], budgets: list[int]) -> dict:
    results: dict[tuple[int, str], list[tuple[float, int]]] = {}
    embedder = get_embedder("minilm")
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "template.duckdb"
        with Store(template) as store:
            for path in files:
                report = ingest_file(store, path, kind="production")
                assert not report.quarantined, report.quarantined[:3]
            rows = store.con.execute("SELECT trace_id, input, metadata FROM traces ORDER BY trace_id").fetchall()
        traces = {trace_id: (request, json.loads(metadata)) for trace_id, request, metadata in rows}
        failed = {trace_id for trace_id, (_, meta) in traces.items() if meta.get("reward") == 0}
        print(f"# {name}: {len(traces)} trajectories, {len(failed)} failed "
              f"({len(failed) / len(traces):.0%}), {len({task_key(traces[t][1]) for t in failed})} failing tasks",
              file=sys.stderr)
        for seed in seeds:
            rng = random.Random(seed)
            tasks = sorted({task_key(meta) for _, meta in traces.values()})
            eval_tasks = set(rng.sample(tasks, round(EVAL_SHARE * len(tasks))))
            evals, seen = [], set()
            for trace_id, (request, meta) in sorted(traces.items()):
                if task_key(meta) in eval_tasks and task_key(meta) not in seen:
                    seen.add(task_key(meta))
                    evals.append({"id": f"eval-{len(evals)}", "input": request})
            eval_path = Path(folder) / f"evals-{seed}.jsonl"
            eval_path.write_text("".join(json.dumps(e) + "\n" for e in evals))
            for budget in budgets:
                picks = {"random": rng.sample(sorted(traces), budget)}
                for method, view, detectors in (("intent", "intent", DetectorSettings(enabled=[])),
                                                 ("intent+flags", "intent", DetectorSettings()),
                                                 ("trajectory+flags", "trajectory", DetectorSettings())):
                    db = Path(folder) / f"{method}-{seed}-{budget}.duckdb"
                    db.write_bytes(template.read_bytes())
                    with Store(db) as store:
                        ingest_file(store, eval_path, kind="eval")
                        report = mine(store, budget=budget, embedder=embedder, view=view, seed=seed,
                                      detectors=detectors)
                    picks[method] = [pick.trace_id for pick in report.picks]
                for method, chosen in picks.items():
                    failures = [t for t in chosen if t in failed]
                    share = len(failures) / len(chosen) if chosen else 0.0
                    distinct = len({task_key(traces[t][1]) for t in failures})
                    results.setdefault((budget, method), []).append((share, distinct, len(chosen)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40])
    args = parser.parse_args()
    print("| corpus | budget | method | queued (mean) | failed share | distinct failing tasks |")
    print("|---|---|---|---|---|---|")
    for name, files in SOURCES.items():
        for (budget, method), values in run_corpus(name, files, args.seeds, args.budgets).items():
            shares = [v[0] for v in values]
            distinct = [v[1] for v in values]
            queued = statistics.mean(v[2] for v in values)
            spread = statistics.stdev(shares) if len(shares) > 1 else 0.0
            print(f"| {name} | {budget} | {method} | {queued:.0f} | {statistics.mean(shares):.2f} ± {spread:.2f} | "
                  f"{statistics.mean(distinct):.1f} |")


if __name__ == "__main__":
    main()
