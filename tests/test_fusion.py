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
