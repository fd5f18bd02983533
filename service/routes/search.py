"""Search: a question in, ranked passages out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from service import convert
from service.deps import EngineDep
from service.schemas import MAX_QUERY_CHARS, Mode, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


def run_search(engine: EngineDep, req: SearchRequest) -> SearchResponse:
    hits = engine.search(req.query, req.k, req.mode, req.doc_ids)
    return SearchResponse(query=req.query, mode=req.mode, hits=[convert.hit(h) for h in hits])


@router.post("/search", response_model=SearchResponse)
def search(req: SearchRequest, engine: EngineDep) -> SearchResponse:
    """The passages that best answer `query`."""
    return run_search(engine, req)


@router.get("/search", response_model=SearchResponse)
def search_get(
    engine: EngineDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: Mode = "hybrid",
    doc_ids: Annotated[list[str] | None, Query()] = None,
) -> SearchResponse:
    """`POST /search` for links and browsers: `/search?q=…&k=5`."""
    if not q.strip():
        raise HTTPException(422, "`q` must contain some text, not only spaces")
    return run_search(engine, SearchRequest(query=q, k=k, mode=mode, doc_ids=doc_ids))
