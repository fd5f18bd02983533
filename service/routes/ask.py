"""Questions answered with a sentence from the best passages, or honestly not at all."""

from __future__ import annotations

from fastapi import APIRouter

from embeddings.answers import extract_answer
from embeddings.highlight import query_terms
from service import convert
from service.deps import EngineDep
from service.schemas import Answer, AskRequest, AskResponse

router = APIRouter(tags=["search"])


@router.post("/ask", response_model=AskResponse)
def ask(req: AskRequest, engine: EngineDep) -> AskResponse:
    """The passages for `question`, and the sentence in them that answers it (or null, with why)."""
    hits = engine.search(req.question, req.k, req.mode, req.doc_ids)
    tokenizer = engine.lexical.tokenizer
    answer, reason = extract_answer(req.question, hits, engine.encoder, tokenizer)
    terms = query_terms(req.question, tokenizer)
    return AskResponse(
        question=req.question,
        answer=Answer(**vars(answer)) if answer else None,
        reason=None if answer else reason,
        hits=[convert.hit(h, terms, answer) for h in hits],
    )
