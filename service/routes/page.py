"""The web page at `/`: static files served by the service itself (filled in by the page work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
