"""The local backend: SQLite is the truth; FAISS and BM25 files are rebuilt from it when stale,
missing or damaged; readers never see half a write; the vector index turns IVF past its exact
limit in the background; a write never waits for a checkpoint."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import embeddings.backends.local as local
from embeddings.backends.local import LEXICAL, VECTORS, LocalBackend
from embeddings.bm25 import MANIFEST, BM25Index
from embeddings.store import NewDocument, NewPassage
from embeddings.vector_index import Copier, VectorIndex

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
        lambda d: (d / LEXICAL / MANIFEST).write_text("{"),
        lambda d: next((d / LEXICAL).glob("vocab-*.json")).write_text("[1, 2"),
        lambda d: next((d / LEXICAL).glob("seg-*.bin")).write_bytes(b"zhbm25broken"),
        lambda d: (d / f"{VECTORS}.tmp").write_bytes(b"half a file"),
    ],
    ids=[
        "vectors-garbage",
        "vectors-truncated",
        "vectors-missing",
        "lexical-missing",
        "manifest-garbage",
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


def many(prefix: str, docs: int, per_doc: int = 20) -> list[NewDocument]:
    return [doc(f"{prefix}{i:03d}", per_doc) for i in range(docs)]


def test_switches_to_ivf_past_the_limit_and_back(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "ix", DIM, exact_limit=300)
    b.write(many("d", 60), [])  # 1,200 passages
    assert b.wait_idle(120)
    assert b.vectors.kind == "ivf" and b.vectors.nlist == 30 and b.vectors.nprobe >= 1
    views_agree(b)
    p = b.store.passages("d007")[3]
    assert b.dense_search(b.store.vector(p.id), 1, None)[0][0] == p.id
    nprobe = b.vectors.nprobe
    b.close()

    b = LocalBackend(tmp_path / "ix", DIM, exact_limit=300)  # the file says IVF
    assert (b.vectors.kind, b.vectors.nprobe) == ("ivf", nprobe)
    views_agree(b)
    b.write([], [f"d{i:03d}" for i in range(55)])  # 100 passages left: below half the limit
    assert b.wait_idle(120)
    assert b.vectors.kind == "flat"
    views_agree(b)
    b.close()


def test_writes_during_a_rebuild_are_replayed(tmp_path: Path, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    trained = VectorIndex.trained

    def slow_training(dim, nlist, sample):
        started.set()
        release.wait(30)
        return trained(dim, nlist, sample)

    monkeypatch.setattr(VectorIndex, "trained", staticmethod(slow_training))
    b = LocalBackend(tmp_path / "ix", DIM, exact_limit=300)
    b.write(many("d", 20), [])  # 400 passages: the rebuild starts and waits
    assert started.wait(30)
    b.write(many("e", 5) + [doc("d001", 4, version=1)], ["d002", "d003"])
    assert b.vectors.kind == "flat"  # still serving from the flat index meanwhile
    release.set()
    assert b.wait_idle(120)
    assert b.vectors.kind == "ivf"
    views_agree(b)  # new passages in, deleted and replaced ones out
    b.close()


def test_a_write_does_not_wait_for_a_slow_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """Checkpoint files are written with no lock held: a write and a search land while a
    (slowed) save is in progress."""
    monkeypatch.setattr(local, "VECTOR_SAVE_MIN", 10**9)  # the saver leaves FAISS alone...
    b = LocalBackend(tmp_path / "ix", DIM, exact_limit=300, checkpoint_delay=3600)
    b.write(many("d", 100), [])  # 2,000 passages
    assert b.wait_idle(120) and b.vectors.kind == "ivf"
    saving, release = threading.Event(), threading.Event()
    for cls in (Copier, BM25Index):
        real = cls.write

        def slow(self, *args, real=real):
            saving.set()
            release.wait(30)
            return real(self, *args)

        monkeypatch.setattr(cls, "write", slow)
    saver = threading.Thread(target=b.checkpoint)  # ...but a full checkpoint copies it
    saver.start()
    try:
        assert saving.wait(30)
        t0 = time.perf_counter()
        b.write([doc("late", 20)], ["d000"])
        with b.reading():
            hits = b.lexical_search(["late"], 50, None)
        assert time.perf_counter() - t0 < 2 and len(hits) == 20
    finally:
        release.set()
        saver.join()
    b.close()
    b = LocalBackend(tmp_path / "ix", DIM, exact_limit=300)
    views_agree(b)
    assert b.document("late") is not None and b.document("d000") is None
    b.close()


def test_a_clean_close_lets_the_next_open_skip_listing_sqlite(built: Path, monkeypatch) -> None:
    """Listing every id in SQLite is most of a restart at scale: after a clean close the
    views are trusted; the mark is removed on open, so a crash later means a full check."""
    from embeddings.store import Store

    assert (built / local.CLEAN).exists()
    calls: list[int] = []
    real_ids = Store.ids
    monkeypatch.setattr(Store, "ids", lambda self: calls.append(1) or real_ids(self))
    b = LocalBackend(built, DIM)
    assert not (built / local.CLEAN).exists()
    assert len(b.vectors) == len(b.lexical) == 9 and b.lexical_search(["b"], 10, None)
    assert calls == []
    b.write([doc("e", 2)], [])
    b.close()
    (built / local.CLEAN).unlink()  # as after kill -9
    b = LocalBackend(built, DIM)
    views_agree(b)
    assert calls  # reconciled: listed SQLite
    b.close()


def test_a_failed_save_is_retried_and_never_marked_clean(tmp_path: Path, monkeypatch) -> None:
    b = LocalBackend(tmp_path / "ix", DIM, checkpoint_delay=3600)
    b.write([doc("a", 3)], [])

    def full_disk(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Copier, "write", full_disk)
    with pytest.raises(OSError):
        b.checkpoint()
    with pytest.raises(OSError):
        b.close()  # the final save fails too: no clean mark, SQLite still closed
    assert not (tmp_path / "ix" / local.CLEAN).exists() and not (tmp_path / "ix" / VECTORS).exists()
    monkeypatch.undo()
    b = LocalBackend(tmp_path / "ix", DIM)  # rebuilt from SQLite
    views_agree(b)
    b.write([doc("b", 2)], [])
    b.close()
    assert (tmp_path / "ix" / local.CLEAN).exists() and (tmp_path / "ix" / VECTORS).exists()


def test_a_full_disk_is_a_507_and_the_library_stays_as_it_was(settings, encoder, tmp_path) -> None:
    """SQLite's own "database or disk is full" (its page limit stands for the disk) through
    the real app: 507 with what to do, nothing half-written, and the same write succeeds
    once there is room."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.factory import open_engine

    mine = settings.model_copy(
        update={"index_path": tmp_path / "index", "seeds_dir": tmp_path / "none"}
    )
    engine = open_engine(mine, encoder=encoder)
    try:
        with TestClient(create_app(mine, engine)) as http:
            first = {"doc_id": "甲", "text": "甲文档。湘江边的产业园区。"}
            assert http.post("/documents", json=first).status_code == 201
            before = (
                http.get("/documents").json(),
                http.post("/search", json={"query": "产业园区", "mode": "lexical"}).json()["hits"],
            )
            db = engine.backend.store._db
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
            big = {"doc_id": "乙", "text": "乙文档讲园区的发展。" * 400}
            r = http.post("/documents", json=big)
            assert r.status_code == 507, r.text
            assert "full" in r.json()["error"] and "Free disk space" in r.json()["error"]
            after = (
                http.get("/documents").json(),
                http.post("/search", json={"query": "产业园区", "mode": "lexical"}).json()["hits"],
            )
            assert after == before
            db.execute("PRAGMA max_page_count = 1073741823")
            assert http.post("/documents", json=big).status_code == 201
            assert http.get("/documents/乙").status_code == 200
    finally:
        engine.close()


def test_a_second_opener_of_the_same_index_is_refused_until_the_first_closes(tmp_path) -> None:
    from embeddings.store import StoreError

    first = LocalBackend(tmp_path, 4)
    with pytest.raises(StoreError, match="open in another process.*BACKEND=milvus"):
        LocalBackend(tmp_path, 4)
    first.close()
    LocalBackend(tmp_path, 4).close()
