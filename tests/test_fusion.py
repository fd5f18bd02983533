"""Reciprocal rank fusion against a brute-force oracle."""

from __future__ import annotations

import random

import pytest

from embeddings.fusion import rrf


def oracle(rankings, k):
    docs = {d for r in rankings for d, _ in r}
    scores = {}
    for d in docs:
        s = 0.0
        for r in rankings:
            ids = [x for x, _ in r]
            if d in ids:
                s += 1.0 / (k + ids.index(d) + 1)
        scores[d] = s
    return scores


def test_rrf_matches_the_oracle_on_random_rankings() -> None:
    rng = random.Random(7)
    for _ in range(200):
        k = rng.choice([1, 10, 60])
        rankings = []
        for _ in range(rng.randint(1, 3)):
            ids = rng.sample(range(30), rng.randint(0, 15))
            rankings.append([(i, rng.random()) for i in ids])
        fused = rrf(rankings, k=k)
        expected = oracle(rankings, k)
        assert {d for d, _ in fused} == set(expected)
        for d, s in fused:
            assert abs(s - expected[d]) < 1e-12
        assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)


def test_rrf_weights_and_ties() -> None:
    a = [(1, 0.9), (2, 0.8)]
    b = [(2, 5.0), (1, 4.0)]
    # equal evidence: the tie goes to the first ranking's order
    assert [d for d, _ in rrf([a, b])] == [1, 2]
    assert [d for d, _ in rrf([a, b], weights=[1.0, 2.0])] == [2, 1]


def test_minmax_mix_matches_the_oracle() -> None:
    from embeddings.fusion import minmax_mix

    rng = random.Random(11)
    for _ in range(200):
        dense = [(i, rng.random()) for i in rng.sample(range(20), rng.randint(1, 10))]
        lexical = [(i, rng.random() * 10) for i in rng.sample(range(20), rng.randint(1, 10))]
        alpha = rng.choice([0.0, 0.3, 0.5, 1.0])

        def norm(pairs):
            lo, hi = min(s for _, s in pairs), max(s for _, s in pairs)
            return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in pairs}

        nd, nl = norm(dense), norm(lexical)
        expected = {d: alpha * nd.get(d, 0) + (1 - alpha) * nl.get(d, 0) for d in set(nd) | set(nl)}
        fused = minmax_mix(dense, lexical, alpha)
        assert dict(fused) == pytest.approx(expected)
        assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)


def test_coverage_counts_concepts_once_and_missed_words_against() -> None:
    from embeddings.fusion import coverage

    text = "推动集体经济薄弱村提升"
    assert coverage([("集体经济",), ("薄弱",)], text) == 1.0
    assert coverage([("薄弱", "软弱"), ("乡村",)], text) == 0.5  # one translation is enough
    assert coverage([("薄弱",), ()], text) == 0.5  # a word with no term in the corpus
    assert coverage([("村",), ("薄弱",)], text) == 1.0  # one character says nothing: left out
    assert coverage([], text) == 0.0


def test_rrf_bm25_weight_follows_coverage() -> None:
    from embeddings.fusion import fuse

    dense = [(1, 0.9), (2, 0.8)]
    lexical = [(2, 9.0), (1, 1.0)]
    # BM25's best passage holds the whole query: BM25 at full weight decides.
    full = fuse(dense, lexical, rrf_k=5, lexical_weight=3.0, matched=1.0, low_coverage_weight=0.5)
    assert [d for d, _ in full] == [2, 1]
    # It holds nothing of the query: BM25 weighs less than the dense model.
    none = fuse(dense, lexical, rrf_k=5, lexical_weight=3.0, matched=0.0, low_coverage_weight=0.5)
    assert [d for d, _ in none] == [1, 2]
