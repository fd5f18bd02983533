"""The Milvus backend: passages, vectors and BM25 in Milvus (≥ 2.5), reached with pymilvus.

A write is acknowledged once Milvus has acknowledged every request of it (Milvus logs a write
before it answers, so a restart of Milvus loses nothing acknowledged); reads use Strong
consistency, so they see every write acknowledged before they started, from any process.

Collections: `<name>` (a row per passage: text, place, the vector under HNSW, and our jieba
tokens in a field Milvus's BM25 function turns into a sparse vector), `<name>_documents` (a
row per document), `<name>_texts` (document texts in parts: a VARCHAR holds 64 KB),
`<name>_sentences` (each passage's answer candidates and their vectors, for /ask) and
`<name>_meta` (the manifest, checked by every process sharing the collections).

Milvus has no transactions, so the document row is the commit point, as `segments_N` is in
Lucene: a write stores passages and text under a new generation, invisible while the
document row names the old one; one upsert of the row switches readers over; the old rows
are deleted after. Readers drop rows whose generation is not their document's, so they see
a document's old version or its new one, never a mix. Hybrid search fuses on our side
(`embeddings.fusion`), exactly as with the local backend.

Over 300 lines on purpose: one backend, one module, like backends/local.py; most of it is
the collection schemas and their queries.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from embeddings.backends.base import BackendUnavailableError, StorageFullError
from embeddings.bm25 import K1, B
from embeddings.manifest import IndexMismatchError
from embeddings.rwlock import RWLock
from embeddings.store import Document, NewDocument, Sentences, StoredPassage, WriteResult

logger = logging.getLogger(__name__)

VARCHAR_BYTES = 65535  # Milvus's largest VARCHAR
TEXT_PART_CHARS = 16000  # at most 4 UTF-8 bytes a character: a part always fits a VARCHAR
DOC_ID_BYTES = 800  # doc_ids are at most 200 characters (embeddings.sources)
WINDOW = 16384  # Milvus's largest limit (offset + limit) of one query or search
BATCH = 500  # rows per insert request: a few MB, well under gRPC's message limit
MIN_EF = 64  # HNSW search breadth; raised to the number of results asked for
STRONG: dict[str, Any] = {"consistency_level": "Strong"}
# pymilvus pings idle connections every 10 s; milvus-lite's gRPC server (Python's defaults)
# takes a ping more often than every 5 min while idle as abuse and drops the connection
# ("too many pings"). Milvus accepts either; a dead connection still shows on the next call.
KEEPALIVE = {"grpc.keepalive_time_ms": 330_000}

_PASSAGE_FIELDS = ["id", "passage_id", "doc_id", "ord", "title", "section", "text", "start"]
_PASSAGE_FIELDS += ["end", "pages", "gen"]
_DOC_FIELDS = ["doc_id", "title", "source", "sha256", "passages", "format", "size", "indexed_at"]
_DOC_FIELDS += ["gen", "parts"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")
_PLAIN_TERM = re.compile(r"\w+")
_FULL = ("quota", "no space left", "disk is full", "disk full", "storage is full")


class MilvusUnavailableError(BackendUnavailableError):
    """Milvus cannot be reached, or lacks what this backend needs."""


_UNREACHABLE = ("fail connecting", "unavailable", "deadline exceeded")


def _says(exc: Exception, words: Sequence[str]) -> bool:
    """Whether a Milvus error's message names one of `words` (its codes vary by version)."""
    message = str(exc).lower()
    return any(word in message for word in words)


class _Guarded:
    """The MilvusClient, with "cannot reach the server" errors raised as MilvusUnavailableError,
    which the HTTP layer answers with 503 and Retry-After instead of a 500."""

    def __init__(self, client: Any, pm: Any, uri: str) -> None:
        self._client, self._pm, self._uri = client, pm, uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except self._pm.MilvusException as exc:
                if _says(exc, _UNREACHABLE):
                    raise MilvusUnavailableError(
                        f"Milvus at {self._uri} does not answer ({exc})"
                    ) from exc
                raise

        return call


def _pymilvus() -> Any:
    """pymilvus, imported on first use: only the Milvus backend needs it."""
    try:
        return importlib.import_module("pymilvus")
    except ImportError as exc:
        raise MilvusUnavailableError(
            "BACKEND=milvus needs pymilvus: .venv/bin/pip install pymilvus milvus-lite"
        ) from exc


def lexical_term(token: str) -> str:
    """`token` as exactly one term under both Milvus's `whitespace` analyzer and milvus-lite's
    `standard` one (`\\w+`, lower-cased): kept when it already is one (every Chinese word),
    else hex-encoded behind `_` (`3.5`, `c++`), which no kept token starts with."""
    if _PLAIN_TERM.fullmatch(token) and token == token.lower() and not token.startswith("_"):
        return token
    return "_" + token.encode().hex()


def quote(value: str) -> str:
    """`value` as a Milvus filter string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def in_filter(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(quote(v) for v in values)}]"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _check_bytes(what: str, value: str, limit: int = VARCHAR_BYTES) -> str:
    size = len(value.encode())
    if size > limit:
        raise ValueError(f"{what} is {size} bytes long; a Milvus VARCHAR holds {limit}")
    return value


def _passage(row: dict[str, Any]) -> StoredPassage:
    return StoredPassage(
        int(row["id"]),
        row["passage_id"],
        row["doc_id"],
        int(row["ord"]),
        row["title"],
        row["section"],
        row["text"],
        int(row["start"]),
        int(row["end"]),
        tuple(json.loads(row["pages"])),
    )


def _document(row: dict[str, Any]) -> Document:
    return Document(
        row["doc_id"],
        row["title"],
        row["source"],
        row["sha256"],
        int(row["passages"]),
        row["format"],
        int(row["size"]),
        float(row["indexed_at"]),
    )


class MilvusBackend:
    """The storage backend on a Milvus server (or milvus-lite), shared by any number of processes.

    Passage ids are Milvus's own (an auto_id INT64 primary key): unique across processes
    without coordinating, never reused, and increasing like SQLite's AUTOINCREMENT, so ties
    in a ranking break the same way as with the local backend.
    """

    def __init__(
        self,
        uri: str,
        dim: int,
        *,
        token: str | None = None,
        collection: str = "passages",
        manifest: dict[str, Any] | None = None,
        on_close: Callable[[], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """`manifest` (what builds the index: model, chunker, tokenizer) is kept in Milvus and
        checked by every process, since processes with different settings may share it."""
        if not _NAME.fullmatch(collection):
            raise ValueError(
                f"MILVUS_COLLECTION {collection!r}: use letters, digits and '_' (not first a digit)"
            )
        pm = _pymilvus()
        self.dim = dim
        self.uri = uri
        self.passages_name = collection
        self.documents_name = f"{collection}_documents"
        self.texts_name = f"{collection}_texts"
        self.sentences_name = f"{collection}_sentences"
        self.meta_name = f"{collection}_meta"
        self._pm = pm
        self._lock = RWLock()
        self._on_close = on_close
        self._closed = False
        try:
            self._client = _Guarded(
                pm.MilvusClient(
                    uri=uri, token=token or "", timeout=timeout, grpc_options=KEEPALIVE
                ),
                pm,
                uri,
            )
            version = str(self._client.get_server_version())
        except (pm.MilvusException, MilvusUnavailableError) as exc:
            raise MilvusUnavailableError(
                f"cannot reach Milvus at {uri} ({exc}). Start it, or unset MILVUS_URI to run "
                "milvus-lite under DATA_DIR"
            ) from exc
        # milvus-lite has no `whitespace` tokenizer; its `standard` one (\w+, lower-cased)
        # keeps each `lexical_term` whole. Milvus's own `standard` would split Chinese into
        # single characters, so a real server must have `whitespace`.
        self.lite = version.startswith("milvus_lite")
        self._analyzer = {"tokenizer": "standard" if self.lite else "whitespace"}
        self._ensure_collections()
        if manifest is not None:
            self._check_manifest(manifest)

    # -- opening -----------------------------------------------------------------------------

    def _ensure_collections(self) -> None:
        for name, make in (
            (self.meta_name, self._meta_schema),
            (self.documents_name, self._documents_schema),
            (self.texts_name, self._texts_schema),
            (self.sentences_name, self._sentences_schema),
            (self.passages_name, self._passages_schema),
        ):
            if not self._client.has_collection(name):
                schema, index = make()
                try:
                    self._client.create_collection(
                        name, schema=schema, index_params=index, consistency_level="Strong"
                    )
                    logger.info("created Milvus collection %s", name)
                except self._pm.MilvusException:
                    if not self._client.has_collection(name):  # not a race with another process
                        raise
            self._client.load_collection(name)
        self._check_dim()

    def _check_dim(self) -> None:
        fields = self._client.describe_collection(self.passages_name)["fields"]
        found = next((int(f["params"]["dim"]) for f in fields if f["name"] == "vector"), None)
        if found != self.dim:
            raise IndexMismatchError(
                f"The Milvus collection {self.passages_name} at {self.uri} holds {found}-"
                f"dimensional vectors; this model makes {self.dim}. Set MILVUS_COLLECTION to "
                "another name, or drop the collection and index again."
            )

    def _check_manifest(self, wanted: dict[str, Any]) -> None:
        """Record what builds this index on first use; afterwards refuse anything else."""
        rows = self._client.get(self.meta_name, ids=["manifest"], output_fields=["value"], **STRONG)
        if not rows:
            row = {"key": "manifest", "value": json.dumps(wanted), "placeholder": [0.0, 0.0]}
            self._client.upsert(self.meta_name, [row])
            return
        found = json.loads(rows[0]["value"])
        diffs = [
            f"{key}: collection has {found.get(key)!r}, this service uses {value!r}"
            for key, value in wanted.items()
            if found.get(key) != value
        ]
        if diffs:
            raise IndexMismatchError(
                f"The Milvus collection {self.passages_name} at {self.uri} was built differently "
                f"({'; '.join(diffs)}). Its results would be wrong, so it is not used. Set "
                "MILVUS_COLLECTION to another name, or drop its collections and index again."
            )

    def _schema(self, *, auto_id: bool) -> Any:
        return self._client.create_schema(auto_id=auto_id, enable_dynamic_field=False)

    def _placeholder(self, schema: Any, index: Any) -> None:
        """Milvus wants a vector field in every collection; document rows carry a 2-d zero."""
        schema.add_field("placeholder", self._pm.DataType.FLOAT_VECTOR, dim=2)
        index.add_index("placeholder", index_type="FLAT", metric_type="L2")

    def _meta_schema(self) -> tuple[Any, Any]:
        dt = self._pm.DataType
        s = self._schema(auto_id=False)
        s.add_field("key", dt.VARCHAR, is_primary=True, max_length=64)
        s.add_field("value", dt.VARCHAR, max_length=VARCHAR_BYTES)
        index = self._client.prepare_index_params()
        self._placeholder(s, index)
        return s, index

    def _documents_schema(self) -> tuple[Any, Any]:
        dt = self._pm.DataType
        s = self._schema(auto_id=False)
        s.add_field("doc_id", dt.VARCHAR, is_primary=True, max_length=DOC_ID_BYTES)
        for name in ("title", "source"):
            s.add_field(name, dt.VARCHAR, max_length=VARCHAR_BYTES)
        s.add_field("sha256", dt.VARCHAR, max_length=64)
        s.add_field("format", dt.VARCHAR, max_length=64)
        for name in ("passages", "size", "parts"):
            s.add_field(name, dt.INT64)
        s.add_field("indexed_at", dt.DOUBLE)
        s.add_field("gen", dt.VARCHAR, max_length=32)
        index = self._client.prepare_index_params()
        self._placeholder(s, index)
        return s, index

    def _texts_schema(self) -> tuple[Any, Any]:
        dt = self._pm.DataType
        s = self._schema(auto_id=True)
        s.add_field("id", dt.INT64, is_primary=True, auto_id=True)
        s.add_field("doc_id", dt.VARCHAR, max_length=DOC_ID_BYTES)
        s.add_field("gen", dt.VARCHAR, max_length=32)
        s.add_field("part", dt.INT64)
        s.add_field("text", dt.VARCHAR, max_length=VARCHAR_BYTES)
        index = self._client.prepare_index_params()
        index.add_index("doc_id", index_type="INVERTED")
        self._placeholder(s, index)
        return s, index

    def _sentences_schema(self) -> tuple[Any, Any]:
        """A row per answer candidate of a passage, with its vector (read by /ask, never
        searched); one row each because a passage's vectors outgrow a VARCHAR or an ARRAY."""
        dt = self._pm.DataType
        s = self._schema(auto_id=True)
        s.add_field("id", dt.INT64, is_primary=True, auto_id=True)
        s.add_field("passage", dt.INT64)
        s.add_field("doc_id", dt.VARCHAR, max_length=DOC_ID_BYTES)
        s.add_field("gen", dt.VARCHAR, max_length=32)
        for name in ("n", "start", "end"):
            s.add_field(name, dt.INT64)
        s.add_field("vector", dt.FLOAT_VECTOR, dim=self.dim)
        index = self._client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        index.add_index("passage", index_type="INVERTED")
        index.add_index("doc_id", index_type="INVERTED")
        return s, index

    def _passages_schema(self) -> tuple[Any, Any]:
        dt = self._pm.DataType
        s = self._schema(auto_id=True)
        s.add_field("id", dt.INT64, is_primary=True, auto_id=True)
        s.add_field("passage_id", dt.VARCHAR, max_length=128)
        s.add_field("doc_id", dt.VARCHAR, max_length=DOC_ID_BYTES)
        s.add_field("gen", dt.VARCHAR, max_length=32)
        for name in ("ord", "start", "end"):
            s.add_field(name, dt.INT64)
        for name in ("title", "section", "text", "pages"):
            s.add_field(name, dt.VARCHAR, max_length=VARCHAR_BYTES)
        s.add_field("vector", dt.FLOAT_VECTOR, dim=self.dim)
        s.add_field(
            "tokens",
            dt.VARCHAR,
            max_length=VARCHAR_BYTES,
            enable_analyzer=True,
            analyzer_params=self._analyzer,
        )
        s.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        s.add_function(
            self._pm.Function(
                name="bm25",
                function_type=self._pm.FunctionType.BM25,
                input_field_names=["tokens"],
                output_field_names=["sparse"],
            )
        )
        index = self._client.prepare_index_params()
        index.add_index(
            "vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200}
        )
        # Our BM25's constants, so lexical rankings equal the local backend's. milvus-lite
        # scores with k1 = 1.5 whatever this asks, one reason our K1 stays 1.5.
        index.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": K1, "bm25_b": B},
        )
        index.add_index("doc_id", index_type="INVERTED")
        index.add_index("passage_id", index_type="INVERTED")
        return s, index

    # -- writing -----------------------------------------------------------------------------

    def write(self, puts: Sequence[NewDocument], deletes: Sequence[str]) -> WriteResult:
        """Store the new generations, switch the document rows to them, then delete the old.

        Nothing a reader sees changes before the switch. A failure leaves each document in
        its old or its new version (the switch is one request per 500 documents), and the
        rows of the version not kept are removed (or, if Milvus is gone, swept by the next
        write of that document).
        """
        gens = {doc.doc_id: uuid.uuid4().hex for doc in puts}
        rows = [self._checked_row(doc, gens[doc.doc_id]) for doc in puts]
        gone = [d for d in dict.fromkeys(deletes) if d not in gens]
        result = WriteResult()
        try:
            try:
                for doc in puts:
                    ids = self._insert_passages(doc, gens[doc.doc_id])
                    self._insert_sentences(doc, gens[doc.doc_id], ids)
                    self._insert_text(doc, gens[doc.doc_id])
                    result.added[doc.doc_id] = ids
                with self._lock.write():  # the switch
                    for part in _chunks(gone, 1000):
                        self._client.delete(self.documents_name, filter=in_filter("doc_id", part))
                    for part in _chunks(rows, BATCH):
                        self._client.upsert(self.documents_name, list(part))
            except BaseException:
                self._tidy([*gone, *gens])
                raise
            result.removed = self._sweep([*gone, *gens], list(gens.values()))
        except self._pm.MilvusException as exc:
            if _says(exc, _FULL):
                raise StorageFullError(f"Milvus at {self.uri} refuses writes: {exc}") from exc
            raise
        return result

    def _checked_row(self, doc: NewDocument, gen: str) -> dict[str, Any]:
        """The document's row; first, every field checked against Milvus's VARCHAR size."""
        for p in doc.passages:
            for what, value in (("title", p.title), ("section", p.section), ("text", p.text)):
                _check_bytes(f"passage {p.passage_id}'s {what}", value)
            _check_bytes(f"passage {p.passage_id}'s tokens", self._tokens_text(p.tokens))
        return {
            "doc_id": _check_bytes("doc_id", doc.doc_id, DOC_ID_BYTES),
            "title": _check_bytes(f"{doc.doc_id}'s title", doc.title),
            "source": _check_bytes(f"{doc.doc_id}'s source", doc.source),
            "sha256": doc.sha256,
            "format": doc.format,
            "passages": len(doc.passages),
            "size": doc.size,
            "parts": -(-len(doc.text) // TEXT_PART_CHARS),
            "indexed_at": time.time(),
            "gen": gen,
            "placeholder": [0.0, 0.0],
        }

    @staticmethod
    def _tokens_text(tokens: Sequence[str]) -> str:
        return " ".join(lexical_term(t) for t in tokens)

    def _insert_passages(self, doc: NewDocument, gen: str) -> list[int]:
        rows = [
            {
                "passage_id": p.passage_id,
                "doc_id": doc.doc_id,
                "gen": gen,
                "ord": i,
                "title": p.title,
                "section": p.section,
                "text": p.text,
                "start": p.start,
                "end": p.end,
                "pages": json.dumps(list(p.pages)),
                "vector": np.asarray(p.vector, dtype=np.float32).tolist(),
                "tokens": self._tokens_text(p.tokens),
            }
            for i, p in enumerate(doc.passages)
        ]
        ids: list[int] = []
        for part in _chunks(rows, BATCH):
            ids += [int(i) for i in self._client.insert(self.passages_name, list(part))["ids"]]
        return ids

    def _insert_sentences(self, doc: NewDocument, gen: str, ids: list[int]) -> None:
        rows = [
            {
                "passage": id_,
                "doc_id": doc.doc_id,
                "gen": gen,
                "n": n,
                "start": int(a),
                "end": int(b),
                "vector": np.asarray(v, dtype=np.float32).tolist(),
            }
            for id_, p in zip(ids, doc.passages, strict=True)
            for n, ((a, b), v) in enumerate(zip(p.spans, p.span_vectors, strict=True))
        ]
        for part in _chunks(rows, BATCH):
            self._client.insert(self.sentences_name, list(part))

    def _insert_text(self, doc: NewDocument, gen: str) -> None:
        rows = [
            {
                "doc_id": doc.doc_id,
                "gen": gen,
                "part": n,
                "text": doc.text[i : i + TEXT_PART_CHARS],
                "placeholder": [0.0, 0.0],
            }
            for n, i in enumerate(range(0, len(doc.text), TEXT_PART_CHARS))
        ]
        for part in _chunks(rows, 8):  # up to 64 KB a row
            self._client.insert(self.texts_name, list(part))

    def _sweep(self, doc_ids: Sequence[str], keep: Sequence[str]) -> list[int]:
        """Delete the rows of these documents outside the generations `keep`: older versions,
        deleted documents, leftovers of interrupted writes. Returns the passage ids deleted."""
        removed: list[int] = []
        for part in _chunks(list(dict.fromkeys(doc_ids)), 100):
            expr = in_filter("doc_id", part)
            if keep:
                expr += f" and not ({in_filter('gen', keep)})"
            self._client.delete(self.sentences_name, filter=expr)
            removed += self._delete_passages(expr)
            self._client.delete(self.texts_name, filter=expr)
        return removed

    def _tidy(self, doc_ids: Sequence[str]) -> None:
        """Best effort after a failed write: keep only the generation each document row names."""
        try:
            self._sweep(doc_ids, list(self._live(doc_ids).values()))
        except (self._pm.MilvusException, MilvusUnavailableError) as exc:
            logger.warning(
                "could not remove the rows of a failed write (%s); readers never see them, "
                "and the next write of those documents sweeps them",
                exc,
            )

    def _delete_passages(self, expr: str) -> list[int]:
        removed: list[int] = []
        while True:
            rows = self._client.query(
                self.passages_name, filter=expr, output_fields=["id"], limit=WINDOW, **STRONG
            )
            if not rows:
                return removed
            ids = [int(r["id"]) for r in rows]
            self._client.delete(self.passages_name, ids=ids)
            removed += ids

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    # -- reading -----------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[None]:
        """No switch of this process lands inside it; other processes' writes are filtered by
        generation (Strong consistency: every write acknowledged before a query is seen)."""
        with self._lock.read():
            yield

    def restrict(self, doc_ids: Sequence[str]) -> str:
        return in_filter("doc_id", doc_ids)

    def _live(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """The current generation of each of these documents that exists."""
        wanted = list(dict.fromkeys(doc_ids))
        out: dict[str, str] = {}
        for part in _chunks(wanted, 1000):
            for row in self._client.query(
                self.documents_name,
                filter=in_filter("doc_id", part),
                output_fields=["doc_id", "gen"],
                limit=len(part),
                **STRONG,
            ):
                out[row["doc_id"]] = row["gen"]
        return out

    def _search(
        self, data: list[Any], field: str, params: dict[str, Any], n: int, within: object | None
    ) -> list[tuple[int, float]]:
        """Top-n (id, score) of live passages, higher first; ties by id as in the local backend.

        Rows of a generation not yet switched to (or just switched from) take places in
        Milvus's top-n, so when some were dropped the search looks further.
        """
        if n <= 0:
            return []
        limit, lexical = min(n, WINDOW), params["metric_type"] == "BM25"
        while True:
            got = self._client.search(
                self.passages_name,
                data=data,
                anns_field=field,
                filter=str(within) if within is not None else "",
                limit=limit,
                output_fields=["doc_id", "gen"],
                search_params=params
                if lexical
                else {**params, "params": {"ef": max(MIN_EF, limit)}},
                **STRONG,
            )[0]
            live = self._live(h["entity"]["doc_id"] for h in got)
            hits = [
                # milvus-lite gives BM25 as a negative distance; Milvus as a positive score.
                (int(h["id"]), abs(float(h["distance"])) if lexical else float(h["distance"]))
                for h in got
                if live.get(h["entity"]["doc_id"]) == h["entity"]["gen"]
            ]
            if len(hits) >= n or len(got) < limit or limit >= WINDOW:
                break
            limit = min(limit * 4, WINDOW)
        hits.sort(key=lambda x: (-x[1], x[0]))
        return hits[:n]

    def dense_search(
        self, vector: np.ndarray, n: int, within: object | None
    ) -> list[tuple[int, float]]:
        data = [np.asarray(vector, dtype=np.float32).reshape(-1).tolist()]
        return self._search(data, "vector", {"metric_type": "IP"}, n, within)

    def lexical_search(
        self, tokens: Sequence[str], n: int, within: object | None
    ) -> list[tuple[int, float]]:
        if not tokens:
            return []
        text = self._tokens_text(tokens)
        return self._search([text], "sparse", {"metric_type": "BM25"}, n, within)

    def by_ids(self, ids: Sequence[int]) -> dict[int, StoredPassage]:
        out: dict[int, StoredPassage] = {}
        for part in _chunks([int(i) for i in ids], 1000):
            rows = self._client.get(
                self.passages_name, ids=list(part), output_fields=_PASSAGE_FIELDS, **STRONG
            )
            out.update((int(r["id"]), _passage(r)) for r in rows)
        return out

    def _query(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        return list(
            self._client.query(
                collection, filter=expr, output_fields=fields, limit=WINDOW, **STRONG
            )
        )

    def _scan(self, collection: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row of a collection: one query when it holds fewer than 16384 rows (Milvus's
        query limit), else an iterator's batches."""
        rows = self._query(collection, "", fields)
        if len(rows) < WINDOW:
            yield from rows
            return
        it = self._client.query_iterator(
            collection, batch_size=1000, filter="", output_fields=fields, **STRONG
        )
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def passage(self, passage_id: str) -> StoredPassage | None:
        rows = self._query(
            self.passages_name, f"passage_id == {quote(passage_id)}", _PASSAGE_FIELDS
        )
        live = self._live(r["doc_id"] for r in rows)
        return next((_passage(r) for r in rows if live.get(r["doc_id"]) == r["gen"]), None)

    def _document_row_of(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._client.get(
            self.documents_name, ids=[doc_id], output_fields=_DOC_FIELDS, **STRONG
        )
        return dict(rows[0]) if rows else None

    def _doc_passages(self, doc_id: str, gen: str, lo: int, hi: int) -> list[StoredPassage]:
        """Passages `lo <= ord < hi` of one generation of a document, in reading order."""
        out: list[StoredPassage] = []
        for start in range(lo, hi, WINDOW):
            expr = (
                f"doc_id == {quote(doc_id)} and gen == {quote(gen)} "
                f"and ord >= {start} and ord < {min(start + WINDOW, hi)}"
            )
            out += [_passage(r) for r in self._query(self.passages_name, expr, _PASSAGE_FIELDS)]
        return sorted(out, key=lambda p: p.ord)

    def passages(self, doc_id: str | None = None) -> list[StoredPassage]:
        if doc_id is not None:
            row = self._document_row_of(doc_id)
            return self._doc_passages(doc_id, row["gen"], 0, int(row["passages"])) if row else []
        live = {r["doc_id"]: r["gen"] for r in self._scan(self.documents_name, ["doc_id", "gen"])}
        found = [
            _passage(r)
            for r in self._scan(self.passages_name, _PASSAGE_FIELDS)
            if live.get(r["doc_id"]) == r["gen"]
        ]
        return sorted(found, key=lambda p: (p.doc_id, p.ord))

    def neighbours(
        self, p: StoredPassage, n: int
    ) -> tuple[list[StoredPassage], list[StoredPassage]]:
        """Up to `n` passages of the same document before and after `p`, in reading order."""
        gen = self._live([p.doc_id]).get(p.doc_id)
        if gen is None or n <= 0:
            return [], []
        around = self._doc_passages(p.doc_id, gen, max(p.ord - n, 0), p.ord + n + 1)
        return [q for q in around if q.ord < p.ord], [q for q in around if q.ord > p.ord]

    def vector(self, id_: int) -> np.ndarray | None:
        rows = self._client.get(
            self.passages_name, ids=[int(id_)], output_fields=["vector"], **STRONG
        )
        return np.asarray(rows[0]["vector"], dtype=np.float32) if rows else None

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentences]:
        """The answer candidates of these passages with their vectors (stored at index time)."""
        ids = [int(i) for i in ids]
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for part in _chunks(ids, 100):
            expr = f"passage in [{', '.join(str(i) for i in part)}]"
            for row in self._query(
                self.sentences_name, expr, ["passage", "n", "start", "end", "vector"]
            ):
                found[int(row["passage"])].append(row)
        out = {}
        for id_, rows in found.items():
            rows.sort(key=lambda r: int(r["n"]))
            vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(
                -1, self.dim
            )
            out[id_] = Sentences([(int(r["start"]), int(r["end"])) for r in rows], vectors)
        return out

    def document(self, doc_id: str) -> Document | None:
        row = self._document_row_of(doc_id)
        return _document(row) if row else None

    def documents(self, limit: int | None = None, offset: int = 0) -> list[Document]:
        """Documents by doc_id (Milvus cannot sort a query: every row is read, then sorted)."""
        docs = sorted(
            (_document(r) for r in self._scan(self.documents_name, _DOC_FIELDS)),
            key=lambda d: d.doc_id,
        )
        return docs[offset:] if limit is None else docs[offset : offset + limit]

    def unknown_documents(self, doc_ids: Sequence[str]) -> list[str]:
        known = self._live(doc_ids)
        return [d for d in doc_ids if d not in known]

    def document_text(self, doc_id: str) -> str | None:
        row = self._document_row_of(doc_id)
        if row is None:
            return None
        expr = f"doc_id == {quote(doc_id)} and gen == {quote(row['gen'])}"
        parts = self._query(self.texts_name, expr, ["part", "text"])
        return "".join(r["text"] for r in sorted(parts, key=lambda r: int(r["part"])))

    def _count(self, collection: str) -> int:
        rows = self._client.query(collection, filter="", output_fields=["count(*)"], **STRONG)
        return int(rows[0]["count(*)"])

    def document_count(self) -> int:
        return self._count(self.documents_name)

    def passage_count(self) -> int:
        """Rows in the passage collection: exact between writes; while a write of another
        document version is in flight, its new rows count too."""
        return self._count(self.passages_name)
