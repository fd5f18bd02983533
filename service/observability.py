"""Seeing the service work: Prometheus metrics at /metrics and one log line per request.

Metrics use prometheus-client directly with a registry per app (several apps in one process,
as in the tests, never share counters). Latency is labelled by route template, not raw path,
so label sets stay bounded; search routes add the mode they were asked for. Index sizes and
model readiness are read from the engine when Prometheus scrapes, so they are never stale.
Each request gets an id (the client's `X-Request-ID` when it is sane) that is echoed in the
response and carried by every log line written while the request runs. Headers and keys are
never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Any, get_args

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embeddings.encoders import ModelUnavailableError
from service.schemas import Mode, SearchRequest
from service.security import require_read
from service.settings import Settings

access_logger = logging.getLogger("service.access")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

MODES = frozenset(get_args(Mode))
DEFAULT_MODE: str = SearchRequest.model_fields["mode"].default
UNMATCHED = "<unmatched>"  # one label for every path no route knows: scanners can't add labels

# Lexical answers in milliseconds, dense waits for the model (seconds after a restart).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Writes embed passages on a CPU: from a delete in milliseconds to an upload in minutes.
WRITE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class IndexCollector(Collector):
    """Index gauges computed at scrape time from `app.state.engine` (absent before startup)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = getattr(self.app.state, "engine", None)
        if engine is None:
            return
        count = getattr(engine, "document_count", None)
        documents = count() if callable(count) else len(engine.documents())
        yield GaugeMetricFamily(
            "zhsearch_index_documents", "Documents in the index.", value=documents
        )
        yield GaugeMetricFamily(
            "zhsearch_index_passages", "Passages in the index.", value=len(engine)
        )
        yield GaugeMetricFamily(
            "zhsearch_model_ready",
            "1 once the model is loaded and matches the index; 0 while it warms up or if it "
            "failed (then dense and hybrid requests, and questions without Chinese in any "
            "mode, answer 503).",
            value=_model_ready(engine),
        )


def _model_ready(engine: Any) -> float:
    """1.0 when the model answers; `model_info()` raises when it failed or does not match."""
    try:
        model_info = getattr(engine, "model_info", None)
        if callable(model_info):
            return float(model_info().ready)
        encoder = engine.encoder  # engines before model_info()
        if encoder.ready:
            encoder.wait(0)
        return float(encoder.ready)
    except ModelUnavailableError:
        return 0.0


class Metrics:
    """The metrics of one app, in a registry of its own."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zhsearch_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "zhsearch_http_request_duration_seconds",
            "HTTP request latency by route template and search mode ('' where none applies).",
            ["method", "route", "mode"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.writes = Counter(
            "zhsearch_writes",
            "Index writes by kind and outcome (ok or error).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "zhsearch_write_duration_seconds",
            "Index write duration by kind.",
            ["kind"],
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(IndexCollector(app))


def observe_write(app: FastAPI, kind: str, seconds: float, *, ok: bool = True) -> None:
    """Records one index write (`kind`: a fixed word such as "upload" or "delete").

    A no-op on an app without metrics, so a write never fails for want of them.
    """
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        return
    metrics.writes.labels(kind, "ok" if ok else "error").inc()
    metrics.write_seconds.labels(kind).observe(seconds)


async def search_mode(request: Request) -> None:
    """Router dependency: labels the request's latency with the search mode asked for.

    The mode is in the query (GET) or the JSON body (POST), which FastAPI has already read
    and Starlette caches on the request, so nothing is read twice. Values that are not modes
    get no label, so a client cannot create label sets.
    """
    mode: object = request.query_params.get("mode")
    if mode is None:
        mode = DEFAULT_MODE
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                mode = body.get("mode", DEFAULT_MODE)
    request.state.mode = mode if isinstance(mode, str) and mode in MODES else ""


def sane_request_id(value: str | None) -> str:
    """The client's id when it is short and plain (it goes into logs), else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class RequestObserver:
    """Pure ASGI middleware: request id, latency and status metrics, one access log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sane_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app raises
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            self._record(scope, status, seconds, request_id)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method = scope["method"]
        template = _route_template(scope)
        route = template or UNMATCHED
        mode = scope.get("state", {}).get("mode", "")
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route, mode).observe(seconds)
        duration_ms = round(seconds * 1000, 1)
        access_logger.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s %d %.1fms%s",
            method,
            template or scope.get("path", ""),
            status,
            duration_ms,
            f" mode={mode}" if mode else "",
            extra={
                "request_id": request_id,
                "method": method,
                "route": template or scope.get("path", ""),
                "status": status,
                "duration_ms": duration_ms,
                "mode": mode or None,
            },
        )


def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format; sync so the engine's counts are read off the event loop."""
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


# -- logging -------------------------------------------------------------------------------

ACCESS_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "mode")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps every record with the id of the request it was written under ('-' outside)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or "-"
        return True


class RedactSecrets(logging.Filter):
    """Last line of defence: a configured key that reaches a message is replaced by ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "***")
                record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request fields as keys for log search."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ACCESS_FIELDS:
            value = getattr(record, field, None)
            if value is not None and value != "-":
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Root logging for the CLI: text or JSON lines (LOG_FORMAT) on stderr, keys redacted.

    Replaces the root handlers, like `logging.basicConfig(force=True)`, and silences
    uvicorn's access log: ours has the route template and request id, and uvicorn's would
    print raw query strings.
    """
    handler = logging.StreamHandler(stream)
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    secrets = [settings.api_key, settings.read_api_key, settings.milvus_token]
    handler.addFilter(RedactSecrets([s.get_secret_value() for s in secrets if s is not None]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def install(app: FastAPI, settings: Settings) -> None:
    """Metrics, request ids and access logs; install last so it wraps every other middleware."""
    metrics = Metrics(app)
    app.state.metrics = metrics
    app.add_middleware(RequestObserver, metrics=metrics)
    app.add_api_route(
        "/metrics",
        metrics_endpoint,
        methods=["GET"],
        dependencies=[Depends(require_read)],
        include_in_schema=False,
    )
