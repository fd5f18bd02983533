"""Indexing a large corpus with Ray Data: chunking and embedding spread over a Ray cluster.

Embedding is the slow step by far (tens of passages per second per CPU), so it is the one to
spread. The driver reads the files (they are its files) and asks the backend which documents
changed; Ray Data then cleans, chunks and tokenises the changed ones (`map`, a pure function)
and embeds every passage and answer sentence (`map_batches` with a callable class: one
encoder actor per worker, the model loaded once each). The vectors come back to the driver,
which writes through the usual `Indexer.put`, one atomic write per group of documents, so
the backend and its guarantees are those of any other write. Nothing here is home-made
distribution: scheduling, retries and the actor pool are Ray's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from embeddings.chunking import ChunkerConfig
from embeddings.encoders import TextEncoder
from embeddings.indexer import (
    DocumentReport,
    Indexer,
    IndexReport,
    Prepared,
    Status,
    prepare_document,
)
from embeddings.sources import SourceDocument
from embeddings.tokenizer import default_tokenizer

EncoderFactory = Callable[[], TextEncoder]  # picklable: runs once in each Ray worker


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: a local Ray on this machine; "auto" or ray://host:port
    workers: int = 1  # encoder actors (one model each)
    cpus_per_worker: float = 1.0
    batch_size: int = 64  # texts per map_batches call
    group_docs: int = 500  # documents per atomic write


class _Prepare:
    """Ray `map` stage: clean, chunk and tokenise one document (jieba loaded once per worker)."""

    def __init__(self, chunker: ChunkerConfig) -> None:
        self.tokenizer = default_tokenizer()
        self.chunker = chunker

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        doc, sha, status = row["item"]
        return {
            "i": row["i"],
            "prepared": prepare_document(doc, sha, status, self.tokenizer, self.chunker),
        }


class _Embed:
    """Ray `map_batches` stage: the encoder, built once per actor by the factory."""

    def __init__(self, factory: EncoderFactory) -> None:
        self.encoder = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode_passages([str(t) for t in batch["text"]])
        return {"key": batch["key"], "vector": vectors.astype(np.float32)}


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def index_with_ray(
    indexer: Indexer,
    docs: Sequence[SourceDocument],
    factory: EncoderFactory,
    options: RayOptions = RayOptions(),
    *,
    progress: bool = False,
) -> IndexReport:
    """Index `docs` as `Indexer.put` would, with chunking and embedding done by Ray.

    Connects to `options.address` (or starts a local Ray, stopped again on return). The
    factory must build the same model as the indexer's encoder: the backend's manifest
    checks name and dimension, and a passage embedded by another model would be wrong.
    """
    import ray

    t0 = time.perf_counter()
    items = [(doc, *indexer.status(doc)) for doc in docs]
    changed = [(i, item) for i, item in enumerate(items) if item[2] != "unchanged"]
    started_here = bool(changed) and not ray.is_initialized()
    if started_here:  # nothing changed: no cluster needed
        ray.init(
            address=options.address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        prepared = _prepare(changed, indexer.chunker)
        vectors = _embed(prepared, factory, options, progress)
    finally:
        if started_here:
            ray.shutdown()
    by_index = dict(zip((i for i, _ in changed), prepared, strict=True))
    ordered: list[SourceDocument | Prepared] = [
        by_index.get(i, items[i][0]) for i in range(len(items))
    ]
    embedded = 0
    reports: list[DocumentReport] = []
    for group in _groups(ordered, options.group_docs):
        report = indexer.put(group, embed=lambda texts: _lookup(vectors, texts, indexer))
        embedded += report.passages_embedded
        reports.extend(report.documents)
    seconds = time.perf_counter() - t0
    return IndexReport(reports, embedded, seconds)


def _prepare(
    changed: list[tuple[int, tuple[SourceDocument, str, Status]]], chunker: ChunkerConfig
) -> list[Prepared]:
    import ray

    if not changed:
        return []
    ds = ray.data.from_items([{"i": i, "item": item} for i, item in changed])
    stage = ds.map(
        _Prepare,  # type: ignore[arg-type]  # a callable class, which `map` takes (its stub says function)
        fn_constructor_kwargs={"chunker": chunker},
        concurrency=1,
    )
    rows = stage.take_all()
    out = {int(r["i"]): r["prepared"] for r in rows}
    return [out[i] for i, _ in changed]


def _embed(
    prepared: list[Prepared], factory: EncoderFactory, options: RayOptions, progress: bool
) -> dict[str, np.ndarray]:
    """Every distinct text to embed -> its vector, keyed by a hash of the text."""
    import ray

    texts = {_key(t): t for p in prepared for t in p.inputs}
    if not texts:
        return {}
    ds = ray.data.from_items([{"key": k, "text": t} for k, t in texts.items()])
    embedded = ds.map_batches(
        _Embed,
        fn_constructor_kwargs={"factory": factory},
        batch_size=options.batch_size,
        batch_format="numpy",
        concurrency=options.workers,
        num_cpus=options.cpus_per_worker,
    )
    vectors: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(texts), desc="embedding (ray)", unit="text", disable=not progress)
    for batch in embedded.iter_batches(batch_size=options.batch_size, batch_format="numpy"):
        for key, vector in zip(batch["key"], batch["vector"], strict=True):
            vectors[str(key)] = np.asarray(vector, dtype=np.float32)
        bar.update(len(batch["key"]))
    bar.close()
    return vectors


def _lookup(vectors: dict[str, np.ndarray], texts: list[str], indexer: Indexer) -> np.ndarray:
    """The Ray vectors of `texts`; a text Ray did not see (a document prepared again because
    it changed meanwhile) is embedded here by the indexer's own encoder."""
    missing = [t for t in texts if _key(t) not in vectors]
    if missing:
        for t, v in zip(missing, indexer.encoder.encode_passages(missing), strict=True):
            vectors[_key(t)] = v
    if not texts:
        return np.zeros((0, indexer.encoder.dim), dtype=np.float32)
    return np.stack([vectors[_key(t)] for t in texts])


def _groups(
    items: list[SourceDocument | Prepared], size: int
) -> Iterator[list[SourceDocument | Prepared]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
