"""SQLite store: one transaction per write, stable ids, paging, neighbours, vectors kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from embeddings.store import NewDocument, NewPassage, Store, StoreError


def doc(doc_id: str, n: int, text: str = "正文") -> NewDocument:
    passages = [
        NewPassage(
            f"{doc_id}-{i}",
            "标题",
            f"一、第{i}节",
            f"{text}{i}",
            i * 10,
            i * 10 + 5,
            np.full(4, i, dtype=np.float32),
            ["词", f"t{i}"],
            (i + 1,),
        )
        for i in range(n)
    ]
    return NewDocument(doc_id, "标题", "src", f"sha-{doc_id}-{text}", text, passages, "pdf", 123)


def test_write_replace_delete_keep_other_ids(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    first = store.write([doc("a", 3), doc("b", 2)], [])
    assert [len(first.added[d]) for d in ("a", "b")] == [3, 2] and first.removed == []
    b_ids = first.added["b"]
    again = store.write([doc("a", 2, "新")], [])
    assert sorted(again.removed) == sorted(first.added["a"])
    assert min(again.added["a"]) > max(b_ids)  # ids are never reused
    assert [p.id for p in store.passages("b")] == b_ids
    gone = store.write([], ["b"])
    assert sorted(gone.removed) == sorted(b_ids)
    assert store.document("b") is None and store.passage_count() == 2
    p = store.passages("a")[1]
    assert p.pages == (2,) and p.text == "新1"
    np.testing.assert_array_equal(store.vector(p.id), np.full(4, 1, dtype=np.float32))
    ids, vecs, tokens = next(store.vectors_and_tokens(store.ids(), 4))
    assert len(ids) == 2 and vecs.shape == (2, 4) and tokens[0] == ["词", "t0"]


def test_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write([doc("a", 2)], [])
    before = store.passages()
    clash = doc("c", 1)
    clash = NewDocument(**{**vars(clash), "passages": [*clash.passages, clash.passages[0]]})
    with pytest.raises(sqlite3.IntegrityError):  # duplicate passage_id inside one write
        store.write([doc("a", 5, "变"), clash], [])
    assert store.passages() == before and store.document("c") is None


def test_paging_counts_lookups_and_neighbours(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write([doc(f"d{i}", 1) for i in range(5)] + [doc("long", 6)], [])
    assert store.document_count() == 6
    assert [d.doc_id for d in store.documents(2, 1)] == ["d1", "d2"]
    info = store.document("long")
    assert info and info.passages == 6 and info.format == "pdf" and info.size == 123
    assert store.unknown_documents(["d1", "zz", "long", "yy"]) == ["zz", "yy"]
    middle = store.passages("long")[3]
    before, after = store.neighbours(middle, 2)
    assert [p.ord for p in before] == [1, 2] and [p.ord for p in after] == [4, 5]
    assert set(store.ids_of_docs(["d0", "d1"]).tolist()) == {
        p.id for d in ("d0", "d1") for p in store.passages(d)
    }
    assert store.by_passage_id("long-2") == store.passages("long")[2]


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "m.sqlite").write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match=r"m.sqlite.*index --rebuild"):
        Store(tmp_path / "m.sqlite")
