"""All settings of the service, read from the environment (or a .env file) in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Model, index and caches live here.")
    seeds_dir: Path = Field(Path("seeds"), description="Documents indexed when no index exists.")
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = Field(
        "multilingual-e5-small",
        description="Sentence-transformers model name or local path; the default is built offline.",
    )
    query_prompt: str | None = Field(None, description="Overrides the model's query prompt.")
    passage_prompt: str | None = Field(None, description="Overrides the model's passage prompt.")
    chunk_chars: int = Field(300, ge=50, le=4000, description="Target passage size in characters.")
    fusion: Literal["rrf", "minmax"] = Field("rrf", description="How hybrid search fuses.")
    rrf_k: int = Field(5, ge=1, description="Reciprocal-rank-fusion constant of hybrid search.")
    lexical_weight: float = Field(3.0, gt=0, description="Weight of the BM25 ranking in RRF.")
    mix_alpha: float = Field(0.4, ge=0, le=1, description="Dense share in the min-max mix.")
    encode_batch_size: int = Field(32, ge=1)
    max_batch_queries: int = Field(64, ge=1, description="Most queries in one /search/batch.")

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
