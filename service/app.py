"""The FastAPI application: the engine is opened once, in the lifespan handler."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from embeddings.bridge import load_dictionaries
from embeddings.engine import SearchEngine
from service import errors, limits, observability, security
from service.factory import open_engine
from service.jobs import Jobs
from service.routes import ask, documents, health, library, page, search, similar
from service.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def _load_dictionaries(engine: SearchEngine, wait: float = 300.0) -> None:
    """The English bridge's dictionaries, loaded once the model is (so a restart is not slowed
    by them), and before the first English question (which would wait ~2 s for them)."""
    deadline = time.monotonic() + wait
    while not engine.encoder.ready and time.monotonic() < deadline:
        time.sleep(0.2)
    load_dictionaries()


def create_app(settings: Settings | None = None, engine: SearchEngine | None = None) -> FastAPI:
    """The app for `settings`; pass an `engine` to serve an index that is already open."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # `is None`, not `or`: an engine with no passages is falsy (it has __len__)
        app.state.engine = engine if engine is not None else open_engine(settings, warm_start=True)
        app.state.jobs = Jobs()
        logger.info("index ready: %d passages", len(app.state.engine))
        threading.Thread(
            target=_load_dictionaries, args=(app.state.engine,), name="dictionaries", daemon=True
        ).start()
        yield
        app.state.jobs.close()  # a running job finishes its write before the engine closes
        if engine is None:  # an engine handed in belongs to the caller
            app.state.engine.close()

    app = FastAPI(
        title="zhsearch",
        summary="Semantic retrieval and question answering over Chinese documents.",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    security.install(app, settings)
    limits.install(app, settings)
    observability.install(app, settings)  # last: the outermost middleware sees every response
    read, mode = Depends(security.require_read), Depends(observability.search_mode)
    app.include_router(search.router, dependencies=[read, mode])
    app.include_router(similar.router, dependencies=[read])
    app.include_router(ask.router, dependencies=[read, mode])
    app.include_router(library.router, dependencies=[read])
    app.include_router(documents.router, dependencies=[read])  # writes also need WriteAccess
    app.include_router(health.router)  # open: load balancers ask it
    app.include_router(page.router)
    return app
