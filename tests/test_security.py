"""API keys on the real app: writes need API_KEY (or a loopback address), reads READ_API_KEY."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from embeddings.engine import SearchEngine
from service.app import create_app
from service.security import WriteAccess, is_loopback
from service.settings import Settings

WRITE_KEY = "w-key-7f3a9c2e1b"
READ_KEY = "r-key-5d8e0b4a6c"
WRITE = "/_test/write"
QUERY = {"q": "耒阳着力打造哪五大产业", "k": 1, "mode": "lexical"}


def make_client(settings: Settings, engine: SearchEngine, **update: object) -> TestClient:
    """The real app, plus a test-only write route.

    The write routes (POST/PUT/DELETE /documents) are still being built; this route stands in
    for them with the same dependency they will carry.
    """
    app = create_app(settings.model_copy(update=update), engine)

    @app.post(WRITE)
    def write(_: WriteAccess) -> dict[str, bool]:
        return {"written": True}

    return TestClient(app)


@pytest.fixture(scope="module")
def keyed(settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    """Both keys set."""
    client = make_client(
        settings, seed_engine, api_key=SecretStr(WRITE_KEY), read_api_key=SecretStr(READ_KEY)
    )
    with client:
        yield client


@pytest.fixture(scope="module")
def write_keyed(settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    """Only API_KEY set, listening on every address."""
    with make_client(settings, seed_engine, api_key=SecretStr(WRITE_KEY), host="0.0.0.0") as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- no API_KEY -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_without_key_loopback_accepts_writes(
    settings: Settings, seed_engine: SearchEngine, host: str
) -> None:
    with make_client(settings, seed_engine, host=host) as client:
        response = client.post(WRITE)
    assert response.status_code == 200, response.text
    assert response.json() == {"written": True}


@pytest.mark.parametrize("headers", [{}, bearer("anything")])
def test_without_key_elsewhere_refuses_writes(
    settings: Settings, seed_engine: SearchEngine, headers: dict[str, str]
) -> None:
    with make_client(settings, seed_engine, host="0.0.0.0") as client:
        response = client.post(WRITE, headers=headers)
        reads = client.get("/search", params=QUERY)
    assert response.status_code == 403
    assert "API_KEY" in response.json()["error"]
    assert "0.0.0.0" in response.json()["error"]
    assert reads.status_code == 200  # reads stay open without READ_API_KEY


# -- API_KEY set ------------------------------------------------------------------------------


def test_write_without_key_is_401(write_keyed: TestClient) -> None:
    response = write_keyed.post(WRITE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [bearer("wrong"), {"X-API-Key": "wrong"}, bearer(WRITE_KEY + "x"), bearer(WRITE_KEY[:-1])],
)
def test_write_with_wrong_key_is_403(write_keyed: TestClient, headers: dict[str, str]) -> None:
    response = write_keyed.post(WRITE, headers=headers)
    assert response.status_code == 403
    assert "API_KEY" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [bearer(WRITE_KEY), {"Authorization": f"bearer {WRITE_KEY}"}, {"X-API-Key": WRITE_KEY}],
)
def test_write_with_right_key(write_keyed: TestClient, headers: dict[str, str]) -> None:
    response = write_keyed.post(WRITE, headers=headers)
    assert response.status_code == 200, response.text


def test_other_auth_schemes_count_as_no_key(write_keyed: TestClient) -> None:
    response = write_keyed.post(WRITE, headers={"Authorization": f"Basic {WRITE_KEY}"})
    assert response.status_code == 401


def test_reads_open_without_read_key(write_keyed: TestClient) -> None:
    assert write_keyed.get("/search", params=QUERY).status_code == 200
    assert write_keyed.get("/metrics").status_code == 200


def test_read_key_does_not_write(keyed: TestClient) -> None:
    assert keyed.post(WRITE, headers=bearer(READ_KEY)).status_code == 403
    assert keyed.post(WRITE, headers=bearer(WRITE_KEY)).status_code == 200


# -- READ_API_KEY set -------------------------------------------------------------------------


def test_reads_need_a_key(keyed: TestClient) -> None:
    response = keyed.get("/search", params=QUERY)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    for path, body in [
        ("/search", {"query": "五大产业", "mode": "lexical"}),
        ("/ask", {"question": "五大产业", "mode": "lexical"}),
        ("/similar", {"text": "五大产业"}),
    ]:
        assert keyed.post(path, json=body).status_code == 401, path
    assert keyed.get("/metrics").status_code == 401


@pytest.mark.parametrize("headers", [bearer(READ_KEY), {"X-API-Key": READ_KEY}, bearer(WRITE_KEY)])
def test_reads_accept_either_key(keyed: TestClient, headers: dict[str, str]) -> None:
    response = keyed.get("/search", params=QUERY, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["hits"]
    assert keyed.get("/metrics", headers=headers).status_code == 200


def test_read_with_wrong_key_is_403(keyed: TestClient) -> None:
    response = keyed.get("/search", params=QUERY, headers=bearer("wrong"))
    assert response.status_code == 403
    assert "READ_API_KEY" in response.json()["error"]


def test_health_stays_open(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200


def test_only_read_key_protects_loopback_writes_too(
    settings: Settings, seed_engine: SearchEngine
) -> None:
    """A write is never less protected than a read."""
    with make_client(settings, seed_engine, read_api_key=SecretStr(READ_KEY)) as client:
        assert client.post(WRITE).status_code == 401
        assert client.post(WRITE, headers=bearer(READ_KEY)).status_code == 200


def test_keys_never_logged(keyed: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for headers in [
        bearer(WRITE_KEY),
        bearer(READ_KEY),
        {"X-API-Key": WRITE_KEY},
        {"X-API-Key": READ_KEY},
        bearer("wrong-key-c0ffee"),
    ]:
        keyed.post(WRITE, headers=headers)
        keyed.get("/search", params=QUERY, headers=headers)
    assert any(r.name == "service.access" for r in caplog.records)  # the logs were captured
    for secret in (WRITE_KEY, READ_KEY, "wrong-key-c0ffee"):
        assert secret not in caplog.text
