"""Nightly benchmark: an incremental night against a full refit on the same store.

Run by hand: .venv/bin/python benchmarks/nightly.py [--history 20000] [--night 2000] [--seed 0]

Traffic: CLINC150 requests (../shared/corpora/clinc150, every split and out-of-scope, 23,700
texts), shuffled with the seed; `--history` of them are the store before tonight, `--night` more
arrive tonight from the same distribution (no drift), and 150 eval cases are one request of each
intent. All texts are embedded with MiniLM before timing (the embedding cache makes the cost
the same for both kinds of night; it is timed separately). Timed: `mine` with a budget of 50,
first the night before (a full fit), then tonight twice on copies of that store: incremental
(the default) and `full=True`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.mine.embed import embed_pending, get_embedder  # noqa: E402
from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.mine.pipeline import mine  # noqa: E402
from harness_evals.store import Store  # noqa: E402
from harness_evals.mine.views import TraceText, intent_view  # noqa: E402

CLINC = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "clinc150" / "data_full.json"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=20000)
    parser.add_argument("--night", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = json.loads(CLINC.read_text())
    pairs = [pair for split in data.values() for pair in split]
    random.Random(args.seed).shuffle(pairs)
    history, tonight = pairs[: args.history], pairs[args.history : args.history + args.night]
    evals, seen = [], set()
    for text, intent in pairs:
        if intent != "oos" and intent not in seen:
            seen.add(intent)
            evals.append({"id": f"eval-{intent}", "input": text})

    folder = Path(tempfile.mkdtemp(prefix="nightly-bench-"))
    rows = lambda chunk, start: [  # noqa: E731
        {"trace_id": f"t{start + n}", "timestamp": None, "input": text} for n, (text, _) in enumerate(chunk)
    ]
    model = get_embedder("minilm")
    with Store(folder / "base.duckdb") as store:
        ingest_file(store, write_jsonl(folder / "evals.jsonl", evals), kind="eval")
        ingest_file(store, write_jsonl(folder / "history.jsonl", rows(history, 0)), kind="production")
        texts = [intent_view(TraceText(text)) for text, _ in history + tonight] + [e["input"] for e in evals]
        start = time.perf_counter()
        embed_pending(store, model, texts, view="intent", run_id="benchmark")
        embed_seconds = time.perf_counter() - start
        start = time.perf_counter()
        before = mine(store, budget=50, embedder=model)
        before_seconds = time.perf_counter() - start
        ingest_file(store, write_jsonl(folder / "tonight.jsonl", rows(tonight, args.history)), kind="production")
    shutil.copy(folder / "base.duckdb", folder / "full.duckdb")

    results = {}
    for name, db, full in (("incremental", "base.duckdb", False), ("full refit", "full.duckdb", True)):
        with Store(folder / db) as store:
            start = time.perf_counter()
            report = mine(store, budget=50, embedder=model, full=full)
            results[name] = (time.perf_counter() - start, report)

    print(f"history {len(history)}, tonight {len(tonight)}, eval cases {len(evals)}; embedding every text "
          f"once: {embed_seconds:.1f} s ({len(texts) / embed_seconds:.0f} texts/s)\n")
    print("| night | mode | seconds | clusters | emerging | covered traffic | queued |\n|---|---|---|---|---|---|---|")
    print(f"| before (history only) | {before.mode} | {before_seconds:.2f} | {before.clusters} | {len(before.emerging)} | "
          f"{before.covered_traffic:.3f} | {len(before.picks)} |")
    for name, (seconds, report) in results.items():
        print(f"| tonight, {name} | {report.mode} ({report.mode_reason}) | {seconds:.2f} | {report.clusters} | "
              f"{len(report.emerging)} | {report.covered_traffic:.3f} | {len(report.picks)} |")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
