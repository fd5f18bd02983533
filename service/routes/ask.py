"""Questions answered with a sentence from the best passages, or honestly not at all."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import convert
from service.deps import EngineDep
from service.schemas import Answer, AskRequest, AskResponse

router = APIRouter(tags=["search"])


@router.post("/ask", response_model=AskResponse)
def ask(req: AskRequest, engine: EngineDep) -> Response:
    """The passages for `question`, and the sentence in them that answers it (or null, with why)."""
    result = engine.ask(req.question, req.k, req.mode, req.doc_ids)
    terms = engine.terms(req.question)
    return convert.respond(
        AskResponse(
            question=req.question,
            answer=Answer(**vars(result.answer)) if result.answer else None,
            reason=None if result.answer else result.reason,
            hits=[convert.hit(h, terms, result.answer) for h in result.hits],
        )
    )
