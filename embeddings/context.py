"""Document context added to every passage before embedding and BM25 indexing.

A passage deep in a document rarely repeats what the document is about: the town it is
about (永州, 耒阳), the title, the author of a signed article. Questions name them
("耒阳着力打造…", "组织部部长在文章中…"), so each passage is indexed with a short header of its
document's title, its recurring place names, its byline and its heading path.
The dense model and BM25 each read the passage with the header that measured best for it.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from types import ModuleType

from embeddings.chunking import PATH_SEP, Passage, path_labels
from embeddings.store import StoredPassage
from embeddings.text import normalize

# Too common in this genre to tell documents apart.
_GENERIC_PLACES = {"中国", "中华", "全国", "全省", "全市", "国家", "江山"}


@lru_cache(maxsize=1)
def _posseg() -> ModuleType:
    import jieba.posseg

    posseg: ModuleType = jieba.posseg  # jieba has no type information
    return posseg


def place_names(text: str, limit: int = 2, min_count: int = 3) -> list[str]:
    """The place names a document keeps returning to, most frequent first."""
    counts = Counter(
        w.word
        for w in _posseg().cut(normalize(text))
        if w.flag == "ns" and len(w.word) >= 2 and w.word not in _GENERIC_PLACES
    )
    return [w for w, n in counts.most_common(limit) if n >= min_count]


def passage_header(p: Passage | StoredPassage, context: str, *, title: bool = True) -> str:
    """Title, recurring place names, byline and heading path: what the passage is part of.

    Heading-path parts the title already says (a newspaper headline is both) are left out.
    """
    parts = [p.title if title else "", context]
    if isinstance(p, Passage):
        parts.append(p.byline)
    path = path_labels(p.section)
    for k in range(len(path), 0, -1) if title else ():
        if " ".join(path[:k]) == p.title:
            del path[:k]
            break
    section = PATH_SEP.join(path)
    if section and section not in p.text[: len(section) + 4]:
        parts.append(section)
    return " ".join(x for x in parts if x)


def dense_input(p: Passage | StoredPassage, context: str = "") -> str:
    """What the dense model reads: place names and heading path, then the text.

    Normalised (t2s, half width) like the queries, so the model compares like with like
    whichever script either side is in. The title is left out: its generic wording pulls
    every passage of a document together (measured on the seed questions: dense hit@1
    .65 without it, .59 with it).
    """
    head = passage_header(p, context, title=False)
    return normalize(f"{head}\n{p.text}" if head else p.text)


def lexical_input(p: Passage | StoredPassage, context: str = "") -> str:
    """What BM25 reads: title, place names and heading path, then the text."""
    head = passage_header(p, context)
    return f"{head}\n{p.text}" if head else p.text
