"""Incremental BM25 against bm25s as an oracle: the same scores after adds, deletes and merges."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest

from embeddings.bm25 import MAX_SEGMENTS, BM25Index
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
    ref = bm25s.BM25()
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
    (tmp_path / "lex" / "vocab.json").write_text("garbage{")
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "lex")
    index.save(tmp_path / "lex2")
    (tmp_path / "lex2" / "segment-0.npz").write_bytes(b"\x00" * 10)
    with pytest.raises((ValueError, OSError, EOFError)):
        BM25Index.load(tmp_path / "lex2")


def test_real_chinese_tokens_rank_the_matching_passage_first() -> None:
    tok = default_tokenizer()
    texts = ["耒陽打造紙品童車產業", "臨汾落實責任", "湘潭政法工作"]
    index = BM25Index()
    index.add([10, 20, 30], [tok.tokens(t) for t in texts])
    assert index.search(tok.tokens("耒阳纸品产业"), 3)[0][0] == 10
    assert index.search(tok.tokens("耒阳纸品产业"), 3, np.array([20, 30])) == []
