"""Metrics at /metrics and request logs, from real requests to the real app."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from embeddings.engine import SearchEngine
from service.app import create_app
from service.observability import JsonFormatter, configure_logging, observe_write
from service.settings import Settings

QUESTION = "耒阳着力打造哪五大产业？"


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with exactly these labels, or None."""
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.fixture(scope="module")
def client(settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, seed_engine)) as c:
        yield c


@pytest.fixture(scope="module")
def metrics_text(client: TestClient, seed_engine: SearchEngine) -> str:
    """/metrics after searches in several modes, a bad request, a passage and an unknown path."""
    for mode in ("lexical", "lexical", "dense"):
        assert client.post("/search", json={"query": QUESTION, "mode": mode}).status_code == 200
    assert client.post("/search", json={"query": QUESTION}).status_code == 200  # hybrid
    assert client.get("/search", params={"q": QUESTION, "mode": "lexical"}).status_code == 200
    assert client.post("/ask", json={"question": QUESTION, "mode": "lexical"}).status_code == 200
    assert client.post("/search", json={"query": QUESTION, "mode": "fuzzy"}).status_code == 422
    hit = client.post("/search", json={"query": QUESTION, "mode": "lexical", "k": 1}).json()
    passage_id = hit["hits"][0]["passage_id"]
    assert client.get(f"/passages/{passage_id}").status_code == 200
    assert client.get("/no/such/path/xyz").status_code == 404
    observe_write(client.app, "upload", 0.5)  # type: ignore[arg-type]
    observe_write(client.app, "upload", 2.0, ok=False)  # type: ignore[arg-type]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_latency_by_route_and_mode(metrics_text: str) -> None:
    name = "zhsearch_http_request_duration_seconds_count"
    post = {"method": "POST", "route": "/search"}
    assert sample(metrics_text, name, **post, mode="lexical") == 3
    assert sample(metrics_text, name, **post, mode="dense") == 1
    assert sample(metrics_text, name, **post, mode="hybrid") == 1
    assert sample(metrics_text, name, **post, mode="") == 1  # "fuzzy" is no label
    assert sample(metrics_text, name, method="GET", route="/search", mode="lexical") == 1
    assert sample(metrics_text, name, method="POST", route="/ask", mode="lexical") == 1
    bucket = "zhsearch_http_request_duration_seconds_bucket"
    assert sample(metrics_text, bucket, **post, mode="dense", le="+Inf") == 1


def test_counts_by_status(metrics_text: str) -> None:
    name = "zhsearch_http_requests_total"
    assert sample(metrics_text, name, method="POST", route="/search", status="200") == 5
    assert sample(metrics_text, name, method="POST", route="/search", status="422") == 1


def test_routes_are_templates_not_paths(metrics_text: str) -> None:
    name = "zhsearch_http_requests_total"
    route = "/passages/{passage_id}"
    assert sample(metrics_text, name, method="GET", route=route, status="200") == 1
    assert sample(metrics_text, name, method="GET", route="<unmatched>", status="404") == 1
    assert "/no/such/path" not in metrics_text


def test_index_and_model_gauges(metrics_text: str, seed_engine: SearchEngine) -> None:
    assert sample(metrics_text, "zhsearch_index_passages") == len(seed_engine)
    assert sample(metrics_text, "zhsearch_index_documents") == seed_engine.document_count()
    assert seed_engine.document_count() > 0
    assert sample(metrics_text, "zhsearch_model_ready") == 1


def test_writes(metrics_text: str) -> None:
    assert sample(metrics_text, "zhsearch_writes_total", kind="upload", outcome="ok") == 1
    assert sample(metrics_text, "zhsearch_writes_total", kind="upload", outcome="error") == 1
    assert sample(metrics_text, "zhsearch_write_duration_seconds_count", kind="upload") == 2
    assert sample(metrics_text, "zhsearch_write_duration_seconds_sum", kind="upload") == 2.5


def test_each_app_has_its_own_registry(settings: Settings, seed_engine: SearchEngine) -> None:
    with TestClient(create_app(settings, seed_engine)) as first:
        first.post("/search", json={"query": QUESTION, "mode": "lexical"})
        with TestClient(create_app(settings, seed_engine)) as second:
            text = second.get("/metrics").text
    name = "zhsearch_http_requests_total"
    assert sample(text, name, method="POST", route="/search", status="200") is None


def test_metrics_honour_read_key(settings: Settings, seed_engine: SearchEngine) -> None:
    guarded = settings.model_copy(update={"read_api_key": SecretStr("metrics-reader")})
    with TestClient(create_app(guarded, seed_engine)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": "metrics-reader"}).status_code == 200


# -- request ids and logs ---------------------------------------------------------------------


def test_request_id_echoed(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    response = client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"
    [record] = [r for r in caplog.records if r.name == "service.access"]
    assert record.request_id == "trace-42.a:b"  # type: ignore[attr-defined]
    assert (record.method, record.route, record.status) == ("GET", "/health", 200)  # type: ignore[attr-defined]


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 200, "<script>"])
def test_request_id_generated_when_absent_or_odd(client: TestClient, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    echoed = client.get("/health", headers=headers).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert client.get("/health").headers["x-request-id"] != echoed


def test_json_formatter_fields(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    client.post(
        "/search", json={"query": QUESTION, "mode": "lexical"}, headers={"X-Request-ID": "j-1"}
    )
    [record] = [r for r in caplog.records if r.name == "service.access"]
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "j-1"
    assert entry["method"] == "POST"
    assert entry["route"] == "/search"
    assert entry["status"] == 200
    assert entry["mode"] == "lexical"
    assert isinstance(entry["duration_ms"], float)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "service.access"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("uvicorn.access")
    disabled = access.disabled
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    access.disabled = disabled


@pytest.mark.usefixtures("restore_logging")
def test_log_format_json_one_object_per_line(settings: Settings, seed_engine: SearchEngine) -> None:
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json"}), stream)
    with TestClient(create_app(settings, seed_engine)) as client:
        client.get(
            "/search", params={"q": QUESTION, "mode": "dense"}, headers={"X-Request-ID": "r7"}
        )
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [e for e in entries if e.get("request_id") == "r7"]
    assert len(access) == 1
    assert access[0]["route"] == "/search"
    assert access[0]["mode"] == "dense"
    assert access[0]["status"] == 200


@pytest.mark.usefixtures("restore_logging")
def test_text_format_and_key_redaction(settings: Settings, seed_engine: SearchEngine) -> None:
    stream = io.StringIO()
    keyed = settings.model_copy(update={"api_key": SecretStr("s3cret-write-key")})
    configure_logging(keyed, stream)
    with TestClient(create_app(keyed, seed_engine)) as client:
        client.get("/health", headers={"X-Request-ID": "t-9"})
    logging.getLogger("service.test").warning("a careless line with %s in it", "s3cret-write-key")
    text = stream.getvalue()
    assert "[t-9] GET /health 200" in text
    assert "s3cret-write-key" not in text
    assert "a careless line with *** in it" in text
