"""All settings of the service, read from the environment (or a .env file) in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

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
    fusion: Literal["rrf", "minmax"] = Field("minmax", description="How hybrid search fuses.")
    rrf_k: int = Field(5, ge=1, description="Reciprocal-rank-fusion constant of hybrid search.")
    lexical_weight: float = Field(3.0, gt=0, description="Weight of the BM25 ranking in RRF.")
    mix_alpha: float = Field(0.4, ge=0, le=1, description="Dense share in the min-max mix.")
    encode_batch_size: int = Field(32, ge=1)
    max_batch_queries: int = Field(64, ge=1, description="Most queries in one /search/batch.")
    model_wait_seconds: float = Field(
        10.0, gt=0, description="How long a request waits for a warming model before a 503."
    )
    max_doc_ids: int = Field(100, ge=1, description="Most doc_ids in one search filter.")
    # Documents over HTTP
    max_upload_mb: float = Field(50, gt=0, description="Largest upload (all files of a request).")
    sync_passages: int = Field(
        200, ge=1, description="Uploads with more passages to embed than this run as a job (202)."
    )
    # Strangers: keys, limits, CORS, logs
    api_key: SecretStr | None = Field(None, description="Protects every write when set.")
    read_api_key: SecretStr | None = Field(None, description="Also protects reads when set.")
    max_json_bytes: int = Field(1_000_000, ge=1024, description="Largest JSON request body.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS.")
    log_format: Literal["text", "json"] = "text"
    # Speed
    encoder_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="onnx: int8 ONNX Runtime copy of the default model; torch: PyTorch."
    )
    onnx_threads: int = Field(
        1, ge=0, description="ONNX Runtime intra-op threads per call; 0: one per core."
    )
    query_cache: int = Field(
        4096, ge=0, description="Query vectors kept for repeated queries; 0: off."
    )
    onnx_parallel: int = Field(
        0, ge=0, description="Passage batches embedded side by side; 0: one per core."
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes (Milvus backend only).")
    # Storage backend
    backend: Literal["local", "milvus"] = "local"
    milvus_uri: str | None = Field(None, description="None: start milvus-lite under DATA_DIR.")
    milvus_token: SecretStr | None = None
    milvus_collection: str = "passages"

    index_path: Path | None = Field(
        None, alias="index_dir", description="Where the index lives; DATA_DIR/index unless set."
    )

    @property
    def index_dir(self) -> Path:
        return self.index_path or self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
