"""What is in the index: passages, documents, health."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service import convert
from service.deps import EngineDep
from service.schemas import DocumentInfo, DocumentsResponse, Health, Passage

router = APIRouter()


@router.get("/passages/{passage_id}", response_model=Passage, tags=["library"])
def get_passage(passage_id: str, engine: EngineDep) -> Passage:
    p = engine.passage(passage_id)
    if p is None:
        raise HTTPException(404, f"no passage with passage_id {passage_id!r}")
    return convert.passage(p)


@router.get("/documents", response_model=DocumentsResponse, tags=["library"])
def documents(engine: EngineDep) -> DocumentsResponse:
    return DocumentsResponse(
        documents=[
            DocumentInfo(doc_id=d.doc_id, title=d.title, passages=d.passages)
            for d in engine.documents()
        ]
    )


@router.get("/health", response_model=Health, tags=["health"])
def health(engine: EngineDep) -> Health:
    """200 once the index is loaded (the app does not accept requests before that).

    A 503 when the model failed to load or is not the one the index was built with.
    """
    ready = engine.encoder.ready
    if ready:
        engine.encoder.wait()  # a model that failed or does not match: ModelUnavailableError, 503
    return Health(
        model=engine.encoder.name,
        model_ready=ready,
        dimension=engine.encoder.dim,
        documents=len(engine.documents()),
        passages=len(engine),
    )
