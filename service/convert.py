"""Engine objects to API models."""

from __future__ import annotations

from embeddings import engine
from embeddings.store import StoredPassage
from service import schemas


def hit(h: engine.Hit, highlights: list[schemas.Span] | None = None) -> schemas.Hit:
    p = h.passage
    return schemas.Hit(
        passage_id=p.passage_id,
        doc_id=p.doc_id,
        title=p.title,
        section=p.section,
        text=p.text,
        score=h.score,
        start=p.start,
        end=p.end,
        scores=h.scores,
        highlights=highlights or [],
    )


def passage(p: StoredPassage) -> schemas.Passage:
    return schemas.Passage(
        passage_id=p.passage_id,
        doc_id=p.doc_id,
        title=p.title,
        section=p.section,
        text=p.text,
        start=p.start,
        end=p.end,
    )
