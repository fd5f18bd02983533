"""The retrieval engine: documents in, ranked passages and answers out. No HTTP here.

`SearchEngine` ties together a storage backend (local FAISS + BM25 + SQLite by default),
an encoder, the tokenizer and one `EngineConfig`; writes go through `Indexer`, reads
through `Searcher`. An index built with another model, cleaner, chunker or tokenizer is
refused (`manifest.py`) rather than searched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.backends.base import Backend
from embeddings.backends.local import LocalBackend
from embeddings.config import EngineConfig
from embeddings.encoders import AnyEncoder
from embeddings.hits import Hit
from embeddings.indexer import (
    DocumentReport,
    Indexer,
    IndexReport,
    Prepared,
    Progress,
    UnknownDocumentsError,
)
from embeddings.manifest import IndexMismatchError, build_manifest, check_manifest, write_manifest
from embeddings.searcher import MODES, AskResult, Mode, Searcher, TooManyDocumentsError
from embeddings.sources import SourceDocument
from embeddings.store import Document, StoredPassage
from embeddings.tokenizer import Tokenizer, default_tokenizer

__all__ = [
    "MODES",
    "AskResult",
    "DocumentReport",
    "IndexMismatchError",
    "IndexReport",
    "Mode",
    "SearchEngine",
    "SourceDocument",
    "TooManyDocumentsError",
    "UnknownDocumentsError",
]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dim: int
    ready: bool


class SearchEngine:
    def __init__(
        self,
        index_dir: Path,
        encoder: AnyEncoder,
        config: EngineConfig | None = None,
        *,
        backend: Backend | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.config = config or EngineConfig()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        wanted = self.manifest()
        check_manifest(self.index_dir, wanted)
        write_manifest(self.index_dir, wanted)  # before the store exists: a kill leaves no orphan
        self.backend: Backend = (
            backend if backend is not None else LocalBackend(self.index_dir, encoder.dim)
        )
        tokenizer = tokenizer or default_tokenizer()
        self.indexer = Indexer(self.backend, encoder, tokenizer, self.config.chunker)
        self.searcher = Searcher(self.backend, encoder, tokenizer, self.config)

    def manifest(self) -> dict[str, Any]:
        e = self.encoder
        return build_manifest(e.name, e.fingerprint, e.dim, e.passage_prompt, self.config.chunker)

    def close(self) -> None:
        self.searcher.close()
        self.backend.close()

    # -- writing -----------------------------------------------------------------------------

    def prepare(self, doc: SourceDocument) -> Prepared:
        return self.indexer.prepare(doc)

    def add_documents(
        self,
        documents: Sequence[SourceDocument | Prepared],
        *,
        progress: bool = False,
        on_progress: Progress | None = None,
    ) -> IndexReport:
        """Add new documents and replace changed ones; unchanged documents cost nothing."""
        return self.indexer.put(list(documents), progress=progress, on_progress=on_progress)

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        self.indexer.delete(doc_ids)

    # -- reading -----------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", doc_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        return self.searcher.search(query, k, mode, doc_ids)

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        mode: Mode = "hybrid",
        doc_ids: Sequence[str] | None = None,
        *,
        progress: bool = False,
    ) -> list[list[Hit]]:
        return self.searcher.search_many(queries, k, mode, doc_ids, progress=progress)

    def similar(
        self,
        *,
        passage_id: str | None = None,
        text: str | None = None,
        k: int = 5,
        include_overlapping: bool = False,
    ) -> list[Hit]:
        return self.searcher.similar(
            passage_id=passage_id, text=text, k=k, include_overlapping=include_overlapping
        )

    def ask(
        self, question: str, k: int = 5, mode: Mode = "hybrid", doc_ids: Sequence[str] | None = None
    ) -> AskResult:
        return self.searcher.ask(question, k, mode, doc_ids)

    def model_info(self) -> ModelInfo:
        """Name, dimension and whether the model has loaded; raises `ModelUnavailableError`
        when it failed to load or is not the one the index was built with."""
        ready = self.encoder.ready
        if ready:
            self.encoder.wait()
        return ModelInfo(self.encoder.name, self.encoder.dim, ready)

    def terms(self, query: str) -> list[str]:
        return self.searcher.terms(query)

    def passage(self, passage_id: str) -> StoredPassage | None:
        return self.backend.passage(passage_id)

    def neighbours(
        self, p: StoredPassage, n: int = 2
    ) -> tuple[list[StoredPassage], list[StoredPassage]]:
        return self.backend.neighbours(p, n)

    def passages(self, doc_id: str) -> list[StoredPassage]:
        return self.backend.passages(doc_id)

    def all_passages(self) -> list[StoredPassage]:
        return self.backend.passages(None)

    def document(self, doc_id: str) -> Document | None:
        return self.backend.document(doc_id)

    def document_text(self, doc_id: str) -> str | None:
        return self.backend.document_text(doc_id)

    def documents(self, limit: int | None = None, offset: int = 0) -> list[Document]:
        return self.backend.documents(limit, offset)

    def document_count(self) -> int:
        return self.backend.document_count()

    def __len__(self) -> int:
        return self.backend.passage_count()
