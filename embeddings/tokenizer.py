"""Search tokens: jieba over the normalised text, with the domain dictionary and stop words.

Queries and passages go through the same tokenizer, on the t2s/half-width form, so a
Simplified query matches Traditional text. A domain dictionary keeps corpus terms whole
(两个确立, 三高四新, 一要…十要); stop words and punctuation are dropped. BM25 reads these words
plus every pair of adjacent Chinese characters (`bm25_tokens`), so a passage still matches
when jieba splits the question and the passage differently (市长 in 南京市长江大桥). Every
backend (local BM25, Milvus) indexes these same tokens.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from importlib import resources

from embeddings.text import normalize

_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_DATA_FILES = ("userdict.txt", "stopwords.txt")


def _data_text(name: str) -> str:
    return resources.files("embeddings").joinpath("data", name).read_text(encoding="utf-8")


def _data_lines(name: str) -> list[str]:
    text = _data_text(name)
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _data_digest() -> str:
    digest = hashlib.sha1()
    for name in _DATA_FILES:
        digest.update(_data_text(name).encode())
    return digest.hexdigest()[:8]


# Changes with the code's tokenisation and with the dictionary or stop words, so an index
# tokenised differently is refused rather than queried with tokens it does not contain.
LEXICAL_VERSION = f"3-{_data_digest()}"


def char_bigrams(text: str) -> list[str]:
    """Every pair of adjacent Chinese characters in the normalised (t2s) text."""
    runs = _HAN_RUN.findall(normalize(text))
    return [run[i : i + 2] for run in runs for i in range(len(run) - 1)]


class Tokenizer:
    """jieba with the domain dictionary, on normalised text, stop words removed."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for line in _data_lines("userdict.txt"):
            word, *rest = line.split()
            self._jieba.add_word(normalize(word), freq=int(rest[0]) if rest else None)
        self.stopwords = {normalize(w) for w in _data_lines("stopwords.txt")}

    def tokens(self, text: str) -> list[str]:
        """Search tokens of `text`: whole words plus their dictionary sub-words."""
        return [t for t, _, _ in self.spans(text)]

    def bm25_tokens(self, text: str) -> list[str]:
        """What BM25 indexes and looks for: the search tokens, then the character bigrams of
        each run of Chinese characters. On the tuning data (seed dev set, CMRC2018 and DRCD
        tuning halves) the bigrams raise hybrid hit@1 on DRCD .934 → .950 and on CMRC2018
        .984 → .989, the seed set unchanged (benchmarks/results/lexical.md)."""
        return self.tokens(text) + char_bigrams(text)

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """(token, start, end) into `text`; the normalised form has the same length."""
        norm = normalize(text)
        out = []
        for word, start, end in self._jieba.tokenize(norm, mode="search"):
            w = word.strip()
            if w and w not in self.stopwords and _WORD.search(w):
                out.append((w, start, end))
        return out


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    return Tokenizer()
