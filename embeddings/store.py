"""SQLite metadata and the commit point of every write.

A write is acknowledged once its SQLite transaction has committed (WAL, synchronous=FULL):
documents, passages, each passage's vector and its BM25 tokens are all in it. The vector and
BM25 indexes are views of this table that can always be rebuilt from it without the model.
Each passage has a stable integer id (AUTOINCREMENT, never reused), which is its id in
those indexes too, so documents can be added, replaced and deleted without renumbering.

Over 300 lines on purpose: every SQL statement of the index lives here, so the schema and
its queries change together.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'txt',
    size INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL DEFAULT 0,
    passages INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    title TEXT NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    pages TEXT NOT NULL DEFAULT '[]',
    vector BLOB NOT NULL,
    tokens TEXT NOT NULL,
    spans TEXT NOT NULL DEFAULT '[]',
    span_vectors BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, ord);
"""


@dataclass(frozen=True)
class StoredPassage:
    id: int
    passage_id: str
    doc_id: str
    ord: int
    title: str
    section: str
    text: str
    start: int
    end: int
    pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    source: str
    sha256: str
    passages: int
    format: str = "txt"
    size: int = 0
    indexed_at: float = 0.0


@dataclass(frozen=True)
class NewPassage:
    """A passage ready to store: its text, place, vector and BM25 tokens."""

    passage_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    vector: np.ndarray
    tokens: list[str]
    pages: tuple[int, ...] = ()
    # Answer candidates (sentences) as offsets into `text`, and their vectors: /ask reads
    # them instead of embedding sentences per request.
    spans: tuple[tuple[int, int], ...] = ()
    span_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


@dataclass(frozen=True)
class NewDocument:
    doc_id: str
    title: str
    source: str
    sha256: str
    text: str
    passages: list[NewPassage]
    format: str = "txt"
    size: int = 0


@dataclass(frozen=True)
class Sentences:
    spans: list[tuple[int, int]]
    vectors: np.ndarray


@dataclass
class WriteResult:
    """Integer ids a committed write removed and added, per document for the added ones."""

    removed: list[int] = field(default_factory=list)
    added: dict[str, list[int]] = field(default_factory=dict)


_COLUMNS = 'id, passage_id, doc_id, ord, title, section, text, start, "end", pages'
_DOC_COLUMNS = "doc_id, title, source, sha256, passages, format, size, indexed_at"


# One row of _COLUMNS: the StoredPassage fields in order, with pages as JSON text.
_PassageRow = tuple[int, str, str, int, str, str, str, int, int, str]


def _passage(row: _PassageRow) -> StoredPassage:
    return StoredPassage(*row[:9], tuple(json.loads(row[9])))


class StoreError(RuntimeError):
    """The SQLite file is damaged or unreadable."""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
            self._db.executescript(SCHEMA)
            self._db.execute("SELECT COUNT(*) FROM passages").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path} is not a readable SQLite database ({exc}). It holds the library's "
                "text, so nothing can be repaired from it: restore it from a backup, or rebuild "
                "the index from your documents with `python -m service index --rebuild DIR`"
            ) from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self) -> str:
        """SQLite's own integrity check: 'ok' or what is wrong."""
        with self._lock:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    # -- writing -----------------------------------------------------------------------------

    def write(self, puts: Sequence[NewDocument], deletes: Sequence[str]) -> WriteResult:
        """Put (add or replace) and delete documents in one transaction: all or nothing."""
        result = WriteResult()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for doc_id in [*deletes, *(d.doc_id for d in puts)]:
                    result.removed += [
                        r[0]
                        for r in self._db.execute(
                            "SELECT id FROM passages WHERE doc_id=?", (doc_id,)
                        )
                    ]
                    self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
                now = time.time()
                for doc in puts:
                    self._db.execute(
                        f"INSERT INTO documents ({_DOC_COLUMNS}, text) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            doc.doc_id,
                            doc.title,
                            doc.source,
                            doc.sha256,
                            len(doc.passages),
                            doc.format,
                            doc.size,
                            now,
                            doc.text,
                        ),
                    )
                    ids = []
                    for i, p in enumerate(doc.passages):
                        cur = self._db.execute(
                            "INSERT INTO passages (passage_id, doc_id, ord, title, section, text, "
                            'start, "end", pages, vector, tokens, spans, span_vectors) '
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                p.passage_id,
                                doc.doc_id,
                                i,
                                p.title,
                                p.section,
                                p.text,
                                p.start,
                                p.end,
                                json.dumps(list(p.pages)),
                                np.asarray(p.vector, dtype=np.float32).tobytes(),
                                " ".join(p.tokens),
                                json.dumps([list(x) for x in p.spans]),
                                np.asarray(p.span_vectors, dtype=np.float32).tobytes(),
                            ),
                        )
                        ids.append(int(cur.lastrowid or 0))
                    result.added[doc.doc_id] = ids
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLITE_FULL has already rolled it back
                    self._db.execute("ROLLBACK")
                raise
        return result

    # -- reading -----------------------------------------------------------------------------

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def document(self, doc_id: str) -> Document | None:
        rows = self._rows(f"SELECT {_DOC_COLUMNS} FROM documents WHERE doc_id=?", (doc_id,))
        return Document(*rows[0]) if rows else None

    def documents(self, limit: int | None = None, offset: int = 0) -> list[Document]:
        rows = self._rows(
            f"SELECT {_DOC_COLUMNS} FROM documents ORDER BY doc_id LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        return [Document(*r) for r in rows]

    def document_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM documents")[0][0])

    def passage_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM passages")[0][0])

    def unknown_documents(self, doc_ids: Sequence[str]) -> list[str]:
        """Those of `doc_ids` not in the store, in one query."""
        marks = ",".join("?" * len(doc_ids))
        known = {
            r[0]
            for r in self._rows(f"SELECT doc_id FROM documents WHERE doc_id IN ({marks})", doc_ids)
        }
        return [d for d in doc_ids if d not in known]

    def document_text(self, doc_id: str) -> str | None:
        rows = self._rows("SELECT text FROM documents WHERE doc_id=?", (doc_id,))
        return rows[0][0] if rows else None

    def by_ids(self, ids: Iterable[int]) -> dict[int, StoredPassage]:
        ids = [int(i) for i in ids]
        out: dict[int, StoredPassage] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for row in self._rows(f"SELECT {_COLUMNS} FROM passages WHERE id IN ({marks})", part):
                out[row[0]] = _passage(row)
        return out

    def by_passage_id(self, passage_id: str) -> StoredPassage | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM passages WHERE passage_id=?", (passage_id,))
        return _passage(rows[0]) if rows else None

    def passages(self, doc_id: str | None = None) -> list[StoredPassage]:
        where, args = ("WHERE doc_id=?", (doc_id,)) if doc_id else ("", ())
        rows = self._rows(f"SELECT {_COLUMNS} FROM passages {where} ORDER BY doc_id, ord", args)
        return [_passage(r) for r in rows]

    def neighbours(
        self, p: StoredPassage, n: int
    ) -> tuple[list[StoredPassage], list[StoredPassage]]:
        """Up to `n` passages of the same document before and after `p`, in reading order."""
        before = self._rows(
            f"SELECT {_COLUMNS} FROM passages WHERE doc_id=? AND ord<? ORDER BY ord DESC LIMIT ?",
            (p.doc_id, p.ord, n),
        )
        after = self._rows(
            f"SELECT {_COLUMNS} FROM passages WHERE doc_id=? AND ord>? ORDER BY ord LIMIT ?",
            (p.doc_id, p.ord, n),
        )
        return [_passage(r) for r in reversed(before)], [_passage(r) for r in after]

    def ids(self) -> np.ndarray:
        rows = self._rows("SELECT id FROM passages ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def ids_of_docs(self, doc_ids: Sequence[str]) -> np.ndarray:
        marks = ",".join("?" * len(doc_ids))
        rows = self._rows(f"SELECT id FROM passages WHERE doc_id IN ({marks})", doc_ids)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_and_tokens(
        self, ids: Sequence[int] | np.ndarray, dim: int, batch: int = 2000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, list[list[str]]]]:
        """(ids, vectors, token lists) of the given passages, in batches, to rebuild indexes."""
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), batch):
            part = ids[i : i + batch]
            marks = ",".join("?" * len(part))
            rows = self._rows(
                f"SELECT id, vector, tokens FROM passages WHERE id IN ({marks}) ORDER BY id", part
            )
            got = np.asarray([r[0] for r in rows], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
            yield got, vecs, [r[2].split() for r in rows]

    def sentences(self, ids: Sequence[int], dim: int) -> dict[int, Sentences]:
        """Each passage's answer candidates and their vectors, as stored at index time."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._rows(
            f"SELECT id, spans, span_vectors FROM passages WHERE id IN ({marks})", ids
        )
        out = {}
        for id_, spans, blob in rows:
            vecs = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)
            out[int(id_)] = Sentences([tuple(x) for x in json.loads(spans)], vecs)
        return out

    def vector(self, id_: int) -> np.ndarray | None:
        rows = self._rows("SELECT vector FROM passages WHERE id=?", (int(id_),))
        return np.frombuffer(rows[0][0], dtype=np.float32) if rows else None
