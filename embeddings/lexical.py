"""Lexical retrieval: BM25 (bm25s) over jieba tokens of the normalised text.

Queries and passages go through the same `Tokenizer.tokens`, on the t2s/half-width form, so
a Simplified query matches Traditional text. A domain dictionary keeps corpus terms whole
(两个确立, 三高四新, …); stop words and punctuation are dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from embeddings.text import normalize

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]")
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
LEXICAL_VERSION = f"1-{_data_digest()}"


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


class LexicalIndex:
    """BM25 over passages, stored beside the vector index and rebuilt only when passages change."""

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self.tokenizer = tokenizer or default_tokenizer()
        self._bm25 = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._vocab: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: list[int], texts: list[str]) -> None:
        import bm25s

        self._ids = np.asarray(ids, dtype=np.int64)
        if not ids:
            self._bm25 = None
            self._vocab = {}
            return
        corpus = [self.tokenizer.tokens(t) or [""] for t in texts]
        bm25 = bm25s.BM25()
        bm25.index(corpus, show_progress=False)
        self._bm25 = bm25
        self._vocab = dict(bm25.vocab_dict)

    def search(
        self, query: str, k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, BM25 score) with a positive score."""
        if self._bm25 is None or k <= 0:
            return []
        tokens = [t for t in self.tokenizer.tokens(query) if t in self._vocab]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        if allowed is not None:
            mask = np.isin(self._ids, np.fromiter(allowed, dtype=np.int64))
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(self._ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "ids.npy", self._ids)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"), show_progress=False)
        (tmp / "version.json").write_text(json.dumps({"version": LEXICAL_VERSION}))
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path: Path, tokenizer: Tokenizer | None = None) -> LexicalIndex:
        import bm25s

        index = cls(tokenizer)
        index._ids = np.load(path / "ids.npy")
        if (path / "bm25").exists():
            index._bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
            index._vocab = dict(index._bm25.vocab_dict)
        return index
