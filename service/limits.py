"""Request body limits and CORS: a stranger cannot make the service read an endless body.

Bodies are refused with 413 before they are parsed: at once when Content-Length is over the
limit, and as soon as the bytes counted so far pass it when the length is absent (chunked) or
wrong. JSON (every non-multipart body) has MAX_JSON_BYTES; multipart uploads have
MAX_UPLOAD_MB. CORS is closed unless CORS_ORIGINS lists origins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import Settings

BYTES_PER_MB = 1_000_000  # MAX_JSON_BYTES defaults to 1,000,000 and is called 1 MB: same unit


@dataclass(frozen=True)
class BodyLimit:
    """A byte limit and the setting that raises it, so the 413 can say what to do."""

    max_bytes: int
    setting: str
    what: str = "request body"

    def message(self, declared: int | None = None) -> str:
        size = f" is {declared:,} bytes;" if declared is not None else " is over the limit:"
        return (
            f"The {self.what}{size} the limit is {self.max_bytes:,} bytes ({self.setting}). "
            f"Send less, or raise {self.setting} on the server."
        )


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit; errors.py renders it."""

    def __init__(self, limit: BodyLimit, declared: int | None = None) -> None:
        super().__init__(413, limit.message(declared), {"Connection": "close"})


def json_limit(settings: Settings) -> BodyLimit:
    return BodyLimit(settings.max_json_bytes, "MAX_JSON_BYTES")


def upload_limit(settings: Settings) -> BodyLimit:
    """The multipart limit in bytes: upload routes should use this, not convert MB again."""
    return BodyLimit(
        int(settings.max_upload_mb * BYTES_PER_MB), "MAX_UPLOAD_MB", "upload (all files together)"
    )


class BodySizeLimit:
    """Pure ASGI middleware: refuses bodies over `default` (or over `multipart` for uploads).

    Pure ASGI rather than BaseHTTPMiddleware so it sees the byte stream before any parser
    and never buffers it. `multipart=None` leaves uploads to the route.
    """

    def __init__(
        self, app: ASGIApp, default: BodyLimit, multipart: BodyLimit | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.multipart = multipart

    def limit_for(self, headers: Headers) -> BodyLimit | None:
        content_type = headers.get("content-type", "").lower()
        return self.multipart if content_type.startswith("multipart/") else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(headers)
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(headers)
        if declared is not None and declared > limit.max_bytes:
            await _refuse(send, limit.message(declared))
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            # Only reached when no exception handler answered it (a non-FastAPI route).
            if started:
                raise
            await _refuse(send, str(exc.detail))


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _refuse(send: Send, message: str) -> None:
    """A 413 in the shape of service/errors.py, sent without reading the body."""
    body = json.dumps({"error": message}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI, settings: Settings) -> None:
    """Body limits, then CORS around them so a browser can read the 413 too."""
    app.add_middleware(
        BodySizeLimit, default=json_limit(settings), multipart=upload_limit(settings)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
