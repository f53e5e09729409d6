"""Outcomes per region: each region's failure rate, and how many failed traces the queue reaches
with and without the sampler's failure weighting, at the same budget.

Run by hand: .venv/bin/python benchmarks/outcomes.py [--budgets 10 20 40] [--corpora sample tau-bench tau2-bench]

Data: the bundled sample as `make run` reads it (data/sample/harness-evals.toml's sources: 280
production traces, 25 eval cases; its labels are not imported, since a fresh store has nothing
queued for them), τ-bench (200 airline trajectories) and τ²-bench (444 airline/retail/telecom
simulations) from ../shared/corpora, ingested with the project's own readers into a temporary
store. One `mine` with budget 0 and the defaults (MiniLM, intent view) fits the regions; then, on a
copy of that store per budget and setting, one `mine` with that budget places the traces into the
same regions and queues: once with `failure_weight=1` (outcomes weigh nothing: the sampler before
the weighting), once with the default. A trace failed as the queue reads it
(label.suggest.succeeded: reward below 1, a success flag false, feedback below 0.5).
Printed: per-region failure rates of the fitting run (stderr for the long tables), and per budget
the picks whose trace failed before and after, how many picks the weighting changed, and how many
weighted picks name their region's rate in their reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.config import load_settings  # noqa: E402
from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.mine.embed import get_embedder  # noqa: E402
from harness_evals.mine.pipeline import mine  # noqa: E402
from harness_evals.mine.sample import FAILURE_WEIGHT, failure_weights, wilson_lower_bound  # noqa: E402
from harness_evals.records import NOISE  # noqa: E402
from harness_evals.store import Store  # noqa: E402
from harness_evals.store.clusters import production_clusters  # noqa: E402
from harness_evals.store.suggestions import region_traces  # noqa: E402
from harness_evals.label.suggest import succeeded  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"


def sources(name: str) -> list[tuple[Path, str]]:
    if name == "sample":
        settings = load_settings(REPO / "data" / "sample" / "harness-evals.toml")
        return [(REPO / source.path, source.kind) for source in settings.sources]
    if name == "tau-bench":
        return [(path, "production") for path in sorted((CORPORA / "tau-bench-trajectories").glob("*.json"))]
    return [(path, "production") for path in sorted((CORPORA / "tau2-bench-trajectories").glob("*/*_1trial*.json"))]


def failed_traces(store: Store, run_id: str) -> set[str]:
    clusters = set(production_clusters(store, run_id).values())
    return {row.trace_id for row in region_traces(store, [(run_id, cluster_id) for cluster_id in sorted(clusters)])
            if succeeded(row.reward, row.success, row.feedback_score) is False}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--corpora", nargs="+", default=["sample", "tau-bench", "tau2-bench"])
    args = parser.parse_args()
    embedder = get_embedder("minilm")
    results = []
    for name in args.corpora:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder) / "base.duckdb"
            with Store(base) as store:
                for path, kind in sources(name):
                    assert not ingest_file(store, path, kind=kind).quarantined, path
                fitted = mine(store, budget=0, embedder=embedder)
                failed = failed_traces(store, fitted.run_id)
            known, failed_count, rate = fitted.outcomes
            weights = failure_weights(fitted.coverage)
            print(f"## {name}: {fitted.traces} traces, {fitted.eval_cases} eval cases, {fitted.clusters} regions, "
                  f"{fitted.noise} in none; {failed_count} of {known} with an outcome failed ({rate:.0%}); "
                  f"covered {fitted.covered_traffic:.0%}", file=sys.stderr)
            print("| region | traces | with an outcome | failed | rate | lower bound | weight | covered |",
                  file=sys.stderr)
            print("|---|---|---|---|---|---|---|---|", file=sys.stderr)
            for row in sorted(fitted.coverage, key=lambda row: (-(row.failure_rate or 0), -row.production_count)):
                if not row.production_count:
                    continue
                print(f"| {'noise' if row.cluster_id == NOISE else row.cluster_id} | {row.production_count} | "
                      f"{row.outcome_count} | {row.failed_count} | "
                      f"{'–' if row.failure_rate is None else f'{row.failure_rate:.0%}'} | "
                      f"{wilson_lower_bound(row.failed_count, row.outcome_count):.2f} | "
                      f"{weights.get(row.cluster_id, 1.0):.2f} | {row.coverage:.0%} |", file=sys.stderr)
            for budget in args.budgets:
                reached = {}
                for weight in (1.0, FAILURE_WEIGHT):
                    copy = Path(folder) / f"b{budget}-w{weight}.duckdb"
                    shutil.copy(base, copy)
                    with Store(copy) as store:
                        report = mine(store, budget=budget, embedder=embedder, failure_weight=weight)
                    picks = report.picks
                    reached[weight] = (len(picks), sum(pick.trace_id in failed for pick in picks),
                                       sum("region fails" in pick.reason for pick in picks),
                                       {pick.trace_id for pick in picks})
                results.append((name, len(failed), budget, reached[1.0], reached[FAILURE_WEIGHT]))
    print("| corpus | failed traces | budget | picks | failed picks, unweighted | failed picks, weighted "
          "| picks changed | weighted picks naming the region's rate |")
    print("|---|---|---|---|---|---|---|---|")
    for name, failed, budget, before, after in results:
        print(f"| {name} | {failed} | {budget} | {after[0]} | {before[1]} ({before[1] / max(before[0], 1):.0%}) | "
              f"{after[1]} ({after[1] / max(after[0], 1):.0%}) | {len(after[3] - before[3])} | {after[2]} |")


if __name__ == "__main__":
    main()
