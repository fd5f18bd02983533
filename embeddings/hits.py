"""A ranked passage with its fused score and each retriever's own score."""

from __future__ import annotations

from dataclasses import dataclass, field

from embeddings.store import StoredPassage


@dataclass(frozen=True)
class Hit:
    passage: StoredPassage
    score: float
    scores: dict[str, float] = field(default_factory=dict)
