"""SQLite metadata: documents and their passages, each passage with a stable integer id.

The integer id is the passage's id in the vector and lexical indexes, so documents can be
added, replaced and deleted without renumbering the rest.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embeddings.chunking import Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT ''
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
    "end" INTEGER NOT NULL
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


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    source: str
    sha256: str
    passages: int


_COLUMNS = 'id, passage_id, doc_id, ord, title, section, text, start, "end"'


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def add_document(
        self,
        doc_id: str,
        title: str,
        source: str,
        sha256: str,
        text: str,
        passages: Sequence[Passage],
        context: str = "",
    ) -> list[int]:
        """Insert a document and its passages; returns their integer ids in order."""
        with self._lock:
            self._db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                (doc_id, title, source, sha256, text, context),
            )
            ids = []
            for i, p in enumerate(passages):
                cur = self._db.execute(
                    f"INSERT INTO passages ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (p.passage_id, doc_id, i, p.title, p.section, p.text, p.start, p.end),
                )
                ids.append(int(cur.lastrowid or 0))
            return ids

    def delete_document(self, doc_id: str) -> list[int]:
        """Delete a document; returns the integer ids of the passages it had."""
        with self._lock:
            ids = [
                r[0] for r in self._db.execute("SELECT id FROM passages WHERE doc_id=?", (doc_id,))
            ]
            self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
            return ids

    def document(self, doc_id: str) -> Document | None:
        docs = self._documents("WHERE d.doc_id=?", (doc_id,))
        return docs[0] if docs else None

    def documents(self) -> list[Document]:
        return self._documents("", ())

    def _documents(self, where: str, args: tuple) -> list[Document]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.doc_id, d.title, d.source, d.sha256, "
                "(SELECT COUNT(*) FROM passages p WHERE p.doc_id=d.doc_id) "
                f"FROM documents d {where} ORDER BY d.doc_id",
                args,
            ).fetchall()
        return [Document(*r) for r in rows]

    def contexts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, context FROM documents").fetchall())

    def document_text(self, doc_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text FROM documents WHERE doc_id=?", (doc_id,)
            ).fetchone()
        return row[0] if row else None

    def by_ids(self, ids: Iterable[int]) -> dict[int, StoredPassage]:
        ids = [int(i) for i in ids]
        out: dict[int, StoredPassage] = {}
        with self._lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                for row in self._db.execute(
                    f"SELECT {_COLUMNS} FROM passages WHERE id IN ({marks})", part
                ):
                    out[row[0]] = StoredPassage(*row)
        return out

    def by_passage_id(self, passage_id: str) -> StoredPassage | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM passages WHERE passage_id=?", (passage_id,)
            ).fetchone()
        return StoredPassage(*row) if row else None

    def passages(self, doc_id: str | None = None) -> list[StoredPassage]:
        where, args = ("WHERE doc_id=?", (doc_id,)) if doc_id else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM passages {where} ORDER BY doc_id, ord", args
            ).fetchall()
        return [StoredPassage(*r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def ids_of_docs(self, doc_ids: Iterable[str]) -> set[int]:
        doc_ids = list(doc_ids)
        marks = ",".join("?" * len(doc_ids))
        with self._lock:
            rows = self._db.execute(f"SELECT id FROM passages WHERE doc_id IN ({marks})", doc_ids)
            return {r[0] for r in rows}


class _Transaction:
    """`with store.transaction():` groups writes so a failed update leaves nothing behind."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> Store:
        self._store._lock.acquire()
        self._store._db.execute("BEGIN")
        return self._store

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._store._lock.release()
