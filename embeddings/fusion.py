"""Rank fusion of result lists from different retrievers.

Weighted RRF mixes ranks; the min-max and max-scaled mixes mix normalised scores (as txtai's
hybrid search does). With `coverage`, the share of the query's terms that BM25's best passage
holds, the BM25 weight can follow the query: a query whose words BM25 found trusts BM25
more than one it matched on a single term.
"""

from __future__ import annotations

from collections.abc import Sequence

from embeddings.text import normalize


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


def max_mix(
    dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], alpha: float
) -> list[tuple[int, float]]:
    """Convex mix of scores divided by each list's best: alpha · dense + (1 − alpha) · lexical."""

    def norm(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
        hi = max((s for _, s in pairs), default=0.0)
        return {d: s / hi if hi > 0 else 0.0 for d, s in pairs}

    nd, nl = norm(dense), norm(lexical)
    order: dict[int, int] = {}
    for i, (d, _) in enumerate([*dense, *lexical]):
        order.setdefault(d, i)
    fused = {
        d: alpha * nd.get(d, 0.0) + (1 - alpha) * nl.get(d, 0.0) for d in nd.keys() | nl.keys()
    }
    return sorted(fused.items(), key=lambda x: (-x[1], order[x[0]], x[0]))


def coverage(groups: Sequence[Sequence[str]], text: str) -> float:
    """Share of the query's concepts that `text` holds: groups of alternative words, one of
    which is enough; words of one character are too common to say anything, and a group
    with no word (an English word the corpus has no term for) is never held."""
    words = [tuple(w for w in g if len(w) >= 2) for g in groups]
    wanted = list(dict.fromkeys(g for g in words if g))
    missed = sum(1 for g in groups if not g)
    norm = normalize(text)
    held = sum(any(w in norm for w in g) for g in wanted)
    return held / (len(wanted) + missed) if wanted or missed else 0.0


def fuse(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    method: str = "rrf",
    *,
    rrf_k: int = 5,
    lexical_weight: float = 3.0,
    mix_alpha: float = 0.4,
    matched: float | None = None,
    low_coverage_weight: float | None = None,
) -> list[tuple[int, float]]:
    """The hybrid ranking of the two candidate lists (method and constants by tune_fusion.py).

    With `matched` (the query's `coverage` by BM25's best passage) and `low_coverage_weight`,
    RRF's BM25 weight runs linearly from
    `low_coverage_weight` (BM25's best passage holds none of the query's terms) to
    `lexical_weight` (it holds them all).
    """
    if not lexical:  # nothing BM25 could match
        return list(dense)
    if method == "minmax":
        return minmax_mix(dense, lexical, mix_alpha)
    if method == "max":
        return max_mix(dense, lexical, mix_alpha)
    weight = lexical_weight
    if matched is not None and low_coverage_weight is not None:
        weight = low_coverage_weight + (lexical_weight - low_coverage_weight) * matched
    return rrf([dense, lexical], k=rrf_k, weights=[1.0, weight])
