"""Draft tool checks benchmark: would a suggested required/forbidden tool check tell a region's
failed traces from its successful ones?

Run by hand: .venv/bin/python benchmarks/suggestions.py [--shares 0.5 0.75 1.0] [--min-successful 3 5]

Data: τ-bench (200 airline trajectories) and τ²-bench (444 airline/retail/telecom simulations)
from ../shared/corpora, ingested with the project's own readers; reward 1 is a success. One `mine`
per corpus with its defaults (MiniLM, intent view). Then every trace of every region is treated
as if queued: `label.suggest.suggest` draws its tool checks from the region's other successful
traces (the trace itself left out), as `queue export` does. For the traces whose region has
enough other successful traces ("judged"):
- failed caught: the share of failed traces that get a tool check. A suggested check always fails
  on the trace it was drawn for (its required tools are ones it did not call, its forbidden ones
  ones it did), so this is the share whose check would have failed them;
- successful pass: the share of successful traces that get no tool check, i.e. whose own
  leave-one-out check they pass;
- precision: of the traces that get a tool check, the share that failed (against the failure
  rate of the judged traces);
- same check on the successful: each failed trace's check applied to every other successful
  trace of its region, the share of those that pass it.
Also printed (stderr): how many caught traces only a required or only a forbidden tool caught, and
how often a `not_contains` claim was suggested.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.label.suggest import succeeded, suggest  # noqa: E402
from harness_evals.mine.embed import get_embedder  # noqa: E402
from harness_evals.mine.pipeline import mine  # noqa: E402
from harness_evals.records import NOISE  # noqa: E402
from harness_evals.store import Store  # noqa: E402
from harness_evals.store.clusters import production_clusters  # noqa: E402
from harness_evals.store.suggestions import region_traces  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SOURCES = {
    "tau-bench": sorted((CORPORA / "tau-bench-trajectories").glob("*.json")),
    "tau2-bench": sorted((CORPORA / "tau2-bench-trajectories").glob("*/*_1trial*.json")),
}
TOOL_CHECKS = ("required_tools", "forbidden_tools")


def passes(tools: set[str], check: dict) -> bool:
    return set(check.get("required_tools", [])) <= tools and not set(check.get("forbidden_tools", [])) & tools


def measure(store: Store, run_id: str, *, min_successful: int, required_share: float) -> dict:
    clusters = {t: c for t, c in production_clusters(store, run_id).items() if c != NOISE}
    rows = store.con.execute("SELECT trace_id, steps, messages, output FROM traces").fetchall()
    queued = [{"trace_id": t, "run_id": run_id, "cluster_id": clusters[t], "steps": json.loads(steps),
               "messages": json.loads(messages or "null"), "output": output}
              for t, steps, messages, output in rows if t in clusters]
    drafts = suggest(store, queued, min_successful=min_successful, required_share=required_share)
    members = region_traces(store, sorted({(run_id, c) for c in clusters.values()}))
    outcome = {m.trace_id: succeeded(m.reward, m.success, m.feedback_score) for m in members}
    tools = {m.trace_id: set(m.tools) for m in members}
    judged = {t: d for t, d in drafts.items() if "region" not in d.sources and outcome[t] is not None}
    checks = {t: {k: v for k, v in (d.checks or {}).items() if k in TOOL_CHECKS} for t, d in judged.items()}
    failed = [t for t in judged if outcome[t] is False]
    successful = [t for t in judged if outcome[t] is True]
    caught = [t for t in failed if checks[t]]
    flagged = [t for t in judged if checks[t]]
    transfers = [passes(tools[other], checks[t]) for t in caught for other in successful
                 if clusters[other] == clusters[t]]
    return {
        "regions": len({clusters[t] for t in judged}), "judged": len(judged), "failed": len(failed),
        "caught": len(caught), "successful": len(successful),
        "successful_pass": sum(1 for t in successful if not checks[t]),
        "flagged": len(flagged), "flagged_failed": sum(1 for t in flagged if outcome[t] is False),
        "transfer_pass": sum(transfers), "transfers": len(transfers),
        "required_only": sum(1 for t in caught if set(checks[t]) == {"required_tools"}),
        "forbidden_only": sum(1 for t in caught if set(checks[t]) == {"forbidden_tools"}),
        "claims": [outcome[t] for t, d in drafts.items() if d.checks and "not_contains" in d.checks],
    }


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2f} ({part}/{whole})" if whole else "–"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    parser.add_argument("--min-successful", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()
    embedder = get_embedder("minilm")
    print("| corpus | min_successful | required_share | regions | judged (failed) | failed caught | "
          "successful pass | precision | same check on the successful |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, files in SOURCES.items():
        with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "h.duckdb") as store:
            for path in files:
                assert not ingest_file(store, path, kind="production").quarantined
            report = mine(store, budget=0, embedder=embedder)
            print(f"# {name}: {report.traces} traces, {report.clusters} regions, {report.noise} in none",
                  file=sys.stderr)
            for min_successful in args.min_successful:
                for required_share in args.shares:
                    m = measure(store, report.run_id, min_successful=min_successful, required_share=required_share)
                    print(f"| {name} | {min_successful} | {required_share} | {m['regions']} | "
                          f"{m['judged']} ({m['failed']}) | {share(m['caught'], m['failed'])} | "
                          f"{share(m['successful_pass'], m['successful'])} | "
                          f"{share(m['flagged_failed'], m['flagged'])} vs {share(m['failed'], m['judged'])} | "
                          f"{share(m['transfer_pass'], m['transfers'])} |")
                    print(f"#   min_successful {min_successful}, required_share {required_share}: caught by required "
                          f"only {m['required_only']}, forbidden only {m['forbidden_only']}; not_contains suggested "
                          f"on {len(m['claims'])} traces in a region, {m['claims'].count(False)} of them failed",
                          file=sys.stderr)


if __name__ == "__main__":
    main()
