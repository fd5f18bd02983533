"""Passages out: dense, lexical and hybrid search, similar passages, and answers.

The query is embedded before the backend's read lock is taken; the two retrievers and the
passage lookups then run under it, so one search sees one state of the index.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

import numpy as np
from tqdm import tqdm

from embeddings.answers import Answer, Candidate, candidates, extract_answer
from embeddings.backends.base import Backend
from embeddings.batching import QueryBatcher
from embeddings.bridge import LexicalQuery, is_foreign, lexical_query, lexical_search
from embeddings.config import EngineConfig
from embeddings.encoders import AnyEncoder
from embeddings.fusion import fuse
from embeddings.highlight import query_terms
from embeddings.hits import Hit
from embeddings.indexer import UnknownDocumentsError
from embeddings.store import StoredPassage
from embeddings.structure import (
    WINDOW,
    asks_author,
    asks_part,
    byline_first,
    byline_passage,
    heading_first,
    signed,
)
from embeddings.text import normalize
from embeddings.tokenizer import Tokenizer

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "lexical", "hybrid")


class TooManyDocumentsError(ValueError):
    """A document filter longer than the engine accepts."""


class _Asked(NamedTuple):
    """A question prepared for /ask."""

    ranking: np.ndarray  # the vector that ranks passages in the asked mode
    lexical: LexicalQuery | None  # the BM25 query (None in dense mode)
    scoring: np.ndarray  # the vector sentences are scored with: the hybrid one in any mode


@dataclass(frozen=True)
class AskResult:
    answer: Answer | None
    reason: str
    hits: list[Hit]


class Searcher:
    def __init__(
        self, backend: Backend, encoder: AnyEncoder, tokenizer: Tokenizer, config: EngineConfig
    ) -> None:
        self.backend = backend
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.config = config
        # Queries arriving together from concurrent requests are embedded in one call: one
        # encoder call costs little more for 8 queries than for 1 on this CPU.
        self._batcher = (
            QueryBatcher(
                encoder.encode_queries,
                max_batch=config.micro_batch_max,
                max_wait_ms=config.micro_batch_ms,
            )
            if config.micro_batch_ms > 0
            else None
        )

        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # LRU, normalised query
        self._vectors_lock = threading.Lock()

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def terms(self, query: str) -> list[str]:
        """The words of `query` worth marking in a passage."""
        return query_terms(query, self.tokenizer)

    def _within(self, doc_ids: Sequence[str] | None) -> object | None:
        if not doc_ids:
            return None
        doc_ids = list(dict.fromkeys(doc_ids))
        if len(doc_ids) > self.config.max_doc_ids:
            raise TooManyDocumentsError(
                f"{len(doc_ids)} doc_ids in one filter; the limit is {self.config.max_doc_ids}"
            )
        unknown = self.backend.unknown_documents(doc_ids)
        if unknown:
            raise UnknownDocumentsError(unknown)
        return self.backend.restrict(doc_ids)

    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", doc_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        return self.search_many([query], k, mode, doc_ids)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        mode: Mode = "hybrid",
        doc_ids: Sequence[str] | None = None,
        *,
        progress: bool = False,
    ) -> list[list[Hit]]:
        """Rank passages for each query; queries are embedded together, in batches."""
        vectors = self._query_vectors(queries, mode)
        lexical = self._lexical_queries(queries, vectors, mode, doc_ids)
        if mode == "hybrid":
            vectors = [
                v if v is None else self._with_words(v, lq)
                for v, lq in zip(vectors, lexical, strict=True)
            ]
        with self.backend.reading():
            return self._rank(queries, vectors, lexical, k, mode, doc_ids, progress)

    def _with_words(self, vector: np.ndarray, query: LexicalQuery | None) -> np.ndarray:
        """An English question's vector mixed with that of its bridged Chinese words.

        The model matches English to Chinese poorly (dense hit@1 .19 on the 59 English dev
        questions) and Chinese words to Chinese text far better (.63; the mean alone .56);
        the mean keeps what the question says that no dictionary word does. In hybrid search,
        with its own dense share (config.mix_alpha_bridged) and answer threshold, English dev
        hit@1 went .66 → .76 and /ask .56 → .73. Dense mode keeps the question's own vector;
        a Chinese query's vector is its own.
        """
        words = query.words() if query is not None else ""
        if not words:
            return vector
        mixed = vector + self._vector(normalize(words))
        out: np.ndarray = (mixed / np.linalg.norm(mixed)).astype(np.float32)
        return out

    def _question(self, question: str, mode: Mode, doc_ids: Sequence[str] | None) -> _Asked:
        """For /ask: the vector that ranks, the BM25 query, and the vector the sentences are
        scored with, which is the hybrid one in any mode, so one threshold holds for all."""
        qv = self._encode([question])[0]
        foreign = is_foreign(question)
        lexical = self._lexical_queries([question], [qv], "hybrid" if foreign else mode, doc_ids)[0]
        scored = self._with_words(qv, lexical)
        ranking = scored if mode == "hybrid" else qv
        return _Asked(ranking, None if mode == "dense" else lexical, scored)

    def _query_vectors(self, queries: Sequence[str], mode: Mode) -> list[np.ndarray | None]:
        """The queries' vectors, before any read lock (a write may be waiting on it). In lexical
        mode only questions without Chinese are embedded: the bridge reads their neighbours."""
        if mode != "lexical":
            return list(self._encode(queries))
        return [self._vector(normalize(q)) if is_foreign(q) else None for q in queries]

    def _lexical_queries(
        self,
        queries: Sequence[str],
        vectors: Sequence[np.ndarray | None],
        mode: Mode,
        doc_ids: Sequence[str] | None,
    ) -> list[LexicalQuery | None]:
        """The BM25 query of each query. An English question's neighbourhood is read under a
        short read lock of its own; the bridge itself (jieba, pinyin, CC-CEDICT on first use)
        runs outside any lock, so no search queued behind a waiting write waits for it."""
        if mode == "dense":
            return [None] * len(queries)
        foreign = [i for i, q in enumerate(queries) if is_foreign(q)]
        near: dict[int, list[str]] = {}
        if foreign:
            with self.backend.reading():
                within = self._within(doc_ids)
                near = {i: self._neighbourhood(vectors[i], within) for i in foreign}
        return [lexical_query(q, self.tokenizer, near.get(i, ())) for i, q in enumerate(queries)]

    def _encode(self, queries: Sequence[str]) -> np.ndarray:
        """Each query embedded on its own: with int8 dynamic quantisation a vector depends on
        the other texts of its batch (one activation scale per call), so a query embedded
        together with others would rank differently from the same query alone. Alone, a
        query always gets the same vector, so repeated ones come from an LRU cache (with
        micro-batching on, the kept vector is the one its first batch gave)."""
        texts = [normalize(q) for q in queries]
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.vstack([self._vector(t) for t in texts])

    def _vector(self, text: str) -> np.ndarray:
        size = self.config.query_cache
        with self._vectors_lock:
            kept = self._vectors.get(text)
            if kept is not None:
                self._vectors.move_to_end(text)
                return kept
        encode = self._batcher.encode_queries if self._batcher else self.encoder.encode_queries
        vector: np.ndarray = np.asarray(encode([text])[0])
        vector.setflags(write=False)  # shared by every later request for the same text
        if size > 0:
            with self._vectors_lock:
                self._vectors[text] = vector
                while len(self._vectors) > size:
                    self._vectors.popitem(last=False)
        return vector

    def _rank(
        self,
        queries: Sequence[str],
        vectors: Sequence[np.ndarray | None],
        lexical_queries: Sequence[LexicalQuery | None],
        k: int,
        mode: Mode,
        doc_ids: Sequence[str] | None,
        progress: bool = False,
    ) -> list[list[Hit]]:
        """Under the read lock: both retrievers, fusion, and the passages' rows."""
        n = max(self.config.candidates, k)
        within = self._within(doc_ids)
        results = []
        for i, query in enumerate(tqdm(queries, desc=mode, unit="q", disable=not progress)):
            vector, lq = vectors[i], lexical_queries[i]
            dense: list[tuple[int, float]] = []
            if vector is not None and mode != "lexical":
                dense = self.backend.dense_search(vector, n, within)
            lexical: list[tuple[int, float]] = []
            if lq is not None:
                lexical = lexical_search(lq, self.tokenizer, self.backend, n, within)
            rows: dict[int, StoredPassage] = {}
            if mode == "dense":
                ranked = dense[:k]
            elif mode == "lexical":
                ranked = lexical[:k]
            else:
                ranked = self.fuse(dense, lexical, bridged=lq is not None and lq.bridged)
                if asks_part(query):  # a heading asked for comes first (structure.py)
                    rows = self.backend.by_ids([i for i, _ in ranked[: max(WINDOW, k)]])
                    ranked = heading_first(query, ranked, rows)
                elif asks_author(query) and ranked:  # and who wrote it, its byline
                    rows = self.backend.by_ids([i for i, _ in ranked[: max(WINDOW, k)]])
                    top = rows.get(ranked[0][0])
                    if top and any(signed(p) for p in rows.values() if p.doc_id == top.doc_id):
                        document = self.backend.passages(top.doc_id)
                        ranked = byline_first(ranked, rows, document)
                ranked = ranked[:k]
            results.append(self._hits(ranked, dict(dense), dict(lexical), rows))
        return results

    def _neighbourhood(self, vector: np.ndarray | None, within: object | None) -> list[str]:
        """The texts of an English question's dense top passages, where the bridge finds its
        words' Chinese terms (config.bridge_neighbours; in lexical mode too)."""
        if vector is None:
            return []
        dense = self.backend.dense_search(vector, self.config.bridge_neighbours, within)
        rows = self.backend.by_ids([i for i, _ in dense])
        return [rows[i].text for i, _ in dense if i in rows]

    def fuse(
        self,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        *,
        bridged: bool = False,
    ) -> list[tuple[int, float]]:
        c = self.config
        return fuse(
            dense,
            lexical,
            c.fusion,
            rrf_k=c.rrf_k,
            lexical_weight=c.lexical_weight,
            mix_alpha=c.mix_alpha_bridged if bridged else c.mix_alpha,
        )

    def _hits(
        self,
        ranked: list[tuple[int, float]],
        dense: dict[int, float],
        lexical: dict[int, float],
        rows: Mapping[int, StoredPassage] | None = None,
    ) -> list[Hit]:
        """The ranked passages as hits; `rows` already read are not read again."""
        rows = {**(rows or {})}
        missing = [i for i, _ in ranked if i not in rows]
        if missing:
            rows.update(self.backend.by_ids(missing))
        hits = []
        for i, score in ranked:
            if i not in rows:
                continue
            scores = {}
            if i in dense:
                scores["dense"] = dense[i]
            if i in lexical:
                scores["lexical"] = lexical[i]
            hits.append(Hit(rows[i], score, scores))
        return hits

    def similar(
        self,
        *,
        passage_id: str | None = None,
        text: str | None = None,
        k: int = 5,
        include_overlapping: bool = False,
    ) -> list[Hit]:
        """Passages most like a stored passage (never itself) or like a piece of text.

        Raises KeyError for an unknown passage_id.
        """
        source: StoredPassage | None = None
        qv: np.ndarray | None = None
        if text is not None:
            qv = self.encoder.encode_passages([normalize(text)], cache=False)[0]
        with self.backend.reading():
            if passage_id is not None:
                source = self.backend.passage(passage_id)
                if source is None:
                    raise KeyError(passage_id)
                qv = self.backend.vector(source.id)
            if qv is None:
                return []
            ranked = self.backend.dense_search(qv, k + 20, None)
            rows = self.backend.by_ids([i for i, _ in ranked])
        hits = []
        for i, score in ranked:
            p = rows.get(i)
            if p is None or (source and p.id == source.id):
                continue
            if source and not include_overlapping and _overlaps(p, source):
                continue
            hits.append(Hit(p, score, {"dense": score}))
            if len(hits) == k:
                break
        return hits

    def ask(
        self, question: str, k: int = 5, mode: Mode = "hybrid", doc_ids: Sequence[str] | None = None
    ) -> AskResult:
        """The passages for `question` and the sentence in them that answers it, or why not.

        The question is embedded once (an English one also by its bridged words), for the
        search and for scoring the sentences, whose vectors were stored at index time.
        """
        asked = self._question(question, mode, doc_ids)
        with self.backend.reading():
            hits = self._rank([question], [asked.ranking], [asked.lexical], k, mode, doc_ids)[0]
            read, signer = self._answer_passages(question, hits)
            sentences = self.backend.sentences([h.passage.id for h in read])
        config = replace(self.config.answers, passages=len(read))
        answer, reason = extract_answer(
            question, read, asked.scoring, sentences, self.tokenizer, config, signer
        )
        return AskResult(answer, reason, hits)

    def _answer_passages(self, question: str, hits: list[Hit]) -> tuple[list[Hit], int | None]:
        """The passages the answer is read from: the top few and, for a question asking who
        wrote it, the one that says who wrote the best passage's article, wherever it is
        printed; and that passage's id (None when it is not known), whose byline alone
        answers (not another article's reporter among the top passages)."""
        top = hits[: self.config.answers.passages]
        if not top or not asks_author(question):
            return top, None
        first = top[0].passage
        byline = byline_passage(first, self.backend.passages(first.doc_id))
        if byline is None:
            return top, None
        if any(h.passage.id == byline.id for h in top):
            return top, byline.id
        return [*top, Hit(byline, 0.0)], byline.id

    def answer_candidates(self, question: str, hits: list[Hit]) -> list[Candidate]:
        """Every scored candidate sentence of `hits` (for tuning the answer weights)."""
        scoring = self._question(question, "hybrid", None).scoring
        with self.backend.reading():
            read, signer = self._answer_passages(question, hits)
            sentences = self.backend.sentences([h.passage.id for h in read])
        return candidates(question, read, scoring, sentences, self.tokenizer, len(read), signer)


def _overlaps(a: StoredPassage, b: StoredPassage) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
