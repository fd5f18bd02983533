"""The local backend: SQLite (the commit point) + FAISS + incremental BM25, on one disk.

A write is acknowledged once its SQLite transaction has committed; it then survives kill -9.
FAISS and BM25 are views of SQLite (which keeps every passage's vector and tokens), saved
to disk in the background; on open they are reconciled with SQLite by id (passages missing
from a view are added from SQLite, ids SQLite no longer has are removed), so a crash at any
moment, a stale or a damaged view file is repaired without the model.

Concurrency: a reader-writer lock rather than immutable generations, because copying a
FAISS index per write costs O(size) at a million passages while a write holds this lock
only to apply vectors that were embedded before it was taken.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from embeddings.backends.base import StorageFullError
from embeddings.bm25 import BM25Index
from embeddings.rwlock import RWLock
from embeddings.store import Document, NewDocument, Sentences, Store, StoredPassage, WriteResult
from embeddings.vector_index import VectorIndex

logger = logging.getLogger(__name__)

VECTORS = "vectors.faiss"
LEXICAL = "lexical"


class LocalBackend:
    def __init__(self, index_dir: Path, dim: int, *, checkpoint_delay: float = 1.0) -> None:
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.store = Store(self.index_dir / "meta.sqlite")
        self._lock = RWLock()
        self._clear_leftovers()
        self.vectors = self._load_vectors()
        self.lexical = self._load_lexical()
        self._checkpoint_delay = checkpoint_delay
        self._dirty = threading.Event()
        self._closed = threading.Event()
        if self._reconcile():
            self.checkpoint()
        self._saver = threading.Thread(target=self._save_loop, name="index-saver", daemon=True)
        self._saver.start()

    # -- opening -----------------------------------------------------------------------------

    def _clear_leftovers(self) -> None:
        """Temporary files of an interrupted save; a finished `.old` copy stands in if needed."""
        (self.index_dir / f"{VECTORS}.tmp").unlink(missing_ok=True)
        shutil.rmtree(self.index_dir / f"{LEXICAL}.tmp", ignore_errors=True)
        old = self.index_dir / f"{LEXICAL}.old"
        if old.exists():
            if (self.index_dir / LEXICAL).exists():
                shutil.rmtree(old)
            else:
                old.rename(self.index_dir / LEXICAL)

    def _load_vectors(self) -> VectorIndex:
        path = self.index_dir / VECTORS
        if not path.exists():
            return VectorIndex(self.dim)
        try:
            index = VectorIndex.load(path)
            if index.dim != self.dim:
                raise ValueError(f"it holds {index.dim}-dimensional vectors, not {self.dim}")
            return index
        except (RuntimeError, OSError, ValueError) as exc:
            logger.warning("%s is damaged (%s); rebuilding it from meta.sqlite", path, exc)
            return VectorIndex(self.dim)

    def _load_lexical(self) -> BM25Index:
        path = self.index_dir / LEXICAL
        if not path.exists():
            return BM25Index()
        try:
            return BM25Index.load(path)
        except ValueError as exc:
            logger.warning("%s is damaged (%s); rebuilding it from meta.sqlite", path, exc)
            return BM25Index()

    def _reconcile(self) -> bool:
        """Make both views hold exactly SQLite's passages; True when anything changed."""
        truth = self.store.ids()
        changed = False
        for name, view in (("vector index", self.vectors), ("BM25 index", self.lexical)):
            have = view.ids()
            extra = np.setdiff1d(have, truth)
            missing = np.setdiff1d(truth, have)
            if len(extra):
                view.remove(extra)
            for ids, vecs, tokens in self.store.vectors_and_tokens(missing, self.dim):
                if view is self.vectors:
                    self.vectors.add(ids, vecs)
                else:
                    self.lexical.add(ids, tokens)
            if len(extra) or len(missing):
                logger.warning(
                    "%s: %d passages added from meta.sqlite, %d removed",
                    name,
                    len(missing),
                    len(extra),
                )
                changed = True
        return changed

    # -- writing -----------------------------------------------------------------------------

    def write(self, puts: Sequence[NewDocument], deletes: Sequence[str]) -> WriteResult:
        with self._lock.write():
            try:
                result = self.store.write(puts, deletes)
            except sqlite3.OperationalError as exc:
                if "full" in str(exc).lower():
                    raise StorageFullError(
                        f"the disk holding {self.store.path} is full; nothing was written"
                    ) from exc
                raise
            self.vectors.remove(result.removed)
            self.lexical.remove(result.removed)
            for doc in puts:
                ids = result.added[doc.doc_id]
                if ids:
                    self.vectors.add(ids, np.stack([p.vector for p in doc.passages]))
                    self.lexical.add(ids, [p.tokens for p in doc.passages])
        self._dirty.set()
        return result

    def checkpoint(self) -> None:
        """Save both views (they are caches of SQLite: only restart speed depends on this)."""
        with self._lock.read():
            self.vectors.save(self.index_dir / VECTORS)
            self.lexical.save(self.index_dir / LEXICAL)

    def _save_loop(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(0.5) and not self._closed.wait(self._checkpoint_delay):
                self._dirty.clear()
                try:
                    self.checkpoint()
                except OSError as exc:  # e.g. disk full: SQLite still has everything
                    logger.warning("could not save the index views: %s", exc)
                    self._dirty.set()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._saver.join()
        if self._dirty.is_set():
            self.checkpoint()
        self.store.close()

    # -- reading -----------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock.read():
            yield

    def restrict(self, doc_ids: Sequence[str]) -> np.ndarray:
        return self.store.ids_of_docs(doc_ids)

    def dense_search(
        self, vector: np.ndarray, n: int, within: object | None
    ) -> list[tuple[int, float]]:
        return self.vectors.search(vector, n, within)  # type: ignore[arg-type]

    def lexical_search(
        self, tokens: Sequence[str], n: int, within: object | None
    ) -> list[tuple[int, float]]:
        return self.lexical.search(tokens, n, within)  # type: ignore[arg-type]

    def by_ids(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        return self.store.by_ids(ids)

    def passage(self, passage_id: str) -> StoredPassage | None:
        return self.store.by_passage_id(passage_id)

    def passages(self, doc_id: str | None = None) -> list[StoredPassage]:
        return self.store.passages(doc_id)

    def neighbours(
        self, p: StoredPassage, n: int
    ) -> tuple[list[StoredPassage], list[StoredPassage]]:
        return self.store.neighbours(p, n)

    def vector(self, id_: int) -> np.ndarray | None:
        return self.store.vector(id_)

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentences]:
        return self.store.sentences(ids, self.dim)

    def document(self, doc_id: str) -> Document | None:
        return self.store.document(doc_id)

    def documents(self, limit: int | None = None, offset: int = 0) -> list[Document]:
        return self.store.documents(limit, offset)

    def unknown_documents(self, doc_ids: Sequence[str]) -> list[str]:
        return self.store.unknown_documents(doc_ids)

    def document_text(self, doc_id: str) -> str | None:
        return self.store.document_text(doc_id)

    def document_count(self) -> int:
        return self.store.document_count()

    def passage_count(self) -> int:
        return self.store.passage_count()
