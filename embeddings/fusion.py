"""Rank fusion of result lists from different retrievers.

Weighted RRF mixes ranks; the min-max mix mixes normalised scores convexly (as txtai's hybrid
search does). benchmarks/tune_fusion.py measures both, and other mixes, on tuning data.
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(
    rankings: Sequence[Sequence[tuple[int, float]]],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = Σ w_i / (k + rank_i(d)), ranks from 1.

    Ties are broken by the first ranking's order, then by id, so results are deterministic.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    first_rank: dict[int, tuple[int, int]] = {}
    for r, (ranking, w) in enumerate(zip(rankings, weights, strict=True)):
        for rank, (doc, _) in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
            first_rank.setdefault(doc, (r, rank))
    return sorted(scores.items(), key=lambda x: (-x[1], first_rank[x[0]], x[0]))


def minmax_mix(
    dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], alpha: float
) -> list[tuple[int, float]]:
    """Convex mix of min-max normalised scores: alpha · dense + (1 − alpha) · lexical.

    A passage missing from one list gets 0 from it. Ties keep the dense list's order.
    """

    def norm(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
        if not pairs:
            return {}
        lo, hi = min(s for _, s in pairs), max(s for _, s in pairs)
        return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in pairs}

    nd, nl = norm(dense), norm(lexical)
    order: dict[int, int] = {}
    for i, (d, _) in enumerate([*dense, *lexical]):
        order.setdefault(d, i)
    fused = {
        d: alpha * nd.get(d, 0.0) + (1 - alpha) * nl.get(d, 0.0) for d in nd.keys() | nl.keys()
    }
    return sorted(fused.items(), key=lambda x: (-x[1], order[x[0]], x[0]))


def fuse(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    method: str = "rrf",
    *,
    rrf_k: int = 5,
    lexical_weight: float = 3.0,
    mix_alpha: float = 0.4,
) -> list[tuple[int, float]]:
    """The hybrid ranking of the two candidate lists (method and constants by tune_fusion.py)."""
    if not lexical:  # nothing BM25 could match
        return list(dense)
    if method == "minmax":
        return minmax_mix(dense, lexical, mix_alpha)
    return rrf([dense, lexical], k=rrf_k, weights=[1.0, lexical_weight])
