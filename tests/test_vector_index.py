"""FAISS search against a brute-force oracle on random vectors: exact for the flat index,
recall-based for IVF; both survive removals, filters and a disk round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.vector_index import (
    ExactTopK,
    Layout,
    VectorIndex,
    layout_for,
    nlist_for,
    spherical_kmeans,
)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, n: int, dim: int, topics: int = 50) -> np.ndarray:
    """Unit vectors around a few topics, as sentence embeddings are (IVF needs structure)."""
    centres = unit(np.random.default_rng(99), topics, dim)
    v = centres[rng.integers(0, topics, n)] + 0.6 * unit(rng, n, dim)
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
    assert index.kind == "flat" and index.ids().tolist() == sorted(truth)
    for q in unit(rng, 5, 32):
        assert [i for i, _ in index.search(q, 10)] == brute(truth, q, 10)
        allowed = np.array(sorted(truth)[:40])
        got = [i for i, _ in index.search(q, 5, allowed)]
        assert got == brute(truth, q, 5, set(allowed.tolist()))
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    q = unit(rng, 1, 32)[0]
    assert loaded.kind == "flat" and loaded.search(q, 10) == index.search(q, 10)
    np.testing.assert_allclose(loaded.vector(ids[1]), truth[ids[1]], rtol=1e-6)


def ivf_over(
    rng: np.random.Generator, n: int, dim: int
) -> tuple[VectorIndex, dict[int, np.ndarray]]:
    """An IVF index over `n` clustered vectors, nprobe calibrated as the backend does."""
    ids = np.arange(10_000, 10_000 + n, dtype=np.int64)
    vecs = clustered(rng, n, dim)
    index = VectorIndex.trained(dim, nlist_for(n), vecs[rng.choice(n, 40 * nlist_for(n))])
    index.add(ids, vecs)
    picked = rng.choice(n, 100, replace=False)
    truth = ExactTopK(vecs[picked], 11)
    truth.observe(ids, vecs)
    index.calibrate(vecs[picked], ids[picked], truth.result())
    return index, dict(zip(ids.tolist(), vecs, strict=True))


def recall(index: VectorIndex, truth: dict[int, np.ndarray], queries: np.ndarray) -> float:
    """Recall@10 against the brute-force top 10 (as matrix products: thousands of vectors)."""
    ids = np.array(list(truth))
    exact = np.argsort(-(queries @ np.stack(list(truth.values())).T), axis=1)[:, :10]
    hits = sum(
        len({i for i, _ in index.search(q, 10)} & set(ids[row].tolist()))
        for q, row in zip(queries, exact, strict=True)
    )
    return hits / (10 * len(queries))


def test_ivf_recall_against_brute_force_after_removes_and_adds(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    index, truth = ivf_over(rng, 5000, 32)
    assert index.kind == "ivf" and 1 <= index.nprobe < index.nlist
    queries = clustered(rng, 60, 32)  # new vectors, not stored ones: as real queries are
    assert recall(index, truth, queries) >= 0.95

    gone = sorted(truth)[::3]
    index.remove(gone + [1, 2, 3])  # ids it never had are ignored
    for i in gone:
        del truth[i]
    fresh = clustered(rng, 500, 32)
    index.add(np.arange(50_000, 50_500), fresh)
    truth.update(zip(range(50_000, 50_500), fresh, strict=True))
    assert index.ids().tolist() == sorted(truth) and len(index) == len(truth)
    assert recall(index, truth, queries) >= 0.95
    gone_set = set(gone)
    assert all(i not in gone_set for q in queries for i, _ in index.search(q, 50))
    np.testing.assert_allclose(index.vector(50_007), truth[50_007], rtol=1e-6)

    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    assert (loaded.kind, loaded.nlist, loaded.nprobe) == ("ivf", index.nlist, index.nprobe)
    assert loaded.ids().tolist() == sorted(truth)
    for q in queries[:10]:
        assert loaded.search(q, 10) == index.search(q, 10)
    loaded.remove([50_000])  # the direct map is rebuilt on load: removal by id still works
    assert 50_000 not in set(loaded.ids().tolist())


def test_ivf_filters_are_exact_for_small_sets_and_probe_more_for_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    index, truth = ivf_over(rng, 4000, 16)
    queries = clustered(rng, 20, 16)
    # A few documents' passages: scored exactly, so nothing allowed is missed.
    small = np.array(sorted(truth)[100:160] + [999_999])  # one id the index lacks
    for q in queries:
        got = [i for i, _ in index.search(q, 10, small)]
        assert got == brute(truth, q, 10, set(small.tolist()))
    # A large share: IVF with the selector, more lists probed; recall still high.
    import embeddings.vector_index as vi

    monkeypatch.setattr(vi, "RECONSTRUCT_COST", 10**6)  # never exact
    big = np.array(sorted(truth)[::2])
    allowed = set(big.tolist())
    hits = 0
    for q in queries:
        got = [i for i, _ in index.search(q, 10, big)]
        assert set(got) <= allowed
        hits += len(set(got) & set(brute(truth, q, 10, allowed)))
    assert hits / (10 * len(queries)) >= 0.95


def test_copy_in_steps_with_writes_between_is_a_valid_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes between the steps of a save may or may not be in the file, but every id in
    it is one the index held, with its own vector, exactly once."""
    import embeddings.vector_index as vi

    monkeypatch.setattr(vi, "COPY_LISTS", 5)
    rng = np.random.default_rng(3)
    index, truth = ivf_over(rng, 3000, 16)
    copier = index.copier()
    step = 0
    while not copier.step():
        step += 1
        if step == 3:
            index.remove(sorted(truth)[:500])
            index.add(np.arange(90_000, 90_100), clustered(rng, 100, 16))
    copier.write(tmp_path / "v.faiss")
    saved = VectorIndex.load(tmp_path / "v.faiss")
    ids = saved.ids()
    assert len(np.unique(ids)) == len(ids) == len(saved)
    known = set(truth) | set(range(90_000, 90_100))
    assert set(ids.tolist()) <= known and len(ids) >= 3000 - 500
    for i in ids[::97].tolist():
        if i in truth:
            np.testing.assert_allclose(saved.vector(i), truth[i], rtol=1e-6)


def test_layouts_follow_the_size() -> None:
    assert layout_for(100, exact_limit=1000) == Layout("flat")
    assert layout_for(40_000, exact_limit=1000) == Layout("ivf", 800)
    assert nlist_for(1_000_000) == 4000 and nlist_for(100) == 2  # ≥ 39 points per list
    rng = np.random.default_rng(4)
    flat = VectorIndex(8)
    flat.add(np.arange(1200), unit(rng, 1200, 8))
    assert flat.wants(1000) == Layout("ivf", nlist_for(1200)) and flat.wants(5000) is None
    vecs = unit(rng, 4000, 8)
    ivf = VectorIndex.trained(8, 30, vecs)
    ivf.add(np.arange(4000), vecs)
    assert ivf.wants(1000) == Layout("ivf", nlist_for(4000))  # grown past 4× its lists
    ivf.remove(np.arange(3600))
    assert ivf.wants(1000) == Layout("flat")  # shrunk below half the limit


def test_kmeans_and_exact_top_k() -> None:
    rng = np.random.default_rng(5)
    x = clustered(rng, 2000, 16, topics=8)
    c = spherical_kmeans(x, 8)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1, rtol=1e-5)
    assert (x @ c.T).max(axis=1).mean() > 0.8  # every point is near some centroid
    top = ExactTopK(x[:5], 3)
    for s in range(0, 2000, 300):
        top.observe(np.arange(s, min(s + 300, 2000)), x[s : s + 300])
    truth = {i: v for i, v in enumerate(x)}
    assert [r.tolist() for r in top.result()] == [brute(truth, q, 3) for q in x[:5]]


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
