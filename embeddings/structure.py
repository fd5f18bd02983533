"""Questions about a document's structure: which part, which heading, the N-th point.

"县委副书记发言的第一部分标题是什么？" asks for a heading, and the passage that holds it is the
one that starts its section with it. Neither retriever sees that: a sub-point under the part,
or the talk's opening, shares as many of the question's words. So, for such a question, the
hybrid ranking puts first the passage among its top candidates that carries the heading asked
for: the top-level heading numbered N when the question names an ordinal (第二部分, 第3点), in
the document and article of the best passage; otherwise the top-level heading of the best
passage's own section. A section too short to be a passage of its own shares one with the
text before it, and then its heading starts nothing: the ranking is left alone.

"临汾那篇评论文章署名是谁？" asks who wrote it, and the byline that answers is printed at the
article's end or at the foot of a newspaper page, where none of the question's words are.
For such a question the hybrid ranking puts first the passage that says who wrote the best
passage's article, when it is among the top candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from embeddings.chunking import (
    has_byline,
    leading_heading,
    names_author,
    numeral_value,
    path_labels,
)
from embeddings.store import StoredPassage
from embeddings.text import heading_text, normalize

# A question asking which part or heading says something (after t2s); not 哪一段时间, 哪一部分人.
_ASKS_PART = r"哪一?个?部[分份](?!人)|标题|题目|哪一?节|哪一?段(?!时|期|历史)"
# ... or which article: its headline answers (answers.py), but no section heading is asked.
ASKS_HEADING = re.compile(rf"({_ASKS_PART}|哪一?篇)")
# The same in English (for answers; the hybrid rule is measured on Chinese questions only).
_ASKS_HEADING_EN = re.compile(
    r"\b(which|what) (part|section|article|piece|editorial|commentary)\b|"
    r"\b(heading|headline)s?\b|"
    r"\btitle of (the|this|that|its|his|her) (article|part|section|editorial|commentary|piece"
    r"|speech|report)\b"
)
_ASKS_PART_RE = re.compile(_ASKS_PART)
# A question asking who wrote it.
_ASKS_AUTHOR = re.compile(
    r"(作者是谁|谁写|谁撰写|谁执笔|谁的文章|署名[是为]?(谁|什么|哪)|落款[是为]?谁|谁署名|"
    r"哪位作者|哪位记者|记者是谁|出自(谁|哪[位个]?\w{0,4}之手))|"
    r"\bwho (wrote|writes|authored|reported|filed|is the author)\b|\bauthor of\b|"
    r"\bwhich (reporter|journalist|writer|author)\b|"
    r"\bwho signed\b.{0,40}\b(article|editorial|commentary|piece|story|report)"
)
_ORDINAL = re.compile(
    r"第([一二三四五六七八九十两]{1,3}|\d{1,2})个?(?:部[分份]|点|条|节|段|方面|章)"
)
# How far down the fused ranking the heading's passage may be found.
WINDOW = 20


def asks_part(question: str) -> bool:
    """Whether the question asks which part or heading says something (structure's business;
    a question asking which article wants a headline, which no reordering finds)."""
    return bool(_ASKS_PART_RE.search(normalize(question)))


def asks_heading(question: str) -> bool:
    """Whether the question asks for a heading or a headline (answers.py answers with one)."""
    norm = normalize(question)
    return bool(ASKS_HEADING.search(norm) or _ASKS_HEADING_EN.search(norm))


def asks_author(question: str) -> bool:
    """Whether the question asks who wrote it (署名是谁, who wrote): a byline answers it."""
    return bool(_ASKS_AUTHOR.search(normalize(question)))


def structure_words(question: str) -> list[str]:
    """The part of a question asking for a heading that names no content (第一部分, 标题)."""
    norm = normalize(question)
    if not ASKS_HEADING.search(norm):
        return []
    return [m.group(0) for m in (*ASKS_HEADING.finditer(norm), *_ORDINAL.finditer(norm))]


def asked_ordinal(question: str) -> int | None:
    """N of "第N部分" and the like in a question asking for a heading; None otherwise."""
    norm = normalize(question)
    if not _ASKS_PART_RE.search(norm):
        return None
    m = _ORDINAL.search(norm)
    if not m:
        return None
    n = m.group(1)
    return int(n) if n.isdigit() else numeral_value(n.replace("两", "二"))


def starts_with_label(text: str, label: str, shortest: int = 2) -> bool:
    """Whether `text` starts with the heading `label` (a path label, maybe cut short with …),
    whatever the script and the marks of a Markdown heading."""
    head = normalize(label).rstrip("…")
    return len(head) >= shortest and normalize(heading_text(text.lstrip())).startswith(head)


def _article(path: list[str]) -> list[str]:
    """The path above the first numbered heading: a page's headline › subheading, or nothing."""
    for i, label in enumerate(path):
        if leading_heading(label):
            return path[:i]
    return path


def heading_target(
    question: str, ranked: Sequence[int], rows: Mapping[int, StoredPassage]
) -> int | None:
    """The id of the passage holding the heading the question asks for, if one of `ranked`
    (a fused ranking, best first, whose passages are in `rows`) does and is not first."""
    if not ranked or ranked[0] not in rows or not asks_part(question):
        return None
    top = rows[ranked[0]]
    top_path = path_labels(top.section)
    article = _article(top_path)
    window = [rows[i] for i in ranked[:WINDOW] if i in rows]
    n = asked_ordinal(question)
    if n is not None:
        # the top level only: 第一部分 is 一、, not the （一） of another part
        target = next(
            (
                p
                for p in window
                if p.doc_id == top.doc_id
                and (path := path_labels(p.section))
                and len(path) == len(article) + 1
                and path[:-1] == article
                and (head := leading_heading(path[-1])) is not None
                and head[1] == n
                and starts_with_label(p.text, path[-1])
            ),
            None,
        )
    else:
        if len(top_path) <= len(article):  # no numbered heading above the best passage
            return None
        part = top_path[: len(article) + 1]
        target = next(
            (
                p
                for p in window
                if p.doc_id == top.doc_id
                and path_labels(p.section) == part
                and starts_with_label(p.text, part[-1])
            ),
            None,
        )
    return target.id if target is not None and target.id != top.id else None


def heading_first(
    question: str, ranked: list[tuple[int, float]], rows: Mapping[int, StoredPassage]
) -> list[tuple[int, float]]:
    """The fused ranking with the asked heading's passage moved to the top."""
    target = heading_target(question, [i for i, _ in ranked], rows)
    return ranked if target is None else _promote(ranked, target)


def _promote(ranked: list[tuple[int, float]], target: int) -> list[tuple[int, float]]:
    """`ranked` with `target` (if among its first WINDOW) moved to the top, scored as the
    best, so scores still fall down the list."""
    at = next((k for k, (i, _) in enumerate(ranked[:WINDOW]) if i == target), 0)
    if at == 0:
        return ranked
    return [(target, ranked[0][1]), *ranked[:at], *ranked[at + 1 :]]


def signed(p: StoredPassage) -> bool:
    """Whether a passage says who wrote its article: a byline line, or a news lead naming
    its reporter (本报讯（记者 符瑶）)."""
    return has_byline(p.text) or names_author(p.text)


def byline_passage(top: StoredPassage, document: Sequence[StoredPassage]) -> StoredPassage | None:
    """The passage of `top`'s document that says who wrote `top`'s article.

    A byline is printed at an article's end or at the foot of a newspaper page, far from
    what the question matched. On a page of several articles, it is the one whose article
    path (headline › subheading) heads `top`'s section path, the longest if several do; a
    document with one signed passage, its last, is signed by it (an editorial, a speech).
    """
    found = [p for p in document if p.doc_id == top.doc_id and signed(p)]
    path = path_labels(top.section)
    heads = {p.id: _article(path_labels(p.section)) for p in found}
    over = [p for p in found if heads[p.id] and path[: len(heads[p.id])] == heads[p.id]]
    if over:
        longest = max(len(heads[p.id]) for p in over)
        over = [p for p in over if len(heads[p.id]) == longest]
        return over[0] if len(over) == 1 else None
    last = max((p.ord for p in document if p.doc_id == top.doc_id), default=-1)
    return found[0] if len(found) == 1 and found[0].ord == last else None


def byline_first(
    ranked: list[tuple[int, float]],
    rows: Mapping[int, StoredPassage],
    document: Sequence[StoredPassage],
) -> list[tuple[int, float]]:
    """For a question asking who wrote it: the fused ranking with the passage that says who
    wrote the best passage's article moved to the top (from within WINDOW). `document` is
    the best passage's document."""
    top = rows.get(ranked[0][0]) if ranked else None
    target = byline_passage(top, document) if top else None
    return ranked if target is None else _promote(ranked, target.id)
