"""Cleaning of damaged Chinese source text, and the normalised form used for matching.

The cleaned text keeps the original script (Simplified or Traditional) for display; matching
(lexical tokens, answer strings, highlights) uses `normalize`, which has the same length as its
input so offsets found in the normalised form index the original text too.

Over 300 lines on purpose: the cleaning steps share the character classes and the paragraph
model; the mojibake repair alone is a scoring model nothing else uses.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from opencc import OpenCC

CLEANER_VERSION = "3"  # 3: Markdown headings stay blocks; form feeds mark pages

TERMINAL = "。！？；…!?;"
CLOSERS = "”’」』）)》"
# What a sentence is, for the chunker and the answer extractor alike: text up to its closing
# punctuation (and any closing quotes or brackets after it). Each adds how a sentence may end.
SENTENCE_BODY = rf"[^{re.escape(TERMINAL)}\n]+"
SENTENCE_END = rf"[{re.escape(TERMINAL)}]+[{re.escape(CLOSERS)}]*"
_TONE = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
# A pinyin gloss glued to a Han character: 學(xué) -> 學. Needs a tone mark, so (2022), (黨組)
# and （一） are left alone.
PINYIN_GLOSS = re.compile(
    rf"(?<=[\u4e00-\u9fff])\((?=[a-zü{_TONE}]*[{_TONE}])[a-zü{_TONE}]{{1,7}}\)"
)
# The same gloss whose opening bracket was eaten by mojibake: 徹?zé)岢
_BROKEN_GLOSS = re.compile(rf"\?(?=[a-zü{_TONE}]*[{_TONE}])[a-zü{_TONE}]{{1,7}}\)")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# A Markdown heading line: how every source format marks its headings (see embeddings.sources).
MARKDOWN_HEADING = re.compile(r"#{1,6}[ \t]+(?=\S)")
PAGE_BREAK = "\f"

FURNITURE = [
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}.*(来源|來源|浏览|瀏覽)"),  # date · source · view count
    re.compile(r"^(来源|來源|浏览次数|瀏覽次數)\s*[:：]"),
    re.compile(r"^(责任编辑|責任編輯|编辑|編輯|审核|審核|校对|校對)\s*[:：]"),
    re.compile(r"^(版权声明|版權聲明|免责声明|免責聲明)"),
    re.compile(r"^(分享到|打印本页|打印本頁|关闭窗口|關閉窗口|【打印】|【关闭】)"),
]


@dataclass(frozen=True)
class Block:
    """One paragraph of cleaned text; `width` is the OCR column width it was typeset in, if wrapped."""

    text: str
    start: int
    end: int
    width: float | None = None


@dataclass(frozen=True)
class CleanDocument:
    """Cleaned text, its paragraphs, and where pages 2, 3, … begin (empty: not paged)."""

    text: str
    blocks: list[Block]
    title: str
    page_starts: list[int] = field(default_factory=list)

    def pages(self, start: int, end: int) -> tuple[int, ...]:
        """1-based pages that text[start:end] lies on; () when the source had no pages."""
        if not self.page_starts or end <= start:
            return ()
        first = bisect_right(self.page_starts, start) + 1
        last = bisect_right(self.page_starts, end - 1) + 1
        return tuple(range(first, last + 1))


def heading_level(line: str) -> int:
    """Level of a Markdown heading line (`## 一、总体要求` -> 2); 0 for any other text."""
    m = MARKDOWN_HEADING.match(line)
    return m.group().count("#") if m else 0


def heading_text(line: str) -> str:
    """A heading line without its `#` marks; other text unchanged."""
    m = MARKDOWN_HEADING.match(line)
    return line[m.end() :].strip() if m else line


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=65536)
def _norm_char(ch: str) -> str:
    """Normalise one character, keeping it one character long so offsets survive."""
    out = unicodedata.normalize("NFKC", ch)
    if len(out) != 1:
        out = ch
    out = _t2s().convert(out)
    return out.lower() if len(out) == 1 else ch


def normalize(text: str) -> str:
    """Script- and width-insensitive form of `text`, of exactly the same length.

    Traditional -> Simplified (OpenCC t2s), full-width -> half-width, lower case.
    """
    # OpenCC costs ~1 ms per passage, and every search normalises the passages it returns
    # (highlights, answers): the same few thousand texts again and again, so short ones are
    # remembered (a bounded cache; whole documents are not kept).
    return _normalize_short(text) if len(text) <= 2000 else _normalize(text)


@lru_cache(maxsize=16384)
def _normalize_short(text: str) -> str:
    return _normalize(text)


def _normalize(text: str) -> str:
    converted = str(_t2s().convert(unicodedata.normalize("NFKC", text))).lower()
    if len(converted) == len(text):
        return converted
    return "".join(_norm_char(c) for c in text)


def compact(text: str) -> str:
    """Normalised text with all white space removed: the form answer strings are matched in."""
    return re.sub(r"\s+", "", normalize(text))


def remove_pinyin_glosses(text: str) -> str:
    return PINYIN_GLOSS.sub("", text)


def repair_mojibake(text: str) -> str:
    """Repair GBK text that was decoded one byte out of step (a lost lead byte shows as '?').

    Such a run re-encodes to GBK; prepending the lost lead byte (and, if the run ends in a
    second '?', appending the lost final byte) and decoding again gives the original. A run
    ends at its first resync point (the first point where the shifted bytes decode cleanly),
    so all candidate repairs cover the same bytes. They are ranked by a unigram model
    (`_unigram_logp`: jieba's word frequencies, with 。，、“” as likely as the commonest words)
    plus a penalty for characters of the other script than the text's own.

    Clean text is never touched: a run that already reads as dictionary words, or that no
    repair reads clearly better than, is left alone. A run that is mojibake but cannot be
    repaired with confidence -- fewer than two known bytes per guessed byte, or no candidate
    with at least half the candidates' probability, or the best candidate not reading as
    words -- is dropped, so no made-up characters reach the index.

    A '?' followed by a pinyin gloss whose opening bracket was eaten (徹?zé)岢?) stands for a
    whole mojibake character that the pinyin tool glossed. The glosses elsewhere in the same
    text (責(zé)) say which character that was: it straddled the previous character (責 = D8 9F
    starts with the last byte of 徹 = 8F D8), so its second byte is the lost lead byte:
    徹?zé)岢? -> 徹 + (9F + 岢 E1 B3 + lost byte) = 徹熱潮.
    """
    src = _Source.of(text)
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "?" and i > 0 and _HAN.match(text[i - 1]):
            repair = _repair_run(text, i, src)
            if repair is not None:
                fixed, used = repair
                out.append(fixed)
                i += used
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


@lru_cache(maxsize=1)
def _s2t() -> OpenCC:
    return OpenCC("s2t")


@dataclass(frozen=True)
class _Source:
    """What the whole text tells about its mojibake: pinyin glosses, characters and script."""

    readings: dict[str, frozenset[str]]  # zé -> {責}
    chars: frozenset[str]
    traditional: bool | None  # None: mixed or too little to tell

    @classmethod
    def of(cls, text: str) -> _Source:
        readings: dict[str, set[str]] = {}
        for m in PINYIN_GLOSS.finditer(text):
            readings.setdefault(m.group()[1:-1], set()).add(text[m.start() - 1])
        if "?" not in text:
            return cls({}, frozenset(), None)
        han = _HAN.findall(text)
        trad = sum(1 for c in han if _t2s().convert(c) != c)
        simp = sum(1 for c in han if _s2t().convert(c) != c)
        script = (
            True
            if trad >= 5 and trad > 3 * simp
            else False
            if simp >= 5 and simp > 3 * trad
            else None
        )
        return cls({r: frozenset(cs) for r, cs in readings.items()}, frozenset(han), script)

    def foreign(self, s: str) -> int:
        """How many characters of `s` belong to the other script and occur nowhere else here.

        GBK mojibake of Traditional text decodes to Traditional characters where it decodes
        right (熱), so a Simplified-only one (诚, where 誠 is meant) marks a wrong repair.
        """
        if self.traditional is None:
            return 0
        other = _s2t() if self.traditional else _t2s()
        return sum(1 for c in s if c not in self.chars and _HAN.match(c) and other.convert(c) != c)


# GBK bytes that can lead a double-byte character; a lone one shows up as '?'.
_LEADS = range(0x81, 0xFF)
# How much more likely (in nats) a repair must read than the text as it stands.
_MIN_GAIN = 8.0
# The share of the candidates' probability the best one needs to be emitted, not dropped.
# On simulated lost-lead-byte runs cut from the seeds, 0.5 keeps ~91% of emitted repairs
# right. A unigram model is weak on near-ties: in seed 002 熱潮 beats 熱忱 only at 0.51.
_MIN_POSTERIOR = 0.5
# Log-penalty for a character of the other script (see `_Source.foreign`).
_FOREIGN_LOGP = -5.0


def _repair_run(text: str, at: int, src: _Source) -> tuple[str, int] | None:
    """Repair of the mojibake run at `text[at] == '?'`, as (repair, chars consumed).

    None leaves the text alone; a repair of "" drops a run that is mojibake beyond recovery.
    """
    gloss = _BROKEN_GLOSS.match(text, at)
    if not gloss:
        return _scan_run(text, at, at + 1, list(_LEADS), src)
    leads = _gloss_leads(gloss.group()[1:-1], text[at - 1], src) or list(_LEADS)
    repair = _scan_run(text, at, gloss.end(), leads, src)
    # Unrepaired, the '?' stays but the stray gloss letters go.
    return repair if repair is not None else ("?", gloss.end() - at)


def _gloss_leads(reading: str, before: str, src: _Source) -> list[int]:
    """Lost lead bytes implied by the glossed mojibake character (second byte of 責 = 0x9F).

    That character straddles the previous one, so its first byte should be the previous
    character's last byte; candidates that agree are preferred.
    """
    pairs = []
    for c in sorted(src.readings.get(reading, ())):
        b = c.encode("gbk", errors="ignore")
        if len(b) == 2 and b[1] in _LEADS:
            pairs.append(b)
    last = before.encode("gbk", errors="ignore")[-1:]
    straddling = [b[1] for b in pairs if b[:1] == last]
    return straddling or [b[1] for b in pairs]


def _scan_run(
    text: str, at: int, start: int, leads: list[int], src: _Source
) -> tuple[str, int] | None:
    """Find where the run starting at text[start] resyncs and choose its repair."""
    for end in range(start + 1, min(len(text), start + 24) + 1):
        run = text[start:end]
        if run[-1].isspace() or (run[-1] == "?" and end == start + 1):
            return None
        lost_tail = run.endswith("?")
        try:
            raw = _to_gbk(run.removesuffix("?"))
        except UnicodeEncodeError:
            return None
        tails = [bytes([b]) for b in _LEADS] if lost_tail else [b""]
        decoded = False
        scored: dict[str, float] = {}
        for lead in leads:
            for tail in tails:
                try:
                    fixed = (bytes([lead]) + raw + tail).decode("gbk")
                except UnicodeDecodeError:
                    continue
                decoded = True
                if _plausible(fixed):
                    scored[fixed] = _logp(fixed, text, at, end, src)
        if decoded or lost_tail:
            # The first resync point ends the run: every longer run only re-reads clean text.
            guessed = int(len(leads) > 1) + lost_tail
            return _choose(scored, text, at, start, end, guessed, src)
    return None


def _choose(
    scored: dict[str, float],
    text: str,
    at: int,
    start: int,
    end: int,
    guessed: int,
    src: _Source,
) -> tuple[str, int] | None:
    """Pick among the candidate repairs of text[at:end] (see `repair_mojibake`)."""
    if not scored or word_share(text[start:end]) >= 0.5:
        return None  # the run reads as words: clean text after a literal '?'
    best = max(scored, key=scored.__getitem__)
    as_is = _logp(text[at] + text[start:end], text, at, end, src)
    if scored[best] < as_is + _MIN_GAIN:
        return None  # reads no better than it stands: leave it
    known = len(_to_gbk(text[start:end].removesuffix("?")))
    posterior = 1 / sum(math.exp(v - scored[best]) for v in scored.values())
    if known < 2 * guessed or posterior < _MIN_POSTERIOR or word_share(best) < 0.5:
        return ("", end - at)  # mojibake, but too little evidence to say what it was
    return (best, end - at)


def _to_gbk(run: str) -> bytes:
    """GBK bytes of a mojibake run. ASCII below '@' cannot be a GBK trail byte, so there it
    is a full-width form (！ A3 A1) that a later step narrowed; letters stay single bytes."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c < "@" and c != "?" else c for c in run).encode(
        "gbk"
    )


def word_share(s: str) -> float:
    """Share of the Han characters of `s` that lie inside multi-character dictionary words."""
    import jieba

    han = "".join(_HAN.findall(_t2s().convert(s)))
    if not han:
        return 0.0
    words = jieba.lcut(han, HMM=False)
    return sum(len(w) for w in words if len(w) > 1 and jieba.dt.FREQ.get(w)) / len(han)


# Unigram log-probabilities of punctuation in running Chinese text: 。，、“” are about as
# common as the commonest words. Anything else that is not Han is very unlikely.
_PUNCT_LOGP = {"，": -3.0, "。": -3.5, "、": -4.0, "“": -4.5, "”": -4.5}
_RARE_PUNCT = "；：？！‘’（）《》—…"
_ASCII_LOGP = -8.0  # a letter or digit: as likely as an ordinary word, so runs of them cost
_OTHER_LOGP = -20.0
_CONTEXT = 4


def _logp(s: str, text: str, at: int, end: int, src: _Source) -> float:
    """Log-probability of `s` put in place of text[at:end], with a little context each side."""
    left = text[max(0, at - _CONTEXT) : at]
    right = text[end : end + _CONTEXT]
    return _unigram_logp(left + s + right) + _FOREIGN_LOGP * src.foreign(s)


def _unigram_logp(s: str) -> float:
    """Jieba's best-segmentation unigram log-probability of `s` (script-insensitive)."""
    import jieba

    jieba.dt.check_initialized()
    total = math.log(jieba.dt.total)
    logp = 0.0
    for m in re.finditer(r"[\u4e00-\u9fff]+|.", _t2s().convert(s), re.S):
        piece = m.group()
        if _HAN.match(piece):
            for w in jieba.lcut(piece, HMM=False):
                logp += math.log(jieba.dt.FREQ.get(w) or 1) - total
        else:
            c = unicodedata.normalize("NFKC", piece)
            c = {"?": "？", "!": "！", ",": "，", ";": "；", ":": "："}.get(c, c)
            if c in _PUNCT_LOGP:
                logp += _PUNCT_LOGP[c]
            elif c in _RARE_PUNCT:
                logp += -6.0
            elif c.isascii() and c.isalnum():
                logp += _ASCII_LOGP
            else:
                logp += _OTHER_LOGP
    return logp


def _plausible(s: str) -> bool:
    hans = len(_HAN.findall(s))
    return hans >= max(1, len(s) // 2) and all(
        _HAN.match(c) or c in "。，、；：？！“”‘’（）《》—…" for c in s
    )


def is_furniture(line: str) -> bool:
    return any(p.search(line) for p in FURNITURE)


def _is_wrapped(lines: list[str]) -> bool:
    """OCR text broken at a fixed column: short lines, most not ending a sentence."""
    body = [ln for ln in lines if len(ln) >= 5]
    if len(body) < 8:
        return False
    open_ended = sum(1 for ln in body if ln[-1] not in TERMINAL + CLOSERS)
    return statistics.median(len(ln) for ln in body) <= 40 and open_ended / len(body) >= 0.5


def is_prose(text: str) -> bool:
    """Running text rather than a headline or byline."""
    return any(c in text for c in "，。,；：“”！？")


def _ends_sentence(text: str) -> bool:
    s = text.rstrip(CLOSERS)
    return bool(s) and s[-1] in TERMINAL


@dataclass
class _Para:
    """A paragraph being built; `pages` are the offsets in `text` where a new page begins."""

    text: str
    width: float | None = None
    pages: list[int] = field(default_factory=list)
    heading: bool = False


def _lines(raw: str) -> list[str]:
    """Stripped lines, with each page break as a line of its own (PAGE_BREAK)."""
    lines: list[str] = []
    for ln in raw.split("\n"):
        for i, part in enumerate(ln.split(PAGE_BREAK)):
            if i:
                lines.append(PAGE_BREAK)
            lines.append(part.strip())
    return lines


def _units(lines: list[str], wrapped: bool) -> list[tuple[list[str], int]]:
    """Lines grouped into paragraph candidates, each with the page breaks just before it.

    Wrapped (OCR) text groups lines up to a blank line; other text is one paragraph a line.
    A Markdown heading is always a unit of its own. Page breaks after the last line are
    dropped: a trailing form feed ends a page rather than starting one.
    """
    units: list[tuple[list[str], int]] = []
    group: list[str] = []
    breaks = 0
    for ln in [*lines, ""]:
        if group and (not ln or ln == PAGE_BREAK or heading_level(ln) or not wrapped):
            units.append((group, breaks))
            group, breaks = [], 0
        if ln == PAGE_BREAK:
            breaks += 1
        elif ln and heading_level(ln):
            units.append(([ln], breaks))
            breaks = 0
        elif ln:
            group.append(ln)
    return units


def _paragraphs(raw: str) -> list[_Para]:
    """Split raw text into paragraphs, joining hard line breaks, with their column width.

    A sentence cut by a column break (OCR text) or by a page break goes on in one paragraph;
    Markdown headings are never joined to their neighbours.
    """
    lines = _lines(raw)
    body = [ln for ln in lines if ln and ln != PAGE_BREAK and not heading_level(ln)]
    wrapped = _is_wrapped(body)
    paras: list[_Para] = []
    for group, breaks in _units(lines, wrapped):
        heading = bool(heading_level(group[0]))
        prose = is_prose("".join(group))
        text = "".join(group) if prose else " ".join(group)
        width = statistics.median(len(ln) for ln in group) if len(group) > 1 else None
        prev = paras[-1] if paras else None
        if (
            prev
            and (wrapped or breaks)
            and prose
            and not heading
            and not prev.heading
            and is_prose(prev.text)
            and not _ends_sentence(prev.text)
        ):
            # A column or page break in the middle of a sentence: the paragraph goes on.
            prev.pages += [len(prev.text)] * breaks
            prev.text += text
            prev.width = prev.width or width
        else:
            paras.append(_Para(text, width, [0] * breaks, heading))
    return paras


def _collapsed_offset(text: str, at: int) -> int:
    """Where offset `at` of `text` lands once runs of spaces are collapsed and ends stripped."""
    return len(re.sub(r"[ \t]+", " ", text[:at]).lstrip())


def clean(raw: str) -> CleanDocument:
    """Turn damaged source text into clean paragraphs in the original script.

    A form feed in `raw` is a page break: it leaves no character behind, and the offset where
    each new page begins goes to `page_starts`.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = text.replace("\u3000", " ").replace("\xa0", " ")
    # Repair first: the glosses say which character a mojibake '?' stood for.
    text = remove_pinyin_glosses(repair_mojibake(text))
    kept: list[_Para] = []
    carried = 0  # page starts inside dropped paragraphs: they move to the next one kept
    for para in _paragraphs(text):
        cleaned = re.sub(r"[ \t]+", " ", para.text).strip()
        if not cleaned or is_furniture(cleaned) or (kept and cleaned == kept[-1].text):
            # empty, page furniture, or a title printed twice
            carried += len(para.pages)
            continue
        marks = [min(_collapsed_offset(para.text, m), len(cleaned)) for m in para.pages]
        kept.append(_Para(cleaned, para.width, [0] * carried + marks, para.heading))
        carried = 0
    blocks: list[Block] = []
    page_starts: list[int] = []
    pos = 0
    for para in kept:
        blocks.append(Block(para.text, pos, pos + len(para.text), para.width))
        page_starts += [pos + m for m in para.pages]
        pos += len(para.text) + 1
    joined = "\n".join(b.text for b in blocks)
    page_starts += [len(joined)] * carried
    return CleanDocument(joined, blocks, _title(blocks), page_starts)


def _title(blocks: list[Block]) -> str:
    """The first paragraph when it reads as a title; a lone `#` heading there is one too."""
    if not blocks:
        return ""
    first = blocks[0].text
    level = heading_level(first)
    if level == 1 and sum(1 for b in blocks if heading_level(b.text) == 1) == 1:
        first = heading_text(first)
    elif level:
        return ""
    return first if looks_like_title(first) else ""


def looks_like_title(text: str) -> bool:
    return len(text) <= 80 and not _ends_sentence(text) and "。" not in text


def han_bigrams(text: str) -> Counter[str]:
    """Character bigrams of the Han characters of `text`, script- and width-insensitive."""
    t = "".join(_HAN.findall(normalize(text)))
    return Counter(t[i : i + 2] for i in range(len(t) - 1))
