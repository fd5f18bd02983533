"""Exact inner-product search over normalised vectors, keyed by the passages' integer ids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import faiss
import numpy as np

from embeddings.durable import fsync_dir


class VectorIndex:
    """FAISS `IndexIDMap2` over a flat inner-product index: ids survive additions and deletions.

    Not safe to search while another thread adds or removes ids: the backend's lock keeps
    writers out while anyone searches.
    """

    def __init__(self, dim: int, index: faiss.IndexIDMap2 | None = None) -> None:
        self.dim = dim
        self._index = index or faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a saved index; raises RuntimeError (FAISS) or OSError when it is damaged."""
        # FAISS returns the saved class (downcast), and only IndexIDMap2 is ever saved here.
        index = cast(faiss.IndexIDMap2, faiss.read_index(str(path)))
        return cls(index.d, index)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        if len(ids):
            vecs = np.ascontiguousarray(vectors, dtype=np.float32)
            self._index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray | list[int]) -> None:
        if len(ids):
            # The stub only lists IDSelector; FAISS's wrapper takes an id array as well.
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]

    def ids(self) -> np.ndarray:
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

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
        params = None
        if allowed is not None:
            if not len(allowed):
                return []
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            # The stub omits it, but FAISS's wrapper sets fields given as keywords.
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = self._index.search(q, min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
