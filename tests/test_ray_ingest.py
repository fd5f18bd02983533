"""`python -m service index DIR --ray`: chunking and embedding on a local Ray, the write as usual.

A real local Ray (started by the command, two encoder actors), the real model and backend;
the index it builds is compared with the one the plain command builds from the same files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddings.backends.local import LocalBackend
from service.cli import main
from service.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("001_76806f0a31b23090", "002_cbb223353e170aad")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in DOCS:
        shutil.copy(ROOT / "seeds" / f"{name}.txt", folder)
    return folder


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SEEDS_DIR", str(settings.seeds_dir))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _index(env: pytest.MonkeyPatch, index: Path, *args: str) -> None:
    env.setenv("INDEX_DIR", str(index))
    get_settings.cache_clear()
    assert main(["index", *args]) == 0


def test_ray_builds_the_index_the_plain_command_builds(
    env: pytest.MonkeyPatch, docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _index(env, tmp_path / "ray", str(docs), "--ray", "--ray-workers", "2")
    assert "2 added" in capsys.readouterr().out
    assert main(["search", "耒阳着力打造哪五大产业？", "--mode", "dense", "--k", "1"]) == 0
    assert DOCS[0] in capsys.readouterr().out
    _index(env, tmp_path / "plain", str(docs))
    ray_index, plain = LocalBackend(tmp_path / "ray", 384), LocalBackend(tmp_path / "plain", 384)
    try:
        a, b = ray_index.passages(), plain.passages()
        assert [p.passage_id for p in a] == [p.passage_id for p in b] and len(a) > 20
        assert [p.section for p in a] == [p.section for p in b]
        assert (
            ray_index.sentences([p.id for p in a]).keys()
            == plain.sentences([p.id for p in b]).keys()
        )
        for p, q in zip(a, b, strict=True):
            u, v = ray_index.vector(p.id), plain.vector(q.id)
            assert u is not None and v is not None
            # int8 dynamic quantisation depends a little on the batch a text was in
            assert float(u @ v) > 0.98, p.passage_id
    finally:
        ray_index.close()
        plain.close()
    _index(env, tmp_path / "ray", str(docs), "--ray")
    out = capsys.readouterr().out
    assert "2 unchanged" in out and "0 passages embedded" in out


def test_an_unreachable_ray_cluster_is_a_clear_error(
    env: pytest.MonkeyPatch, docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("INDEX_DIR", str(tmp_path / "ray"))
    get_settings.cache_clear()
    assert main(["index", str(docs), "--ray", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "Ray" in err and "127.0.0.1:1" in err
