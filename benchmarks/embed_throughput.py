"""Embedding throughput of `embed_pending` with the packaged MiniLM, cold and warm cache.

Run by hand: .venv/bin/python benchmarks/embed_throughput.py [--limit N]
Texts: the bundled sample's requests, and CLINC150's test queries from ../shared/corpora
(short real user requests), when that folder is there.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.mine.embed import embed_pending, get_embedder  # noqa: E402
from harness_evals.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO.parent / "shared" / "corpora" / "clinc150" / "data_full.json"


def sample_requests() -> list[str]:
    texts = [json.loads(line)["input"] for line in (REPO / "data/sample/traces.jsonl").open()]
    for line in (REPO / "data/sample/chat_traces.jsonl").open():
        messages = json.loads(line)["messages"]
        texts.append(next(m["content"] for m in messages if m["role"] == "user"))
    return texts


def measure(name: str, texts: list[str]) -> None:
    texts = list(dict.fromkeys(texts))  # distinct: the cache would skip repeats anyway
    embedder = get_embedder("minilm")
    embedder.encode(["warm up the model"])  # model load is not throughput
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        start = time.perf_counter()
        embed_pending(store, embedder, texts, view="intent", run_id="bench")
        cold = time.perf_counter() - start
        start = time.perf_counter()
        report = embed_pending(store, embedder, texts, view="intent", run_id="bench")
        warm = time.perf_counter() - start
    assert report.embedded == 0
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"| {name} | {len(texts)} | {mean_chars:.0f} | {cold:.2f} | {len(texts) / cold:.0f} | {warm:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=4500)
    args = parser.parse_args()
    print("| texts | n | mean chars | cold s | traces/s | warm (cached) s |")
    print("|---|---|---|---|---|---|")
    measure("sample requests", sample_requests())
    if CLINC.exists():
        measure("CLINC150 test", [text for text, _ in json.loads(CLINC.read_text())["test"]][: args.limit])


if __name__ == "__main__":
    main()
