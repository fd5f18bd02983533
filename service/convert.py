"""Engine objects to API models."""

from __future__ import annotations

from embeddings import engine
from embeddings.answers import Answer
from embeddings.highlight import term_spans
from embeddings.store import StoredPassage
from service import schemas


def hit(h: engine.Hit, terms: list[str] | None = None, answer: Answer | None = None) -> schemas.Hit:
    """API hit; `terms` are marked in its text, and the answer span if it lies in this hit."""
    p = h.passage
    highlights = [schemas.Span(start=s, end=e) for s, e in term_spans(p.text, terms or [])]
    if answer and answer.passage_id == p.passage_id:
        highlights.append(schemas.Span(start=answer.start, end=answer.end, kind="answer"))
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
        highlights=highlights,
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
