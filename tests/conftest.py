"""Shared fixtures: the real model, a real index of the seeds, the real HTTP app.

The converted model and the embedding cache live in `data/test/` (gitignored) so repeated
runs embed nothing twice; every index is built fresh in a temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from embeddings.encoders import Encoder
from embeddings.engine import SearchEngine
from service.app import create_app
from service.factory import build_encoder, open_engine
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    path = ROOT / "data" / "test"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def settings(test_data_dir: Path) -> Settings:
    return Settings(data_dir=test_data_dir, seeds_dir=SEEDS)


@pytest.fixture(scope="session")
def encoder(settings: Settings) -> Encoder:
    return build_encoder(settings)


@pytest.fixture(scope="session")
def seed_engine(settings: Settings, encoder: Encoder, tmp_path_factory) -> SearchEngine:
    return open_engine(settings, tmp_path_factory.mktemp("seed-index"), encoder)


@pytest.fixture(scope="session")
def client(settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, seed_engine)) as c:
        yield c
