"""Spans of query terms inside a passage, in the passage's own script.

Matching happens on the normalised form (t2s, half width, lower case), which has the same
length as the original, so a Simplified query marks the right characters of Traditional text.
"""

from __future__ import annotations

from embeddings.text import normalize
from embeddings.tokenizer import Tokenizer


def query_terms(query: str, tokenizer: Tokenizer) -> list[str]:
    """Distinct terms worth marking: words of two or more characters, longest first."""
    terms = {t for t in tokenizer.tokens(query) if len(t) >= 2}
    return sorted(terms, key=lambda t: (-len(t), t))


def term_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of every occurrence of the terms, merged where adjacent."""
    norm = normalize(text)
    spans: list[tuple[int, int]] = []
    for term in terms:
        at = norm.find(term)
        while at >= 0:
            spans.append((at, at + len(term)))
            at = norm.find(term, at + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
