from harness_evals.report.describe import describe_clusters, keywords_by_cluster
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from tests.conftest import topic_traces, trace, write_jsonl


def test_c_tf_idf_keywords_are_what_sets_a_cluster_apart_not_what_all_say():
    keywords = keywords_by_cluster({
        0: "hi I need a refund for my order\nplease refund order 4\nrefund the broken order",
        1: "hi I need to reset my password\nthe password reset link fails\nhelp, password",
    }, top=2)
    assert keywords == {0: ["order", "refund"], 1: ["password", "reset"]}  # "hi", "need", "help" never win


def test_each_cluster_is_described_with_redacted_examples_tools_and_coverage(store, tmp_path):
    rows = topic_traces(8) + [trace(f"card-{n}", f"my card 4111 1111 1111 1111 was charged twice for order {n}",
                                    steps=[{"name": "lookup", "error": "timeout" if n % 2 else None}])
                              for n in range(6)]
    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
    report = mine(store, budget=0, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8,
                  covered_similarity=0.6)
    descriptions = describe_clusters(store, report.run_id, namer=lambda words, examples: words[0].upper())
    assert sum(d.size for d in descriptions) == 30
    assert [d.gap for d in descriptions] == sorted((d.gap for d in descriptions), reverse=True)
    card = next(d for d in descriptions if any("charged twice" in e for e in d.examples))
    assert all(e.startswith("my card <CARD_1> was charged twice for order") for e in card.examples)
    assert card.top_tools == ["lookup"] and 0 < card.error_share < 1
    assert all(d.name == (d.keywords[0].upper() if d.keywords else d.name) for d in descriptions)
