"""Long-tail discovery benchmark: does `mine` queue what the eval set misses?

Run by hand (not in CI):
    .venv/bin/pip install -e '.[bench]'        # BERTopic, for the peer
    .venv/bin/python benchmarks/longtail.py [--seeds 0 1 2] [--corpora clinc150 banking77]

Scenarios from labelled intent corpora in ../shared/corpora. Per seed: the labels are shuffled;
60% are covered (the eval set gets 3 examples of each), the rest uncovered. A production stream
of 4,000 requests follows a Zipf frequency (exponent 1) over a random order of all labels, so
uncovered labels are both frequent and rare; for CLINC150, 3% of the stream is its out-of-scope
queries, which no eval case covers and which count as one more uncovered label. Requests are
drawn without replacement while a label's pool lasts, then with replacement.

`ours` is the real CLI (ingest, ingest, mine --budget B, queue export) with its defaults. The
peers run on the same vectors, read back from the store `mine` wrote:
random; farthest-first (greedy k-centre from the eval set); BERTopic topics with eval cases
assigned by transform(), one representative per eval-free topic, largest topics first; plain
HDBSCAN over production+eval, the medoid of each eval-free cluster, largest first.

recall@B: share of uncovered labels with >= 3 production traces that get >= 1 queued trace.
precision@B: share of queued traces whose label is uncovered. B = 1x and 1.5x the number of
those labels.

`--nights N` runs the loop a team lives instead: each night `mine --budget 1x`, a simulated
labeller labels every queued trace (`queue import`: a trace of an intent without an eval case gets
the true intent as a reference answer; with `--labeller covered-by`, the default, a trace of an
intent that has one is labelled `covered_by` that case, with `--labeller cases` it gets a case too),
`emit` turns the labels into eval cases, and the next night mines again. Per night:
cumulative recall (targets with a queued trace on any night so far), cumulative precision (picks
whose intent had no eval case when picked), false coverage (of the traces whose intent still has
no eval case, the share the judge counts covered), newly false (of those of them the judge counted
uncovered the night before, the share the night's labels made covered; none on night 1), the
covered-traffic figure against the truth, and the suite's cases after the night's `emit`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness_evals.mine.cluster import cluster, reduce  # noqa: E402
from harness_evals.mine.pipeline import DEFAULTS  # noqa: E402
from harness_evals.mine.coverage import calibrate_covered_similarity, score_coverage  # noqa: E402
from harness_evals.mine.embed import embed_pending, get_embedder, load_vectors  # noqa: E402
from harness_evals.records import NOISE, Assignments, CoverageVerdicts  # noqa: E402
from harness_evals.mine.sample import select_for_labelling  # noqa: E402
from harness_evals.store import Store  # noqa: E402
from harness_evals.mine.views import TraceText, intent_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
CACHE = REPO / "benchmarks" / ".cache"
CLI = [str(Path(sys.executable).parent / "harness-evals")]
PRODUCTION_SIZE = 4000
COVERED_SHARE = 0.6
EVAL_PER_LABEL = 3
ZIPF_EXPONENT = 1.0
OOS_SHARE = 0.03
OOS = "oos"


def load_corpus(name: str) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {}
    if name == "clinc150":
        data = json.loads((CORPORA / "clinc150" / "data_full.json").read_text())
        for split in ("train", "val", "test", "oos_train", "oos_val", "oos_test"):
            for text, label in data[split]:
                pools.setdefault(label, []).append(text)
    elif name == "banking77":
        for split in ("train", "test"):
            with (CORPORA / "banking77" / f"{split}.csv").open(newline="") as handle:
                for row in csv.DictReader(handle):
                    pools.setdefault(row["category"], []).append(row["text"])
    else:
        raise SystemExit(f"unknown corpus {name}")
    return {label: list(dict.fromkeys(texts)) for label, texts in pools.items()}


def build_scenario(pools: dict[str, list[str]], seed: int):
    rng = np.random.default_rng(seed)
    labels = sorted(label for label in pools if label != OOS)
    shuffled = [labels[i] for i in rng.permutation(len(labels))]
    covered = set(shuffled[: round(COVERED_SHARE * len(labels))])
    remaining = {label: [texts[i] for i in rng.permutation(len(texts))] for label, texts in pools.items()}
    evals = []
    for label in sorted(covered):
        evals += [(text, label) for text in remaining[label][:EVAL_PER_LABEL]]
        remaining[label] = remaining[label][EVAL_PER_LABEL:]
    order = [labels[i] for i in rng.permutation(len(labels))]
    weights = 1.0 / np.arange(1, len(order) + 1) ** ZIPF_EXPONENT
    oos_count = round(OOS_SHARE * PRODUCTION_SIZE) if OOS in pools else 0
    counts = rng.multinomial(PRODUCTION_SIZE - oos_count, weights / weights.sum())
    production = []
    for label, count in [*zip(order, counts), (OOS, oos_count)]:
        pool = remaining.get(label, [])
        if count == 0 or not pool:
            continue
        drawn = pool[:count] + [pool[i] for i in rng.integers(0, len(pool), max(0, count - len(pool)))]
        production += [(text, label) for text in drawn]
    production = [production[i] for i in rng.permutation(len(production))]
    return production, evals, covered


def run(*args: str) -> str:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"harness-evals {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def template_db(corpus: str, pools: dict[str, list[str]], embedder: str) -> Path:
    """A store holding every text of the corpus embedded once (per embedder); scenarios start from a copy."""
    path = CACHE / f"{corpus}.duckdb"
    CACHE.mkdir(parents=True, exist_ok=True)
    texts = sorted({intent_view(TraceText(t)) for pool in pools.values() for t in pool})
    start = time.perf_counter()
    with Store(path) as store:
        report = embed_pending(store, get_embedder(embedder), texts, view="intent", run_id="benchmark-cache")
    if report.embedded:
        print(f"# embedded {report.embedded} {corpus} texts with {embedder} in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    return path


def write_inputs(folder: Path, production, evals) -> None:
    with (folder / "production.jsonl").open("w") as handle:
        for i, (text, _) in enumerate(production):
            handle.write(json.dumps({"trace_id": f"p{i:05d}", "timestamp": None, "input": text}) + "\n")
    with (folder / "evals.jsonl").open("w") as handle:
        for i, (text, _) in enumerate(evals):
            handle.write(json.dumps({"id": f"e{i:04d}", "input": text}) + "\n")


def ours(template: Path, folder: Path, budget: int, embedder: str, judge: str) -> tuple[list[int], float]:
    db = folder / f"ours-{budget}.duckdb"
    shutil.copy(template, db)
    run("ingest", str(folder / "production.jsonl"), "--kind", "production", "--db", str(db))
    run("ingest", str(folder / "evals.jsonl"), "--kind", "eval", "--db", str(db))
    start = time.perf_counter()
    run("mine", "--budget", str(budget), "--embedder", embedder, "--coverage-judge", judge, "--db", str(db))
    seconds = time.perf_counter() - start
    run("queue", "export", "--out", str(folder / "queue.jsonl"), "--db", str(db))
    picks = [int(json.loads(line)["trace_id"][1:]) for line in (folder / "queue.jsonl").read_text().splitlines()]
    return picks, seconds


def nights(template: Path, folder: Path, production, evals, covered: set[str], targets: set[str], *, budget: int,
           count: int, embedder: str, judge: str, labeller: str) -> list[dict[str, float]]:
    """The loop, night after night, through the real CLI; one row of figures per night. The labeller
    gives every queued trace a case of its own (`cases`), or (`covered-by`) says of a trace whose
    intent has an eval case that this case covers it: the item's nearest case when it is of that
    intent, else the intent's first case."""
    from harness_evals.report.workspace import Workspace

    db = folder / "loop.duckdb"
    shutil.copy(template, db)
    run("ingest", str(folder / "production.jsonl"), "--kind", "production", "--db", str(db))
    run("ingest", str(folder / "evals.jsonl"), "--kind", "eval", "--db", str(db))
    label_of = {f"p{i:05d}": label for i, (_, label) in enumerate(production)}
    intent_of = {f"e{i:04d}": label for i, (_, label) in enumerate(evals)}
    has_case, reached, picks, on_uncovered, rows, before = set(covered), set(), 0, 0, [], {}
    for night in range(1, count + 1):
        run("mine", "--budget", str(budget), "--embedder", embedder, "--coverage-judge", judge, "--db", str(db))
        queue = folder / f"queue-{night}.jsonl"
        run("queue", "export", "--out", str(queue), "--db", str(db))
        items = [json.loads(line) for line in queue.read_text().splitlines()]
        queued = [item["trace_id"] for item in items]
        with Workspace(db) as workspace:
            verdicts = {row["item_id"]: row["covered"] for row in workspace.assignments().to_pylist()
                        if row["item_kind"] == "production"}
            figure = workspace.summary()["covered_traffic"]
        still = [trace_id for trace_id, label in label_of.items() if label not in has_case]
        # of those, the ones uncovered last night: how many the night's labels made covered
        was_uncovered = [trace_id for trace_id in still if not before.get(trace_id, True)]
        picks += len(queued)
        on_uncovered += sum(label_of[trace_id] not in has_case for trace_id in queued)
        reached |= {label_of[trace_id] for trace_id in queued} & targets
        rows.append({"recall": len(reached) / len(targets), "precision": on_uncovered / picks if picks else 0.0,
                     "false coverage": sum(verdicts[t] for t in still) / len(still) if still else 0.0,
                     "newly false": (sum(verdicts[t] for t in was_uncovered) / len(was_uncovered)
                                     if was_uncovered else None),
                     "covered figure": figure, "covered truth": 1 - len(still) / len(label_of)})
        labels = folder / f"labels-{night}.jsonl"
        labels.write_text("".join(json.dumps(simulated_label(item, label_of, intent_of, has_case, labeller)) + "\n"
                                  for item in items))
        run("queue", "import", str(labels), "--db", str(db))
        run("emit", "--out", str(folder / "suites"), "--db", str(db))
        with Workspace(db) as workspace:
            emitted = workspace.queue("emitted").to_pylist()
        intent_of |= {row["case_id"]: label_of[row["trace_id"]] for row in emitted}
        rows[-1]["suite cases"] = len(emitted)
        has_case |= {label_of[trace_id] for trace_id in queued}
        before = verdicts
    return rows


def simulated_label(item, label_of, intent_of, has_case, labeller: str) -> dict:
    intent = label_of[item["trace_id"]]
    if labeller == "covered-by" and intent in has_case:
        nearest = (item.get("nearest_case") or {}).get("case_id")
        case = nearest if intent_of.get(nearest) == intent else min(c for c, i in intent_of.items() if i == intent)
        return {"trace_id": item["trace_id"], "covered_by": case}
    return {"trace_id": item["trace_id"], "expected": {"reference": intent}, "verdict": "pass"}


def random_peer(production_vectors, eval_vectors, budget, seed, **_):
    rng = np.random.default_rng(seed)
    return rng.choice(len(production_vectors), size=min(budget, len(production_vectors)), replace=False).tolist()


def farthest_first(production_vectors, eval_vectors, budget, **_):
    nearest = (production_vectors @ eval_vectors.T).max(axis=1)
    picks = []
    for _ in range(budget):
        index = int(np.argmin(nearest))
        picks.append(index)
        nearest = np.maximum(nearest, production_vectors @ production_vectors[index])
        nearest[index] = np.inf
    return picks


def plain_hdbscan(production_vectors, eval_vectors, budget, seed, **_):
    vectors = np.vstack([production_vectors, eval_vectors])
    labels = cluster(reduce(vectors, dimensions=16, seed=seed), min_cluster_size=5).labels
    production_labels, eval_labels = labels[: len(production_vectors)], set(labels[len(production_vectors) :])
    sizes = Counter(int(label) for label in production_labels if label != -1 and label not in eval_labels)
    picks = []
    for label, _ in sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:budget]:
        members = np.flatnonzero(production_labels == label)
        centroid = production_vectors[members].mean(axis=0)
        picks.append(int(members[np.argmax(production_vectors[members] @ centroid)]))
    return picks


def bertopic_peer(production_vectors, eval_vectors, budget, seed, production_texts, eval_texts, **_):
    from bertopic import BERTopic
    from umap import UMAP

    model = BERTopic(umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed))
    topics, probabilities = model.fit_transform(production_texts, embeddings=production_vectors)
    eval_topics, _ = model.transform(eval_texts, embeddings=eval_vectors)
    topics = np.asarray(topics)
    covered = set(int(t) for t in eval_topics)
    sizes = Counter(int(t) for t in topics if t != -1 and t not in covered)
    picks = []
    for topic, _ in sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:budget]:
        members = np.flatnonzero(topics == topic)
        picks.append(int(members[np.argmax(np.asarray(probabilities)[members])]))
    return picks


def ceiling(production_vectors, eval_vectors, budget, seed, uncovered, **_):
    """Not a peer: our sampler told which traces are uncovered (it knows the labels). What is
    left is the sampler's own loss; its distance to ours is the loss of telling covered apart."""
    nearest = np.where(uncovered, 0.0, 1.0).astype(np.float32)
    none = Assignments(np.full(len(nearest), NOISE), np.zeros(len(nearest)), np.zeros(len(nearest)))
    threshold = calibrate_covered_similarity(eval_vectors)
    verdicts = CoverageVerdicts.at_threshold(nearest, threshold)
    regions = score_coverage(none.labels, np.array([], dtype=int), verdicts.covered)
    picks = select_for_labelling([str(i) for i in range(len(nearest))], production_vectors, none, verdicts, regions,
                                 budget=budget, alike_similarity=threshold, seed=seed)
    return [int(pick.trace_id) for pick in picks]


def separability(production_vectors, eval_vectors, uncovered) -> float:
    """ROC AUC of the nearest eval case's cosine at telling a covered label's trace from an
    uncovered one: what the embedding offers any method that trusts it."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(~uncovered, (production_vectors @ eval_vectors.T).max(axis=1)))


PEERS = {"random": random_peer, "farthest-first": farthest_first, "hdbscan-medoids": plain_hdbscan,
         "bertopic": bertopic_peer}


def score(picks, production, covered, targets):
    picked_labels = [production[i][1] for i in picks]
    recall = len(targets & set(picked_labels)) / len(targets)
    precision = sum(label not in covered for label in picked_labels) / len(picks) if picks else 0.0
    return recall, precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--corpora", nargs="+", default=["clinc150", "banking77"])
    parser.add_argument("--peers", nargs="*", default=list(PEERS))
    parser.add_argument("--nights", type=int, default=0, help="run the labelling loop this many nights instead")
    parser.add_argument("--embedder", default="minilm",
                        help="any of mine's: minilm-int8 to check it loses nothing, st:FOLDER to try another model")
    parser.add_argument("--coverage-judge", default=DEFAULTS.coverage_judge,
                        help=f"mine's judge for `ours` (its default: {DEFAULTS.coverage_judge}), nearest-eval-case, ...")
    parser.add_argument("--labeller", choices=["covered-by", "cases"], default="covered-by",
                        help="in the loop: say covered_by of a pick whose intent has a case, or give every pick a case")
    args = parser.parse_args()
    model = get_embedder(args.embedder).name

    if args.nights:
        return loop_table(args)
    results: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    timings: dict[tuple[str, str], list[float]] = {}
    aucs: dict[str, list[float]] = {}
    for corpus, template, seed, production, evals, covered, targets in scenarios(args):
        budgets = {"1x": len(targets), "1.5x": round(1.5 * len(targets))}
        with tempfile.TemporaryDirectory() as folder_name:
            folder = Path(folder_name)
            write_inputs(folder, production, evals)
            peer_inputs, rankings = None, {}
            for budget_name, budget in budgets.items():
                picks, seconds = ours(template, folder, budget, args.embedder, args.coverage_judge)
                timings.setdefault((corpus, "ours (mine)"), []).append(seconds)
                results.setdefault((corpus, budget_name, "ours"), []).append(score(picks, production, covered, targets))
                if peer_inputs is None:
                    with Store(folder / f"ours-{budget}.duckdb", read_only=True) as store:
                        production_texts = [intent_view(TraceText(t)) for t, _ in production]
                        eval_texts = [intent_view(TraceText(t)) for t, _ in evals]
                        peer_inputs = dict(
                            production_vectors=load_vectors(store, production_texts, model=model, view="intent"),
                            eval_vectors=load_vectors(store, eval_texts, model=model, view="intent"),
                            production_texts=production_texts, eval_texts=eval_texts, seed=seed,
                        )
                        uncovered = np.array([label not in covered for _, label in production])
                        aucs.setdefault(corpus, []).append(separability(
                            peer_inputs["production_vectors"], peer_inputs["eval_vectors"], uncovered))
                        rankings["ceiling"] = ceiling(budget=max(budgets.values()), uncovered=uncovered,
                                                      **peer_inputs)
                results.setdefault((corpus, budget_name, "ceiling: labels known, our sampler"), []).append(
                    score(rankings["ceiling"][:budget], production, covered, targets))
                for peer in args.peers:
                    if peer not in rankings:  # every peer's picks at B are the first B of one ranking
                        start = time.perf_counter()
                        rankings[peer] = PEERS[peer](budget=max(budgets.values()), **peer_inputs)
                        timings.setdefault((corpus, peer), []).append(time.perf_counter() - start)
                    results.setdefault((corpus, budget_name, peer), []).append(
                        score(rankings[peer][:budget], production, covered, targets)
                    )
        print(f"# {corpus} seed {seed}: {len(production)} traces, {len(evals)} eval cases, "
              f"{len(targets)} uncovered labels with >= 3 traces", file=sys.stderr)

    print(f"\nseeds {args.seeds}; ours judged by {args.coverage_judge}; mean ± stdev (min) over seeds\n")
    print("| corpus | budget | method | recall | precision |")
    print("|---|---|---|---|---|")
    for (corpus, budget_name, method), values in results.items():
        recalls, precisions = [v[0] for v in values], [v[1] for v in values]
        print(f"| {corpus} | {budget_name} | {method} | {_fmt(recalls)} | {_fmt(precisions)} |")
    print("\n| corpus | separability: ROC AUC of the nearest eval case's cosine, covered vs uncovered traces |")
    print("|---|---|")
    for corpus, values in aucs.items():
        print(f"| {corpus} | {_fmt(values)} |")
    print("\n| corpus | method | seconds per run (mean) |")
    print("|---|---|---|")
    for (corpus, method), values in timings.items():
        print(f"| {corpus} | {method} | {statistics.mean(values):.2f} |")


def scenarios(args: argparse.Namespace):
    """Per corpus and seed: the template store, the scenario, and its targets (uncovered labels with
    at least 3 production traces)."""
    for corpus in args.corpora:
        pools = load_corpus(corpus)
        template = template_db(corpus, pools, args.embedder)
        for seed in args.seeds:
            production, evals, covered = build_scenario(pools, seed)
            counts = Counter(label for _, label in production)
            targets = {label for label, count in counts.items() if label not in covered and count >= 3}
            yield corpus, template, seed, production, evals, covered, targets


def loop_table(args: argparse.Namespace) -> None:
    figures: dict[tuple[str, int], list[dict[str, float]]] = {}
    for corpus, template, seed, production, evals, covered, targets in scenarios(args):
        with tempfile.TemporaryDirectory() as folder_name:
            write_inputs(Path(folder_name), production, evals)
            for night, row in enumerate(nights(template, Path(folder_name), production, evals, covered, targets,
                                               budget=len(targets), count=args.nights, embedder=args.embedder,
                                               judge=args.coverage_judge, labeller=args.labeller),
                                        start=1):
                figures.setdefault((corpus, night), []).append(row)
        print(f"# {corpus} seed {seed}: {args.nights} nights", file=sys.stderr)
    names = ["recall", "precision", "false coverage", "newly false", "covered figure", "covered truth", "suite cases"]
    print(f"\nseeds {args.seeds}; judged by {args.coverage_judge}; labeller {args.labeller}; budget 1x per night; "
          "mean ± stdev (min) over seeds\n")
    print("| corpus | night | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for (corpus, night), rows in figures.items():
        print(f"| {corpus} | {night} | " + " | ".join(_fmt([row[name] for row in rows]) for name in names) + " |")


def _fmt(values: list[float | None]) -> str:
    """Mean ± stdev (min); a figure some seeds lack (nothing to measure that night) over the others."""
    values = [value for value in values if value is not None]
    if not values:
        return "–"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f} ({min(values):.2f})"


if __name__ == "__main__":
    main()
