"""Body limits and CORS on the real app: big bodies get a 413 before they are parsed."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from embeddings.engine import SearchEngine
from service.app import create_app
from service.limits import BodyLimit, BodySizeLimit
from service.settings import Settings

JSON_LIMIT = 2048
UPLOAD_MB = 0.004  # 4,000 bytes
ORIGIN = "https://reader.example"


def oversized_search() -> bytes:
    return json.dumps({"query": "五大产业" * 400, "mode": "lexical"}).encode()


def multipart(size: int) -> tuple[bytes, dict[str, str]]:
    boundary = "zhsearch-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n".encode()
        + b"a" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def limited(settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    small = settings.model_copy(update={"max_json_bytes": JSON_LIMIT, "max_upload_mb": UPLOAD_MB})
    with TestClient(create_app(small, seed_engine)) as client:
        yield client


def test_body_within_the_limit_is_served(limited: TestClient) -> None:
    response = limited.post("/search", json={"query": "五大产业", "mode": "lexical"})
    assert response.status_code == 200, response.text


def test_declared_json_body_over_the_limit_is_413(limited: TestClient) -> None:
    body = oversized_search()
    assert len(body) > JSON_LIMIT
    response = limited.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert "2,048 bytes" in error
    assert "MAX_JSON_BYTES" in error
    assert f"{len(body):,} bytes" in error


def test_chunked_json_body_over_the_limit_is_413(limited: TestClient) -> None:
    body = oversized_search()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    response = limited.post(
        "/search", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "2,048 bytes" in response.json()["error"]


def test_lying_content_length_is_413(limited: TestClient) -> None:
    response = limited.post(
        "/search",
        content=oversized_search(),
        headers={"Content-Type": "application/json", "Content-Length": "100"},
    )
    assert response.status_code == 413
    assert "MAX_JSON_BYTES" in response.json()["error"]


def test_any_non_multipart_body_has_the_json_limit(limited: TestClient) -> None:
    response = limited.post("/search", content=b"x" * 5000, headers={"Content-Type": "text/plain"})
    assert response.status_code == 413


def test_multipart_over_the_upload_limit_is_413(limited: TestClient) -> None:
    body, headers = multipart(5000)
    response = limited.post("/search", content=body, headers=headers)
    assert response.status_code == 413
    error = response.json()["error"]
    assert "MAX_UPLOAD_MB" in error
    assert "4,000 bytes" in error


def test_multipart_has_its_own_limit_not_the_json_one(limited: TestClient) -> None:
    body, headers = multipart(3000)  # over MAX_JSON_BYTES, under MAX_UPLOAD_MB
    response = limited.post("/search", content=body, headers=headers)
    assert response.status_code == 422  # reached the route, which wants JSON


def test_streamed_body_is_cut_off_before_it_is_all_read() -> None:
    """The pure middleware stops a lying sender at the first chunk over the limit."""
    chunks_read = 0

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal chunks_read
        more = True
        while more:
            message = await receive()
            chunks_read += 1
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    sent: list[Message] = []
    incoming = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(9)
    ] + [{"type": "http.request", "body": b"x" * 1000, "more_body": False}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
    }
    middleware = BodySizeLimit(reader, BodyLimit(2048, "MAX_JSON_BYTES"))
    asyncio.run(middleware(scope, receive, send))
    assert chunks_read == 2  # the third chunk passed the limit and was never handed on
    assert sent[0]["status"] == 413
    assert "MAX_JSON_BYTES" in json.loads(sent[1]["body"])["error"]


def test_real_server_refuses_a_chunked_body(settings: Settings, seed_engine: SearchEngine) -> None:
    """Through uvicorn and a socket: Transfer-Encoding chunked, no Content-Length."""
    small = settings.model_copy(update={"max_json_bytes": JSON_LIMIT})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(small, seed_engine), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(3000):
            if server.started:
                break
            threading.Event().wait(0.02)
        assert server.started, "uvicorn did not start within 60 s"
        body = oversized_search()
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 512]), body[i : i + 512])
            for i in range(0, len(body), 512)
        )
        request = (
            b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunks
            + b"0\r\n\r\n"
        )
        # One sendall: the whole request fits the kernel's socket buffer, so the server
        # answering and closing half-way through the body cannot reset our send.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(request)
            response = http.client.HTTPResponse(client)
            response.begin()
            assert response.status == 413
            assert "MAX_JSON_BYTES" in json.loads(response.read())["error"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- CORS -------------------------------------------------------------------------------------


def test_cors_closed_by_default(limited: TestClient) -> None:
    response = limited.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    preflight = limited.options(
        "/search", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_configured_origins(settings: Settings, seed_engine: SearchEngine) -> None:
    open_to = settings.model_copy(update={"cors_origins": [ORIGIN]})
    with TestClient(create_app(open_to, seed_engine)) as client:
        response = client.get("/health", headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
        preflight = client.options(
            "/search",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        other = client.get("/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
