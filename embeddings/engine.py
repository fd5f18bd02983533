"""The retrieval engine: documents in, ranked passages out. No HTTP here.

On disk, an index directory holds `manifest.json` (what the index was built with),
`meta.sqlite` (documents and passages), `vectors.faiss` and `lexical/` (BM25). An index
built with another model, cleaner or chunker is refused rather than searched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from embeddings.chunking import CHUNKER_VERSION, ChunkerConfig, Passage, chunk
from embeddings.context import place_names
from embeddings.encoders import AnyEncoder
from embeddings.fusion import minmax_mix, rrf
from embeddings.lexical import LEXICAL_VERSION, LexicalIndex
from embeddings.store import Document, Store, StoredPassage
from embeddings.text import CLEANER_VERSION, CleanDocument, clean, normalize
from embeddings.vector_index import VectorIndex

logger = logging.getLogger(__name__)

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "lexical", "hybrid")
INDEX_FORMAT = 3  # 3: dense and lexical inputs carry document headers
SOURCE_SUFFIXES = (".txt", ".md")


class IndexMismatchError(RuntimeError):
    """The index on disk was built differently from how this engine would build it."""


class UnknownDocumentsError(KeyError):
    def __init__(self, doc_ids: Sequence[str]) -> None:
        super().__init__(", ".join(doc_ids))
        self.doc_ids = list(doc_ids)


@dataclass(frozen=True)
class Hit:
    passage: StoredPassage
    score: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class IndexReport:
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    passages_embedded: int
    seconds: float


def passage_header(p: Passage | StoredPassage, context: str, *, title: bool = True) -> str:
    """Title, recurring place names and heading path: what the passage is part of."""
    parts = [p.title if title else "", context]
    if p.section and p.section not in p.text[: len(p.section) + 4]:
        parts.append(p.section)
    return " ".join(x for x in parts if x)


def dense_input(p: Passage | StoredPassage, context: str = "") -> str:
    """What the dense model reads: place names and heading path, then the text.

    Normalised (t2s, half width) like the queries, so the model compares like with like
    whichever script either side is in. The title is left out: its generic wording pulls
    every passage of a document together (measured on the seed questions: dense hit@1
    .65 without it, .59 with it).
    """
    head = passage_header(p, context, title=False)
    return normalize(f"{head}\n{p.text}" if head else p.text)


def lexical_input(p: Passage | StoredPassage, context: str = "") -> str:
    """What BM25 reads: title, place names and heading path, then the text."""
    head = passage_header(p, context)
    return f"{head}\n{p.text}" if head else p.text


def read_manifest(index_dir: Path) -> dict | None:
    """What built the index in `index_dir`, or None when there is no readable index there."""
    index_dir = Path(index_dir)
    if not (index_dir / "meta.sqlite").exists():
        return None
    try:
        return json.loads((index_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_source(path: Path) -> str:
    """Read a user's text file whatever its encoding (UTF-8, UTF-8 with BOM, GB18030, Big5)."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030", "big5"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def load_directory(directory: Path) -> list[SourceDocument]:
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in SOURCE_SUFFIXES)
    return [SourceDocument(p.stem, read_source(p), str(p)) for p in files]


class SearchEngine:
    def __init__(
        self,
        index_dir: Path,
        encoder: AnyEncoder,
        chunker: ChunkerConfig | None = None,
        *,
        rrf_k: int = 60,
        candidates: int = 50,
        fusion: Literal["rrf", "minmax"] = "rrf",
        lexical_weight: float = 1.0,
        mix_alpha: float = 0.5,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.chunker = chunker or ChunkerConfig()
        self.rrf_k = rrf_k
        self.fusion = fusion
        self.lexical_weight = lexical_weight
        self.mix_alpha = mix_alpha
        self.candidates = candidates
        self._write_lock = threading.Lock()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._check_manifest()
        self.store = Store(self.index_dir / "meta.sqlite")
        vec_path = self.index_dir / "vectors.faiss"
        self.vectors = VectorIndex.load(vec_path) if vec_path.exists() else VectorIndex(encoder.dim)
        if self.vectors.dim != encoder.dim:
            raise IndexMismatchError(
                f"{vec_path} holds {self.vectors.dim}-dimensional vectors but the model makes "
                f"{encoder.dim}. Rebuild: python -m service index --rebuild"
            )
        lex_path = self.index_dir / "lexical"
        self.lexical = LexicalIndex.load(lex_path) if lex_path.exists() else LexicalIndex()
        self._reconcile()
        self._write_manifest()

    # -- manifest ---------------------------------------------------------------------------

    def manifest(self) -> dict:
        return {
            "format": INDEX_FORMAT,
            "model": self.encoder.name,
            "model_fingerprint": self.encoder.fingerprint,
            "dim": self.encoder.dim,
            "passage_prompt": self.encoder.passage_prompt,
            "cleaner_version": CLEANER_VERSION,
            "chunker_version": CHUNKER_VERSION,
            "chunker": asdict(self.chunker),
            "lexical_version": LEXICAL_VERSION,
        }

    def _check_manifest(self) -> None:
        path = self.index_dir / "manifest.json"
        if not path.exists():
            if (self.index_dir / "meta.sqlite").exists():
                raise IndexMismatchError(
                    f"The index in {self.index_dir} has no manifest, so what built it is unknown. "
                    "Rebuild it: python -m service index --rebuild"
                )
            return
        try:
            found = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexMismatchError(
                f"The manifest {path} is unreadable ({exc}). Rebuild: python -m service index --rebuild"
            ) from exc
        wanted = self.manifest()
        diffs = [
            f"{key}: index has {found.get(key)!r}, this service uses {value!r}"
            for key, value in wanted.items()
            if found.get(key) != value
        ]
        if diffs:
            raise IndexMismatchError(
                f"The index in {self.index_dir} was built differently from the current settings ("
                + "; ".join(diffs)
                + "). Its results would be wrong, so it is not used. Rebuild it with "
                "`python -m service index --rebuild`, or point DATA_DIR at another directory."
            )

    def _write_manifest(self) -> None:
        path = self.index_dir / "manifest.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.manifest(), ensure_ascii=False, indent=2))
        os.replace(tmp, path)

    # -- writing ----------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Make FAISS and BM25 agree with SQLite after an interrupted write (cache-backed)."""
        stored = {p.id: p for p in self.store.passages()}
        contexts = self.store.contexts()
        in_faiss = self.vectors.ids()
        missing = [stored[i] for i in stored if i not in in_faiss]
        extra = [i for i in in_faiss if i not in stored]
        if extra:
            self.vectors.remove(extra)
        if missing:
            logger.warning("re-embedding %d passages missing from the vector index", len(missing))
            vecs = self.encoder.encode_passages(
                [dense_input(p, contexts.get(p.doc_id, "")) for p in missing]
            )
            self.vectors.add([p.id for p in missing], vecs)
        if missing or extra:
            self._save_vectors()
        if missing or extra or len(self.lexical) != len(stored):
            self._rebuild_lexical()

    def add_documents(
        self, documents: Iterable[SourceDocument], *, progress: bool = False
    ) -> IndexReport:
        """Add new documents and replace changed ones; unchanged documents cost nothing."""
        t0 = time.perf_counter()
        added, replaced, unchanged = [], [], []
        embedded = 0
        docs = list(documents)
        with self._write_lock:
            todo: list[tuple[SourceDocument, str, CleanDocument, list[Passage], str]] = []
            for doc in docs:
                sha = hashlib.sha256(doc.text.encode()).hexdigest()
                old = self.store.document(doc.doc_id)
                if old and old.sha256 == sha:
                    unchanged.append(doc.doc_id)
                    continue
                cleaned = clean(doc.text)
                passages = chunk(doc.doc_id, cleaned, self.chunker)
                todo.append((doc, sha, cleaned, passages, " ".join(place_names(cleaned.text))))
                (replaced if old else added).append(doc.doc_id)
            # One encode call for everything: batches stay full, the bar counts passages.
            inputs = [dense_input(p, ctx) for *_, passages, ctx in todo for p in passages]
            vectors = self.encoder.encode_passages(inputs, progress=progress)
            embedded = len(inputs)
            offset = 0
            for doc, sha, cleaned, passages, ctx in todo:
                vecs = vectors[offset : offset + len(passages)]
                offset += len(passages)
                title = cleaned.title or (passages[0].title if passages else doc.doc_id)
                with self.store.transaction() as store:
                    old_ids = store.delete_document(doc.doc_id)
                    ids = store.add_document(
                        doc.doc_id, title, doc.source, sha, cleaned.text, passages, ctx
                    )
                self.vectors.remove(old_ids)
                self.vectors.add(ids, vecs)
            if todo:
                self._save_vectors()
                self._rebuild_lexical()
        return IndexReport(added, replaced, unchanged, embedded, time.perf_counter() - t0)

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        with self._write_lock:
            unknown = [d for d in doc_ids if self.store.document(d) is None]
            if unknown:
                raise UnknownDocumentsError(unknown)
            for doc_id in doc_ids:
                with self.store.transaction() as store:
                    ids = store.delete_document(doc_id)
                self.vectors.remove(ids)
            self._save_vectors()
            self._rebuild_lexical()

    def _save_vectors(self) -> None:
        self.vectors.save(self.index_dir / "vectors.faiss")

    def _rebuild_lexical(self) -> None:
        passages = self.store.passages()
        lexical = LexicalIndex(self.lexical.tokenizer)
        contexts = self.store.contexts()
        lexical.build(
            [p.id for p in passages], [lexical_input(p, contexts[p.doc_id]) for p in passages]
        )
        lexical.save(self.index_dir / "lexical")
        self.lexical = lexical

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.store.count()

    def documents(self) -> list[Document]:
        return self.store.documents()

    def passage(self, passage_id: str) -> StoredPassage | None:
        return self.store.by_passage_id(passage_id)

    def _allowed(self, doc_ids: Sequence[str] | None) -> set[int] | None:
        if not doc_ids:
            return None
        unknown = [d for d in doc_ids if self.store.document(d) is None]
        if unknown:
            raise UnknownDocumentsError(unknown)
        return self.store.ids_of_docs(doc_ids)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        doc_ids: Sequence[str] | None = None,
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
        allowed = self._allowed(doc_ids)
        n = max(self.candidates, k)
        qvs = (
            self.encoder.encode_queries([normalize(q) for q in queries])
            if mode != "lexical"
            else None
        )
        results = []
        for i, query in enumerate(tqdm(queries, desc=mode, unit="q", disable=not progress)):
            dense = self._dense(qvs[i], n, allowed) if qvs is not None else []
            lexical = self.lexical.search(query, n, allowed) if mode != "dense" else []
            if mode == "dense":
                ranked = dense[:k]
            elif mode == "lexical":
                ranked = lexical[:k]
            else:
                ranked = self.fuse(dense, lexical)[:k]
            results.append(self._hits(ranked, dict(dense), dict(lexical)))
        return results

    def fuse(
        self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """Hybrid ranking of the two candidate lists (settings chosen by tune_fusion.py)."""
        if not lexical:  # e.g. an English question: no Chinese terms to match
            return dense
        if self.fusion == "minmax":
            return minmax_mix(dense, lexical, self.mix_alpha)
        return rrf([dense, lexical], k=self.rrf_k, weights=[1.0, self.lexical_weight])

    def _dense(self, qv: np.ndarray, n: int, allowed: set[int] | None) -> list[tuple[int, float]]:
        return self.vectors.search(qv, n, allowed)

    def _hits(
        self, ranked: list[tuple[int, float]], dense: dict[int, float], lexical: dict[int, float]
    ) -> list[Hit]:
        rows = self.store.by_ids(i for i, _ in ranked)
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
        """Passages most like a stored passage (never itself) or like a piece of text."""
        source: StoredPassage | None = None
        if passage_id is not None:
            source = self.store.by_passage_id(passage_id)
            if source is None:
                raise KeyError(passage_id)
            qv = self.vectors.vector(source.id)
        else:
            qv = self.encoder.encode_passages([normalize(text or "")])[0]
        ranked = self._dense(qv, k + 20, None)
        rows = self.store.by_ids(i for i, _ in ranked)
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


def _overlaps(a: StoredPassage, b: StoredPassage) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
