"""Best-effort marker refresh: only under a free lock, only over the marker it validated."""

from __future__ import annotations

import json
from pathlib import Path

from embeddings.durable import refresh_json, try_exclusive


def _marker(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / ".complete"
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o644)
    return path


def test_refresh_replaces_the_marker_it_validated(tmp_path: Path) -> None:
    path = _marker(tmp_path, {"mtime": 1, "keep": "x"})
    refresh_json(path, {"mtime": 1, "keep": "x"}, {"mtime": 2, "keep": "x"}, tmp_path / ".lock")
    assert json.loads(path.read_text(encoding="utf-8")) == {"mtime": 2, "keep": "x"}
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [".complete", ".lock"]  # no temp left


def test_refresh_never_overwrites_a_newer_marker(tmp_path: Path) -> None:
    # Another process rebuilt the directory after this one read the marker.
    path = _marker(tmp_path, {"mtime": 5, "version": 2})
    refresh_json(path, {"mtime": 1, "version": 1}, {"mtime": 2, "version": 1}, tmp_path / ".lock")
    assert json.loads(path.read_text(encoding="utf-8")) == {"mtime": 5, "version": 2}


def test_refresh_gives_way_to_a_build_holding_the_lock(tmp_path: Path) -> None:
    path = _marker(tmp_path, {"mtime": 1})
    held = try_exclusive(tmp_path / ".lock")
    assert held is not None
    try:
        refresh_json(path, {"mtime": 1}, {"mtime": 2}, tmp_path / ".lock")
    finally:
        held.close()
    assert json.loads(path.read_text(encoding="utf-8")) == {"mtime": 1}


def test_refresh_is_quiet_when_it_cannot_write(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    refresh_json(gone / ".complete", {"a": 1}, {"a": 2}, gone / ".lock")  # no directory
    path = _marker(tmp_path, {"a": 1})
    path.write_text("not json", encoding="utf-8")  # a damaged marker is left to the build
    refresh_json(path, {"a": 1}, {"a": 2}, tmp_path / ".lock")
    assert path.read_text(encoding="utf-8") == "not json"
