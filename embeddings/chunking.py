"""Section-aware chunking of cleaned documents into passages.

A document is split into articles (a newspaper page holds several), each article into
sections by its headings (Markdown `#` lines, which every source format's headings become;
一、 / （一） / 一要 / 一是 / 第一; and runs of parallel lead sentences such as 更加… / 突出…),
and each section into passages of about `target_chars` characters, cut at sentence ends with
a small overlap. Every passage is a slice of the cleaned document text, so its offsets are
exact, and knows the pages it lies on when the source had pages. A newspaper page that prints
its headlines and bylines together at its foot gets each matched to its article (by wording
and the byline's office): the article's passages lie under headline › subheading and carry
the byline, and the printed headline is a passage of its article too.

Over 300 lines on purpose: articles, headings and sentence packing are steps of one
algorithm over the same blocks; split, they would pass private structures around.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import permutations

from embeddings.text import (
    CLOSERS,
    SENTENCE_BODY,
    SENTENCE_END,
    TERMINAL,
    Block,
    CleanDocument,
    han_bigrams,
    heading_level,
    heading_text,
    is_prose,
    normalize,
)

# 3: Markdown headings open sections; passages know their pages. 4: a newspaper page's
# articles have their headline as section path and their author as byline. 5: a sentence
# longer than `max_sentence_chars` is cut.
CHUNKER_VERSION = "5"

_NUM = "一二三四五六七八九十"
_NUM_VALUE = {c: i + 1 for i, c in enumerate(_NUM)}
# (kind, pattern) in no particular order: nesting comes from the order of appearance.
_HEADINGS: list[tuple[str, re.Pattern[str]]] = [
    ("、", re.compile(rf"[{_NUM}]{{1,3}}、")),
    ("（）", re.compile(rf"[（(][{_NUM}]{{1,3}}[)）]")),
    ("要", re.compile(rf"[{_NUM}]{{1,3}}要(?![求素点务闻])")),
    ("是", re.compile(rf"[{_NUM}]{{1,3}}是")),
    ("第", re.compile(rf"第[{_NUM}]{{1,3}}(?=[，、,：:是]|部分|方面)")),
]
# Where a heading may start inside a paragraph: after a sentence end or a colon.
_INLINE_START = re.compile(rf"(?<=[{re.escape(TERMINAL)}：:])[{re.escape(CLOSERS)}]*")
_NEWS_LEAD = re.compile(r"^(本报讯|本報訊|新华社|新華社|本报记者|本報記者|【\w+】|（记者|（記者)")
# Words commentaries typically open with; a weak hint of an article start on a page.
_OPENER = re.compile(r"^(近段时间|近段時間|近日|近期|日前|今年以来|今年以來|党的二十大|黨的二十大)")
_BYLINE = re.compile(
    r"(记者|記者|书记|書記|部长|部長|市长|市長|秘书长|秘書長|主任|评论员|評論員|中心组|中心組|委员|委員)"
)
_BYLINE_NAME = re.compile(r"\S.{1,40}\s[\u4e00-\u9fff·]{2,5}")
_KICKER = r"(强调|強調|指出|表示)$"
# An editorial's byline names the paper's voice, not a person (本报评论员, 本報特約評論員).
_COMMENTATOR = re.compile(r"(本报|本刊|新华社|人民日报)?(特约)?评论员")
_REPORTER = re.compile(r"[（(](记者|記者|通讯员|通訊員)\s*([^）)]{2,12})[)）]")
_SENTENCE = re.compile(rf"{SENTENCE_BODY}(?:{SENTENCE_END}|\n|$)")  # a line ends one too
_CLAUSE_END = re.compile(r"[，,、；;：:]")
_LABEL_END = re.compile(r"[。，,；;：:！？!?\n]")
_MD_LABEL_CHARS = 40
_MD = "#"  # the stack kind of a Markdown heading
PAGE_HEADLINES = "版面标题"
PATH_SEP = " › "  # between the headings of a passage's section path


@dataclass(frozen=True)
class ChunkerConfig:
    target_chars: int = 300
    overlap_sentences: int = 1

    @property
    def min_chars(self) -> int:
        """Smaller fragments are merged with a neighbour."""
        return self.target_chars // 4

    @property
    def max_sentence_chars(self) -> int:
        """Longer sentences are cut, so no passage outgrows what a store holds."""
        return self.target_chars * 2


@dataclass(frozen=True)
class Passage:
    passage_id: str
    doc_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    pages: tuple[int, ...] = ()  # 1-based pages the text spans; () when the source has none
    byline: str = ""  # the article's author and role, when a newspaper page prints them


@dataclass
class _Article:
    blocks: list[Block]
    title: str = ""
    headlines: list[Block] = field(default_factory=list)
    title_block: int | None = None  # index of the `#` block that is the document's title
    path: list[str] = field(default_factory=list)  # headline › subheading, on a page
    byline: str = ""
    printed_headline: bool = False  # the headline and byline as printed apart: one passage


def numeral_value(s: str) -> int:
    """The value of a Chinese numeral up to 99 (二 → 2, 十二 → 12, 二十 → 20)."""
    digits = [c for c in s if c in _NUM_VALUE]
    if len(digits) == 1:
        return _NUM_VALUE[digits[0]]
    if len(digits) == 2 and digits[0] == "十":
        return 10 + _NUM_VALUE[digits[1]]
    if len(digits) == 2 and digits[1] == "十":
        return _NUM_VALUE[digits[0]] * 10
    return 10 * _NUM_VALUE.get(digits[0], 0) + _NUM_VALUE.get(digits[-1], 0)


def path_labels(section: str) -> list[str]:
    """A section path's headings, outermost first."""
    return section.split(PATH_SEP) if section else []


def leading_heading(text: str) -> tuple[str, int] | None:
    """The kind and number of the numbered heading `text` starts with (二要… → ("要", 2)),
    after the marks of a Markdown heading (## 二、…)."""
    return _heading_at(heading_text(text.lstrip()), 0)


def _label(text: str, at: int) -> str:
    m = _LABEL_END.search(text, at)
    end = m.start() if m else len(text)
    label = text[at:end].strip()
    return label if len(label) <= 24 else label[:23] + "…"


def _md_label(line: str) -> str:
    label = heading_text(line)
    return label if len(label) <= _MD_LABEL_CHARS else label[: _MD_LABEL_CHARS - 1] + "…"


def _heading_at(text: str, at: int) -> tuple[str, int] | None:
    for kind, pattern in _HEADINGS:
        m = pattern.match(text, at)
        if m:
            return kind, numeral_value(m.group(0))
    return None


def _first_sentence(text: str) -> str:
    m = _SENTENCE.match(text)
    return m.group(0) if m else text


def _parallel_leads(blocks: list[Block]) -> set[int]:
    """Indexes of blocks that open with a short lead sentence shared in form with ≥2 others.

    Commentaries mark their sections with parallel lead sentences rather than numbers
    (更加忠诚地… / 更深层次地… / 更加坚定地…, or 要强化责任落实。 要强化示范引领。).
    """
    candidates: dict[str, list[int]] = {}
    for i, b in enumerate(blocks):
        if heading_level(b.text):
            continue
        first = _first_sentence(b.text)
        if not is_prose(b.text) or len(first) > 32 or len(first) == len(b.text.strip()):
            continue
        if re.search(r"(指出|强调|強調|表示|认为|認為|要求)[，,：:]", first[:8]):
            continue
        candidates.setdefault(b.text[0], []).append(i)
    leads: set[int] = set()
    for members in candidates.values():
        if len(members) >= 3 and members[-1] - members[0] <= len(members) + 1:
            leads.update(members)
    return leads


def _section_bounds(article: _Article, text: str) -> list[tuple[int, list[str]]]:
    """Where each section of an article starts, with its heading path.

    Numbering must run 1, 2, 3 per kind of heading (a restart at 1 opens a new list); the
    kinds nest in their order of appearance. A list found inside a paragraph (…。一是…。二是…)
    ends with that paragraph. Markdown `#` headings outrank all of these: their level gives
    their nesting, and the numbered headings after one nest under it.
    """
    leads = _parallel_leads(article.blocks)
    bounds: list[tuple[int, list[str]]] = [(article.blocks[0].start, [])]
    stack: list[tuple[str, int, str, bool]] = []  # kind, number, label, inline
    for i, b in enumerate(article.blocks):
        level = heading_level(b.text)
        if level:
            if i == article.title_block:
                continue  # the document's title, not a section of it
            # A `#` heading closes every section that is not a shallower `#` heading.
            while stack and not (stack[-1][0] == _MD and stack[-1][1] < level):
                stack.pop()
            stack.append((_MD, level, _md_label(b.text), False))
            bounds.append((b.start, [e[2] for e in stack]))
            continue
        found: list[tuple[int, str, int]] = []
        if i in leads:
            found.append((b.start, "lead:" + b.text[0], 0))
        else:
            starts = [b.start] + [b.start + m.end() for m in _INLINE_START.finditer(b.text)]
            for at in starts:
                h = _heading_at(text, at) if at < b.end else None
                if h:
                    found.append((at, *h))
        if stack and stack[-1][3]:
            while stack and stack[-1][3]:
                stack.pop()
            if not found or found[0][0] != b.start:
                bounds.append((b.start, [e[2] for e in stack]))
        for at, kind, number in found:
            kinds = [e[0] for e in stack]
            if kind in kinds:
                j = kinds.index(kind)
                if not (kind.startswith("lead:") or number in (stack[j][1] + 1, 1)):
                    continue
                del stack[j:]
            elif number not in (0, 1):
                continue
            stack.append((kind, number, _label(text, at), at != b.start))
            bounds.append((at, [e[2] for e in stack]))
    return bounds


def _cosine(a: Counter[str], b: Counter[str], idf: dict[str, float]) -> float:
    dot = sum(a[g] * b[g] * idf.get(g, 1.0) ** 2 for g in a.keys() & b.keys())
    na = math.sqrt(sum((v * idf.get(g, 1.0)) ** 2 for g, v in a.items()))
    nb = math.sqrt(sum((v * idf.get(g, 1.0)) ** 2 for g, v in b.items()))
    return dot / (na * nb) if na and nb else 0.0


def _is_headline_block(b: Block) -> bool:
    return not is_prose(b.text) and len(b.text) <= 60


def _split_page(doc: CleanDocument) -> list[_Article]:
    """Separate the articles of a newspaper page; other documents are one article.

    A page is recognised by OCR column widths and a trailing run of headline and byline
    blocks. It prints one headline per article, so the number of articles is known: cut at
    news leads (本报讯) and column-width changes first, then where the wording changes most.
    """
    blocks = list(doc.blocks)
    if any(heading_level(b.text) for b in blocks):
        # A document with `#` headings states its structure: not an OCR'd newspaper page.
        first = blocks[0].text
        is_title = heading_level(first) == 1 and heading_text(first) == doc.title
        return [_Article(blocks, doc.title, title_block=0 if is_title else None)]
    tail = len(blocks)
    while tail > 0 and _is_headline_block(blocks[tail - 1]):
        tail -= 1
    body, headlines = blocks[:tail], blocks[tail:]
    wrapped = sum(1 for b in body if b.width) >= max(3, len(body) // 2)
    if not wrapped or len(headlines) < 2 or len(body) < 4:
        return [_Article(blocks, doc.title)]
    titles = [h for h in headlines if not _is_byline(h.text)]
    wanted = max(len(titles) - _kickers(headlines), 1)
    leads = _parallel_leads(body)
    cuts: set[int] = set()
    for i in range(1, len(body)):
        prev, cur = body[i - 1], body[i]
        if _NEWS_LEAD.match(cur.text) or _width_changes(prev, cur) and i - 1 not in leads:
            cuts.add(i)
    blocked = {i for i in range(1, len(body)) if i in leads or _continues(body[i].text)}
    grams = [han_bigrams(b.text) for b in body]
    df = Counter(g for c in grams for g in c)
    idf = {g: math.log(len(body) / n) + 1 for g, n in df.items()}
    scored = []
    for i in range(1, len(body)):
        if i in cuts or i in blocked or any(abs(i - c) < 2 for c in cuts | {0, len(body)}):
            continue
        left = sum((grams[j] for j in range(max(0, i - 2), i)), Counter())
        right = sum((grams[j] for j in range(i, min(len(body), i + 2))), Counter())
        opener = 0.1 if _OPENER.match(body[i].text) else 0.0
        scored.append((_cosine(left, right, idf) - opener, i))
    for _, i in sorted(scored):
        if len(cuts) + 1 >= wanted:
            break
        if all(abs(i - c) >= 2 for c in cuts):
            cuts.add(i)
    bounds = [0, *sorted(cuts), len(body)]
    articles = [_Article(body[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    return articles + _assign_headlines(articles, headlines)


def _width_changes(a: Block, b: Block) -> bool:
    """A different column width: the OCR moved on to another article's column."""
    if not (a.width and b.width):
        return False
    return abs(a.width - b.width) / max(a.width, b.width) >= 0.12


def _kickers(headlines: list[Block]) -> int:
    """Headlines that lead into the next one (…时强调 / …指出) rather than stand alone."""
    return sum(1 for h in headlines[:-1] if re.search(_KICKER, h.text))


def _continues(text: str) -> bool:
    """A paragraph that cannot open an article: it goes on with a numbered item."""
    h = _heading_at(text, 0)
    return h is not None and h[1] > 1


@dataclass
class _Headline:
    """A headline as the page prints it: kicker, headline, subheading, then the byline."""

    blocks: list[Block]
    lines: list[str]
    byline: str = ""


def _is_byline(text: str) -> bool:
    """An author line: role words, then a name (湘潭市委常委、组织部部长 刘俊)."""
    return bool(_BYLINE.search(text) and _BYLINE_NAME.fullmatch(text))


def _headline_units(headlines: list[Block]) -> list[_Headline]:
    """The headline blocks grouped per article: a kicker (…强调) leads into the next block,
    a byline closes the headline before it, and each block's lines are headline › subheading."""
    units: list[_Headline] = []
    for h in headlines:
        if _is_byline(h.text) and units and not units[-1].byline:
            units[-1].byline = " ".join(h.text.split())
            units[-1].blocks.append(h)
            continue
        lines = h.text.split()
        if units and not units[-1].byline and re.search(_KICKER, units[-1].lines[-1]):
            units[-1].lines += lines
            units[-1].blocks.append(h)
        else:
            units.append(_Headline([h], lines))
    return units


def names_author(text: str) -> bool:
    """A byline, or a news lead naming its reporter (（记者 陈静）)."""
    return is_byline(text) or bool(_REPORTER.search(text[:40]))


def has_byline(text: str) -> bool:
    """Whether a passage holds a byline on a line of its own (本报评论员 at an article's end)."""
    return any(is_byline(line) for line in text.splitlines())


def is_byline(text: str) -> bool:
    """A line naming the author and nothing else: 湘潭市委常委、组织部部长 刘俊, 本报评论员."""
    text = text.strip()
    return _is_byline(text) or bool(_COMMENTATOR.fullmatch(normalize(text)))


def _reporter(article: _Article) -> str:
    """The reporter a news item names in its lead (本报讯（记者 陈静）), as its byline."""
    m = _REPORTER.search(article.blocks[0].text[:40]) if article.blocks else None
    return f"{m.group(1)} {m.group(2)}" if m else ""


def _assign_headlines(articles: list[_Article], headlines: list[Block]) -> list[_Article]:
    """Give each article its headline, subheading and byline from the foot of the page.

    Each headline is matched to the article that shares most of its wording, and its byline's
    role words to the article that speaks of that office (政法委书记 ↔ 政法, 组织部部长 ↔
    组织部门); one headline per article, the best total over all pairings. Returns the
    printed headlines as passages of their own, under their article's heading path; the ones
    no article took stay together as the page's headlines.
    """
    units = _headline_units(headlines)
    grams = [han_bigrams("".join(b.text for b in a.blocks)) for a in articles]
    df = Counter(g for c in grams for g in c)
    idf = {g: math.log(len(articles) / n) + 1 for g, n in df.items()}

    def match(text: str, a: int) -> float:
        return _cosine(han_bigrams(text), grams[a], idf) if text else 0.0

    score = [
        [match(" ".join(u.lines), a) + match(_role(u.byline), a) for a in range(len(articles))]
        for u in units
    ]
    if len(units) <= 8 and len(articles) <= len(units):
        best = max(
            permutations(range(len(units)), len(articles)),
            key=lambda p: sum(score[u][a] for a, u in enumerate(p)),
        )
        pairs = list(enumerate(best))
    else:
        pairs = [
            (a, max(range(len(units)), key=lambda u: score[u][a])) for a in range(len(articles))
        ]
    printed = []
    for a, u in pairs:
        article, unit = articles[a], units[u]
        article.title = " ".join(unit.lines)
        article.path = [_md_label(line) for line in unit.lines]
        article.byline = unit.byline or _reporter(article)
        printed.append(
            _Article(unit.blocks, article.title, path=article.path, byline=article.byline)
        )
    for p in printed:
        p.printed_headline = True
    taken = {u for _, u in pairs}
    rest = [b for u, unit in enumerate(units) if u not in taken for b in unit.blocks]
    if rest:
        printed.append(_Article(rest, PAGE_HEADLINES, path=[PAGE_HEADLINES], printed_headline=True))
    return sorted(printed, key=lambda p: p.blocks[0].start)


def _role(byline: str) -> str:
    """The office of a byline without the person's name."""
    return byline.rsplit(" ", 1)[0] if " " in byline else ""


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for m in _SENTENCE.finditer(text, start, end):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def _cut_long(text: str, spans: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Sentences over `limit` characters cut after their last clause mark in the second half
    of each `limit` window, or at `limit` when there is none. Text without sentence ends (a
    flattened table, OCR that lost its stops) would otherwise make one passage of thousands
    of characters, past a Milvus VARCHAR (64 KB) once its BM25 tokens are written out."""
    out = []
    for s, e in spans:
        while e - s > limit:
            marks = _CLAUSE_END.finditer(text, s + limit // 2, s + limit)
            cut = max((m.end() for m in marks), default=s + limit)
            out.append((s, cut))
            s = cut
        out.append((s, e))
    return out


def _pack(sentences: list[tuple[int, int]], config: ChunkerConfig) -> list[tuple[int, int]]:
    """Greedy packing of sentences into chunks of about the target size, with overlap."""
    if not sentences:
        return []
    total = sentences[-1][1] - sentences[0][0]
    if total <= config.target_chars * 1.3:
        return [(sentences[0][0], sentences[-1][1])]
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j = i
        while (
            j + 1 < len(sentences) and sentences[j + 1][1] - sentences[i][0] <= config.target_chars
        ):
            j += 1
        chunks.append((sentences[i][0], sentences[j][1]))
        if j + 1 >= len(sentences):
            break
        back = config.overlap_sentences
        nxt = j + 1
        while (
            back
            and nxt - 1 > i
            and sentences[nxt - 1][1] - sentences[nxt - 1][0] <= config.target_chars // 3
        ):
            nxt -= 1
            back -= 1
        i = nxt
    return chunks


def _join_path(a: list[str], b: list[str], small_a: bool, small_b: bool) -> list[str]:
    """Section path of two merged chunks: the deeper one when the small one is its heading."""
    if small_a and a == b[: len(a)]:
        return b
    if small_b and b == a[: len(b)]:
        return a
    common = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return common


def _article_chunks(
    article: _Article, text: str, config: ChunkerConfig
) -> list[tuple[int, int, list[str]]]:
    if not article.blocks:
        return []
    begin, finish = article.blocks[0].start, article.blocks[-1].end
    if article.printed_headline:
        return [(begin, finish, article.path)]
    bounds = _section_bounds(article, text)
    chunks: list[tuple[int, int, list[str]]] = []
    for (s, p), (e, _) in zip(bounds, bounds[1:] + [(finish, [])], strict=False):
        sentences = _cut_long(text, _sentences(text, s, e), config.max_sentence_chars)
        for cs, ce in _pack(sentences, config):
            chunks.append((cs, ce, article.path + p))
    merged: list[tuple[int, int, list[str]]] = []
    for i, (cs, ce, p) in enumerate(chunks):
        if merged:
            ps, pe, pp = merged[-1]
            small_prev = pe - ps < config.min_chars
            small_cur = ce - cs < config.min_chars and ce > pe
            # A `#` heading alone joins the text after it, not the section before it.
            if small_cur and heading_level(text[cs:ce]) and i + 1 < len(chunks):
                small_cur = small_prev
            if (small_prev or small_cur) and ce - ps <= config.target_chars * 1.5:
                merged[-1] = (ps, max(pe, ce), _join_path(pp, p, small_prev, small_cur))
                continue
        merged.append((cs, ce, p))
    return merged


def passage_id(doc_id: str, text: str, occurrence: int = 0) -> str:
    """Content-derived id: the same text in the same document keeps its id across runs."""
    key = f"{doc_id}\x00{occurrence}\x00{text}".encode()
    return hashlib.sha1(key).hexdigest()[:16]


def chunk(doc_id: str, doc: CleanDocument, config: ChunkerConfig | None = None) -> list[Passage]:
    """Passages of a cleaned document, each with its heading path and exact offsets."""
    config = config or ChunkerConfig()
    first = doc.blocks[0].text if doc.blocks else ""
    fallback_title = doc.title or (_label(heading_text(first), 0) if first else doc_id)
    passages: list[Passage] = []
    seen: Counter[str] = Counter()
    for article in _split_page(doc):
        title = article.title or fallback_title
        for s, e, path in _article_chunks(article, doc.text, config):
            body = doc.text[s:e]
            pid = passage_id(doc_id, body, seen[body])
            seen[body] += 1
            section = PATH_SEP.join(path)
            pages = doc.pages(s, e)
            passages.append(Passage(pid, doc_id, title, section, body, s, e, pages, article.byline))
    return passages
