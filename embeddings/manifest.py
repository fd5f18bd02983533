"""What an index was built with, so an index built differently is refused, not searched.

`manifest.json` records the model identity, the cleaner, chunker and tokenizer versions
and the storage format. Any difference from what this engine would build means its results
would be wrong.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embeddings.chunking import CHUNKER_VERSION, ChunkerConfig
from embeddings.durable import write_atomic
from embeddings.text import CLEANER_VERSION
from embeddings.tokenizer import LEXICAL_VERSION

INDEX_FORMAT = 5  # 5: answer sentences and their vectors stored with each passage
MANIFEST = "manifest.json"
REBUILD = "python -m service index --rebuild DIR"


class IndexMismatchError(RuntimeError):
    """The index on disk was built differently from how this engine would build it."""


def build_manifest(
    model: str, fingerprint: str, dim: int, passage_prompt: str, chunker: ChunkerConfig
) -> dict[str, Any]:
    return {
        "format": INDEX_FORMAT,
        "model": model,
        "model_fingerprint": fingerprint,
        "dim": dim,
        "passage_prompt": passage_prompt,
        "cleaner_version": CLEANER_VERSION,
        "chunker_version": CHUNKER_VERSION,
        "chunker": asdict(chunker),
        "lexical_version": LEXICAL_VERSION,
    }


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """What built the index in `index_dir`, or None when there is no readable index there."""
    index_dir = Path(index_dir)
    if not (index_dir / "meta.sqlite").exists():
        return None
    try:
        found = json.loads((index_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None


def _holds_nothing(sqlite: Path) -> bool:
    """No store, or one without a document: what a start killed before its manifest leaves."""
    if not sqlite.exists():
        return True
    try:
        with closing(sqlite3.connect(f"{sqlite.resolve().as_uri()}?mode=ro", uri=True)) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if "documents" not in tables:
                return True  # killed before the schema was committed
            return int(db.execute("SELECT count(*) FROM documents").fetchone()[0]) == 0
    except sqlite3.Error:
        return False


def check_manifest(index_dir: Path, wanted: dict[str, Any]) -> None:
    """Raise `IndexMismatchError` unless the index in `index_dir` was built as `wanted` says."""
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        if not _holds_nothing(Path(index_dir) / "meta.sqlite"):
            raise IndexMismatchError(
                f"The index in {index_dir} has no manifest, so what built it is unknown. "
                f"Rebuild it: {REBUILD}"
            )
        return
    try:
        found = json.loads(path.read_text())
        if not isinstance(found, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(
            f"The manifest {path} is unreadable ({exc}). Rebuild the index: {REBUILD}"
        ) from exc
    diffs = [
        f"{key}: index has {found.get(key)!r}, this service uses {value!r}"
        for key, value in wanted.items()
        if found.get(key) != value
    ]
    if diffs:
        raise IndexMismatchError(
            f"The index in {index_dir} was built differently from the current settings ("
            + "; ".join(diffs)
            + f"). Its results would be wrong, so it is not used. Rebuild it with `{REBUILD}`, "
            "or point DATA_DIR at another directory."
        )


def write_manifest(index_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    write_atomic(Path(index_dir) / MANIFEST, text.encode())
