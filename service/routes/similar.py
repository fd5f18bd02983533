"""Passages similar to a stored passage or to a piece of text."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from service import convert
from service.deps import EngineDep
from service.schemas import SimilarRequest, SimilarResponse

router = APIRouter(tags=["search"])


@router.post("/similar", response_model=SimilarResponse)
def similar(req: SimilarRequest, engine: EngineDep) -> Response:
    """Nearest passages by meaning; the source passage (and what overlaps it) is left out."""
    try:
        hits = engine.similar(
            passage_id=req.passage_id,
            text=req.text,
            k=req.k,
            include_overlapping=req.include_overlapping,
        )
    except KeyError:
        raise HTTPException(
            404, f"no passage with passage_id {req.passage_id!r}; ids come from search hits"
        ) from None
    return convert.respond(
        SimilarResponse(passage_id=req.passage_id, hits=[convert.hit(h) for h in hits])
    )
