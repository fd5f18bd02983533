"""The page at `/` in a real browser: Debian's Chromium, headless, driven by Playwright, against
the real app, model and index served by uvicorn on a free loopback port.

The server gets its own index of the seeds (plus a hostile document) so uploads and deletes
here never change the shared seed index other tests count on.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from embeddings.engine import SourceDocument
from embeddings.text import compact
from service.app import create_app
from service.factory import open_engine
from service.settings import Settings

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the `browser` fixture as a failure, never skipped
    expect = sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL = "apt-get install chromium fonts-wqy-zenhei"
API_KEY = "page-test-key"
TIMEOUT_MS = 20_000

XSS_ID = "xss_0000000000000000"
# Markup that would run if the page ever parsed document text as HTML, and astral characters
# (𨋢, 𠀀: two UTF-16 units each) before a marked term, which shift UTF-16 offsets.
XSS_TEXT = (
    '<img src=x onerror="window.__xss=1">防注入测试文档<script>window.__xss=2</script>\n\n'
    "这份文件检验页面是否把文档内容当作纯文本显示：<b>粗体</b>标签、"
    '<img src=x onerror="window.__xss=3">图片和<script>window.__xss=4</script>脚本都必须原样显示。'
    "𨋢𨋢𠀀里面的防注入检验码是青瓷鹦鹉七号，请记住它。\n"
)
UPLOAD_NAME = "page_upload_test.txt"
UPLOAD_TEXT = (
    "白鹭洲试验田的水稻新品种\n\n"
    "白鹭洲试验田今年试种的水稻新品种名叫金穗九号，亩产比老品种高出一成。"
    "农技站把金穗九号的种植要点编成了口诀，发给每一户种粮农民。\n"
)
# Over SYNC_PASSAGES (2 here): indexed as a job (202), followed by the page until done.
JOB_NAME = "page_upload_job.md"
JOB_TEXT = "青石镇的三项民生工程\n\n" + "\n\n".join(
    f"{n}、{what}\n" + f"青石镇{what}，{detail}。" * 6
    for n, what, detail in [
        ("一", "改造老旧供水管网", "全镇四十二个村民小组通上了稳定的自来水"),
        ("二", "修缮乡村公路", "新修的水泥路把最远的山村和集镇连在一起"),
        ("三", "建设日间照料中心", "独居老人白天有人照看，中午有热饭吃"),
    ]
)
UPLOAD_QUESTION = "白鹭洲试验田试种的水稻新品种叫什么？"


# -- the server ---------------------------------------------------------------------------------


class Server:
    """uvicorn serving `app` in a thread, on a loopback port picked by the OS."""

    def __init__(self, app) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def page_engine(settings: Settings, encoder, tmp_path_factory):
    engine = open_engine(settings, tmp_path_factory.mktemp("page-index"), encoder)
    engine.add_documents([SourceDocument(XSS_ID, XSS_TEXT, "xss.txt")])
    yield engine
    if hasattr(engine, "close"):
        engine.close()


@pytest.fixture(scope="module")
def base_url(settings: Settings, page_engine) -> Iterator[str]:
    keyed = settings.model_copy(update={"api_key": SecretStr(API_KEY), "sync_passages": 2})
    with Server(create_app(keyed, page_engine)) as server:
        yield server.url


@pytest.fixture(scope="module")
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.fail("the browser tests need Playwright: .venv/bin/pip install playwright")
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's Chromium at {CHROMIUM}: {INSTALL}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def open_page(browser, base_url: str, width: int = 1280, height: int = 900):
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}, locale="zh-CN"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    # CSP violations and script errors; failed API calls (4xx) are expected in some tests.
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    return context, page, problems


@pytest.fixture
def page(browser, base_url: str):
    context, page, problems = open_page(browser, base_url)
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def narrow(browser, base_url: str):
    context, page, problems = open_page(browser, base_url, width=375, height=740)
    yield page
    context.close()
    assert not problems, problems


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def no_raw_json(text: str) -> None:
    assert "{" not in text and '"error"' not in text, text


# -- HTTP ---------------------------------------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_csp(api: httpx.Client) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script" in r.text and "cdn" not in r.text.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), "no inline script"
    js = api.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    for bad in ("/static/nope.js", "/static/..%2Fapp.py", "/static/index.html", "/static/%2e%2e"):
        assert api.get(bad).status_code == 404, bad
    t2s = api.get("/static/t2s.json").json()
    mapping = dict(zip(t2s["from"], t2s["to"], strict=True))
    assert mapping["車"] == "车" and mapping["產"] == "产"


# -- Ask ----------------------------------------------------------------------------------------


def test_ask_in_simplified_by_keyboard_marks_the_answer(page) -> None:
    page.goto("/")
    # The box has focus on arrival: type, Enter; no mouse.
    page.keyboard.type("湘潭要狠抓落实哪项人才政策？")
    page.keyboard.press("Enter")
    card = page.locator(".answer-card")
    card.locator("blockquote").wait_for()
    assert "人才政策" in card.locator("blockquote").inner_text()
    assert card.get_by_role("heading").inner_text() == "答案"
    assert card.locator(".doc-title").inner_text().startswith("坚持以党的二十大精神为指引")
    assert card.locator(".section li").count() >= 1
    first = page.locator(".hit").first
    answer = first.locator("mark.answer")
    assert answer.count() == 1 and "人才政策" in answer.inner_text()
    assert first.locator("mark.term").count() > 0
    query = query_of(page)
    assert query["q"] == ["湘潭要狠抓落实哪项人才政策？"] and query["mode"] == ["hybrid"]
    # Focus moves on by keyboard and is visible.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.tagName, s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused[0] == "BUTTON" and focused[1] == "solid" and focused[2] != "0px", focused
    # The link reloads the same search.
    page.reload()
    page.locator(".answer-card blockquote").wait_for()
    assert "人才政策" in page.locator(".answer-card blockquote").inner_text()
    assert page.locator("#q").input_value() == "湘潭要狠抓落实哪项人才政策？"


def test_ask_in_traditional_keeps_the_original_script(page) -> None:
    page.goto("/?q=耒陽著力打造哪五大產業？&mode=hybrid&k=5")
    card = page.locator(".answer-card blockquote")
    card.wait_for()
    assert "紙品、童車" in card.inner_text()  # the document's own script, not converted
    assert page.locator(".answer-card .doc-title").inner_text().startswith("推動黨的二十大精神")
    first = page.locator(".hit").first
    assert "紙品" in first.locator("mark.answer").inner_text()
    assert "二、堅持發展為要" in first.locator(".section").inner_text()
    # The answer link opens the passage with the answer marked in it.
    page.locator(".answer-link").click()
    page.locator(".current mark.answer").wait_for()
    assert "紙品、童車" in page.locator(".current mark.answer").inner_text()
    assert "passage" in query_of(page)


def test_mode_switch_filter_and_score_parts(page, api: httpx.Client) -> None:
    page.goto("/?q=银发人才&mode=hybrid")
    page.locator(".hit").first.wait_for()
    page.get_by_label("关键词", exact=True).check()  # a new mode re-runs the question
    page.wait_for_url(re.compile(r"mode=lexical"))
    page.locator(".hit").first.wait_for()
    scores = page.locator(".hit").first.locator("details.scores")
    scores.locator("summary").click()
    parts = scores.locator("ul").inner_text()
    assert "BM25" in parts and "语义" not in parts
    page.get_by_label("混合", exact=True).check()
    page.wait_for_url(re.compile(r"mode=hybrid"))
    page.locator(".hit").first.wait_for()
    scores = page.locator(".hit").first.locator("details.scores")
    scores.locator("summary").click()
    assert "BM25" in scores.inner_text() and "语义" in scores.inner_text()
    # Only one document, chosen in the filter.
    docs = api.get("/documents").json()["documents"]
    target = next(d for d in docs if d["doc_id"].startswith("003_"))
    page.locator(".docfilter summary").click()
    page.locator(f"input[name=doc][value='{target['doc_id']}']").check()
    page.wait_for_url(re.compile(r"doc=003_"))
    page.locator(".hit").first.wait_for()
    titles = page.locator(".hit h3").all_inner_texts()
    assert titles and all(t == target["title"] for t in titles)


def test_unanswerable_question_says_why_plainly(page) -> None:
    page.goto("/?q=今天北京的天气怎么样？&mode=hybrid")
    card = page.locator(".answer-card.none")
    card.wait_for()
    assert "没有找到答案" in card.inner_text()
    reason = card.locator(".reason").inner_text()
    assert reason and "threshold" not in reason  # said in the interface language
    no_raw_json(reason)


def test_interface_language_switch(page) -> None:
    page.goto("/?q=耒陽著力打造哪五大產業？")
    page.locator(".answer-card blockquote").wait_for()
    page.get_by_label("界面语言").select_option("zh-Hant")
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    assert page.get_by_role("link", name="文件庫").is_visible()
    assert page.locator(".answer-card h2").inner_text() == "答案"
    page.get_by_label("介面語言").select_option("en")
    assert page.locator(".answer-card h2").inner_text() == "Answer"
    assert page.get_by_role("button", name="Ask").is_visible()
    assert "紙品、童車" in page.locator(".answer-card blockquote").inner_text()  # data untouched
    page.reload()
    assert page.get_by_role("link", name="Library").is_visible()  # remembered


# -- Read ---------------------------------------------------------------------------------------


def leiyang_passage(api: httpx.Client) -> dict:
    return api.post("/search", json={"query": "耒阳着力打造哪五大产业？", "k": 1}).json()["hits"][0]


def test_passage_view_links_on_to_similar_passages(page, api: httpx.Client) -> None:
    hit = leiyang_passage(api)
    page.goto(f"/?passage={hit['passage_id']}")
    page.locator(".current .passage-text").wait_for()
    assert page.locator("h1").inner_text() == hit["title"]
    assert page.locator(".current .passage-text").inner_text().strip() == hit["text"].strip()
    similar = page.locator(".similar-list li a.similar-title")
    similar.first.wait_for()
    expected = api.post("/similar", json={"passage_id": hit["passage_id"], "k": 5}).json()["hits"]
    assert similar.count() == len(expected)
    similar.first.click()
    page.wait_for_url(re.compile(expected[0]["passage_id"]))
    page.locator(".current .passage-text").wait_for()
    assert (
        page.locator(".current .passage-text").inner_text().strip() == expected[0]["text"].strip()
    )
    page.go_back()
    page.wait_for_url(re.compile(hit["passage_id"]))
    page.locator(".current .passage-text").wait_for()


def test_passage_view_shows_the_neighbouring_passages(page, api: httpx.Client) -> None:
    hit = leiyang_passage(api)
    around = api.get(f"/passages/{hit['passage_id']}/neighbours", params={"n": 2}).json()
    page.goto(f"/?passage={hit['passage_id']}")
    page.locator(".context.after .neighbour").first.wait_for()
    before = page.locator(".context.before .neighbour .passage-text").all_inner_texts()
    after = page.locator(".context.after .neighbour .passage-text").all_inner_texts()
    assert [t.strip() for t in before] == [p["text"].strip() for p in around["before"]]
    assert [t.strip() for t in after] == [p["text"].strip() for p in around["after"]]


def test_api_errors_read_as_sentences(page) -> None:
    page.goto("/?passage=doesnotexist")
    error = page.locator(".error[role=alert]")
    error.wait_for()
    assert "找不到" in error.inner_text() and "doesnotexist" in error.inner_text()
    no_raw_json(error.inner_text())


# -- Hostile documents --------------------------------------------------------------------------


def test_markup_in_a_document_stays_text(page, api: httpx.Client) -> None:
    found = api.post("/search", json={"query": "青瓷鹦鹉七号", "mode": "lexical"}).json()["hits"]
    source = next(h for h in found if "青瓷鹦鹉" in h["text"])
    assert "𨋢" in source["text"]
    # Python offsets count code points; the page must not slice UTF-16 units with them.
    terms = [source["text"][s["start"] : s["end"]] for s in source["highlights"]]
    page.goto("/?q=青瓷鹦鹉七号&mode=lexical")
    hit = page.locator(".hit").filter(has_text="青瓷鹦鹉").first
    hit.wait_for()
    text = hit.locator(".passage-text").inner_text()
    assert '<img src=x onerror="window.__xss=3">' in text and "<script>" in text
    assert "<b>粗体</b>" in text
    # The terms are marked exactly, though astral characters come before them.
    assert hit.locator("mark.term").all_inner_texts() == terms and terms
    hit.locator("h3 a").click()
    page.locator(".current .passage-text").wait_for()
    page.goto("/?view=library")
    page.locator(".doc-item").first.wait_for()
    assert (
        page.locator(".doc-title", has_text="<img").count()
        + page.locator(".doc-title", has_text="防注入测试文档").count()
        >= 1
    )
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("main img, main script, main b").count() == 0


# -- Library (writes) ---------------------------------------------------------------------------


def drop_files(page, files: dict[str, str]) -> None:
    """Drop files on the drop zone as a user dragging them from the desktop would."""
    transfer = page.evaluate_handle(
        "(files) => { const dt = new DataTransfer();"
        " for (const [name, text] of Object.entries(files))"
        "   dt.items.add(new File([text], name, { type: 'text/plain' }));"
        " return dt; }",
        files,
    )
    page.dispatch_event(".dropzone", "drop", {"dataTransfer": transfer})


def enter_key(page, key: str) -> None:
    page.get_by_role("textbox", name="API 密钥").fill(key)
    page.get_by_role("button", name="保存密钥").click()
    page.get_by_text("这个标签页已设置 API 密钥。").wait_for()


def test_upload_find_and_delete_a_document(page, api: httpx.Client) -> None:
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: (
            statuses.append(r.status)
            if r.request.method == "POST" and r.url.endswith("/documents")
            else None
        ),
    )
    page.goto("/?view=library")
    enter_key(page, API_KEY)
    drop_files(page, {UPLOAD_NAME: UPLOAD_TEXT, JOB_NAME: JOB_TEXT})
    reports = page.locator(".upload-row .report")
    expect(reports).to_have_count(2, timeout=60_000)  # the job embeds on a busy CPU
    assert all("已添加" in r for r in reports.all_inner_texts()), reports.all_inner_texts()
    assert sorted(statuses) == [201, 202]  # one answered at once, one followed as a job
    doc_ids = reports.locator("a").all_inner_texts()
    try:
        page.goto(f"/?q={UPLOAD_QUESTION}&mode=hybrid")
        page.locator(".answer-card blockquote").wait_for()
        assert "金穗九号" in page.locator(".answer-card blockquote").inner_text()
        assert page.locator(".hit h3").first.inner_text() == "白鹭洲试验田的水稻新品种"
        page.goto("/?view=library")
        item = page.locator(".doc-item", has_text="白鹭洲试验田的水稻新品种")
        item.wait_for()
        item.get_by_role("button").click()
        dialog = page.locator("dialog#confirm")
        assert dialog.is_visible() and "白鹭洲试验田的水稻新品种" in dialog.inner_text()
        dialog.get_by_role("button", name="删除").click()
        page.locator(".lib-message .ok").wait_for()
        expect(item).to_have_count(0)
        deleted = next(d for d in doc_ids if "upload_test" in d)
        assert api.get(f"/documents/{deleted}").status_code == 404
    finally:
        for doc_id in doc_ids:
            api.delete(f"/documents/{doc_id}", headers={"X-API-Key": API_KEY})
    for doc_id in doc_ids:
        assert api.get(f"/documents/{doc_id}").status_code == 404


def test_wrong_api_key_reads_as_a_sentence(page) -> None:
    page.goto("/?view=library")
    enter_key(page, "not-the-key")
    with page.expect_file_chooser() as chooser:  # the file picker this time
        page.get_by_role("button", name="选择文件").click()
    chooser.value.set_files(
        {"name": "wrong_key.txt", "mimeType": "text/plain", "buffer": "不应收录。".encode()}
    )
    error = page.locator(".upload-row .error[role=alert]")
    error.wait_for()
    assert "API 密钥不正确" in error.inner_text()
    no_raw_json(error.inner_text())


# -- Evaluate -----------------------------------------------------------------------------------


def test_evaluate_scores_a_question_file_like_the_cli(page, api: httpx.Client) -> None:
    hit = leiyang_passage(api)
    questions = [
        # Traditional question, Simplified answer about a Traditional document: script-blind.
        {
            "id": "q1",
            "question": "耒陽著力打造哪五大產業？",
            "answers": ["纸品、童车"],
            "relevant_docs": [hit["doc_id"]],
        },
        {"id": "q2", "question": "湘潭要狠抓落实哪项人才政策？", "answers": ["“1+23” 人才政策"]},
        {
            "id": "q3",
            "question": "Which industries does Leiyang build?",
            "relevant_passages": [hit["passage_id"]],
        },
    ]
    page.goto("/?view=eval")
    page.get_by_label("问题文件（JSONL）").set_input_files(
        {"name": "bad.jsonl", "mimeType": "application/json", "buffer": b'{"id": 1}\nnot json\n'}
    )
    assert "第 1 行" in page.locator(".parsed .error").inner_text()
    assert "第 2 行" in page.locator(".parsed .error").inner_text()
    body = "\n".join(json.dumps(q, ensure_ascii=False) for q in questions).encode()
    page.get_by_label("问题文件（JSONL）").set_input_files(
        {"name": "q.jsonl", "mimeType": "application/json", "buffer": body}
    )
    page.get_by_text("读取了 3 个问题。").wait_for()
    page.get_by_role("button", name="开始评测").click()
    table = page.locator(".scores-table")
    table.wait_for()
    assert page.locator("svg.chart rect.bar").count() == 9
    # The same judgement in Python, with the server's own normalisation.
    for mode in ("hybrid", "dense", "lexical"):
        results = api.post(
            "/search/batch",
            json={"queries": [q["question"] for q in questions], "k": 10, "mode": mode},
        ).json()["results"]
        ranks = []
        for q, res in zip(questions, results, strict=True):
            rank = None
            for r, h in enumerate(res["hits"], 1):
                if h["passage_id"] in q.get("relevant_passages", []) or (
                    (q.get("answers") or q.get("relevant_docs"))
                    and (not q.get("relevant_docs") or h["doc_id"] in q["relevant_docs"])
                    and (
                        not q.get("answers")
                        or any(compact(a) in compact(h["text"]) for a in q["answers"])
                    )
                ):
                    rank = r
                    break
            ranks.append(rank)
        hit1 = sum(r == 1 for r in ranks) / 3
        mrr = sum(1 / r for r in ranks if r) / 3
        label = {"hybrid": "混合", "dense": "语义", "lexical": "关键词"}[mode]
        cells = table.locator("tr", has=page.locator(f"th:text-is('{label}')")).locator("td")
        assert cells.nth(0).inner_text() == f"{hit1:.3f}", mode
        assert cells.nth(2).inner_text() == f"{mrr:.3f}", mode
        assert cells.nth(3).inner_text() == "3"


# -- Small screens ------------------------------------------------------------------------------


def test_no_horizontal_scroll_at_375_px(narrow, api: httpx.Client) -> None:
    hit = leiyang_passage(api)
    views = [
        ("/?q=耒陽著力打造哪五大產業？&mode=hybrid", ".hit"),
        (f"/?passage={hit['passage_id']}", ".similar-list li"),
        ("/?view=library", ".doc-item"),
        (f"/?document={hit['doc_id']}", ".toc li"),
        ("/?view=eval", "#qfile"),
    ]
    for url, ready in views:
        narrow.goto(url)
        narrow.locator(ready).first.wait_for()
        width = narrow.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], (url, width)
