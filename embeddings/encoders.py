"""Sentence-transformers encoders with prompts and an on-disk embedding cache.

Over 300 lines on purpose: the cached base, the PyTorch encoder, the warming stand-in and
the TextEncoder protocol are one concept, text to vectors.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

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


class CachedEncoder:
    """Prompts and the embedding cache, shared by the PyTorch and the ONNX encoders.

    Subclasses set `dim`, the prompts and `_cache`, and embed in `_embed`.
    """

    dim: int
    query_prompt: str
    passage_prompt: str
    _cache: EmbeddingCache | None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, cache=False)

    def encode_passages(
        self, texts: Sequence[str], progress: bool = False, *, cache: bool = True
    ) -> np.ndarray:
        """Passage vectors; `cache=False` for one-off texts (a /similar query) that would
        only grow the cache."""
        return self._encode(texts, self.passage_prompt, cache=cache, progress=progress)

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
            out[todo] = self._embed([texts[i] for i in todo], prompt, progress)
            if cache and self._cache:
                self._cache.put_many({keys[i]: out[i] for i in todo})
        return out

    def _embed(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        raise NotImplementedError


class Encoder(CachedEncoder):
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
        self.fingerprint = model_fingerprint(
            self._model, model, self.query_prompt, self.passage_prompt
        )
        self._cache = (
            EmbeddingCache(cache_dir / f"{self.fingerprint}.sqlite") if cache_dir else None
        )
        self._lock = threading.Lock()

    # A loaded encoder is always ready; these match `WarmingEncoder`'s so callers need not ask
    # which kind they hold.
    ready = True

    def wait(self, timeout: float | None = None) -> Encoder:
        return self

    @property
    def max_seq_length(self) -> int:
        return int(self._model.max_seq_length)

    def _embed(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        with self._lock:  # torch is not re-entrant across request threads
            vecs = self._model.encode(
                texts,
                prompt=prompt or None,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.asarray(vecs, dtype=np.float32)

    def tokenize_count(self, text: str) -> int:
        return len(self._model.tokenizer(text)["input_ids"])


@runtime_checkable
class TextEncoder(Protocol):
    """What the engine needs of an encoder: the sentence-transformers `Encoder`, the ONNX
    `OnnxEncoder` and the `WarmingEncoder` stand-in all have it."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def query_prompt(self) -> str: ...

    @property
    def passage_prompt(self) -> str: ...

    @property
    def ready(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> TextEncoder: ...

    @property
    def max_seq_length(self) -> int: ...

    def tokenize_count(self, text: str) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(
        self, texts: Sequence[str], progress: bool = False, *, cache: bool = True
    ) -> np.ndarray: ...


class ModelUnavailableError(RuntimeError):
    """The model failed to load, or is not the one the index was built with."""


class ModelWarmingError(ModelUnavailableError):
    """The model is still loading after a restart; try again in `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WarmingEncoder:
    """Stands in for an `Encoder` while the real one loads in a background thread.

    Importing torch and sentence-transformers and loading a model takes longer on a small CPU
    than opening an index, so a restarted service can answer lexical queries in Chinese at once
    while the model warms up. The identity (name, fingerprint, dimension, passage prompt) is the one
    the index's manifest recorded; once loaded, the real model must have the same identity or
    every call that needs it raises `ModelUnavailableError`, never returning wrong vectors.
    Calls that need the model wait for it.
    """

    def __init__(
        self,
        load: Callable[[], TextEncoder],
        *,
        name: str,
        fingerprint: str,
        dim: int,
        passage_prompt: str,
        timeout: float | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.fingerprint = fingerprint
        self.dim = dim
        self.passage_prompt = passage_prompt
        self._future: Future[TextEncoder] = Future()
        threading.Thread(
            target=self._load, args=(load,), name="encoder-warmup", daemon=True
        ).start()

    @classmethod
    def expecting(
        cls,
        load: Callable[[], TextEncoder],
        manifest: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> WarmingEncoder:
        """Load in the background the model an index's manifest (`SearchEngine.manifest`) names.

        Raises KeyError, TypeError or ValueError when the manifest lacks the model's identity.
        """
        return cls(
            load,
            name=manifest["model"],
            fingerprint=manifest["model_fingerprint"],
            dim=int(manifest["dim"]),
            passage_prompt=manifest["passage_prompt"],
            timeout=timeout,
        )

    def _load(self, load: Callable[[], TextEncoder]) -> None:
        t0 = time.perf_counter()
        try:
            encoder = load()
        except Exception as exc:  # handed to every caller that waits
            logger.exception("the model %s failed to load", self.name)
            self._future.set_exception(
                ModelUnavailableError(f"the model {self.name} failed to load: {exc}")
            )
            return
        logger.info("model %s ready in %.1fs", self.name, time.perf_counter() - t0)
        self._future.set_result(encoder)

    @property
    def ready(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> TextEncoder:
        """The loaded encoder, after checking it is the model the index was built with.

        Waits at most `timeout` (default: the one given at construction), so requests that
        need the model cannot pile up in the thread pool while it loads; past it,
        `ModelWarmingError` (a 503 with Retry-After).
        """
        try:
            encoder = self._future.result(timeout if timeout is not None else self.timeout)
        except FutureTimeout:
            raise ModelWarmingError(
                f"the model {self.name} is still loading after a restart; lexical search "
                "(mode=lexical) of Chinese questions answers already. Try again in a few "
                "seconds.",
                retry_after=5,
            ) from None
        return self._checked(encoder)

    def loaded(self) -> TextEncoder:
        """The checked encoder, however long loading takes: for start-up work, not requests."""
        return self._checked(self._future.result())

    def _checked(self, encoder: TextEncoder) -> TextEncoder:
        found = (encoder.name, encoder.fingerprint, encoder.dim, encoder.passage_prompt)
        wanted = (self.name, self.fingerprint, self.dim, self.passage_prompt)
        if found != wanted:
            raise ModelUnavailableError(
                f"The model {encoder.name} (fingerprint {encoder.fingerprint}, "
                f"{encoder.dim} dimensions, passage prompt {encoder.passage_prompt!r}) is not "
                f"the one the index was built with ({self.name}, {self.fingerprint}, {self.dim}, "
                f"{self.passage_prompt!r}). Rebuild the index: python -m service index --rebuild"
            )
        return encoder

    @property
    def query_prompt(self) -> str:
        return self.wait().query_prompt

    @property
    def max_seq_length(self) -> int:
        return self.wait().max_seq_length

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.wait().encode_queries(texts)

    def encode_passages(
        self, texts: Sequence[str], progress: bool = False, *, cache: bool = True
    ) -> np.ndarray:
        return self.wait().encode_passages(texts, progress=progress, cache=cache)

    def tokenize_count(self, text: str) -> int:
        return self.wait().tokenize_count(text)


def _pick(*options: str | None) -> str:
    return next((o for o in options if o is not None), "")


def model_fingerprint(
    model: SentenceTransformer, name: str, query_prompt: str, passage_prompt: str
) -> str:
    """What defines the model's output: every weight, the tokenizer, each module's config
    (pooling, normalisation, sequence length) and the prompts. Hashing all the weights of a
    small model takes well under a second, once per start; a sample would miss a change in a
    later layer and let stale cached vectors and a mismatched index through.
    """
    import json

    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{name}|{query_prompt}|{passage_prompt}".encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    tokenizer = getattr(model, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    elif tokenizer is not None:
        digest.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    for module in model:
        get_config = getattr(module, "get_config_dict", None)
        config = get_config() if get_config else {}
        digest.update(
            f"{type(module).__name__}{json.dumps(config, sort_keys=True, default=str)}".encode()
        )
    digest.update(str(getattr(model, "max_seq_length", "")).encode())
    return digest.hexdigest()[:12]


def _dimension(model: SentenceTransformer) -> int | None:
    getter: Callable[[], int | None] = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return getter()


# What the engine and the answer extractor accept: a loaded encoder or one still warming up.
AnyEncoder = TextEncoder
