"""Opening the engine the settings describe, and the warm start after a restart.

A restarted service opens its index and answers lexical queries while the model loads in
the background; dense answers wait for the model and are the same as a cold start's; a model
that does not match the index is refused with a 503 that says how to rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from embeddings.encoders import Encoder, ModelUnavailableError, WarmingEncoder
from embeddings.engine import SearchEngine
from embeddings.manifest import read_manifest
from service.app import create_app
from service.factory import engine_config, model_prepared, open_engine
from service.settings import Settings

QUESTION = "耒阳着力打造哪五大产业？"


@pytest.fixture(scope="module")
def built_index(settings: Settings, encoder: Encoder, tmp_path_factory) -> Path:
    """A seed index on disk, built once, copied by each test that changes it."""
    index_dir = tmp_path_factory.mktemp("warm") / "index"
    open_engine(settings, index_dir, encoder).close()
    return index_dir


def cold(settings: Settings, encoder: Encoder, index_dir: Path, mode: str, k: int) -> list[str]:
    """What the index answers with the model loaded (opened and closed: one owner at a time)."""
    engine = SearchEngine(index_dir, encoder, engine_config(settings))
    try:
        return [h.passage.passage_id for h in engine.search(QUESTION, k, mode)]
    finally:
        engine.close()


def gated(encoder: Encoder, index_dir: Path) -> tuple[WarmingEncoder, threading.Event]:
    """A warming encoder whose load finishes only when the test opens the gate."""
    gate = threading.Event()

    def load() -> Encoder:
        gate.wait(timeout=60)
        return encoder

    return WarmingEncoder.expecting(load, read_manifest(index_dir)), gate


def ids(hits: list[dict]) -> list[str]:
    return [h["passage_id"] for h in hits]


def test_lexical_answers_while_the_model_warms_and_dense_waits_for_it(
    settings: Settings, encoder: Encoder, built_index: Path
) -> None:
    expected = cold(settings, encoder, built_index, "hybrid", 10)
    warming, gate = gated(encoder, built_index)
    engine = SearchEngine(built_index, warming, engine_config(settings))
    with TestClient(create_app(settings, engine)) as client:
        health = client.get("/health").json()
        assert health["model_ready"] is False
        assert health["passages"] == len(engine.all_passages())
        lexical = client.post("/search", json={"query": QUESTION, "mode": "lexical"})
        assert lexical.status_code == 200
        assert "紙品" in lexical.json()["hits"][0]["text"]
        assert not warming.ready  # the lexical answer did not need the model

        gate.set()
        hybrid = client.post("/search", json={"query": QUESTION, "mode": "hybrid", "k": 10})
        assert hybrid.status_code == 200
        assert ids(hybrid.json()["hits"]) == expected
        assert client.get("/health").json()["model_ready"] is True
    engine.close()


def test_open_engine_warm_start_loads_the_configured_model(
    settings: Settings, encoder: Encoder, built_index: Path
) -> None:
    expected = cold(settings, encoder, built_index, "dense", 5)
    engine = open_engine(settings, built_index, warm_start=True)
    assert isinstance(engine.encoder, WarmingEncoder)
    loaded = engine.encoder.wait(timeout=120)
    assert loaded.fingerprint == encoder.fingerprint
    assert [h.passage.passage_id for h in engine.search(QUESTION, 5, "dense")] == expected
    engine.close()


def test_no_warm_start_without_an_index(settings: Settings, tmp_path: Path) -> None:
    from service.factory import warming_encoder

    assert warming_encoder(settings, tmp_path / "absent") is None
    other = Settings(data_dir=settings.data_dir, seeds_dir=settings.seeds_dir, model="other/model")
    assert warming_encoder(other, tmp_path / "absent") is None


def test_a_model_that_does_not_match_the_index_is_a_503_with_the_fix(
    settings: Settings, encoder: Encoder, built_index: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["model_fingerprint"] = "0123456789ab"  # as if built from other weights
    (index_dir / "manifest.json").write_text(json.dumps(manifest))

    engine = open_engine(settings, index_dir, warm_start=True)
    with pytest.raises(ModelUnavailableError, match="index --rebuild"):
        engine.encoder.wait(timeout=120)
    with TestClient(create_app(settings, engine)) as client:
        for mode in ("dense", "hybrid"):
            r = client.post("/search", json={"query": QUESTION, "mode": mode})
            assert r.status_code == 503
            assert "Rebuild the index" in r.json()["error"]
        assert client.post("/ask", json={"question": QUESTION}).status_code == 503
        health = client.get("/health")
        assert health.status_code == 503 and "0123456789ab" in health.json()["error"]
        # The lexical index does not depend on the model, so it still answers.
        assert (
            client.post("/search", json={"query": QUESTION, "mode": "lexical"}).status_code == 200
        )


def test_a_model_that_fails_to_load_is_a_503(settings: Settings, built_index: Path) -> None:
    def load() -> Encoder:
        raise OSError("model.safetensors: no such file")

    warming = WarmingEncoder.expecting(load, read_manifest(built_index))
    engine = SearchEngine(built_index, warming, engine_config(settings))
    with TestClient(create_app(settings, engine)) as client:
        r = client.post("/search", json={"query": QUESTION})
        assert r.status_code == 503 and "no such file" in r.json()["error"]
        assert client.get("/health").status_code == 503
    engine.close()


def test_a_slow_model_is_a_503_with_retry_after_and_lexical_keeps_answering(
    settings: Settings, encoder: Encoder, built_index: Path
) -> None:
    gate = threading.Event()

    def load() -> Encoder:
        gate.wait(timeout=60)
        return encoder

    warming = WarmingEncoder.expecting(load, read_manifest(built_index), timeout=0.2)
    engine = SearchEngine(built_index, warming, engine_config(settings))
    try:
        with TestClient(create_app(settings, engine)) as client:
            r = client.post("/search", json={"query": QUESTION, "mode": "hybrid"})
            assert r.status_code == 503 and r.headers["Retry-After"] == "5"
            assert "still loading" in r.json()["error"]
            assert client.get("/health").json()["model_ready"] is False
            lexical = client.post("/search", json={"query": QUESTION, "mode": "lexical"})
            assert lexical.status_code == 200
            # a question without Chinese needs the model in lexical mode too (the bridge
            # reads its dense neighbourhood), and says so; Chinese ones in a batch do not
            english = {"query": "Which five industries does Leiyang build?", "mode": "lexical"}
            r = client.post("/search", json=english)
            assert r.status_code == 503 and r.headers["Retry-After"] == "5"
            assert "Chinese questions answers already" in r.json()["error"]
            batch = client.post(
                "/search/batch", json={"queries": [QUESTION, "永州"], "mode": "lexical"}
            )
            assert batch.status_code == 200
    finally:
        gate.set()
        engine.close()


def test_serve_knows_when_the_model_needs_preparing(
    settings: Settings, encoder: Encoder, tmp_path: Path
) -> None:
    """`serve` prepares an unprepared default model in a child process (torch stays out of
    the server); a prepared one, or any other model, loads as it is."""
    assert model_prepared(settings)  # the session's encoder fixture converted and exported it
    assert not model_prepared(Settings(data_dir=tmp_path))
    assert model_prepared(Settings(data_dir=tmp_path, model="/a/sentence-transformers/model"))
    models = tmp_path / "models"  # hard links: the same files, their own directory entries
    shutil.copytree(settings.data_dir / "models", models, copy_function=os.link)
    assert model_prepared(Settings(data_dir=tmp_path))
    marker = next(models.glob("*-onnx-int8")) / ".complete"
    marker.unlink()  # an export killed before its last step
    assert not model_prepared(Settings(data_dir=tmp_path))
    assert model_prepared(Settings(data_dir=tmp_path, encoder_backend="torch"))
