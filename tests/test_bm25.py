"""Incremental BM25 against bm25s as an oracle: the same scores after adds, deletes and merges."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest

from embeddings.bm25 import K1, MANIFEST, MAX_SEGMENTS, MERGE_FACTOR, B, BM25Index
from embeddings.tokenizer import default_tokenizer


def corpus(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(200)]
    # Zipf-like: low word ids are common, high ones rare
    return [
        [words[min(int(rng.paretovariate(1.0)) - 1, 199)] for _ in range(rng.randint(0, 30))]
        for _ in range(n)
    ]


def oracle(docs: dict[int, list[str]], query: list[str], k: int) -> list[tuple[int, float]]:
    ids = sorted(docs)
    ref = bm25s.BM25(k1=K1, b=B)
    ref.index([docs[i] or [""] for i in ids], show_progress=False)
    known = [t for t in query if t in ref.vocab_dict]
    if not known:
        return []
    scores = ref.get_scores(known)
    order = sorted(range(len(ids)), key=lambda j: (-scores[j], ids[j]))
    return [(ids[j], float(scores[j])) for j in order[:k] if scores[j] > 0]


def assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)


QUERIES = [["w1", "w5"], ["w3", "w3", "w40"], ["w150"], ["nothing"], ["w0", "w2", "w9", "w77"]]


def test_segments_score_exactly_like_one_index_after_adds_and_deletes() -> None:
    docs = corpus(400)
    index = BM25Index()
    live: dict[int, list[str]] = {}
    rng = random.Random(1)
    for start in range(0, 400, 23):
        batch = list(range(start, min(start + 23, 400)))
        index.add(batch, [docs[i] for i in batch])
        live.update({i: docs[i] for i in batch})
        gone = rng.sample(sorted(live), 5)
        index.remove(gone)
        for i in gone:
            del live[i]
        assert index.segments <= MAX_SEGMENTS
    assert len(index) == len(live)
    assert sorted(index.ids().tolist()) == sorted(live)
    for q in QUERIES:
        assert_same(index.search(q, 10), oracle(live, q, 10))


def test_filter_compaction_and_disk_round_trip(tmp_path: Path) -> None:
    docs = corpus(120, seed=3)
    index = BM25Index()
    index.add(list(range(100, 220)), docs)
    allowed = np.arange(150, 170)
    hits = index.search(["w1", "w2"], 50, allowed)
    assert hits and all(150 <= i < 170 for i, _ in hits)
    index.remove(list(range(100, 160)))
    before = index.search(["w1", "w4"], 10)
    index.compact()
    assert index.segments == 1 and index.search(["w1", "w4"], 10) == before
    index.save(tmp_path / "lex")
    loaded = BM25Index.load(tmp_path / "lex")
    assert loaded.search(["w1", "w4"], 10) == before and len(loaded) == 60


def test_damaged_files_raise(tmp_path: Path) -> None:
    index = BM25Index()
    index.add([1, 2], [["a", "b"], ["b", "c"]])
    index.save(tmp_path / "lex")
    (tmp_path / "lex" / MANIFEST).write_text("garbage{")
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "lex")
    index.save(tmp_path / "lex2")
    next((tmp_path / "lex2").glob("seg-*.bin")).write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "lex2")
    index.save(tmp_path / "lex4")
    seg = next((tmp_path / "lex4").glob("seg-*.bin"))
    seg.write_bytes(seg.read_bytes()[:-70])  # cut off inside the last array
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "lex4")
    index.save(tmp_path / "lex3")
    next((tmp_path / "lex3").glob("vocab-*.json")).write_text('["a"]')
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "lex3")
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "nothing-here")


def test_tiered_merges_leave_large_segments_alone_and_stay_exact() -> None:
    """Many small writes after a large one: merges combine the small segments (a write's
    cost stays small), deletes landing between a merge's build and its commit are kept, and
    scores stay those of one index."""
    docs = corpus(3000, seed=5)
    index = BM25Index()
    live: dict[int, list[str]] = {}
    index.add(list(range(2000)), docs[:2000])
    live.update(enumerate(docs[:2000]))
    big = index.ids().tolist()
    rng = random.Random(2)
    pending = None
    for start in range(2000, 3000, 10):
        batch = list(range(start, start + 10))
        index.add(batch, [docs[i] for i in batch])
        live.update({i: docs[i] for i in batch})
        if pending is not None:  # deletes arrived while the merge was being built
            gone = rng.sample(sorted(live), 3)
            index.remove(gone)
            for i in gone:
                del live[i]
            assert index.commit_merge(pending)
            pending = None
        plan = index.plan_merge()
        if plan is not None:
            assert sum(len(s.ids) for s in plan.sources) < 2000  # never the large segment
            pending = index.build_merge(plan)
    assert index.segments <= 2 * MERGE_FACTOR
    assert set(big) & set(index.ids().tolist()) == set(big) & set(live)
    for q in QUERIES:
        assert_same(index.search(q, 10), oracle(live, q, 10))
    allowed = np.array(sorted(live)[::7])  # a filter limits the ids, not the statistics
    want = [x for x in oracle(live, ["w1", "w4"], len(live)) if x[0] in set(allowed.tolist())]
    assert_same(index.search(["w1", "w4"], 10, allowed), want[:10])


def test_a_merge_whose_sources_changed_is_dropped() -> None:
    index = BM25Index()
    for start in range(0, 40, 10):
        index.add(list(range(start, start + 10)), corpus(10, seed=start))
    plan = index.plan_merge()
    assert plan is not None
    merged = index.build_merge(plan)
    index.compact()  # takes the same segments first
    before = index.search(["w1"], 10)
    assert not index.commit_merge(merged)
    assert index.segments == 1 and index.search(["w1"], 10) == before


def test_a_checkpoint_writes_only_what_is_new(tmp_path: Path) -> None:
    docs = corpus(600, seed=7)
    index = BM25Index()
    index.add(list(range(500)), docs[:500])
    index.save(tmp_path / "lex")
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "lex").iterdir()}
    index.add(list(range(500, 510)), docs[500:510])
    index.add([9000], [["brand", "new", "words"]])
    index.remove([3, 4, 5])
    index.save(tmp_path / "lex")
    second = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "lex").iterdir()}
    kept = [n for n in first if n.startswith(("seg-", "vocab-"))]
    assert kept and all(second.get(n) == first[n] for n in kept)  # not rewritten
    new = set(second) - set(first)
    assert len([n for n in new if n.startswith("seg-")]) == 2
    assert len([n for n in new if n.startswith("vocab-")]) == 1  # the three new terms
    assert len([n for n in new if n.startswith("live-")]) == 1
    assert not any(n.endswith(".tmp") for n in second)
    loaded = BM25Index.load(tmp_path / "lex")
    live = {i: d for i, d in enumerate(docs[:510]) if i not in (3, 4, 5)} | {
        9000: ["brand", "new", "words"]
    }
    assert len(loaded) == len(live) and loaded.ids().tolist() == sorted(live)
    for q in [*QUERIES, ["new", "w1"]]:
        assert_same(loaded.search(q, 10), oracle(live, q, 10))
    # Another index saved to the same place replaces it whole; stale files are deleted.
    other = BM25Index()
    other.add([1], [["solo"]])
    other.save(tmp_path / "lex")
    assert BM25Index.load(tmp_path / "lex").search(["solo"], 5)[0][0] == 1
    assert len(list((tmp_path / "lex").glob("seg-*"))) == 1


def test_real_chinese_tokens_rank_the_matching_passage_first() -> None:
    tok = default_tokenizer()
    texts = ["耒陽打造紙品童車產業", "臨汾落實責任", "湘潭政法工作"]
    index = BM25Index()
    index.add([10, 20, 30], [tok.tokens(t) for t in texts])
    assert index.search(tok.tokens("耒阳纸品产业"), 3)[0][0] == 10
    assert index.search(tok.tokens("耒阳纸品产业"), 3, np.array([20, 30])) == []


def test_pruned_search_is_exact_on_many_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    """MaxScore skips the common terms' postings once a first k-th score is known; the
    results must still be bm25s's, deletes, filters and repeated query words included."""
    import embeddings.bm25 as bm25

    thresholds: list[float] = []
    real = bm25._first_threshold
    monkeypatch.setattr(
        bm25, "_first_threshold", lambda *a: thresholds.append(real(*a)) or thresholds[-1]
    )
    docs = corpus(1500, seed=11)
    index = BM25Index()
    for start in range(0, 1500, 100):
        index.add(list(range(start, start + 100)), docs[start : start + 100])
    index.merge()
    gone = list(range(0, 1500, 7))
    index.remove(gone)
    live = {i: d for i, d in enumerate(docs) if i not in set(gone)}
    rng = random.Random(4)
    for _ in range(40):
        q = [f"w{min(int(rng.paretovariate(0.7)) - 1, 199)}" for _ in range(rng.randint(1, 8))]
        assert_same(index.search(q, 10), oracle(live, q, 10))
    assert sum(t > 0 for t in thresholds) >= 30  # pruning was on for most queries
