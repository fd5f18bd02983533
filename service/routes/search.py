"""Search: questions in, ranked passages out, with the matched terms marked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from service import convert
from service.deps import EngineDep, SettingsDep
from service.schemas import (
    MAX_QUERY_CHARS,
    BatchResult,
    BatchSearchRequest,
    BatchSearchResponse,
    Mode,
    SearchRequest,
    SearchResponse,
)

router = APIRouter(tags=["search"])


def run_search(engine: EngineDep, req: SearchRequest) -> SearchResponse:
    hits = engine.search(req.query, req.k, req.mode, req.doc_ids)
    terms = engine.terms(req.query)
    return SearchResponse(
        query=req.query, mode=req.mode, hits=[convert.hit(h, terms) for h in hits]
    )


@router.post("/search", response_model=SearchResponse)
def search(req: SearchRequest, engine: EngineDep) -> Response:
    """The passages that best answer `query`."""
    return convert.respond(run_search(engine, req))


@router.get("/search", response_model=SearchResponse)
def search_get(
    engine: EngineDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: Mode = "hybrid",
    doc_ids: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """`POST /search` for links and browsers: `/search?q=…&k=5`."""
    if not q.strip():
        raise HTTPException(422, "`q` must contain some text, not only spaces")
    return convert.respond(
        run_search(engine, SearchRequest(query=q, k=k, mode=mode, doc_ids=doc_ids))
    )


@router.post(
    "/search/batch",
    response_model=BatchSearchResponse,
    responses={413: {"description": "More queries than the batch limit."}},
)
def search_batch(req: BatchSearchRequest, engine: EngineDep, settings: SettingsDep) -> Response:
    """Many queries at once (embedded together); results in the order of `queries`."""
    if len(req.queries) > settings.max_batch_queries:
        raise HTTPException(
            413,
            f"{len(req.queries)} queries in one batch; the limit is {settings.max_batch_queries}. "
            "Split the batch (or raise MAX_BATCH_QUERIES).",
        )
    results = engine.search_many(req.queries, req.k, req.mode, req.doc_ids)
    return convert.respond(
        BatchSearchResponse(
            mode=req.mode,
            results=[
                BatchResult(query=q, hits=[convert.hit(h, engine.terms(q)) for h in hits])
                for q, hits in zip(req.queries, results, strict=True)
            ],
        )
    )
