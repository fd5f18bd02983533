"""FAISS id-map search against a brute-force oracle on random vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.vector_index import VectorIndex


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute(vecs: dict[int, np.ndarray], q: np.ndarray, k: int, allowed=None) -> list[int]:
    items = [(i, float(v @ q)) for i, v in vecs.items() if allowed is None or i in allowed]
    return [i for i, _ in sorted(items, key=lambda x: (-x[1], x[0]))[:k]]


def test_search_matches_brute_force_after_adds_and_removes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    index = VectorIndex(32)
    ids = list(range(1000, 1300))
    vecs = unit(rng, len(ids), 32)
    index.add(ids, vecs)
    truth = dict(zip(ids, vecs, strict=True))
    gone = ids[::4]
    index.remove(gone)
    for i in gone:
        del truth[i]
    assert sorted(index.ids().tolist()) == sorted(truth)
    for q in unit(rng, 5, 32):
        assert [i for i, _ in index.search(q, 10)] == brute(truth, q, 10)
        allowed = np.array(sorted(truth)[:40])
        got = [i for i, _ in index.search(q, 5, allowed)]
        assert got == brute(truth, q, 5, set(allowed.tolist()))
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    q = unit(rng, 1, 32)[0]
    assert loaded.search(q, 10) == index.search(q, 10)
    np.testing.assert_allclose(loaded.vector(ids[1]), truth[ids[1]], rtol=1e-6)


def test_edges() -> None:
    index = VectorIndex(4)
    q = np.ones(4, dtype=np.float32) / 2
    assert index.search(q, 5) == []
    index.add([7], q.reshape(1, -1))
    assert index.search(q, 0) == [] and index.search(q, 5, np.array([], dtype=np.int64)) == []
    assert index.search(q, 5)[0][0] == 7


def test_garbage_file_raises(tmp_path: Path) -> None:
    (tmp_path / "v.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(RuntimeError):
        VectorIndex.load(tmp_path / "v.faiss")
