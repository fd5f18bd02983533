"""Sentence-transformers encoders with prompts and an on-disk embedding cache."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Prompts for well-known model families that don't ship their own in the model directory.
_FAMILY_PROMPTS = {
    "e5": {"query": "query: ", "passage": "passage: "},
    "bge-small-zh": {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""},
    "bge-base-zh": {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""},
    "bge-large-zh": {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""},
}


class EmbeddingCache:
    """Vectors keyed by (model, prompt, text) in SQLite, so re-indexing embeds nothing twice."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = list(keys[i : i + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part
                ).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


class Encoder:
    """A sentence-transformers model with query/passage prompts and normalised output."""

    def __init__(
        self,
        model: str,
        *,
        model_path: str | Path | None = None,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        self._model = SentenceTransformer(str(model_path or model), device="cpu")
        self.dim = int(_dimension(self._model) or 0)
        self.batch_size = batch_size
        prompts = dict(self._model.prompts or {})
        family = next((v for k, v in _FAMILY_PROMPTS.items() if k in model.lower()), {})
        self.query_prompt = _pick(query_prompt, prompts.get("query"), family.get("query"))
        self.passage_prompt = _pick(
            passage_prompt,
            prompts.get("passage", prompts.get("document")),
            family.get("passage"),
        )
        fingerprint = f"{model}|{self.dim}|{_weights_id(self._model)}"
        self.fingerprint = hashlib.sha1(fingerprint.encode()).hexdigest()[:12]
        self._cache = (
            EmbeddingCache(cache_dir / f"{self.fingerprint}.sqlite") if cache_dir else None
        )
        self._lock = threading.Lock()

    @property
    def max_seq_length(self) -> int:
        return int(self._model.max_seq_length)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, cache=False)

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, cache=True, progress=progress)

    def _encode(
        self, texts: Sequence[str], prompt: str, *, cache: bool, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        keys = [hashlib.sha1(f"{prompt}\x00{t}".encode()).hexdigest() for t in texts]
        known = self._cache.get_many(keys) if cache and self._cache else {}
        todo = [i for i, k in enumerate(keys) if k not in known]
        for i, k in enumerate(keys):
            if k in known:
                out[i] = known[k]
        if todo:
            with self._lock:  # torch is not re-entrant across request threads
                vecs = self._model.encode(
                    [texts[i] for i in todo],
                    prompt=prompt or None,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=progress,
                )
            out[todo] = vecs.astype(np.float32)
            if cache and self._cache:
                self._cache.put_many({keys[i]: out[i] for i in todo})
        return out

    def tokenize_count(self, text: str) -> int:
        return len(self._model.tokenizer(text)["input_ids"])


def _pick(*options: str | None) -> str:
    return next((o for o in options if o is not None), "")


def _weights_id(model: object) -> str:
    """A cheap identity of the loaded weights, so a changed model never reuses cached vectors."""
    import torch

    params = list(model.parameters())  # type: ignore[attr-defined]
    if not params:
        return "none"
    sample = torch.cat([p.detach().flatten()[:64].float() for p in params[:4]])
    return hashlib.sha1(sample.numpy().tobytes()).hexdigest()[:12]


def _dimension(model: object) -> int | None:
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )  # type: ignore[attr-defined]
    return getter()
