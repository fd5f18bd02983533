"""What an index's manifest lets open, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.backends.local import LocalBackend
from embeddings.chunking import ChunkerConfig
from embeddings.manifest import IndexMismatchError, build_manifest, check_manifest, write_manifest
from embeddings.store import NewDocument, NewPassage

WANTED = build_manifest("m", "f", 4, "passage: ", ChunkerConfig())


def _store_with_a_document(index: Path) -> None:
    backend = LocalBackend(index, 4)
    vec = np.array([1, 0, 0, 0], dtype=np.float32)
    passage = NewPassage("d#0", "t", "", "水库检查。", 0, 5, vec, ["水库", "检查"])
    backend.write([NewDocument("d", "t", "", "sha", "水库检查。", [passage])], [])
    backend.close()


def test_a_new_directory_is_accepted(tmp_path: Path) -> None:
    check_manifest(tmp_path, WANTED)


def test_an_empty_store_without_manifest_is_a_start_killed_early(tmp_path: Path) -> None:
    LocalBackend(tmp_path, 4).close()
    check_manifest(tmp_path, WANTED)


def test_documents_without_a_manifest_are_refused_with_the_rebuild_command(
    tmp_path: Path,
) -> None:
    _store_with_a_document(tmp_path)
    with pytest.raises(IndexMismatchError, match="no manifest.*index --rebuild"):
        check_manifest(tmp_path, WANTED)


def test_another_model_is_refused_by_name(tmp_path: Path) -> None:
    write_manifest(tmp_path, build_manifest("other", "f", 4, "passage: ", ChunkerConfig()))
    with pytest.raises(IndexMismatchError, match="model: index has 'other'"):
        check_manifest(tmp_path, WANTED)


def test_a_garbage_manifest_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexMismatchError, match="manifest.json is unreadable"):
        check_manifest(tmp_path, WANTED)
