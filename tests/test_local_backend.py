"""The local backend: SQLite is the truth; FAISS and BM25 files are rebuilt from it when stale,
missing or damaged; readers never see half a write."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from embeddings.backends.local import LEXICAL, VECTORS, LocalBackend
from embeddings.store import NewDocument, NewPassage

DIM = 8


def doc(doc_id: str, n: int, version: int = 0) -> NewDocument:
    rng = np.random.default_rng(hash((doc_id, version)) % 2**32)
    passages = []
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        passages.append(
            NewPassage(
                f"{doc_id}-v{version}-{i}",
                doc_id,
                "",
                f"{doc_id} v{version} {i}",
                i,
                i + 1,
                v / np.linalg.norm(v),
                [doc_id, f"v{version}", "common"],
            )
        )
    return NewDocument(doc_id, doc_id, "", f"{doc_id}{version}", "t", passages)


def views_agree(b: LocalBackend) -> None:
    truth = sorted(b.store.ids().tolist())
    assert sorted(b.vectors.ids().tolist()) == truth
    assert sorted(b.lexical.ids().tolist()) == truth


@pytest.fixture
def built(tmp_path: Path) -> Path:
    b = LocalBackend(tmp_path / "ix", DIM)
    b.write([doc("a", 3), doc("b", 4), doc("c", 2)], [])
    b.close()
    return tmp_path / "ix"


def test_views_saved_on_close_and_reopened(built: Path) -> None:
    b = LocalBackend(built, DIM)
    views_agree(b)
    assert b.passage_count() == 9 and b.lexical_search(["b"], 10, None)
    b.close()


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / VECTORS).write_bytes(b"garbage"),
        lambda d: (d / VECTORS).write_bytes((d / VECTORS).read_bytes()[:100]),
        lambda d: (d / VECTORS).unlink(),
        lambda d: shutil.rmtree(d / LEXICAL),
        lambda d: (d / LEXICAL / "vocab.json").write_text("{"),
        lambda d: (d / LEXICAL / "segment-0.npz").write_bytes(b"PK\x03\x04broken"),
        lambda d: (d / f"{VECTORS}.tmp").write_bytes(b"half a file"),
    ],
    ids=[
        "vectors-garbage",
        "vectors-truncated",
        "vectors-missing",
        "lexical-missing",
        "vocab-garbage",
        "segment-broken",
        "leftover-temp",
    ],
)
def test_damaged_or_missing_views_are_rebuilt_from_sqlite(built: Path, damage, caplog) -> None:
    damage(built)
    b = LocalBackend(built, DIM)
    views_agree(b)
    assert b.passage_count() == 9
    q = b.store.vector(b.store.passages("b")[0].id)
    assert b.dense_search(q, 1, None)[0][0] == b.store.passages("b")[0].id
    assert {i for i, _ in b.lexical_search(["c"], 10, None)} == {
        p.id for p in b.store.passages("c")
    }
    assert not (built / f"{VECTORS}.tmp").exists()
    b.close()


def test_stale_views_after_a_crash_are_reconciled(built: Path) -> None:
    # A view saved before the last writes, as after kill -9 between commit and checkpoint.
    stale = built.parent / "stale"
    shutil.copytree(built, stale)
    b = LocalBackend(built, DIM)
    b.write([doc("a", 2, version=1), doc("d", 5)], ["c"])
    b.close()
    for name in (VECTORS, LEXICAL):
        if (built / name).is_dir():
            shutil.rmtree(built / name)
        else:
            (built / name).unlink()
        src = stale / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, built / name)
    b = LocalBackend(built, DIM)
    views_agree(b)
    assert b.document("c") is None and b.document("d").passages == 5
    assert not b.lexical_search(["c"], 10, None)
    assert {b.by_ids([i])[i].doc_id for i, _ in b.lexical_search(["a"], 10, None)} == {"a"}
    b.close()


def test_readers_never_see_half_a_write(tmp_path: Path) -> None:
    """Every search sees document `x` whole in one version: all its passages of one version."""
    b = LocalBackend(tmp_path / "ix", DIM, checkpoint_delay=0.05)
    b.write([doc("x", 6, 0), doc("other", 3)], [])
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            with b.reading():
                hits = b.lexical_search(["x"], 50, None)
                rows = b.by_ids([i for i, _ in hits])
            versions = {rows[i].passage_id.split("-")[1] for i, _ in hits if i in rows}
            if len(rows) != len(hits) or len(versions) > 1 or len(hits) not in (0, 6):
                problems.append(f"{len(hits)} hits, {len(rows)} rows, versions {versions}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for v in range(1, 40):
        if v % 5 == 0:
            b.write([], ["x"])
        else:
            b.write([doc("x", 6, v)], [])
    stop.set()
    for t in threads:
        t.join()
    assert problems == []
    views_agree(b)
    b.close()
