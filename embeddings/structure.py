"""Questions about a document's structure: which part, which heading, the N-th point.

"县委副书记发言的第一部分标题是什么？" asks for a heading, and the passage that holds it is the
one that starts its section with it. Neither retriever sees that: a sub-point under the part,
or the talk's opening, shares as many of the question's words. So, for such a question, the
hybrid ranking puts first the passage among its top candidates that carries the heading asked
for: numbered N when the question names an ordinal (第二部分, 第3点), in the document and
article of the best passage, the shallowest such heading first; otherwise the top-level
heading of the best passage's own section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from embeddings.chunking import leading_heading, numeral_value
from embeddings.store import StoredPassage
from embeddings.text import normalize

# A question asking which part, heading or article says something (after t2s).
ASKS_HEADING = re.compile(r"(哪一?部分|哪个部分|标题|题目|哪一?节|哪一?段|哪一?篇)")
_ORDINAL = re.compile(r"第([一二三四五六七八九十两]{1,3}|\d{1,2})个?(?:部分|点|条|节|段|方面|章)")
# How far down the fused ranking the heading's passage may be found.
WINDOW = 20


def asks_heading(question: str) -> bool:
    return bool(ASKS_HEADING.search(normalize(question)))


def structure_words(question: str) -> list[str]:
    """The part of a question asking for a heading that names no content (第一部分, 标题)."""
    norm = normalize(question)
    if not ASKS_HEADING.search(norm):
        return []
    return [m.group(0) for m in (*ASKS_HEADING.finditer(norm), *_ORDINAL.finditer(norm))]


def asked_ordinal(question: str) -> int | None:
    """N of "第N部分" and the like in a question asking for a heading; None otherwise."""
    norm = normalize(question)
    if not ASKS_HEADING.search(norm):
        return None
    m = _ORDINAL.search(norm)
    if not m:
        return None
    n = m.group(1)
    return int(n) if n.isdigit() else numeral_value(n.replace("两", "二"))


def _path(p: StoredPassage) -> list[str]:
    return p.section.split(" › ") if p.section else []


def _article(path: list[str]) -> list[str]:
    """The path above the first numbered heading: a page's headline › subheading, or nothing."""
    for i, label in enumerate(path):
        if leading_heading(label):
            return path[:i]
    return path


def _carries(p: StoredPassage, label: str) -> bool:
    """Whether the passage starts with the heading `label` (labels may be cut short with …)."""
    head = normalize(label).rstrip("…")
    return len(head) >= 2 and normalize(p.text).lstrip().startswith(head)


def heading_target(
    question: str, ranked: Sequence[int], rows: Mapping[int, StoredPassage]
) -> int | None:
    """The id of the passage holding the heading the question asks for, if one of `ranked`
    (a fused ranking, best first, whose passages are in `rows`) does and is not first."""
    if not ranked or ranked[0] not in rows or not asks_heading(question):
        return None
    top = rows[ranked[0]]
    top_path = _path(top)
    window = [rows[i] for i in ranked[:WINDOW] if i in rows]
    n = asked_ordinal(question)
    if n is not None:
        article = _article(top_path)
        found = []
        for rank, p in enumerate(window):
            path = _path(p)
            head = leading_heading(p.text)
            if (
                p.doc_id == top.doc_id
                and head is not None
                and head[1] == n
                and path
                and _carries(p, path[-1])
                and _article(path) == article
            ):
                found.append((len(path), rank, p.id))
        best = min(found, default=None)
    else:
        numbered = [label for label in top_path if leading_heading(label)]
        if not numbered:
            return None
        best = next(
            (
                (0, rank, p.id)
                for rank, p in enumerate(window)
                if p.doc_id == top.doc_id
                and _path(p) == top_path[: top_path.index(numbered[0]) + 1]
                and _carries(p, numbered[0])
            ),
            None,
        )
    return best[2] if best and best[2] != top.id else None


def heading_first(
    question: str, ranked: list[tuple[int, float]], rows: Mapping[int, StoredPassage]
) -> list[tuple[int, float]]:
    """The fused ranking with the asked heading's passage moved to the top (its score kept)."""
    target = heading_target(question, [i for i, _ in ranked], rows)
    if target is None:
        return ranked
    at = next(k for k, (i, _) in enumerate(ranked) if i == target)
    return [ranked[at], *ranked[:at], *ranked[at + 1 :]]
