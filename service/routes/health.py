"""Health: open to everyone, also when reads need a key, so load balancers can ask."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import EngineDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(engine: EngineDep) -> Health:
    """200 once the index is loaded (the app does not accept requests before that).

    A 503 when the model failed to load or is not the one the index was built with.
    """
    model = engine.model_info()
    return Health(
        model=model.name,
        model_ready=model.ready,
        dimension=model.dim,
        documents=engine.document_count(),
        passages=len(engine),
    )
