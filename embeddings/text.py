"""Cleaning of damaged Chinese source text, and the normalised form used for matching.

The cleaned text keeps the original script (Simplified or Traditional) for display; matching
(lexical tokens, answer strings, highlights) uses `normalize`, which has the same length as its
input so offsets found in the normalised form index the original text too.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC

CLEANER_VERSION = "1"

TERMINAL = "。！？；…!?;"
CLOSERS = "”’」』）)》"
_TONE = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
# A pinyin gloss glued to a Han character: 學(xué) -> 學. Needs a tone mark, so (2022), (黨組)
# and （一） are left alone.
PINYIN_GLOSS = re.compile(
    rf"(?<=[\u4e00-\u9fff])\((?=[a-zü{_TONE}]*[{_TONE}])[a-zü{_TONE}]{{1,7}}\)"
)
# The same gloss whose opening bracket was eaten by mojibake: 徹?zé)岢
_BROKEN_GLOSS = re.compile(rf"\?(?=[a-zü{_TONE}]*[{_TONE}])[a-zü{_TONE}]{{1,7}}\)")
_HAN = re.compile(r"[\u4e00-\u9fff]")

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
    text: str
    blocks: list[Block]
    title: str


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
    converted = _t2s().convert(unicodedata.normalize("NFKC", text)).lower()
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

    Such a run re-encodes to GBK; shifting it by one byte, with the lost byte restored,
    decodes to the original. A repair is kept only if every character it yields is Han or
    CJK punctuation, so clean text is never touched.
    """
    text = _BROKEN_GLOSS.sub("?", text)
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "?" and i > 0 and _HAN.match(text[i - 1]):
            fixed, used = _unshift_gbk(text, i)
            if used:
                out.append(fixed)
                i += used
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _unshift_gbk(text: str, at: int) -> tuple[str, int]:
    """Best repair of the run starting at `text[at] == '?'`, as (repair, chars consumed)."""
    best: tuple[float, int, str] = (float("-inf"), 0, "")
    for end in range(at + 2, min(len(text), at + 24) + 1):
        run = text[at + 1 : end].replace("!", "！")
        lost_tail = run.endswith("?")
        try:
            raw = run.removesuffix("?").encode("gbk")
        except UnicodeEncodeError:
            break
        tails = [bytes([b]) for b in range(0x81, 0xFF)] if lost_tail else [b""]
        for lead in range(0x81, 0xFF):
            for tail in tails:
                try:
                    fixed = (bytes([lead]) + raw + tail).decode("gbk")
                except UnicodeDecodeError:
                    continue
                if _plausible(fixed):
                    share, logp = _wordiness(fixed)
                    if share >= 0.6:
                        best = max(best, (logp, end - at, fixed))
        if lost_tail:
            break
    _, used, fixed = best
    return fixed, used


def _wordiness(s: str) -> tuple[float, float]:
    """(share of characters inside dictionary words, mean log-probability per character).

    The first keeps only repairs that read as words; the second prefers common words over
    rare look-alikes among them (熱潮 over 酸臭).
    """
    import jieba

    han = "".join(_HAN.findall(_t2s().convert(s)))
    if not han:
        return (0.0, float("-inf"))
    words = jieba.lcut(han, HMM=False)
    covered = sum(len(w) for w in words if len(w) > 1 and w in jieba.dt.FREQ)
    total = math.log(jieba.dt.total)
    logp = sum(math.log(jieba.dt.FREQ.get(w) or 1) - total for w in words)
    return (covered / len(han), logp / len(han))


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


def _paragraphs(raw: str) -> list[tuple[str, float | None]]:
    """Split raw text into paragraphs, joining hard line breaks, with their column width."""
    lines = [ln.strip() for ln in raw.split("\n")]
    if not _is_wrapped([ln for ln in lines if ln]):
        return [(ln, None) for ln in lines if ln]
    groups: list[list[str]] = [[]]
    for ln in lines:
        if ln:
            groups[-1].append(ln)
        elif groups[-1]:
            groups.append([])
    paras: list[tuple[str, float | None]] = []
    for group in (g for g in groups if g):
        prose = is_prose("".join(group))
        text = "".join(group) if prose else " ".join(group)
        width = statistics.median(len(ln) for ln in group) if len(group) > 1 else None
        if paras and prose and is_prose(paras[-1][0]) and not _ends_sentence(paras[-1][0]):
            # A column break in the middle of a sentence: the paragraph goes on.
            prev, prev_width = paras[-1]
            paras[-1] = (prev + text, prev_width or width)
        else:
            paras.append((text, width))
    return paras


def clean(raw: str) -> CleanDocument:
    """Turn damaged source text into clean paragraphs in the original script."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = text.replace("\u3000", " ").replace("\xa0", " ")
    text = repair_mojibake(remove_pinyin_glosses(text))
    kept: list[tuple[str, float | None]] = []
    for para, width in _paragraphs(text):
        para = re.sub(r"[ \t]+", " ", para).strip()
        if not para or is_furniture(para):
            continue
        if kept and para == kept[-1][0]:
            continue  # a title printed twice
        kept.append((para, width))
    blocks: list[Block] = []
    pos = 0
    for para, width in kept:
        blocks.append(Block(para, pos, pos + len(para), width))
        pos += len(para) + 1
    title = blocks[0].text if blocks and looks_like_title(blocks[0].text) else ""
    return CleanDocument("\n".join(b.text for b in blocks), blocks, title)


def looks_like_title(text: str) -> bool:
    return len(text) <= 80 and not _ends_sentence(text) and "。" not in text
