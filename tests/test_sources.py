"""Reading real files of every supported format, and refusing bad ones with a useful message.

Fixtures are real files: committed under tests/fixtures/ (made by make_fixtures.py) or, for
.docx and the damaged variants, written here with python-docx and pypdf.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from pypdf import PdfWriter

from embeddings.chunking import ChunkerConfig, Passage, chunk
from embeddings.sources import (
    SUPPORTED_SUFFIXES,
    InvalidDocIdError,
    SourceDocument,
    UnreadableDocumentError,
    UnsupportedFormatError,
    clean_doc_id,
    extract,
    load_directory,
    read_source,
    validate_doc_id,
)
from embeddings.text import PAGE_BREAK, clean

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SIMPLIFIED = "学习贯彻党的二十大精神，奋力谱写中国式现代化的湘潭篇章。"
TRADITIONAL = "學習貫徹黨的二十大精神，奮力譜寫中國式現代化的耒陽篇章。"


def passages(doc: SourceDocument, target: int = 300) -> list[Passage]:
    return chunk(doc.doc_id, clean(doc.text), ChunkerConfig(target_chars=target))


def sections(doc: SourceDocument, target: int = 300) -> set[str]:
    return {p.section for p in passages(doc, target)}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- plain text in the encodings people have ------------------------------------------------


def test_big5_text_is_read_as_big5() -> None:
    data = fixture("big5.txt")
    data.decode("gb18030")  # Big5 bytes decode as GB18030 too (into nonsense): a real choice
    doc = extract("big5.txt", data)
    assert doc.text == TRADITIONAL
    assert (doc.doc_id, doc.format, doc.size, doc.source) == ("big5", "txt", len(data), "big5.txt")


def test_gb18030_text_is_read_as_gb18030() -> None:
    data = fixture("gb18030.txt")
    data.decode("big5")  # and GB18030 bytes decode as Big5: the reading decides
    assert extract("gb18030.txt", data).text == SIMPLIFIED


@pytest.mark.parametrize(
    "data",
    [
        SIMPLIFIED.encode("utf-8"),
        SIMPLIFIED.encode("utf-8-sig"),
        SIMPLIFIED.encode("utf-16"),  # Windows Notepad's "Unicode", with its byte-order mark
    ],
)
def test_unicode_text_with_or_without_bom(data: bytes) -> None:
    assert extract("a.txt", data).text == SIMPLIFIED


def test_markdown_headings_kept_and_nested() -> None:
    doc = read_source(FIXTURES / "notes.md")
    assert (doc.doc_id, doc.format, doc.title) == ("notes", "md", "基层治理工作笔记")
    assert doc.source == str(FIXTURES / "notes.md")
    assert "## 一、坚持党建引领" in doc.text
    # The headings as the file lists them, with the 一是/二是 items of the first section.
    assert sections(doc, 60) == {
        "",
        "一、坚持党建引领",
        "一、坚持党建引领 › 一是建强村级班子",
        "一、坚持党建引领 › 二是规范议事程序",
        "一、坚持党建引领 › 网格化管理",
        "二、做实为民服务",
    }


# --- HTML -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_doc() -> SourceDocument:
    return read_source(FIXTURES / "article.html")


def test_html_title_and_headings(html_doc: SourceDocument) -> None:
    assert html_doc.title == "湘潭市政法工作会议召开"  # <title> without the site's name
    assert html_doc.format == "html"
    assert clean(html_doc.text).title == "湘潭市政法工作会议召开"
    assert sections(html_doc, 100) >= {
        "一、提高政治站位",
        "一、提高政治站位 › （一）加强理论武装",
        "二、推进平安建设",
        "二、推进平安建设 › 一是常态化开展扫黑除恶斗争",
    }


@pytest.mark.parametrize(
    "furniture",
    [
        "网站首页",
        "联系我们",
        "时政要闻",
        "分享到",
        "微博",
        "QQ空间",
        "版权所有",
        "ICP备",
        "网站地图",
    ],
)
def test_html_navigation_share_buttons_and_footer_gone(
    html_doc: SourceDocument, furniture: str
) -> None:
    assert furniture in fixture("article.html").decode()
    assert furniture not in html_doc.text


@pytest.mark.parametrize(
    ("meta", "encoding", "body"),
    [
        ("", "big5", TRADITIONAL + "朱鎔基同志。"),  # no declaration: read like a text file
        ('<meta charset="gb2312">', "gbk", SIMPLIFIED + "朱镕基同志。"),  # 镕 is GBK, not GB2312
        ('<meta charset="utf-8">', "utf-8", SIMPLIFIED),
    ],
)
def test_html_in_chinese_encodings(meta: str, encoding: str, body: str) -> None:
    page = f"<html><head>{meta}<title>通知</title></head><body><article><p>{body}</p></article>"
    assert body in extract("page.html", page.encode(encoding)).text


def test_html_table_rows_are_searchable_text(html_doc: SourceDocument) -> None:
    texts = [p.text for p in passages(html_doc, 100)]
    assert any("群众安全感 | 97.6% | 98.5%" in t for t in texts)


# --- DOCX -----------------------------------------------------------------------------------


def make_docx() -> bytes:
    """A report as Word makes it: Title and Heading styles, a WPS-style 标题 2, a table."""
    document = Document()
    document.add_heading("湘潭市政法工作会议纪要", level=0)
    document.add_paragraph("会议强调，要深入学习贯彻党的二十大精神，奋力开创政法工作新局面。")
    document.add_heading("一、提高政治站位", level=1)
    document.add_paragraph("要把学习贯彻党的二十大精神作为首要政治任务，引导干警深刻领悟。")
    document.add_heading("（一）加强理论武装", level=2)
    document.add_paragraph("一是组织全员轮训。确保学习全覆盖。二是开展专题研讨。推动学习走深走实。")
    document.add_heading("二、推进平安建设", level=1)
    document.add_paragraph("坚持和发展新时代“枫桥经验”，健全矛盾纠纷多元化解机制。")
    table = document.add_table(rows=3, cols=3)
    rows = [
        ("指标", "2021年", "2022年"),
        ("群众安全感", "97.6%", "98.5%"),
        ("化解率", "95.2%", "96.8%"),
    ]
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    wps_heading = document.styles.add_style("标题 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_heading("三、锻造过硬队伍", level=1)
    document.add_paragraph("（一）从严治警", style=wps_heading)
    document.add_paragraph("坚持政治建警、从严治警，锻造忠诚干净担当的政法铁军。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def docx_doc() -> SourceDocument:
    return extract("会议纪要.docx", make_docx())


def test_docx_heading_styles_become_sections(docx_doc: SourceDocument) -> None:
    assert (docx_doc.doc_id, docx_doc.format, docx_doc.title) == (
        "会议纪要",
        "docx",
        "湘潭市政法工作会议纪要",
    )
    assert clean(docx_doc.text).title == "湘潭市政法工作会议纪要"
    # The outline a reader sees in Word's navigation pane, plus the 一是/二是 items.
    assert sections(docx_doc, 40) == {
        "",
        "一、提高政治站位",
        "一、提高政治站位 › （一）加强理论武装",
        "一、提高政治站位 › （一）加强理论武装 › 一是组织全员轮训",
        "一、提高政治站位 › （一）加强理论武装 › 二是开展专题研讨",
        "二、推进平安建设",
        "三、锻造过硬队伍",
        "三、锻造过硬队伍 › （一）从严治警",
    }


def test_docx_table_rows_are_text(docx_doc: SourceDocument) -> None:
    assert "群众安全感 | 97.6% | 98.5%" in docx_doc.text
    assert any("群众安全感 | 97.6% | 98.5%" in p.text for p in passages(docx_doc, 40))


# --- PDF ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_doc() -> SourceDocument:
    return read_source(FIXTURES / "report.pdf")


def test_pdf_pages_are_form_feed_separated_and_running_lines_gone(pdf_doc: SourceDocument) -> None:
    assert pdf_doc.format == "pdf" and pdf_doc.doc_id == "report"
    assert pdf_doc.text.count(PAGE_BREAK) == 1  # two pages
    assert "湘潭政法 · 工作简报" not in pdf_doc.text  # running header on both pages
    assert "第 1 页" not in pdf_doc.text and "第 2 页" not in pdf_doc.text


def test_pdf_lines_rejoined_into_paragraphs(pdf_doc: SourceDocument) -> None:
    doc = clean(pdf_doc.text)
    assert doc.title == "湘潭市政法工作会议纪要"
    texts = [b.text for b in doc.blocks]
    assert "一、提高政治站位" in texts and "三、锻造过硬队伍" in texts
    assert "做到“两个维护”。" in doc.text  # printed across a line end
    # The sentence cut by the page end reads whole, and page 2 begins inside it.
    assert "完善社会治理体系" in doc.text
    assert doc.page_starts == [doc.text.index("治理体系")]


def test_pdf_passages_know_their_pages(pdf_doc: SourceDocument) -> None:
    found = passages(pdf_doc, 60)

    def passage_with(words: str) -> Passage:
        return next(p for p in found if words in p.text)

    assert passage_with("会议强调").pages == (1,)
    assert passage_with("完善社会治理体系").pages == (1, 2)  # runs over the page end
    assert passage_with("政法铁军").pages == (2,)
    assert passage_with("完善社会治理体系").section == "二、推进平安建设"
    assert passage_with("政法铁军").section == "三、锻造过硬队伍"


def test_pdf_traditional_cid_font() -> None:
    # MSung-Light through the UniCNS-UCS2-H CMap: pdfminer and MuPDF read this as garbage.
    assert read_source(FIXTURES / "traditional.pdf").text == TRADITIONAL


def test_pdf_with_empty_user_password_is_read() -> None:
    writer = PdfWriter(clone_from=FIXTURES / "report.pdf")
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert "枫桥经验" in extract("restricted.pdf", out.getvalue()).text


# --- bad input --------------------------------------------------------------------------------


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=FIXTURES / "report.pdf")
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=300)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("空.txt", b"", ["空.txt", "empty"]),
        ("spaces.txt", b" \n\t\r\n\xe3\x80\x80 ", ["spaces.txt", "only white space"]),
        ("spaces.md", "\ufeff   \n".encode(), ["only white space"]),
        (
            "bad.txt",
            SIMPLIFIED.encode("gb18030") + b"\xff\xfe\x80",
            ["UTF-8, GB18030 or Big5", "save"],
        ),
        ("bin.txt", b"\x00\x01\x02binary\x00" * 20, ["binary", "plain text"]),
        # UTF-8 cut short mid-character: still decodes as GB18030, into nonsense
        ("cut.txt", SIMPLIFIED.encode()[:-2], ["UTF-8", "damaged or cut short"]),
        ("secret.pdf", encrypted_pdf(), ["secret.pdf", "password", "without a password"]),
        ("scan.pdf", fixture("scanned.pdf"), ["scan.pdf", "no text layer", "OCR"]),
        ("blank.pdf", blank_pdf(), ["no text layer", "OCR"]),
        (
            "broken.pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nbroken",
            ["broken.pdf", "not a readable PDF"],
        ),
        (
            "cut.pdf",
            fixture("report.pdf")[:1500],
            ["cut.pdf", "not a readable PDF", "save it again"],
        ),
        ("notpdf.pdf", b"<html>not a pdf</html>", ["not a readable PDF"]),
        ("broken.docx", b"PK\x03\x04 broken zip", ["broken.docx", "not a readable .docx"]),
        ("cut.docx", make_docx()[:3000], ["not a readable .docx", "save it again"]),
        ("old.docx", fixture("report.pdf"), ["not a readable .docx"]),
        (
            "app.html",  # a page its JavaScript fills in: nothing to read without it
            b"<html><head><title>App</title><script>load()</script></head>"
            b"<body><div id='root'></div></body></html>",
            ["app.html", "no readable text", "save the article's text"],
        ),
    ],
)
def test_unreadable_input_says_which_file_what_and_what_to_do(
    name: str, data: bytes, words: list[str]
) -> None:
    with pytest.raises(UnreadableDocumentError) as err:
        extract(name, data)
    for word in words:
        assert word in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.TXT", "txt"), ("a.markdown", "md"), ("a.htm", "html"), ("a.HTML", "html")]
)
def test_suffixes_in_any_case(name: str, fmt: str) -> None:
    page = f"<html><body><article><p>{SIMPLIFIED}</p></article></body></html>"
    assert extract(name, page.encode() if fmt == "html" else SIMPLIFIED.encode()).format == fmt


@pytest.mark.parametrize("name", ["表格.xlsx", "old.doc", "README", "slides.pptx", "a.txt.gz"])
def test_unsupported_suffix_names_the_supported_ones(name: str) -> None:
    with pytest.raises(UnsupportedFormatError) as err:
        extract(name, b"data")
    message = str(err.value)
    assert name in message
    assert all(suffix in message for suffix in SUPPORTED_SUFFIXES)


# --- doc ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "doc_id"),
    [
        ("000_a964bad20ebf15e6.txt", "000_a964bad20ebf15e6"),
        ("湘潭 会议纪要（2023）.docx", "湘潭_会议纪要_2023"),
        ("學習貫徹.pdf", "學習貫徹"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\报告.v2.md", "报告.v2"),
        ("a..b.txt", "a.b"),
        ("report-final_1.html", "report-final_1"),
        ("a\x00b\tc.txt", "a_b_c"),
    ],
)
def test_clean_doc_id(filename: str, doc_id: str) -> None:
    assert clean_doc_id(filename) == doc_id


@pytest.mark.parametrize(
    "filename", ["???.txt", ".txt", "..", "", "x" * 300 + ".txt", "  .. / .. .md", "\u202e.txt"]
)
def test_clean_doc_id_is_always_valid(filename: str) -> None:
    doc_id = clean_doc_id(filename)
    assert validate_doc_id(doc_id) == doc_id
    assert len(doc_id) <= 200


@pytest.mark.parametrize(
    ("doc_id", "why"),
    [
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "'..'"),
        ("../etc", "path separator"),
        ("a..b", "'..'"),
        ("a\x00b", "U+0000"),
        ("a\nb", "U+000A"),
        ("a\u200bb", "U+200B"),
        ("", "empty"),
        ("   ", "empty"),
        (" a", "white space"),
        ("x" * 201, "201 characters"),
    ],
)
def test_bad_doc_ids_are_refused_with_the_reason(doc_id: str, why: str) -> None:
    with pytest.raises(InvalidDocIdError) as err:
        validate_doc_id(doc_id)
    assert why in str(err.value)
    assert "at most 200 characters" in str(err.value)
    with pytest.raises(InvalidDocIdError):
        extract("a.txt", b"text", doc_id=doc_id)


@pytest.mark.parametrize("doc_id", ["000_a964bad20ebf15e6", "湘潭_会议纪要", "v1.2", "x" * 200])
def test_good_doc_ids_pass(doc_id: str) -> None:
    assert validate_doc_id(doc_id) == doc_id
    assert extract("a.txt", "正文。".encode(), doc_id=doc_id).doc_id == doc_id


# --- directories ------------------------------------------------------------------------------


def test_seed_directory_keeps_the_stems_as_doc_ids() -> None:
    documents, skipped = load_directory(SEEDS)
    assert skipped == []
    assert [d.doc_id for d in documents] == sorted(p.stem for p in SEEDS.glob("*.txt"))
    for d in documents:
        path = SEEDS / f"{d.doc_id}.txt"
        assert d.text == path.read_text(encoding="utf-8")
        assert (d.source, d.format, d.size) == (str(path), "txt", path.stat().st_size)


def test_directory_with_mixed_files(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "notes.md", tmp_path / "notes.md")
    shutil.copy(FIXTURES / "big5.txt", tmp_path / "notes.txt")  # same doc_id as notes.md
    shutil.copy(FIXTURES / "report.pdf", tmp_path / "report.pdf")
    (tmp_path / "sub").mkdir()
    shutil.copy(FIXTURES / "article.html", tmp_path / "sub" / "新闻 稿.html")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.txt").write_text("ref")

    documents, skipped = load_directory(tmp_path)
    assert [d.doc_id for d in documents] == ["notes", "report", "新闻_稿"]
    assert [d.format for d in documents] == ["md", "pdf", "html"]
    reasons = {path.name: reason for path, reason in skipped}
    assert set(reasons) == {"notes.txt", "sheet.xlsx", "empty.txt"}
    assert "already used by" in reasons["notes.txt"] and "notes.md" in reasons["notes.txt"]
    assert "not supported" in reasons["sheet.xlsx"]
    assert "empty" in reasons["empty.txt"]

    flat, _ = load_directory(tmp_path, recursive=False)
    assert [d.doc_id for d in flat] == ["notes", "report"]
