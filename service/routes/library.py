"""What is in the index: documents, passages and their neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from service import convert
from service.deps import EngineDep
from service.schemas import DocumentDetail, DocumentsResponse, Neighbours, Passage

router = APIRouter()


@router.get("/passages/{passage_id}", response_model=Passage, tags=["library"])
def get_passage(passage_id: str, engine: EngineDep) -> Passage:
    p = engine.passage(passage_id)
    if p is None:
        raise HTTPException(404, f"no passage with passage_id {passage_id!r}")
    return convert.passage(p)


@router.get("/passages/{passage_id}/neighbours", response_model=Neighbours, tags=["library"])
def neighbours(
    passage_id: str, engine: EngineDep, n: Annotated[int, Query(ge=1, le=20)] = 2
) -> Neighbours:
    """The passage with up to `n` passages of its document before and after it."""
    p = engine.passage(passage_id)
    if p is None:
        raise HTTPException(404, f"no passage with passage_id {passage_id!r}")
    before, after = engine.neighbours(p, n)
    return Neighbours(
        passage=convert.passage(p),
        before=[convert.passage(x) for x in before],
        after=[convert.passage(x) for x in after],
    )


@router.get("/documents", response_model=DocumentsResponse, tags=["library"])
def documents(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentsResponse:
    """One page of the library, ordered by doc_id, with the total count."""
    return DocumentsResponse(
        documents=[convert.document(d) for d in engine.documents(limit, offset)],
        total=engine.document_count(),
        limit=limit,
        offset=offset,
    )


@router.get("/documents/{doc_id}", response_model=DocumentDetail, tags=["library"])
def document(doc_id: str, engine: EngineDep) -> DocumentDetail:
    d = engine.document(doc_id)
    if d is None:
        raise HTTPException(404, f"no document with doc_id {doc_id!r}; GET /documents lists them")
    return convert.document_detail(d, engine.passages(doc_id))
