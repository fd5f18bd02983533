"""The HTTP contract on the real app, model, FAISS and SQLite, and every bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

LEIYANG = "耒阳着力打造哪五大产业？"


def test_health_reports_model_and_counts(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model"] == "multilingual-e5-small"
    assert body["dimension"] == 384
    assert body["documents"] == 5
    assert body["passages"] > 50


def test_post_search_puts_the_leiyang_industries_first(client: TestClient) -> None:
    r = client.post("/search", json={"query": LEIYANG})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == LEIYANG
    assert len(body["hits"]) == 5
    top = body["hits"][0]
    assert "紙品" in top["text"] and "童車" in top["text"]  # shown in the document's own script
    assert top["doc_id"].startswith("001_")
    assert top["section"] == "二、堅持發展為要 › 一要做強做優實體經濟"
    for key in ("passage_id", "doc_id", "title", "section", "text", "score", "start", "end"):
        assert key in top
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_get_search_matches_post(client: TestClient) -> None:
    got = client.get("/search", params={"q": LEIYANG, "k": 3}).json()
    posted = client.post("/search", json={"query": LEIYANG, "k": 3}).json()
    assert [h["passage_id"] for h in got["hits"]] == [h["passage_id"] for h in posted["hits"]]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_answers(client: TestClient, mode: str) -> None:
    r = client.post("/search", json={"query": LEIYANG, "k": 10, "mode": mode})
    assert r.status_code == 200
    assert r.json()["mode"] == mode
    texts = [h["text"] for h in r.json()["hits"]]
    assert any("童車" in t for t in texts)


def test_passage_offsets_index_the_cleaned_document(client: TestClient, seed_engine) -> None:
    hit = client.post("/search", json={"query": LEIYANG, "k": 1}).json()["hits"][0]
    doc_text = seed_engine.document_text(hit["doc_id"])
    assert doc_text[hit["start"] : hit["end"]] == hit["text"]


def test_get_passage_and_unknown_passage(client: TestClient) -> None:
    hit = client.post("/search", json={"query": LEIYANG, "k": 1}).json()["hits"][0]
    r = client.get(f"/passages/{hit['passage_id']}")
    assert r.status_code == 200
    assert r.json()["text"] == hit["text"]
    missing = client.get("/passages/doesnotexist")
    assert missing.status_code == 404
    assert "doesnotexist" in missing.json()["error"]


def test_documents_lists_ids_titles_counts(client: TestClient) -> None:
    docs = client.get("/documents").json()["documents"]
    assert len(docs) == 5
    by_id = {d["doc_id"][:3]: d for d in docs}
    assert by_id["001"]["title"].startswith("推動黨的二十大精神落地生根")
    assert all(d["passages"] > 0 for d in docs)
    total = client.get("/health").json()["passages"]
    assert sum(d["passages"] for d in docs) == total


def test_similar_by_passage_id_never_returns_the_source_or_its_overlaps(
    client: TestClient, seed_engine
) -> None:
    source = client.post("/search", json={"query": LEIYANG, "k": 1}).json()["hits"][0]
    r = client.post("/similar", json={"passage_id": source["passage_id"], "k": 10})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert len(hits) == 10
    for h in hits:
        assert h["passage_id"] != source["passage_id"]
        overlaps = (
            h["doc_id"] == source["doc_id"]
            and h["start"] < source["end"]
            and source["start"] < h["end"]
        )
        assert not overlaps
    # Sorted by cosine, and the nearest shares the topic (economy of the same document).
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_similar_by_text_finds_the_passage_it_quotes(client: TestClient) -> None:
    source = client.post("/search", json={"query": LEIYANG, "k": 1}).json()["hits"][0]
    quoted = source["text"][10:-10]  # a user pastes most of a paragraph, in Simplified
    from opencc import OpenCC

    r = client.post("/similar", json={"text": OpenCC("t2s").convert(quoted), "k": 3})
    assert r.status_code == 200
    assert r.json()["hits"][0]["passage_id"] == source["passage_id"]


# -- bad input: a 4xx with a message a person can act on, never a 500 ----------------------

BAD_SEARCH = [
    ({"query": ""}, "query"),
    ({"query": "   \n "}, "query"),
    ({"query": "问题", "k": 0}, "k"),
    ({"query": "问题", "k": 101}, "k"),
    ({"query": "问" * 1001}, "1000"),
    ({}, "query"),
    ({"k": 5}, "query"),
    ({"query": 123}, "query"),
    ({"query": "问题", "k": "five"}, "k"),
    ({"query": ["问题"]}, "query"),
    ({"query": "问题", "mode": "fuzzy"}, "mode"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD_SEARCH)
def test_bad_search_bodies_are_422_with_a_message(client: TestClient, body, mentions) -> None:
    r = client.post("/search", json=body)
    assert r.status_code == 422
    assert mentions in r.json()["error"]


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post(
        "/search", content=b'{"query": "x",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "JSON" in r.json()["error"]


def test_body_that_is_not_an_object_is_422(client: TestClient) -> None:
    r = client.post("/search", json=["问题"])
    assert r.status_code == 422
    assert r.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "  "},
        {"q": "问题", "k": 0},
        {"q": "问题", "k": 500},
        {"q": "问" * 1001},
        {"q": "x", "k": "a"},
    ],
)
def test_bad_get_search_is_422(client: TestClient, params) -> None:
    r = client.get("/search", params=params)
    assert r.status_code == 422
    assert r.json()["error"]


BAD_SIMILAR = [
    ({}, "exactly one"),
    ({"k": 3}, "exactly one"),
    ({"passage_id": "x", "text": "y"}, "exactly one"),
    ({"text": "字" * 20001}, "20000"),
    ({"text": "   "}, "text"),
    ({"text": "文本", "k": 0}, "k"),
    ({"text": "文本", "k": 101}, "k"),
    ({"passage_id": 7}, "passage_id"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD_SIMILAR)
def test_bad_similar_bodies_are_422(client: TestClient, body, mentions) -> None:
    r = client.post("/similar", json=body)
    assert r.status_code == 422
    assert mentions in r.json()["error"]


def test_similar_unknown_passage_is_404(client: TestClient) -> None:
    r = client.post("/similar", json={"passage_id": "0000000000000000"})
    assert r.status_code == 404
    assert "0000000000000000" in r.json()["error"]


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/similar", "/passages/{passage_id}", "/documents", "/health"} <= set(paths)


def test_doc_ids_filter_has_a_length_cap(client: TestClient, settings) -> None:
    many = [f"doc-{i}" for i in range(settings.max_doc_ids + 1)]
    r = client.post("/search", json={"query": "问题", "doc_ids": many})
    assert r.status_code == 422 and str(settings.max_doc_ids) in r.json()["error"]


def test_similar_by_text_does_not_grow_the_embedding_cache(
    client: TestClient, settings, encoder
) -> None:
    import hashlib
    import sqlite3

    from embeddings.text import normalize

    texts = [f"一段从未见过的文字，编号{i}，关于产业园区。" for i in range(3)]
    for text in texts:
        assert client.post("/similar", json={"text": text}).status_code == 200
    keys = [
        hashlib.sha1(f"{encoder.passage_prompt}\x00{normalize(t)}".encode()).hexdigest()
        for t in texts
    ]
    cache = settings.data_dir / "cache" / "embeddings" / f"{encoder.fingerprint}.sqlite"
    db = sqlite3.connect(cache)
    marks = ",".join("?" * len(keys))
    found = db.execute(f"SELECT COUNT(*) FROM vectors WHERE key IN ({marks})", keys).fetchone()[0]
    assert found == 0
    # the same key scheme does find passages that were indexed
    p = client.get("/documents").json()["documents"][0]
    assert p  # the index is not empty, so the cache holds passage keys
    assert db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] > 0


def test_documents_page_and_detail(client: TestClient, seed_engine) -> None:
    page = client.get("/documents", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [d["doc_id"] for d in page["documents"]] == [d.doc_id for d in seed_engine.documents()][
        1:3
    ]
    first = page["documents"][0]
    assert first["format"] == "txt" and first["size"] > 0 and len(first["sha256"]) == 64
    detail = client.get(f"/documents/{first['doc_id']}").json()
    assert len(detail["passages"]) == first["passages"]
    assert detail["passages"][0]["start"] == 0 or detail["passages"][0]["section"] is not None
    assert client.get("/documents/nope").status_code == 404
    assert client.get("/documents", params={"limit": 0}).status_code == 422


def test_passage_neighbours(client: TestClient, seed_engine) -> None:
    doc = seed_engine.documents()[4]
    passages = seed_engine.passages(doc.doc_id)
    middle = passages[5]
    r = client.get(f"/passages/{middle.passage_id}/neighbours", params={"n": 2})
    assert r.status_code == 200
    body = r.json()
    assert [p["passage_id"] for p in body["before"]] == [p.passage_id for p in passages[3:5]]
    assert [p["passage_id"] for p in body["after"]] == [p.passage_id for p in passages[6:8]]
    assert client.get("/passages/nope/neighbours").status_code == 404


def test_the_bridge_dictionaries_load_in_the_background_once_the_model_is_ready(
    settings, seed_engine
) -> None:
    """So the first English question does not wait ~2 s for CC-CEDICT and pypinyin."""
    import time

    from embeddings import bridge
    from service.app import create_app

    bridge._dictionary.cache_clear()
    with TestClient(create_app(settings, seed_engine)):
        deadline = time.monotonic() + 60
        while not bridge._dictionary.cache_info().currsize and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bridge._dictionary.cache_info().currsize == 1
