"""Reading the documents people have (.txt/.md, .html, .docx, .pdf) as text for the cleaner.

Every format becomes text in one convention, so the same cleaning (`embeddings.text.clean`)
runs on all of them: headings are Markdown `#` lines, whose level is their nesting, and a
PDF's pages are separated by a form feed, so page numbers survive cleaning. Every failure is
a `SourceError` (a ValueError) whose message names the file, what is wrong and what to do.

Over 300 lines on purpose: one short reader per format behind `extract`, sharing the
decoding, paragraph and doc_id rules; one place says what a document is.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from embeddings.text import CLOSERS, PAGE_BREAK, TERMINAL, heading_level, heading_text, word_share

if TYPE_CHECKING:
    from lxml.etree import _Element

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf")
_FORMATS = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".pdf": "pdf",
}
MAX_DOC_ID_CHARS = 200
MAX_HEADING_LEVEL = 4  # deeper headings (h5, Heading 5) read as ordinary lines


class SourceError(ValueError):
    """A document that cannot be taken in; the message says what to do about it."""


class UnsupportedFormatError(SourceError):
    """The file's type is not one we read."""


class UnreadableDocumentError(SourceError):
    """The file is of a supported type but yields no usable text."""


class InvalidDocIdError(SourceError):
    """A doc_id that would be unsafe as a name (paths, control characters, length)."""


@dataclass(frozen=True)
class SourceDocument:
    """A document as text for the cleaner: headings as `#` lines, pages split by a form feed."""

    doc_id: str
    text: str
    source: str = ""
    title: str | None = None
    format: str = "txt"
    size: int = 0  # bytes of the original file


# --- doc ids ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.\-]+")  # \w is Unicode: Chinese characters are kept
_CONTROL = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def clean_doc_id(filename: str) -> str:
    """A safe doc_id from a file name: its stem, with runs of other characters as `_`."""
    name = re.split(r"[\\/]", filename)[-1]
    stem = unicodedata.normalize("NFC", PurePath(name).stem if name else "")
    cleaned = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", stem)).strip("._")
    cleaned = cleaned[:MAX_DOC_ID_CHARS].rstrip("._")
    return cleaned or "doc_" + hashlib.sha1(filename.encode()).hexdigest()[:12]


def validate_doc_id(doc_id: str) -> str:
    """`doc_id` itself when it is safe to use as a name, else InvalidDocIdError saying why."""
    problem = _doc_id_problem(doc_id)
    if problem:
        shown = doc_id if len(doc_id) <= 40 else doc_id[:40] + "…"
        raise InvalidDocIdError(
            f"doc_id {shown!r} {problem}; use letters, digits, Chinese characters, '_', '-' "
            f"and '.', at most {MAX_DOC_ID_CHARS} characters"
        )
    return doc_id


def _doc_id_problem(doc_id: str) -> str | None:
    if not isinstance(doc_id, str):
        return "is not a string"
    if not doc_id.strip():
        return "is empty"
    if len(doc_id) > MAX_DOC_ID_CHARS:
        return f"is {len(doc_id)} characters long"
    if "/" in doc_id or "\\" in doc_id:
        return "contains a path separator ('/' or '\\')"
    if ".." in doc_id:
        return "contains '..'"
    for ch in doc_id:
        if unicodedata.category(ch) in _CONTROL:
            return f"contains the control character U+{ord(ch):04X}"
    if doc_id != doc_id.strip():
        return "starts or ends with white space"
    return None


# --- dispatch ---------------------------------------------------------------------------------


def extract(filename: str, data: bytes, doc_id: str | None = None) -> SourceDocument:
    """The text of a user's file, chosen by its suffix; `doc_id` defaults to the file's name."""
    name = re.split(r"[\\/]", filename)[-1] or filename
    suffix = PurePath(name).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        kind = f"'{suffix}' files" if suffix else "files without a suffix"
        raise UnsupportedFormatError(
            f"{name}: {kind} are not supported; convert it to one of "
            f"{', '.join(SUPPORTED_SUFFIXES)} and try again"
        )
    doc_id = validate_doc_id(doc_id) if doc_id is not None else clean_doc_id(name)
    if not data:
        raise UnreadableDocumentError(
            f"{name} is empty (0 bytes); choose the file that holds the document's text"
        )
    title: str | None = None
    if fmt in ("txt", "md"):
        text = _decode(name, data)
        if fmt == "md":
            title = _markdown_title(text)
    elif fmt == "html":
        text, title = _html(name, data)
    elif fmt == "docx":
        text, title = _docx(name, data)
    else:
        text, title = _pdf(name, data)
    if not text.strip():
        raise UnreadableDocumentError(
            f"{name} contains only white space; there is no text to index in it"
        )
    return SourceDocument(doc_id, text, filename, title, fmt, len(data))


def read_source(path: str | Path) -> SourceDocument:
    """A document read from disk; its doc_id is the clean form of the file name."""
    path = Path(path)
    return replace(extract(path.name, path.read_bytes()), source=str(path))


def load_directory(
    directory: str | Path, recursive: bool = True
) -> tuple[list[SourceDocument], list[tuple[Path, str]]]:
    """Every readable document under `directory`, and the files skipped with the reason.

    Files are taken in path order, so of two files with the same doc_id (a.txt, a.md) the
    first is kept. Hidden files and folders (.git, .DS_Store) are passed over silently.
    """
    directory = Path(directory)
    paths = directory.rglob("*") if recursive else directory.iterdir()
    files = sorted(
        (p for p in paths if p.is_file() and not _hidden(p.relative_to(directory))),
        key=lambda p: p.relative_to(directory).as_posix(),
    )
    documents: list[SourceDocument] = []
    skipped: list[tuple[Path, str]] = []
    first_with: dict[str, Path] = {}
    for path in files:
        doc_id = clean_doc_id(path.name)
        if doc_id in first_with and path.suffix.lower() in SUPPORTED_SUFFIXES:
            reason = f"doc_id {doc_id!r} is already used by {first_with[doc_id]}; rename one"
            skipped.append((path, reason))
            continue
        try:
            doc = read_source(path)
        except (SourceError, OSError) as exc:
            skipped.append((path, str(exc)))
            continue
        first_with[doc.doc_id] = path
        documents.append(doc)
    for path, reason in skipped:
        logger.debug("skipped %s: %s", path, reason)
    return documents, skipped


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


# --- plain text and Markdown ------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LEGACY = ("gb18030", "big5")
_TEXT_CONTROLS = "\t\n\r\f\v\x1a"  # \x1a: the end-of-file mark of old DOS text files
_SAMPLE_CHARS = 4000  # enough text to tell a right decoding from a wrong one


def _decode(name: str, data: bytes) -> str:
    """Text of a file in UTF-8 (with or without BOM), UTF-16 with BOM, GB18030 or Big5.

    Big5 bytes nearly always decode as GB18030 too, into nonsense, so when both decode the
    one that reads as Chinese words wins. Bytes that none decodes are an error: a replaced
    character would reach the index as garbage.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _text_only(name, _strict(name, data, encoding))
    try:
        return _text_only(name, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        utf8_error = exc
    readings: dict[str, str] = {}
    for encoding in _LEGACY:
        try:
            readings[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if readings:
        share = {e: word_share(t[:_SAMPLE_CHARS]) for e, t in readings.items()}
        best = max(readings, key=lambda e: (share[e], e == "gb18030"))
        # Damaged UTF-8 often still decodes as GB18030, into nonsense: compare the readings.
        damaged = word_share(data.decode("utf-8", errors="replace")[:_SAMPLE_CHARS])
        if share[best] >= damaged:
            return _text_only(name, readings[best])
    raise UnreadableDocumentError(
        f"{name}: the bytes are not text in UTF-8, GB18030 or Big5 (byte {utf8_error.start} "
        "is the first that is not UTF-8; the file may be damaged or cut short); save the file "
        "as UTF-8 text and try again"
    )


def _strict(name: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableDocumentError(
            f"{name} starts with a {encoding.upper()} byte-order mark but byte {exc.start} is "
            "not valid in that encoding; save the file again as UTF-8 text"
        ) from exc


def _text_only(name: str, text: str) -> str:
    """`text` unless it holds control characters that only binary files have."""
    controls = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in _TEXT_CONTROLS)
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise UnreadableDocumentError(
            f"{name} looks like a binary file, not text; export the document as plain text "
            "(UTF-8) or upload the original .docx or .pdf"
        )
    return text


def _markdown_title(text: str) -> str | None:
    first = next((ln.strip() for ln in text.lstrip("\ufeff").splitlines() if ln.strip()), "")
    return heading_text(first) if heading_level(first) == 1 else None


def _paragraph_text(paragraphs: list[str]) -> str:
    """Paragraphs separated by blank lines, as in Markdown.

    The blank line tells the cleaner where paragraphs end: a short document of headings and
    short lines could otherwise pass for OCR text with hard line breaks and be run together.
    """
    return "\n\n".join(p for p in paragraphs if p.strip())


def _heading_line(level: int, text: str, deepest: int = MAX_HEADING_LEVEL) -> str:
    """A `#` line for a heading of `level`; deeper headings stay ordinary text."""
    text = " ".join(text.split())
    if not text:
        return ""
    return f"{'#' * level} {text}" if 1 <= level <= deepest else text


# --- HTML ---------------------------------------------------------------------------------------

_HTML_BLOCKS = {"p", "list", "item", "table", "quote", "code", "div", "section", "main", "body"}


def _html(name: str, data: bytes) -> tuple[str, str | None]:
    """The page's main text (no navigation, footers, share buttons) with h1–h4 as `#` lines."""
    trafilatura = _require("trafilatura", "trafilatura", ".html")
    from lxml import etree

    options = {
        "output_format": "xml",
        "include_comments": False,
        "include_tables": True,
        "include_images": False,
        "include_links": False,
        "with_metadata": True,
    }
    try:
        xml = trafilatura.extract(_html_text(name, data), **options)
    except Exception as exc:  # a parser fed with arbitrary bytes can fail in many ways
        raise _broken(name, "HTML page", exc) from exc
    if not xml:
        raise UnreadableDocumentError(
            f"{name}: no readable text found in this HTML page (it may be only navigation, or "
            "built by JavaScript); save the article's text as .txt and try again"
        )
    root = etree.fromstring(xml.encode())
    lines: list[str] = []
    for main in root.iter("main"):
        lines += _xml_lines(main)
    title = (root.get("title") or "").strip() or None
    if title is None:
        title = next((heading_text(ln) for ln in lines if heading_level(ln) == 1), None)
    if title and not any(heading_level(ln) == 1 for ln in lines):
        lines.insert(0, _heading_line(1, title))  # the page's title, so the cleaner sees it
    return _paragraph_text(lines), title


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Declared charsets that pages outgrow: a "gb2312" page holds GBK characters, "big5" cp950.
_CHARSET_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}


def _html_text(name: str, data: bytes) -> str:
    """A page's characters: in the charset it declares, else as a text file is read.

    Pages without a declaration are often GBK or Big5, which a general guesser confuses.
    """
    m = _META_CHARSET.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii").lower()
        try:
            return data.decode(_CHARSET_SUPERSETS.get(declared, declared))
        except (LookupError, UnicodeDecodeError):
            logger.info("%s: not valid %s as declared; reading it as a text file", name, declared)
    return _decode(name, data)


def _xml_lines(el: _Element) -> list[str]:
    """Lines of trafilatura's XML: headings as `#` lines, table rows as cells joined by ' | '."""
    out: list[str] = []
    buf: list[str] = [el.text or ""]

    def flush() -> None:
        text = "".join(buf).strip()
        if text:
            out.extend(ln.strip() for ln in text.split("\n") if ln.strip())
        buf.clear()

    for child in el:
        tag = child.tag
        if tag == "head":
            flush()
            m = re.fullmatch(r"h([1-6])", child.get("rend", ""))
            line = _heading_line(int(m.group(1)) if m else 0, "".join(child.itertext()))
            if line:
                out.append(line)
        elif tag == "row":
            flush()
            cells = [" ".join("".join(c.itertext()).split()) for c in child if c.tag == "cell"]
            if any(cells):
                out.append(" | ".join(cells))
        elif tag in _HTML_BLOCKS:
            flush()
            out += _xml_lines(child)
        elif tag == "lb":
            buf.append("\n")
        elif tag != "graphic":
            buf.append("".join(child.itertext()))
        buf.append(child.tail or "")
    flush()
    return out


# --- DOCX ---------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"(?:heading|标题|標題)\s*([1-9])", re.IGNORECASE)
_TITLE_STYLES = {"title", "标题", "標題"}


def _docx(name: str, data: bytes) -> tuple[str, str | None]:
    """Paragraphs and tables in document order; Title and Heading 1–4 styles as `#` lines.

    With a Title paragraph, the title is the one `#` line and Heading n becomes n + 1 marks,
    so the title is not taken for the first of several top-level sections.
    """
    docx = _require("docx", "python-docx", ".docx")
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        items: list[tuple[int, bool, str] | list[str]] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                items.append(_docx_table(item))
            else:
                items.append((*_docx_heading(item), item.text.strip()))
        core_title = (document.core_properties.title or "").strip()
    except Exception as exc:  # zip, XML and package errors alike: the file is not a docx
        raise _broken(name, ".docx file", exc) from exc
    titles = [" ".join(i[2].split()) for i in items if isinstance(i, tuple) and i[1] and i[2]]
    shift = 1 if titles else 0
    lines: list[str] = []
    for item in items:
        if isinstance(item, list):
            lines += item
            continue
        level, is_title, text = item
        if is_title:
            lines.append(_heading_line(1, text))
        else:
            lines.append(
                _heading_line(level + shift, text, MAX_HEADING_LEVEL + shift) if level else text
            )
    return _paragraph_text(lines), core_title or (titles[0] if titles else None)


def _docx_heading(paragraph: Any) -> tuple[int, bool]:
    """(heading level, is the Title style) from the style chain or the outline level."""
    style = paragraph.style
    while style is not None:
        style_name = (style.name or "").strip()
        if style_name.lower() in _TITLE_STYLES:
            return 1, True
        m = _HEADING_STYLE.fullmatch(style_name)
        if m:
            return int(m.group(1)), False
        style = style.base_style
    from docx.oxml.ns import qn

    ppr = paragraph._p.pPr
    outline = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
    if outline is not None:
        level = int(outline.get(qn("w:val"), "9")) + 1
        return (level if level <= 9 else 0), False
    return 0, False


def _docx_table(table: Any) -> list[str]:
    """One line per row, cells joined by ' | ' (a merged cell counted once)."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        last = None
        for cell in row.cells:
            if cell._tc is last:
                continue
            last = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


# --- PDF ----------------------------------------------------------------------------------------

# A line that is only a page number: 3, - 3 -, 第3页, 第 3 页 共 10 页, 3/10, Page 3 of 10.
_PAGE_NUMBER = re.compile(
    r"[-—–\s]*(?:第\s*\d{1,4}\s*页(?:\s*[,，/／]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}(?:\s*[/／]\s*\d{1,4})?"
    r"|page\s*\d{1,4}(?:\s*of\s*\d{1,4})?)[-—–\s]*",
    re.IGNORECASE,
)
_NUMBERED = re.compile(
    r"[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[)）]|第[一二三四五六七八九十百\d]+[章节部分条]"
)
_JUNK_TITLES = {"untitled", "(anonymous)", "anonymous", "无标题", "無標題"}


def _pdf(name: str, data: bytes) -> tuple[str, str | None]:
    """The text layer, page by page (joined by a form feed), with its lines made paragraphs.

    pypdf was chosen by measurement: on Chinese PDFs from three producers it read every
    character right, including Adobe CJK fonts with predefined CMaps, where pdfminer
    (pdfplumber) and MuPDF returned garbage; it is BSD-licensed (MuPDF is AGPL).
    """
    pypdf = _require("pypdf", "pypdf", ".pdf")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocumentError(
                f"{name} is protected by a password; open it, save or print it as a PDF "
                "without a password, and upload that"
            )
        pages = _pdf_pages(name, reader)
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableDocumentError:
        raise
    except Exception as exc:  # pypdf raises many kinds of error on damaged files
        if type(exc).__name__ == "DependencyError":
            raise UnreadableDocumentError(
                f"{name} is encrypted with AES, which needs the 'cryptography' package: "
                "pip install cryptography"
            ) from exc
        raise _broken(name, "PDF", exc) from exc
    if not pages:
        raise UnreadableDocumentError(f"{name} has no pages; export the PDF again")
    if not any(p.strip() for p in pages):
        raise UnreadableDocumentError(
            f"{name} has no text layer (a scanned or image-only PDF); run OCR on it first "
            "(for example ocrmypdf -l chi_sim) and upload the result"
        )
    lines = _drop_running_lines([[ln.rstrip() for ln in p.split("\n")] for p in pages])
    text = PAGE_BREAK.join(_paragraph_text(_pdf_paragraphs(page)) for page in lines)
    return text, _pdf_title(meta_title)


def _pdf_pages(name: str, reader: Any) -> list[str]:
    """Text of every page; a damaged page reads as empty unless every page is damaged."""
    pages: list[str] = []
    failed: list[Exception] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            pages.append(page.extract_text() or "")
        except Exception as exc:  # one bad page should not lose the others
            logger.warning("%s: page %d cannot be read (%s); it is left out", name, number, exc)
            failed.append(exc)
            pages.append("")
    if failed and len(failed) == len(pages):
        raise failed[0]
    return pages


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without their page numbers and the running headers and footers most pages repeat."""
    pages = [[ln for ln in page if ln.strip()] for page in pages]
    pages = [
        [ln for i, ln in enumerate(page) if not (_at_edge(i, page) and _PAGE_NUMBER.fullmatch(ln))]
        for page in pages
    ]
    if len(pages) < 2:
        return pages
    edges: Counter[str] = Counter()
    for page in pages:
        edges.update({_edge_key(ln) for ln in page[:2] + page[-2:]})
    needed = max(2, math.ceil(len(pages) / 2))
    running = {key for key, n in edges.items() if n >= needed}
    return [
        [ln for i, ln in enumerate(page) if not (_at_edge(i, page) and _edge_key(ln) in running)]
        for page in pages
    ]


def _at_edge(i: int, page: list[str]) -> bool:
    """Among the first or last two lines of a page, where page furniture is printed."""
    return i < 2 or i >= len(page) - 2


def _edge_key(line: str) -> str:
    return re.sub(r"\d+", "0", "".join(line.split()))


def _width(text: str) -> float:
    """Printed width in em: CJK characters are one, others about half."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.5 for c in text)


def _ends_sentence(text: str) -> bool:
    s = text.rstrip(CLOSERS)
    return bool(s) and s[-1] in TERMINAL + "：:"


def _pdf_paragraphs(lines: list[str]) -> list[str]:
    """Re-join a page's printed lines into paragraphs.

    A PDF has lines, not paragraphs. A paragraph ends at a line clearly shorter than the
    column that ends a sentence (or is much shorter: a heading), and a new one starts at an
    indented line or a numbered heading after a sentence end. Pages where few lines fill the
    column (lists, tables) keep their lines.
    """
    if not lines:
        return []
    widths = [_width(ln.strip()) for ln in lines]
    full = sorted(widths)[int(0.9 * (len(widths) - 1))]
    if full < 8 or sum(w >= full - 2 for w in widths) < 0.3 * len(widths):
        return [ln.strip() for ln in lines]  # not running text: few lines fill the column
    paras: list[str] = []
    cur = ""
    for raw in lines:
        line = raw.strip()
        starts = raw[:1].isspace() or (_NUMBERED.match(line) and _ends_sentence(cur))
        if cur and starts:
            paras.append(cur)
            cur = ""
        cur = _join_lines(cur, line)
        w = _width(line)
        if w < full - 2 and (_ends_sentence(line) or w < 0.75 * full):
            paras.append(cur)
            cur = ""
    if cur:
        paras.append(cur)
    return paras


def _join_lines(a: str, b: str) -> str:
    """Join two printed lines: with a space between Latin words, with nothing in Chinese."""
    if a and a[-1].isascii() and a[-1].isalnum() and b[:1].isascii() and b[:1].isalnum():
        return f"{a} {b}"
    return a + b


def _pdf_title(title: str) -> str | None:
    title = " ".join(title.split())
    if (
        not title
        or title.lower() in _JUNK_TITLES
        or title.startswith("Microsoft Word - ")
        or re.search(r"\.(docx?|wps|pdf|txt)$", title, re.IGNORECASE)
    ):
        return None
    return title


# --- helpers ------------------------------------------------------------------------------------


def _require(module: str, package: str, suffix: str) -> Any:
    """Import a format's parser lazily, with an error that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"reading {suffix} files needs {package}: pip install {package}") from exc


def _broken(name: str, kind: str, exc: Exception) -> UnreadableDocumentError:
    detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return UnreadableDocumentError(
        f"{name} is not a readable {kind} ({detail}); open it in the program that made it, "
        "save it again in that format, and upload the new file"
    )
