"""Dependencies handed to routes: the engine loaded once by the lifespan handler."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from embeddings.engine import SearchEngine
from service.settings import Settings

# `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a hop
# that cost more than a lexical search itself; these only read app.state.


async def get_engine(request: Request) -> SearchEngine:
    return request.app.state.engine


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
