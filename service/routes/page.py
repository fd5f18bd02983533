"""The web page at `/`: static files served by the service itself, offline, under a strict CSP.

The page is plain HTML, CSS and ES modules from `service/static/` (no build step, nothing
fetched from elsewhere). `/static/t2s.json` is generated: the server's own character-level
Traditional → Simplified map, so the page judges answer strings in evaluations as the CLI does.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from embeddings.text import normalize

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Scripts, styles and data from this origin only: no inline script, no eval, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
# Flat names only: no separators, no dot segments, so a request never leaves STATIC_DIR.
ASSET_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(js|css|svg)$")
# CJK Extension A, the Unified Ideographs and the compatibility ideographs.
HAN_RANGES = ((0x3400, 0xA000), (0xF900, 0xFB00))


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The single page: ask, read, library and evaluate views (chosen by the query string)."""
    return FileResponse(STATIC_DIR / "index.html", media_type=MEDIA_TYPES[".html"], headers=HEADERS)


@lru_cache(maxsize=1)
def t2s_map() -> bytes:
    """Characters whose normalised form differs, as two aligned strings `from` and `to`."""
    src, dst = [], []
    for lo, hi in HAN_RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            norm = normalize(ch)
            if norm != ch and len(norm) == 1:
                src.append(ch)
                dst.append(norm)
    body = {"from": "".join(src), "to": "".join(dst)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@router.get("/static/t2s.json")
def t2s() -> Response:
    return Response(
        t2s_map(),
        media_type="application/json",
        headers={**HEADERS, "Cache-Control": "max-age=86400"},
    )


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not ASSET_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(404, f"no page asset named {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)
