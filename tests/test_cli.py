"""The command line: index and search, with errors on stderr and a non-zero status."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import main
from service.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
SEED = "001_76806f0a31b23090"


@pytest.fixture
def env(settings: Settings, tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """The CLI's settings from the environment: the test model, a fresh index in tmp_path."""
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("SEEDS_DIR", str(settings.seeds_dir))
    get_settings.cache_clear()
    yield tmp_path / "index"
    get_settings.cache_clear()


@pytest.fixture
def one_doc(tmp_path: Path) -> Path:
    docs = tmp_path / "docs" / "nested"
    docs.mkdir(parents=True)
    shutil.copy(ROOT / "seeds" / f"{SEED}.txt", docs)
    (docs / "notes.xyz").write_text("not a document format")
    return tmp_path / "docs"


def test_index_then_search(env: Path, one_doc: Path, capsys) -> None:
    assert main(["index", str(one_doc)]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "notes.xyz" in out  # the skipped file is named
    assert main(["search", "耒阳着力打造哪五大产业？", "--k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["doc_id"] == SEED and "紙品" in hits[0]["text"]
    assert main(["index", str(one_doc)]) == 0
    assert "1 unchanged" in capsys.readouterr().out


def test_rebuild_of_an_empty_directory_keeps_the_index(
    env: Path, one_doc: Path, tmp_path: Path, capsys
) -> None:
    assert main(["index", str(one_doc)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["index", "--rebuild", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no documents to index" in err and "left as it is" in err
    assert (env / "meta.sqlite").exists()
    assert main(["search", "耒阳", "--mode", "lexical"]) == 0


@pytest.mark.parametrize("k", ["-1", "0", "101"])
def test_search_k_out_of_range_is_an_error(env: Path, k: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["search", "耒阳", "--k", k])
    assert exit_.value.code == 2 and "between 1 and 100" in capsys.readouterr().err


def test_search_on_an_empty_index_says_so_and_indexes_nothing(env: Path, capsys) -> None:
    assert main(["search", "耒阳"]) == 2
    captured = capsys.readouterr()
    assert "is empty" in captured.err and "python -m service index" in captured.err
    assert captured.out == ""
    from service.factory import open_engine

    engine = open_engine(get_settings(), seed_if_empty=False)
    assert len(engine) == 0  # the seeds were not indexed behind the user's back
    engine.close()


def test_index_of_a_missing_directory_is_an_error(env: Path, tmp_path: Path, capsys) -> None:
    assert main(["index", str(tmp_path / "absent")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_repair_rebuilds_views_from_sqlite(env: Path, one_doc: Path, capsys) -> None:
    assert main(["index", str(one_doc)]) == 0
    (env / "vectors.faiss").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(["index", "--repair"]) == 0
    assert "rebuilt from meta.sqlite" in capsys.readouterr().out
    assert main(["search", "耒阳着力打造哪五大产业？", "--mode", "dense", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["doc_id"] == SEED


def test_workers_need_the_milvus_backend(env: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKERS", "2")
    get_settings.cache_clear()
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "WORKERS=2 needs BACKEND=milvus" in err and not env.exists()


def test_serve_stops_with_a_message_when_the_model_cannot_be_prepared(
    env: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A first start prepares the model in a child process; when that fails (here DATA_DIR
    is a file), serve says so and exits 2 without binding the port or creating the index."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("DATA_DIR", str(blocker))
    get_settings.cache_clear()
    assert main(["serve"]) == 2
    assert "preparing the model failed" in capsys.readouterr().err and not env.exists()
    assert main(["model"]) == 2  # what the child printed
    err = capsys.readouterr().err
    assert "cannot prepare the model under DATA_DIR=" in err and "Traceback" not in err


def test_a_damaged_sqlite_names_the_file_and_the_fix(env: Path, one_doc: Path, capsys) -> None:
    assert main(["index", str(one_doc)]) == 0
    for leftover in env.glob("meta.sqlite-*"):
        leftover.unlink()
    (env / "meta.sqlite").write_bytes(b"not a database" * 100)
    capsys.readouterr()
    assert main(["search", "耒阳"]) == 2
    err = capsys.readouterr().err
    assert str(env / "meta.sqlite") in err and "index --rebuild" in err
