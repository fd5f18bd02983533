"""Documents over HTTP: upload, replace, delete, jobs; searchable at once; bad input changes nothing."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from embeddings.encoders import Encoder
from service.app import create_app
from service.factory import open_engine
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

QUANTUM = (
    "量子计算产业园建设要点。一要建设量子计算产业园。园区位于湘江新区，占地三百亩。二要引进人才。"
)


@pytest.fixture(scope="module")
def write_settings(settings: Settings, tmp_path_factory) -> Settings:
    seeds = tmp_path_factory.mktemp("two-seeds")
    for name in ("001_76806f0a31b23090.txt", "002_cbb223353e170aad.txt"):
        shutil.copy(ROOT / "seeds" / name, seeds)
    return settings.model_copy(
        update={"seeds_dir": seeds, "index_path": tmp_path_factory.mktemp("writes") / "index"}
    )


@pytest.fixture(scope="module")
def wclient(write_settings: Settings, encoder: Encoder) -> Iterator[TestClient]:
    engine = open_engine(write_settings, encoder=encoder)
    with TestClient(create_app(write_settings, engine)) as c:
        yield c
    engine.close()


def state(client: TestClient) -> tuple[list[str], list[str]]:
    """What a user can see: the documents and the top hits of a fixed query."""
    docs = [
        d["doc_id"] for d in client.get("/documents", params={"limit": 500}).json()["documents"]
    ]
    hits = client.post("/search", json={"query": "产业园 纸品", "k": 10, "mode": "lexical"}).json()
    return docs, [h["passage_id"] for h in hits["hits"]]


def lexical_docs(client: TestClient, query: str) -> set[str]:
    r = client.post("/search", json={"query": query, "k": 20, "mode": "lexical"})
    assert r.status_code == 200
    return {h["doc_id"] for h in r.json()["hits"]}


def test_json_upload_is_searchable_at_once_then_unchanged_replaced_deleted(
    wclient: TestClient,
) -> None:
    r = wclient.post(
        "/documents", json={"doc_id": "量子园", "title": "量子计算产业园", "text": QUANTUM}
    )
    assert r.status_code == 201, r.text
    report = r.json()["documents"][0]
    assert report["doc_id"] == "量子园" and report["status"] == "added" and report["passages"] >= 1
    assert "量子园" in lexical_docs(wclient, "量子计算产业园")
    hit = wclient.post("/search", json={"query": "量子计算产业园占地多少", "k": 1}).json()["hits"][
        0
    ]
    assert hit["doc_id"] == "量子园" and "三百亩" in hit["text"]

    again = wclient.post(
        "/documents", json={"doc_id": "量子园", "title": "量子计算产业园", "text": QUANTUM}
    )
    assert again.status_code == 201 and again.json()["documents"][0]["status"] == "unchanged"

    new_text = "量子计算产业园调整方案。园区迁至岳麓山下，改名为量子谷。"
    r = wclient.put("/documents/量子园", json={"text": new_text})
    assert r.status_code == 200 and r.json()["documents"][0]["status"] == "replaced"
    texts = [
        h["text"]
        for h in wclient.post("/search", json={"query": "量子", "k": 20, "mode": "lexical"}).json()[
            "hits"
        ]
    ]
    assert any("量子谷" in t for t in texts) and not any("三百亩" in t for t in texts)
    detail = wclient.get("/documents/量子园").json()
    assert detail["format"] == "txt" and detail["passages"]

    assert wclient.delete("/documents/量子园").status_code == 204
    assert "量子园" not in lexical_docs(wclient, "量子")
    assert wclient.delete("/documents/量子园").status_code == 404
    assert wclient.get("/documents/量子园").status_code == 404


def test_doc_id_defaults_from_the_title(wclient: TestClient) -> None:
    r = wclient.post(
        "/documents", json={"title": "湘江 新区/规划", "text": "湘江新区的规划要点。建设新城。"}
    )
    assert r.status_code == 201
    doc_id = r.json()["documents"][0]["doc_id"]
    assert "湘江" in doc_id and "/" not in doc_id
    assert wclient.delete(f"/documents/{doc_id}").status_code == 204


def test_a_large_upload_is_a_job_with_progress(
    write_settings: Settings, encoder: Encoder, tmp_path: Path
) -> None:
    # its own index: the module's one is open in `wclient`, and an index has one owner
    small = write_settings.model_copy(update={"sync_passages": 1, "index_path": tmp_path / "i"})
    engine = open_engine(small, encoder=encoder)
    with TestClient(create_app(small, engine)) as client:
        text = "".join(
            f"第{i}部分。" + "园区建设稳步推进，产业链条不断延伸。" * 12 + "\n\n" for i in range(6)
        )
        r = client.post("/documents", json={"doc_id": "长文", "text": text})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["total"] > 1 and r.headers["location"] == body["status_url"]
        for _ in range(600):
            job = client.get(body["status_url"]).json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["state"] == "done" and job["done"] == job["total"] == body["total"]
        assert job["report"]["documents"][0]["status"] == "added"
        assert "长文" in lexical_docs(client, "产业链条")
        assert client.get("/jobs/nope").status_code == 404
    engine.close()


@pytest.mark.parametrize(
    ("request_kwargs", "status", "mentions"),
    [
        ({"json": {"text": ""}}, 422, "empty"),
        ({"json": {"text": "   \n\t "}}, 422, "empty"),
        ({"json": {"doc_id": "a/b", "text": "正文内容。"}}, 422, "doc_id"),
        ({"json": {"doc_id": "a\\b", "text": "正文内容。"}}, 422, "doc_id"),
        ({"json": {"doc_id": "..", "text": "正文内容。"}}, 422, "doc_id"),
        ({"json": {"doc_id": "bad\x07id", "text": "正文内容。"}}, 422, "doc_id"),
        ({"json": {"doc_id": "长" * 201, "text": "正文内容。"}}, 422, "200"),
        ({"json": {"text": "正文", "extra": 1}}, 422, "extra"),
        ({"content": b"plain body", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
        ({"files": [("files", ("a.exe", b"MZ...", "application/octet-stream"))]}, 415, ".pdf"),
        ({"files": [("files", ("blank.txt", b"  \n \n", "text/plain"))]}, 422, "blank.txt"),
        (
            {"files": [("files", ("bytes.txt", bytes(range(128, 256)) * 8, "text/plain"))]},
            422,
            "bytes.txt",
        ),
        (
            {"files": [("files", ("broken.pdf", b"%PDF-1.4 broken", "application/pdf"))]},
            422,
            "broken.pdf",
        ),
        (
            {
                "files": [
                    ("files", ("broken.docx", b"PK\x03\x04 not a docx", "application/octet-stream"))
                ]
            },
            422,
            "broken.docx",
        ),
        (
            {
                "files": [
                    ("files", ("同名.txt", "第一份。".encode(), "text/plain")),
                    ("files", ("同名.md", "第二份。".encode(), "text/plain")),
                ]
            },
            422,
            "same doc_id",
        ),
        (
            {"data": {"other": "x"}, "files": [("nofiles", ("a.txt", b"x", "text/plain"))]},
            422,
            "files",
        ),
    ],
)
def test_bad_uploads_are_4xx_and_change_nothing(
    wclient: TestClient, request_kwargs: dict, status: int, mentions: str
) -> None:
    before = state(wclient)
    r = wclient.post("/documents", **request_kwargs)
    assert r.status_code == status, r.text
    assert mentions in r.json()["error"]
    assert state(wclient) == before


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "report.pdf"))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("name", "says"), [("encrypted.pdf", "password"), ("scanned.pdf", "OCR")])
def test_unreadable_pdfs_say_what_to_do(wclient: TestClient, name: str, says: str) -> None:
    data = encrypted_pdf() if name == "encrypted.pdf" else (FIXTURES / name).read_bytes()
    before = state(wclient)
    r = wclient.post("/documents", files=[("files", (name, data, "application/pdf"))])
    assert r.status_code == 422 and name in r.json()["error"] and says in r.json()["error"]
    assert state(wclient) == before


def test_an_upload_over_the_limit_is_413_before_it_is_read(
    write_settings: Settings, wclient: TestClient
) -> None:
    tiny = write_settings.model_copy(update={"max_upload_mb": 0.01})
    engine = wclient.app.state.engine  # the module's library, served with a smaller limit
    with TestClient(create_app(tiny, engine)) as client:
        before = state(client)
        big = io.BytesIO("很长的文档。".encode() * 5000)
        r = client.post("/documents", files=[("files", ("big.txt", big, "text/plain"))])
        assert r.status_code == 413 and "MAX_UPLOAD_MB" in r.json()["error"]
        assert state(client) == before


def test_delete_of_an_unknown_document_is_404(wclient: TestClient) -> None:
    r = wclient.delete("/documents/no-such-doc")
    assert r.status_code == 404 and "GET /documents" in r.json()["error"]


def test_searches_during_uploads_replaces_and_deletes_never_see_old_or_deleted_versions(
    wclient: TestClient,
) -> None:
    """Writers change document `流` through versions; readers must never see a dead version."""
    dead: set[str] = set()
    current: dict[str, str] = {}
    lock = threading.Lock()
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for mode in ("lexical", "hybrid", "dense"):
                with lock:  # versions already replaced or deleted when this request is sent
                    gone = set(dead)
                r = wclient.post("/search", json={"query": "流水版本标记", "k": 10, "mode": mode})
                if r.status_code != 200:
                    errors.append(f"{mode}: {r.status_code} {r.text[:100]}")
                    continue
                seen_dead = {tag for h in r.json()["hits"] for tag in gone if tag in h["text"]}
                if seen_dead:
                    errors.append(f"{mode}: dead versions {seen_dead}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for v in range(12):
            tag = f"版本标记{v:02d}号"
            text = f"流水版本标记文档。{tag}出现在这里。园区建设与流水线。"
            if v % 4 == 3:
                assert wclient.delete("/documents/流").status_code == 204
            else:
                method = wclient.post if v % 2 == 0 else wclient.put
                url = "/documents" if v % 2 == 0 else "/documents/流"
                body = {"doc_id": "流", "text": text} if v % 2 == 0 else {"text": text}
                assert method(url, json=body).status_code in (200, 201)
            with lock:
                dead.update(current.values())
                current = {} if v % 4 == 3 else {"流": tag}
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


@pytest.fixture(scope="module")
def fclient(write_settings: Settings, encoder: Encoder, tmp_path_factory) -> Iterator[TestClient]:
    """Small passages, so each heading of the small fixture files gets passages of its own."""
    fine = write_settings.model_copy(
        update={"chunk_chars": 80, "index_path": tmp_path_factory.mktemp("formats") / "index"}
    )
    engine = open_engine(fine, encoder=encoder, seed_if_empty=False)
    with TestClient(create_app(fine, engine)) as c:
        yield c
    engine.close()


def upload(client: TestClient, name: str, data: bytes) -> dict:
    r = client.post("/documents", files=[("files", (name, data, "application/octet-stream"))])
    assert r.status_code == 201, r.text
    return r.json()["documents"][0]


def top(client: TestClient, query: str, doc_id: str) -> dict:
    r = client.post(
        "/search", json={"query": query, "k": 1, "mode": "lexical", "doc_ids": [doc_id]}
    )
    assert r.status_code == 200
    return r.json()["hits"][0]


def test_html_headings_become_the_section_path_and_furniture_is_gone(fclient: TestClient) -> None:
    doc = upload(fclient, "article.html", (FIXTURES / "article.html").read_bytes())
    assert doc["doc_id"] == "article"
    hit = top(fclient, "常态化开展扫黑除恶斗争", "article")
    assert hit["section"].startswith("二、推进平安建设")
    assert hit["title"] == "湘潭市政法工作会议召开"
    assert "97.6%" in top(fclient, "群众安全感", "article")["text"]  # the table is text too
    passages = fclient.get("/documents/article").json()["passages"]
    texts = [fclient.get(f"/passages/{p['passage_id']}").json()["text"] for p in passages]
    for furniture in ("网站首页", "版权所有", "分享到", "相关新闻", "ICP"):
        assert not any(furniture in t for t in texts), furniture


def test_pdf_passages_carry_their_pages(fclient: TestClient) -> None:
    upload(fclient, "report.pdf", (FIXTURES / "report.pdf").read_bytes())
    detail = fclient.get("/documents/report").json()
    assert detail["format"] == "pdf" and detail["size"] == (FIXTURES / "report.pdf").stat().st_size
    hit = top(fclient, "锻造忠诚干净担当的政法铁军", "report")
    assert hit["section"] == "三、锻造过硬队伍"
    passage = fclient.get(f"/passages/{hit['passage_id']}").json()
    assert passage["pages"] == [2]
    assert [1, 2] in [p["pages"] for p in detail["passages"]]  # a paragraph over the page end


def test_docx_heading_styles_and_tables(fclient: TestClient) -> None:
    import docx

    d = docx.Document()
    d.add_heading("园区年度报告", level=0)
    d.add_heading("一、产业发展", level=1)
    d.add_paragraph("全年新引进项目十二个，其中新能源项目五个，总投资八十亿元。")
    d.add_heading("人才引进", level=2)
    d.add_paragraph("引进博士二十名，建成院士工作站一个。")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "税收收入", "十五亿元"
    table.cell(1, 0).text, table.cell(1, 1).text = "出口总额", "二十亿元"
    out = io.BytesIO()
    d.save(out)
    upload(fclient, "园区报告.docx", out.getvalue())
    hit = top(fclient, "院士工作站", "园区报告")
    assert hit["section"] == "一、产业发展 › 人才引进" and hit["title"] == "园区年度报告"
    assert "十五亿元" in top(fclient, "税收收入", "园区报告")["text"]


@pytest.mark.parametrize(
    ("name", "query", "expected"),
    [("big5.txt", "耒阳篇章", "耒陽篇章"), ("gb18030.txt", "湘潭篇章", "湘潭篇章")],
)
def test_legacy_encodings(fclient: TestClient, name: str, query: str, expected: str) -> None:
    doc = upload(fclient, name, (FIXTURES / name).read_bytes())
    assert expected in top(fclient, query, doc["doc_id"])["text"]  # the original script


def test_markdown_headings(fclient: TestClient) -> None:
    upload(fclient, "notes.md", (FIXTURES / "notes.md").read_bytes())
    assert top(fclient, "人在网中走", "notes")["section"] == "一、坚持党建引领 › 网格化管理"
