"""Engine objects to API models."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import Response
from pydantic import BaseModel

from embeddings.answers import Answer
from embeddings.highlight import term_spans
from embeddings.hits import Hit
from embeddings.store import Document, StoredPassage
from service import schemas


def respond(model: BaseModel) -> Response:
    """`model` as the JSON response. A route that returns its pydantic model has FastAPI
    validate it again against the response model, in a second thread-pool hop that cost
    more than a lexical search; the model here was built and checked by the route."""
    return Response(model.model_dump_json(), media_type="application/json")


def hit(h: Hit, terms: list[str] | None = None, answer: Answer | None = None) -> schemas.Hit:
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
        pages=list(p.pages),
    )


def document(d: Document) -> schemas.DocumentInfo:
    return schemas.DocumentInfo(
        doc_id=d.doc_id,
        title=d.title,
        passages=d.passages,
        format=d.format,
        source=d.source,
        size=d.size,
        sha256=d.sha256,
        indexed_at=datetime.fromtimestamp(d.indexed_at, timezone.utc),
    )


def document_detail(d: Document, passages: list[StoredPassage]) -> schemas.DocumentDetail:
    info = document(d).model_dump(exclude={"passages"})
    refs = [
        schemas.PassageRef(
            passage_id=p.passage_id,
            section=p.section,
            start=p.start,
            end=p.end,
            pages=list(p.pages),
        )
        for p in passages
    ]
    return schemas.DocumentDetail(**info, passages=refs)
