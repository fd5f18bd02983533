"""Document context added to every passage before embedding and BM25 indexing.

A passage deep in a document rarely repeats what the document is about: the town it is
about (永州, 耒阳), the title. Questions name them ("耒阳着力打造…"), so each passage is
indexed with a short header of its document's title and its recurring place names.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from embeddings.text import normalize

# Too common in this genre to tell documents apart.
_GENERIC_PLACES = {"中国", "中华", "全国", "全省", "全市", "国家", "江山"}


@lru_cache(maxsize=1)
def _posseg():
    import jieba.posseg

    return jieba.posseg


def place_names(text: str, limit: int = 2, min_count: int = 3) -> list[str]:
    """The place names a document keeps returning to, most frequent first."""
    counts = Counter(
        w.word
        for w in _posseg().cut(normalize(text))
        if w.flag == "ns" and len(w.word) >= 2 and w.word not in _GENERIC_PLACES
    )
    return [w for w, n in counts.most_common(limit) if n >= min_count]
