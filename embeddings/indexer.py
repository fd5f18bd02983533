"""Documents in: clean, chunk, embed, then one atomic write to the backend.

Everything slow (cleaning, chunking, embedding) happens before the backend's write lock is
taken, so searches keep answering while a document is embedded. Writers queue behind one
mutex so two uploads of the same doc_id cannot interleave. A failure before the write
leaves the index exactly as it was.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from embeddings.answers import candidate_spans
from embeddings.backends.base import Backend
from embeddings.chunking import ChunkerConfig, chunk
from embeddings.context import dense_input, lexical_input, place_names
from embeddings.encoders import AnyEncoder
from embeddings.sources import SourceDocument
from embeddings.store import NewDocument, NewPassage
from embeddings.text import clean, normalize
from embeddings.tokenizer import Tokenizer

Status = Literal["added", "replaced", "unchanged"]
Progress = Callable[[int, int], None]  # (passages embedded, total)
Embed = Callable[[list[str]], np.ndarray]  # passage texts -> unit vectors, one row each


class UnknownDocumentsError(KeyError):
    def __init__(self, doc_ids: Sequence[str]) -> None:
        super().__init__(", ".join(doc_ids))
        self.doc_ids = list(doc_ids)


@dataclass(frozen=True)
class DocumentReport:
    doc_id: str
    status: Status
    passages: int
    seconds: float


@dataclass(frozen=True)
class IndexReport:
    documents: list[DocumentReport]
    passages_embedded: int
    seconds: float

    def ids(self, status: Status) -> list[str]:
        return [d.doc_id for d in self.documents if d.status == status]


@dataclass(frozen=True)
class Prepared:
    """A document cleaned and chunked, with the texts each retriever will read."""

    doc: SourceDocument
    sha256: str
    status: Status
    record: NewDocument | None  # None when unchanged
    dense_inputs: list[str]  # one per passage
    sentence_inputs: list[str] = field(default_factory=list)  # every passage's spans, in order

    @property
    def inputs(self) -> list[str]:
        """Everything to embed: the passages, then their answer candidates."""
        return [*self.dense_inputs, *self.sentence_inputs]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_document(
    doc: SourceDocument,
    sha: str,
    status: Status,
    tokenizer: Tokenizer,
    chunker: ChunkerConfig,
) -> Prepared:
    """Clean, chunk and tokenise one document: a pure function, so it can run anywhere
    (a Ray worker included); `status` comes from `Indexer.status`."""
    if status == "unchanged":
        return Prepared(doc, sha, "unchanged", None, [])
    cleaned = clean(doc.text)
    passages = chunk(doc.doc_id, cleaned, chunker)
    ctx = " ".join(place_names(cleaned.text))
    title = doc.title or cleaned.title or (passages[0].title if passages else doc.doc_id)
    spans = [tuple(candidate_spans(p.text)) for p in passages]
    new = [
        NewPassage(
            p.passage_id,
            p.title,
            p.section,
            p.text,
            p.start,
            p.end,
            np.zeros(0, dtype=np.float32),
            tokenizer.bm25_tokens(lexical_input(p, ctx)),
            p.pages,
            sp,
        )
        for p, sp in zip(passages, spans, strict=True)
    ]
    record = NewDocument(
        doc.doc_id, title, doc.source, sha, cleaned.text, new, doc.format, doc.size
    )
    return Prepared(
        doc,
        sha,
        status,
        record,
        [dense_input(p, ctx) for p in passages],
        [normalize(p.text[a:b]) for p, sp in zip(passages, spans, strict=True) for a, b in sp],
    )


class Indexer:
    def __init__(
        self,
        backend: Backend,
        encoder: AnyEncoder,
        tokenizer: Tokenizer,
        chunker: ChunkerConfig,
        *,
        embed_batch: int = 128,
    ) -> None:
        self.backend = backend
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.chunker = chunker
        self.embed_batch = embed_batch
        self._mutex = threading.Lock()

    def status(self, doc: SourceDocument) -> tuple[str, Status]:
        """The content hash and what a write would do with `doc`."""
        sha = content_hash(doc.text)
        old = self.backend.document(doc.doc_id)
        if old and old.sha256 == sha:
            return sha, "unchanged"
        return sha, "replaced" if old else "added"

    def prepare(self, doc: SourceDocument) -> Prepared:
        """Clean and chunk (no model needed); `unchanged` when the stored text is the same."""
        sha, status = self.status(doc)
        return prepare_document(doc, sha, status, self.tokenizer, self.chunker)

    def put(
        self,
        docs: Sequence[SourceDocument | Prepared],
        *,
        progress: bool = False,
        on_progress: Progress | None = None,
        embed: Embed | None = None,
    ) -> IndexReport:
        """Add new documents and replace changed ones in one atomic write; unchanged cost nothing.

        Documents may come already `prepare`d (outside the writer mutex); one whose stored
        version changed since is prepared again. `embed` replaces the encoder for passages
        (Ray: `embeddings.ray_ingest`); it must be the same model.
        """
        t0 = time.perf_counter()
        with self._mutex:
            prepared = [self._current(d) for d in docs]
            todo = [(p, p.record) for p in prepared if p.record is not None]
            inputs = [x for p, _ in todo for x in p.inputs]
            vectors = iter(
                embed(inputs) if embed is not None else self._embed(inputs, progress, on_progress)
            )
            puts = []
            for p, record in todo:
                passage_vectors = [next(vectors) for _ in p.dense_inputs]
                passages = []
                for q, v in zip(record.passages, passage_vectors, strict=True):
                    sv = [next(vectors) for _ in q.spans]
                    span_vectors = (
                        np.stack(sv) if sv else np.zeros((0, self.encoder.dim), np.float32)
                    )
                    passages.append(replace(q, vector=v, span_vectors=span_vectors))
                puts.append(replace(record, passages=passages))
            embedded = sum(len(p.dense_inputs) for p, _ in todo)
            if puts:
                self.backend.write(puts, [])
        seconds = time.perf_counter() - t0
        reports = [
            DocumentReport(
                p.doc.doc_id,
                p.status,
                len(p.record.passages) if p.record else self._stored_passages(p.doc.doc_id),
                round(seconds, 3),
            )
            for p in prepared
        ]
        return IndexReport(reports, embedded, seconds)

    def _current(self, item: SourceDocument | Prepared) -> Prepared:
        """`item` prepared against what is stored now."""
        if isinstance(item, Prepared):
            old = self.backend.document(item.doc.doc_id)
            expected = {"added": None, "replaced": "other", "unchanged": item.sha256}[item.status]
            found = None if old is None else (item.sha256 if old.sha256 == item.sha256 else "other")
            return item if found == expected else self.prepare(item.doc)
        return self.prepare(item)

    def _stored_passages(self, doc_id: str) -> int:
        doc = self.backend.document(doc_id)
        return doc.passages if doc else 0

    def _embed(self, inputs: list[str], progress: bool, on_progress: Progress | None) -> np.ndarray:
        if on_progress is None:
            return self.encoder.encode_passages(inputs, progress=progress)
        parts = []
        on_progress(0, len(inputs))
        for i in range(0, len(inputs), self.embed_batch):
            parts.append(self.encoder.encode_passages(inputs[i : i + self.embed_batch]))
            on_progress(min(i + self.embed_batch, len(inputs)), len(inputs))
        return np.concatenate(parts) if parts else np.zeros((0, self.encoder.dim), np.float32)

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Delete documents in one atomic write; unknown ids raise and delete nothing."""
        with self._mutex:
            unknown = self.backend.unknown_documents(doc_ids)
            if unknown:
                raise UnknownDocumentsError(unknown)
            self.backend.write([], doc_ids)
