"""Inner-product search over normalised vectors keyed by passage ids: exact while small, IVF past
`EXACT_LIMIT` (measurements in benchmarks/results/scale.md).

Below the limit a flat index (`IndexIDMap2` over `IndexFlatIP`) answers exactly in under 2 ms.
Past it an `IndexIVFFlat` (inner product, spherical k-means, nlist ≈ 4·√n) answers in about a
millisecond at a million passages, with `nprobe` calibrated when the index is built so recall@10
against exact search is at least `TARGET_RECALL`. IVF rather than HNSW because passages are
deleted and replaced: IVF removes ids natively (in O(removed) with its hashtable direct map)
while HNSW can only mark them and be rebuilt; IVF also takes an `IDSelector` for document
filters, and its build is a k-means on a sample plus one pass of assignments, where HNSW's
build is an order of magnitude slower on two cores. A filter naming few ids is scored exactly
over just those vectors, because IVF probes only `nprobe` lists and would miss allowed ids
elsewhere.

The index type travels in the saved FAISS file; `layout_for` says which one a size wants, and
the backend rebuilds in the background when it changes (the flat index crosses the limit, or
an IVF has grown fourfold since its lists were trained).

Over 300 lines on purpose: the exact and IVF layouts, the switch between them and their
file format are one id-keyed index to the backend; the oracle tests cover it as one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import faiss
import numpy as np

from embeddings.durable import fsync_dir

EXACT_LIMIT = 10_000  # flat up to here: exact search still answers in ≤ ~2 ms
# A filtered IVF search probes nprobe·n/allowed lists, so about as many allowed vectors are
# compared as without a filter. When the allowed vectors are few enough that reconstructing
# them costs less than that scan, they are scored exactly instead (a few documents' passages
# in a large index). Measured at 100k vectors: reconstructing one costs as much as scanning
# between 4 and 60 list entries (500 allowed: exact 0.2 ms, selector 0.6 ms; 2,000: 2.1 ms
# against 0.7 ms), so 16.
RECONSTRUCT_COST = 16
TARGET_RECALL = 0.98  # on stored vectors; fresh queries measured a little lower
TRAIN_PER_LIST = 32  # k-means sample per list: enough for IVF lists, trains in seconds
KMEANS_ITERATIONS = 10
COPY_LISTS = 256  # IVF lists copied per lock hold when saving
# Constants FAISS's stub omits: faiss.DirectMap.Hashtable and the list-range subset type.
HASHTABLE: int = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]
BY_LIST: int = faiss.InvertedLists.SUBSET_TYPE_INVLIST  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Layout:
    """Which index a number of vectors wants: flat (exact) or IVF with `nlist` lists."""

    kind: Literal["flat", "ivf"]
    nlist: int = 0


def nlist_for(n: int) -> int:
    """≈ 4·√n lists, with at least 39 training points per list as FAISS's k-means asks."""
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def layout_for(n: int, exact_limit: int = EXACT_LIMIT) -> Layout:
    return Layout("ivf", nlist_for(n)) if n > exact_limit else Layout("flat")


class VectorIndex:
    """Passage ids and their normalised vectors in; top-k (id, cosine) out.

    Not safe to search while another thread adds or removes ids: the backend's lock keeps
    writers out while anyone searches.
    """

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index: faiss.Index = index or faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._centroids = np.zeros((0, dim), dtype=np.float32)
        if isinstance(self._index, faiss.IndexIVF):
            # Id lookups (remove, reconstruct) in O(1); rebuilt on load, not saved (see Copier).
            self._index.set_direct_map_type(HASHTABLE)
            quantizer = self._index.quantizer
            self._centroids = cast(np.ndarray, quantizer.reconstruct_n(0, self._index.nlist))

    @classmethod
    def trained(cls, dim: int, nlist: int, sample: np.ndarray) -> VectorIndex:
        """An empty IVF index whose lists are spherical k-means centroids of `sample`."""
        quantizer = faiss.IndexFlatIP(dim)
        quantizer.add(spherical_kmeans(np.asarray(sample, dtype=np.float32), nlist))
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        return cls(dim, ivf)

    @property
    def kind(self) -> Literal["flat", "ivf"]:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def nlist(self) -> int:
        return int(self._index.nlist) if isinstance(self._index, faiss.IndexIVF) else 0

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe) if isinstance(self._index, faiss.IndexIVF) else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = max(1, min(int(value), self.nlist))

    def wants(self, exact_limit: int = EXACT_LIMIT) -> Layout | None:
        """The layout to rebuild into, or None while this one still fits the size."""
        n = len(self)
        if self.kind == "flat":
            return layout_for(n, exact_limit) if n > exact_limit else None
        if n <= exact_limit // 2:  # hysteresis: delete-heavy churn near the limit rebuilds once
            return Layout("flat")
        if nlist_for(n) >= 2 * self.nlist:  # grown fourfold: lists too long for the budget
            return Layout("ivf", nlist_for(n))
        return None

    # -- disk --------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a saved index; raises RuntimeError (FAISS) or OSError when it is damaged."""
        index = faiss.read_index(str(path))  # FAISS returns the saved class (downcast)
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFFlat):
            raise RuntimeError(f"{path} holds a {type(index).__name__}, not a passage index")
        return cls(index.d, index)

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (no other thread may write meanwhile)."""
        copier = self.copier()
        while not copier.step():
            pass
        copier.write(path)

    def copier(self) -> Copier:
        """Copies this index in short steps for a save that does not hold writers back."""
        return Copier(self)

    # -- writing -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray | Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        id_arr = np.ascontiguousarray(ids, dtype=np.int64)
        if isinstance(self._index, faiss.IndexIVF):
            # Lists chosen with numpy's BLAS (see `nearest`), then stored by FAISS.
            lists = nearest(vecs, self._centroids)
            self._index.add_core(
                len(vecs), faiss.swig_ptr(vecs), faiss.swig_ptr(id_arr), faiss.swig_ptr(lists)
            )
        else:
            self._index.add_with_ids(vecs, id_arr)

    def remove(self, ids: np.ndarray | Sequence[int]) -> None:
        """Forget these ids; ids not in the index are ignored."""
        if not len(ids):
            return
        gone = np.ascontiguousarray(ids, dtype=np.int64)
        if self.kind == "ivf":
            # The hashtable direct map removes in O(len(gone)) but only via an IDSelectorArray.
            sel: faiss.IDSelector = faiss.IDSelectorArray(len(gone), faiss.swig_ptr(gone))
        else:
            sel = faiss.IDSelectorBatch(len(gone), faiss.swig_ptr(gone))
        self._index.remove_ids(sel)

    # -- reading -----------------------------------------------------------------------------

    def ids(self) -> np.ndarray:
        """Every id in the index, ascending."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        if isinstance(self._index, faiss.IndexIVF):
            lists = cast(faiss.InvertedLists, self._index.invlists)
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                for i in range(self._index.nlist)
                if lists.list_size(i)
            ]
            return np.sort(np.concatenate(parts).astype(np.int64))
        id_map = cast(faiss.IndexIDMap2, self._index).id_map
        return np.sort(faiss.vector_to_array(id_map).astype(np.int64))

    def vector(self, id_: int) -> np.ndarray:
        # The stub's first overload returns torch.Tensor; without faiss.contrib.torch_utils
        # FAISS returns an ndarray.
        return cast(np.ndarray, self._index.reconstruct(int(id_)))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) for one normalised query vector, optionally among `allowed` ids."""
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params: faiss.SearchParameters | None = None
        if allowed is not None:
            if not len(allowed):
                return []
            wanted = np.unique(np.asarray(allowed, dtype=np.int64))
            probes = 0
            if self.kind == "ivf":
                probes = min(self.nprobe * math.ceil(len(self) / len(wanted)), self.nlist)
                if len(wanted) * RECONSTRUCT_COST <= probes * len(self) / self.nlist:
                    return self._exact_among(q[0], k, wanted)
            selector = faiss.IDSelectorBatch(len(wanted), faiss.swig_ptr(wanted))
            if probes:
                ivf_params = faiss.SearchParametersIVF()
                ivf_params.sel = selector
                ivf_params.nprobe = probes
                params = ivf_params
            else:
                # The stub omits it, but FAISS's wrapper sets fields given as keywords.
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            scores, ids = self._index.search(q, min(k, len(self)), params=params)
        else:
            scores, ids = self._index.search(q, min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _exact_among(self, q: np.ndarray, k: int, wanted: np.ndarray) -> list[tuple[int, float]]:
        try:
            vecs = self._reconstruct(wanted)
        except RuntimeError:  # an id the index lacks: keep those it has (rare, O(n))
            wanted = np.intersect1d(wanted, self.ids(), assume_unique=True)
            if not len(wanted):
                return []
            vecs = self._reconstruct(wanted)
        scores = vecs @ q
        top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        order = top[np.lexsort((wanted[top], -scores[top]))]
        return [(int(wanted[i]), float(scores[i])) for i in order]

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        # In chunks of 1,000: FAISS parallelises larger batches with OpenMP, whose spinning
        # threads only add waits on two busy cores.
        parts = [self._index.reconstruct_batch(ids[i : i + 1000]) for i in range(0, len(ids), 1000)]
        return np.concatenate(cast(list[np.ndarray], parts))

    # -- calibration -------------------------------------------------------------------------

    def calibrate(
        self, queries: np.ndarray, query_ids: np.ndarray, truth: np.ndarray, k: int = 10
    ) -> float:
        """Set the smallest nprobe whose recall@k reaches TARGET_RECALL; returns that recall.

        `queries` are stored vectors (ids `query_ids`) and `truth` their exact top-(k+1) ids;
        each query's own id is left out of both sides, so this measures finding neighbours.
        """
        if self.kind != "ivf" or not len(queries):
            return 1.0
        want = [set(_others(row, own, k)) for row, own in zip(truth, query_ids, strict=True)]
        q = np.ascontiguousarray(queries, dtype=np.float32)
        recall, nprobe = 0.0, 1
        for nprobe in _probe_steps(self.nlist):
            self.nprobe = nprobe
            _, found = self._index.search(q, k + 1)
            hits = [
                len(w & set(_others(row, own, k)))
                for w, row, own in zip(want, found, query_ids, strict=True)
            ]
            recall = sum(hits) / max(1, sum(len(w) for w in want))
            if recall >= TARGET_RECALL:
                break
        self.nprobe = nprobe
        return recall


def nearest(x: np.ndarray, centroids: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of each row's most similar centroid.

    A numpy matrix product, not FAISS's assignment: the OpenBLAS bundled in the faiss-cpu
    wheel does not recognise this CPU and falls back to generic kernels, 4-5× slower here
    than numpy's OpenBLAS for the same product (k-means and bulk adds are nothing else).
    """
    parts = [np.argmax(x[i : i + chunk] @ centroids.T, axis=1) for i in range(0, len(x), chunk)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def spherical_kmeans(x: np.ndarray, k: int, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """`k` unit centroids of the unit vectors `x` (Lloyd's iterations on cosine)."""
    rng = np.random.default_rng(0)
    c = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        assign = nearest(x, c)
        counts = np.bincount(assign, minlength=k)
        filled = np.flatnonzero(counts)
        starts = np.cumsum(counts)[filled] - counts[filled]
        sums = np.zeros_like(c)
        sums[filled] = np.add.reduceat(x[np.argsort(assign, kind="stable")], starts)
        empty = np.flatnonzero(counts == 0)
        sums[empty] = x[rng.choice(len(x), len(empty))]  # an empty list restarts at a point
        c = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return np.ascontiguousarray(c, dtype=np.float32)


def _others(row: np.ndarray, own: int, k: int) -> list[int]:
    return [int(i) for i in row if i >= 0 and i != own][:k]


def _probe_steps(nlist: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, 16, … up to nlist: at most 1.5× more probes than needed."""
    steps = sorted({s for p in (2**i for i in range(32)) for s in (p, p + p // 2) if s < nlist})
    return [*steps, nlist]


class ExactTopK:
    """Running exact top-k of some queries over vectors streamed in batches (ground truth)."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.k = k
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.ids = np.zeros((len(queries), 0), dtype=np.int64)

    def observe(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids) or not len(self.queries):
            return
        scores = np.concatenate([self.scores, self.queries @ vectors.T], axis=1)
        all_ids = np.concatenate([self.ids, np.broadcast_to(ids, (len(self.queries), len(ids)))], 1)
        if scores.shape[1] > self.k:
            top = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
            scores = np.take_along_axis(scores, top, 1)
            all_ids = np.take_along_axis(all_ids, top, 1)
        self.scores, self.ids = scores, all_ids

    def result(self) -> np.ndarray:
        """Ids per query, best first."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        return np.take_along_axis(self.ids, order, 1)


class Copier:
    """A copy of a `VectorIndex` taken in steps, then written to disk with no lock held.

    A flat index (small, below the limit) is serialised in one step. An IVF index is copied
    `COPY_LISTS` lists per step, so a writer waits for one step, never for the whole save.
    Writes landing between steps may or may not be in the copy: the file is then a mixture
    of states, which is harmless because every id's vector is immutable and lives in exactly
    one list, and the backend reconciles the file with SQLite by id when it opens it.
    """

    def __init__(self, source: VectorIndex) -> None:
        self.source = source
        self._data = b""
        self._copy: faiss.IndexIVFFlat | None = None
        self._next = 0
        index = source._index
        if isinstance(index, faiss.IndexIVFFlat):
            copy = faiss.IndexIVFFlat(
                faiss.clone_index(index.quantizer), index.d, index.nlist, index.metric_type
            )
            copy.is_trained = True
            copy.nprobe = index.nprobe
            self._copy = copy
        else:
            self._data = faiss.serialize_index(index).tobytes()

    def step(self) -> bool:
        """Copy the next part (call under the lock that keeps writers out); True when done."""
        if self._copy is None:
            return True
        index = cast(faiss.IndexIVFFlat, self.source._index)
        end = min(self._next + COPY_LISTS, index.nlist)
        index.copy_subset_to(self._copy, BY_LIST, self._next, end)
        self._next = end
        return end >= index.nlist

    def write(self, path: Path) -> None:
        """Write the copy to `path` atomically: temporary file, fsync, rename, fsync dir."""
        tmp = path.with_name(path.name + ".tmp")
        if self._copy is not None:
            faiss.write_index(self._copy, str(tmp))
        else:
            tmp.write_bytes(self._data)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
