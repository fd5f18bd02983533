"""Error handlers: every bad request gets a 4xx with a sentence a person can act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from embeddings.backends.base import BackendUnavailableError, StorageFullError
from embeddings.encoders import ModelUnavailableError, ModelWarmingError
from embeddings.engine import TooManyDocumentsError, UnknownDocumentsError


def _describe(error: dict) -> str:
    loc = list(error.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path"):
        loc = loc[1:]
    where = ".".join(str(x) for x in loc)
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return f"the request body is not valid JSON: {reason} at character {where or 0}"
    if kind == "missing":
        return f"`{where}` is required"
    if kind == "model_attributes_type" or (kind == "dict_type" and not where):
        return "the request body must be a JSON object"
    if kind == "extra_forbidden":
        return f"`{where}` is not a field of this request"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"`{where}`: {msg}" if where else msg


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = "; ".join(_describe(e) for e in errors) or "invalid request"
    detail = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
    return JSONResponse({"error": message, "detail": detail}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def unknown_documents(request: Request, exc: UnknownDocumentsError) -> JSONResponse:
    return JSONResponse(
        {
            "error": f"unknown doc_ids: {', '.join(exc.doc_ids)}. GET /documents lists the ids "
            "in the index."
        },
        status_code=422,
    )


async def too_many_documents(request: Request, exc: TooManyDocumentsError) -> JSONResponse:
    return JSONResponse({"error": f"{exc}. Search fewer documents at once."}, status_code=422)


async def model_unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
    """Not the client's fault: the server's model did not load or does not match its index."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, ModelWarmingError) else None
    return JSONResponse({"error": str(exc)}, status_code=503, headers=headers)


async def backend_unavailable(request: Request, exc: BackendUnavailableError) -> JSONResponse:
    """Not the client's fault either: the index's server (Milvus) is down or unreachable."""
    return JSONResponse(
        {"error": f"{exc}. The index's server is unreachable; try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def storage_full(request: Request, exc: StorageFullError) -> JSONResponse:
    """507: the write was refused whole and the previous state kept."""
    return JSONResponse(
        {"error": f"{exc}. Free disk space and send the write again."}, status_code=507
    )


HANDLERS: list[tuple[type[Exception], Callable[..., Awaitable[JSONResponse]]]] = [
    (RequestValidationError, validation_error),
    (HTTPException, http_error),
    (UnknownDocumentsError, unknown_documents),
    (TooManyDocumentsError, too_many_documents),
    (ModelUnavailableError, model_unavailable),
    (StorageFullError, storage_full),
    (BackendUnavailableError, backend_unavailable),
]


def install(app: FastAPI) -> None:
    for exc_type, handler in HANDLERS:
        # Starlette types handlers as taking any Exception; each of ours takes its own type.
        app.add_exception_handler(exc_type, cast(Any, handler))
