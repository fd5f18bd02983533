"""The local backend: SQLite (the commit point) + FAISS + incremental BM25, on one disk.

A write is acknowledged once its SQLite transaction has committed; it then survives kill -9.
FAISS and BM25 are views of SQLite (which keeps every passage's vector and tokens), saved
to disk in the background; on open they are reconciled with SQLite by id (passages missing
from a view are added from SQLite, ids SQLite no longer has are removed), so a crash at any
moment, a stale or a damaged view file is repaired without the model. A clean close leaves
`views.clean` naming the files it saved, and the next open trusts those without listing
SQLite's ids (at a million passages that scan is most of a restart); the mark is removed on
open, so a crash afterwards means a full reconcile. BM25 opens first (its segments are
memory-mapped): lexical search answers while FAISS loads in the background, and writes and
dense searches wait for it.

Concurrency: a reader-writer lock rather than immutable generations, because copying a
FAISS index per write costs O(size) at a million passages while a write holds this lock
only to apply vectors that were embedded before it was taken. Nothing slow holds it either:
a checkpoint copies under the reader lock only what changed (BM25: segment references and
live bits; FAISS: a few hundred IVF lists per hold) and writes files with no lock; BM25
merges and the FAISS rebuild (flat to IVF past `EXACT_LIMIT`, IVF retrained as it grows) are
built from immutable parts or from SQLite with no lock, then swapped in under the writer lock
with the writes that landed meanwhile replayed. The FAISS file (1.5 GB at a million) is
rewritten in the background only once the index has drifted from it by `VECTOR_SAVE_DRIFT`,
and on close: after a crash, opening reconciles the rest from SQLite.

Over 300 lines on purpose: one backend, one module (as backends/milvus.py): the write path,
reconcile-on-open, background checkpoints and rebuilds all turn on the same lock and views.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.backends.base import StorageFullError
from embeddings.bm25 import BM25Index
from embeddings.durable import fsync_dir, try_exclusive, write_atomic
from embeddings.rwlock import RWLock
from embeddings.store import (
    Document,
    NewDocument,
    Sentences,
    Store,
    StoredPassage,
    StoreError,
    WriteResult,
)
from embeddings.vector_index import (
    EXACT_LIMIT,
    TRAIN_PER_LIST,
    ExactTopK,
    Layout,
    VectorIndex,
)

logger = logging.getLogger(__name__)

VECTORS = "vectors.faiss"
LEXICAL = "lexical"
CLEAN = "views.clean"  # left by a clean close: the saved views match SQLite
VECTOR_SAVE_DRIFT = 0.1  # share of the index changed before its file is rewritten
VECTOR_SAVE_MIN = 1000  # ... and at least this many ids (below: always, the file is small)
REBUILD_BATCH = 20_000  # vectors read from SQLite per step of a rebuild
CALIBRATION_QUERIES = 200
RECONCILE_BATCH = 100_000  # passages per BM25 segment when a view is rebuilt from SQLite

# One write as a rebuild replays it: ids removed, then ids added with their vectors.
_Change = tuple[list[int], list[int], np.ndarray]


class LocalBackend:
    def __init__(
        self,
        index_dir: Path,
        dim: int,
        *,
        checkpoint_delay: float = 1.0,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._none = np.zeros((0, dim), dtype=np.float32)
        self.exact_limit = exact_limit
        # One process per index: two would each keep their own FAISS and BM25 views and
        # overwrite each other's checkpoints. Several processes share a library via Milvus.
        owner = try_exclusive(self.index_dir / ".lock")
        if owner is None:
            raise StoreError(
                f"the index in {self.index_dir} is open in another process (a running service "
                "or indexer). Stop it first; while it serves, search and evaluate through its "
                "HTTP API (POST /search, /search/batch); several serving processes need "
                "BACKEND=milvus"
            )
        self._owner = owner
        try:
            self.store = Store(self.index_dir / "meta.sqlite")
        except BaseException:
            owner.close()
            raise
        self._lock = RWLock()
        self._save_lock = threading.Lock()  # one checkpoint at a time
        self._checkpoint_delay = checkpoint_delay
        self._dirty = threading.Event()
        self._maintain = threading.Event()
        self._idle = threading.Event()  # set when background maintenance has nothing to do
        self._closed = threading.Event()
        self._unsaved_vectors = 0  # ids added or removed since the FAISS file was last saved
        self._rebuild_log: list[_Change] | None = None  # writes during a vector rebuild
        self._clear_leftovers()
        clean = self._take_clean_mark()
        self.lexical = self._load_lexical()
        truth = None
        if not _same(clean, "lexical", self.lexical.generation, len(self.lexical)):
            truth = self.store.ids()
            if self._reconcile_lexical(truth):
                self._dirty.set()
        self._vectors = VectorIndex(dim)
        self._vectors_ready = threading.Event()
        self._loader = threading.Thread(
            target=self._open_vectors, args=(clean, truth), name="index-loader", daemon=True
        )
        self._maintain.set()  # a view loaded or rebuilt at the wrong size or with many segments
        self._saver = threading.Thread(target=self._save_loop, name="index-saver", daemon=True)
        self._worker = threading.Thread(
            target=self._maintain_loop, name="index-merger", daemon=True
        )
        for thread in (self._loader, self._saver, self._worker):
            thread.start()

    @property
    def vectors(self) -> VectorIndex:
        """The FAISS view, once loaded: it loads in the background, as lexical needs none."""
        self._vectors_ready.wait()
        return self._vectors

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

    def _take_clean_mark(self) -> dict[str, Any] | None:
        """What the last clean close saved, if it did; removed so only this open trusts it.

        Reading every id from SQLite is most of a restart at a million passages (a scan of
        the whole table), so views that a clean close left matching SQLite are not listed.
        """
        path = self.index_dir / CLEAN
        try:
            mark = json.loads(path.read_bytes())
        except (OSError, ValueError):
            mark = None
        if path.exists():
            path.unlink()
            fsync_dir(self.index_dir)
        return mark if isinstance(mark, dict) else None

    def _mark_clean(self) -> None:
        """Both views are saved and hold exactly SQLite's passages (at close)."""
        mark = {
            "lexical": self.lexical.generation,
            "vectors": _file_id(self.index_dir / VECTORS),
            "passages": len(self.lexical),
        }
        if len(self._vectors) == len(self.lexical):
            write_atomic(self.index_dir / CLEAN, json.dumps(mark).encode())

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

    def _open_vectors(self, clean: dict[str, Any] | None, truth: np.ndarray | None) -> None:
        """Load (and if needed reconcile) the FAISS view; writes and dense search wait."""
        index = VectorIndex(self.dim)
        try:
            index = self._load_vectors()
            file_id = _file_id(self.index_dir / VECTORS)
            if not _same(clean, "vectors", file_id, len(index)):
                changed = self._reconcile_vectors(
                    index, self.store.ids() if truth is None else truth
                )
                if changed:
                    self._unsaved_vectors += changed
                    self._dirty.set()
        except Exception:  # e.g. SQLite unreadable: serve what there is rather than hang
            logger.exception("could not open the vector index")
        finally:
            self._vectors = index
            self._vectors_ready.set()

    def _reconcile_lexical(self, truth: np.ndarray) -> int:
        """Make the BM25 view hold exactly SQLite's passages; how many changed."""
        extra, missing = _differences(self.lexical.ids(), truth)
        self.lexical.remove(extra)
        pending_ids: list[np.ndarray] = []
        pending_tokens: list[list[str]] = []
        for ids, _, tokens in self.store.vectors_and_tokens(missing, self.dim):
            pending_ids.append(ids)
            pending_tokens += tokens
            if len(pending_tokens) >= RECONCILE_BATCH:
                self.lexical.add(np.concatenate(pending_ids), pending_tokens)
                pending_ids, pending_tokens = [], []
        if pending_ids:
            self.lexical.add(np.concatenate(pending_ids), pending_tokens)
        return _report("BM25 index", extra, missing)

    def _reconcile_vectors(self, index: VectorIndex, truth: np.ndarray) -> int:
        """Make a FAISS view hold exactly SQLite's passages; how many changed."""
        extra, missing = _differences(index.ids(), truth)
        index.remove(extra)
        for ids, vecs, _ in self.store.vectors_and_tokens(missing, self.dim):
            index.add(ids, vecs)
        return _report("vector index", extra, missing)

    # -- writing -----------------------------------------------------------------------------

    def write(self, puts: Sequence[NewDocument], deletes: Sequence[str]) -> WriteResult:
        self._vectors_ready.wait()
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
            docs = [d for d in puts if result.added[d.doc_id]]
            ids = [i for d in docs for i in result.added[d.doc_id]]
            vecs = np.stack([p.vector for d in docs for p in d.passages]) if ids else self._none
            self.vectors.add(ids, vecs)
            self.lexical.add(ids, [p.tokens for d in docs for p in d.passages])
            if self._rebuild_log is not None:
                self._rebuild_log.append((result.removed, ids, vecs))
            self._unsaved_vectors += len(result.removed) + len(ids)
        self._idle.clear()
        self._maintain.set()
        self._dirty.set()
        return result

    # -- background work ---------------------------------------------------------------------

    def checkpoint(self, *, full: bool = True) -> None:
        """Save both views (caches of SQLite: only restart speed depends on this).

        `full=False` (the background saver) leaves the FAISS file alone until the index has
        drifted from it by `VECTOR_SAVE_DRIFT`, since opening reconciles the difference.
        """
        with self._save_lock:
            with self._lock.read():
                lexical = self.lexical
                snapshot = lexical.snapshot()
                n, unsaved = len(self.vectors), self._unsaved_vectors
                due = unsaved >= max(VECTOR_SAVE_MIN, VECTOR_SAVE_DRIFT * n)
                copier = None
                if unsaved and (full or due or n <= self.exact_limit):
                    copier = self.vectors.copier()
                    self._unsaved_vectors = 0  # what lands from now on is saved next time
                    done = copier.step()
            try:
                lexical.write(snapshot, self.index_dir / LEXICAL)
                while copier is not None and not done:
                    with self._lock.read():
                        if self.vectors is not copier.source:  # rebuilt: saved next time
                            return
                        done = copier.step()
                if copier is not None:
                    copier.write(self.index_dir / VECTORS)
            except BaseException:
                if copier is not None:  # not saved after all: count it again
                    with self._lock.read():
                        self._unsaved_vectors += unsaved
                raise

    def _save_loop(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(0.5) and not self._closed.wait(self._checkpoint_delay):
                self._dirty.clear()
                try:
                    self.checkpoint(full=False)
                except OSError as exc:  # e.g. disk full: SQLite still has everything
                    logger.warning("could not save the index views: %s", exc)
                    self._dirty.set()

    def _maintain_loop(self) -> None:
        while not self._closed.is_set():
            if not self._maintain.wait(0.5):
                continue
            self._maintain.clear()
            try:
                self._merge_lexical()
                with self._lock.read():
                    layout = self.vectors.wants(self.exact_limit)
                if layout is not None:
                    self._rebuild_vectors(layout)
            except Exception:  # the views stay usable as they are; SQLite has everything
                logger.exception("background index maintenance failed")
            if not self._maintain.is_set():
                self._idle.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no merge or rebuild is pending (benchmarks, tests); False on timeout."""
        return self._idle.wait(timeout)

    def _merge_lexical(self) -> None:
        """Run the BM25 merges the tiered policy wants; only the swap holds the writer lock."""
        while not self._closed.is_set():
            with self._lock.read():
                plan = self.lexical.plan_merge()
            if plan is None:
                return
            merged = BM25Index.build_merge(plan)
            with self._lock.write():
                self.lexical.commit_merge(merged)
            self._dirty.set()

    def _rebuild_vectors(self, layout: Layout) -> None:
        """Build the index `layout` asks for from SQLite, then swap it in (writes replayed)."""
        with self._lock.read():
            ids = self.vectors.ids()
            self._rebuild_log = []
        logger.info("rebuilding the vector index as %s over %d vectors", layout, len(ids))
        try:
            new = self._build_vectors(layout, ids)
            if new is None:
                return
            with self._lock.write():
                for removed, added, vecs in self._rebuild_log:
                    new.remove(removed)
                    new.add(added, vecs)
                self._vectors = new
                self._rebuild_log = None
                self._unsaved_vectors = max(self._unsaved_vectors, len(new), 1)
        finally:
            self._rebuild_log = None
        logger.info("vector index is now %s (nprobe %d)", new.kind, new.nprobe)
        self._dirty.set()

    def _build_vectors(self, layout: Layout, ids: np.ndarray) -> VectorIndex | None:
        """A new index over `ids` (those SQLite still has), or None when closing meanwhile."""
        rng = np.random.default_rng(0)
        if layout.kind == "flat":
            new, queries, query_ids = VectorIndex(self.dim), np.zeros((0, self.dim)), ids[:0]
        else:
            picked = np.sort(
                rng.choice(ids, min(len(ids), TRAIN_PER_LIST * layout.nlist), replace=False)
            )
            sample_ids, sample = self._read_vectors(picked)
            new = VectorIndex.trained(self.dim, layout.nlist, sample)
            pick = rng.choice(len(sample), min(len(sample), CALIBRATION_QUERIES), replace=False)
            queries, query_ids = sample[pick], sample_ids[pick]
        truth = ExactTopK(queries, 11)
        for start in range(0, len(ids), REBUILD_BATCH):
            if self._closed.is_set():
                return None
            got, vecs = self._read_vectors(ids[start : start + REBUILD_BATCH])
            new.add(got, vecs)
            truth.observe(got, vecs)
        recall = new.calibrate(queries, query_ids, truth.result())
        logger.info(
            "nprobe %d of %d lists: recall@10 %.3f on stored vectors", new.nprobe, new.nlist, recall
        )
        return new

    def _read_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = list(self.store.vectors_and_tokens(ids, self.dim))
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for thread in (self._loader, self._saver, self._worker):
            thread.join()
        try:
            if self._dirty.is_set() or self._unsaved_vectors:
                self.checkpoint()
            self._mark_clean()  # only once both views are saved
        finally:
            self.store.close()
            self._owner.close()  # releases the lock

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


def _file_id(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _same(clean: dict[str, Any] | None, view: str, saved_as: object, size: int) -> bool:
    """Whether a view opened as `saved_as` (a generation or file id) with `size` passages is
    the one the last clean close left."""
    return clean is not None and clean.get(view) == saved_as and clean.get("passages") == size


def _differences(have: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids a view has that SQLite lacks, and ids SQLite has that the view lacks."""
    return (
        np.setdiff1d(have, truth, assume_unique=True),
        np.setdiff1d(truth, have, assume_unique=True),
    )


def _report(name: str, extra: np.ndarray, missing: np.ndarray) -> int:
    if len(extra) or len(missing):
        logger.warning(
            "%s: %d passages added from meta.sqlite, %d removed", name, len(missing), len(extra)
        )
    return len(extra) + len(missing)
