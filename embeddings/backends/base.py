"""What the engine needs from a store of passages; `local` and `milvus` implement it.

The engine, fusion, answers and the HTTP layer only talk to this interface. A backend
stores each passage's text, vector and search tokens, answers dense and BM25 top-n with an
optional document filter, and applies a write (documents put and deleted) atomically as far
as its engine allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from embeddings.store import Document, NewDocument, Sentences, StoredPassage, WriteResult


class StorageFullError(RuntimeError):
    """The disk (or the backend's storage) is full: the write was not applied."""


class BackendUnavailableError(RuntimeError):
    """The backend's server cannot be reached, or lacks what the engine needs."""


class Backend(Protocol):
    dim: int

    def write(self, puts: Sequence[NewDocument], deletes: Sequence[str]) -> WriteResult:
        """Put (add or replace) and delete documents; durable when it returns."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """A consistent view for one request: no write lands halfway through it."""
        ...

    def restrict(self, doc_ids: Sequence[str]) -> object:
        """A filter for `dense_search`/`lexical_search` limiting results to these (known) documents."""
        ...

    def dense_search(
        self, vector: np.ndarray, n: int, within: object | None
    ) -> list[tuple[int, float]]: ...

    def lexical_search(
        self, tokens: Sequence[str], n: int, within: object | None
    ) -> list[tuple[int, float]]: ...

    def by_ids(self, ids: Sequence[int]) -> dict[int, StoredPassage]: ...

    def passage(self, passage_id: str) -> StoredPassage | None: ...

    def passages(self, doc_id: str | None = None) -> list[StoredPassage]:
        """A document's passages in reading order (all passages when doc_id is None)."""
        ...

    def neighbours(
        self, p: StoredPassage, n: int
    ) -> tuple[list[StoredPassage], list[StoredPassage]]: ...

    def vector(self, id_: int) -> np.ndarray | None: ...

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentences]:
        """The answer candidates of these passages with their vectors (stored at index time)."""
        ...

    def document(self, doc_id: str) -> Document | None: ...

    def documents(self, limit: int | None = None, offset: int = 0) -> list[Document]: ...

    def unknown_documents(self, doc_ids: Sequence[str]) -> list[str]: ...

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of a document (passage offsets point into it)."""
        ...

    def document_count(self) -> int: ...

    def passage_count(self) -> int: ...

    def close(self) -> None: ...
