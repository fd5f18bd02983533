"""Extractive answers: the sentence (or clause) of the top passages that best answers a question.

Each candidate sentence is scored by meaning (cosine between the question and the sentence)
and by wording: the question's terms it contains, each weighted by how rare it is among the
candidates (a term every candidate shares, such as the town's name, decides nothing), and
the share of the question's character bigrams. Questions without Chinese (English) are
scored by meaning alone. Below a threshold there is no answer rather than a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from embeddings.highlight import query_terms
from embeddings.hits import Hit
from embeddings.store import Sentences
from embeddings.text import CLOSERS, TERMINAL, normalize
from embeddings.tokenizer import Tokenizer

MAX_ANSWER_CHARS = 200
_SENTENCE = re.compile(
    rf"[^{re.escape(TERMINAL)}\n]+(?:[{re.escape(TERMINAL)}]+[{re.escape(CLOSERS)}]*)?"
)
_CLAUSE = re.compile(r"[^，,：:]+[，,：:]?")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Answer:
    text: str
    passage_id: str
    start: int  # offsets into the passage's text
    end: int
    score: float


@dataclass(frozen=True)
class AnswerConfig:
    passages: int = 3  # how many top passages to read
    weight_dense: float = 1.0
    weight_terms: float = 0.5
    weight_bigrams: float = 0.2
    rank_decay: float = 0.02  # a later passage needs a slightly better sentence
    threshold: float = 0.85  # for questions with Chinese; dense + wording (tune_answers.py)
    threshold_dense_only: float = 0.77  # for questions without Chinese


def candidate_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of a passage; a sentence longer than the answer limit is cut into clause runs."""
    spans = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s < 4:
            continue
        if e - s <= MAX_ANSWER_CHARS:
            spans.append((s, e))
            continue
        cs = s
        for c in _CLAUSE.finditer(text, s, e):
            if c.end() - cs > MAX_ANSWER_CHARS and c.start() > cs:
                spans.append((cs, c.start()))
                cs = c.start()
        spans.append((cs, min(e, cs + MAX_ANSWER_CHARS)))
    return spans


def _bigrams(text: str) -> set[str]:
    t = "".join(_HAN.findall(normalize(text)))
    return {t[i : i + 2] for i in range(len(t) - 1)}


@dataclass(frozen=True)
class Candidate:
    hit_rank: int
    start: int
    end: int
    text: str
    dense: float
    terms: float
    bigrams: float


def candidates(
    question: str,
    hits: list[Hit],
    qv: np.ndarray,
    sentences: Mapping[int, Sentences],
    tokenizer: Tokenizer,
    passages: int = 3,
) -> list[Candidate]:
    """Every candidate sentence of the top passages with its three feature scores.

    `qv` is the question's vector and `sentences` each passage's candidate spans with their
    vectors, stored at index time, so answering embeds nothing but the question (once, for
    search and answer alike).
    """
    spans: list[tuple[int, int, int]] = []
    vectors: list[np.ndarray] = []
    for i, hit in enumerate(hits[:passages]):
        found = sentences.get(hit.passage.id)
        if found is None:
            continue
        spans += [(i, s, e) for s, e in found.spans]
        vectors += list(found.vectors)
    if not spans:
        return []
    texts = [hits[i].passage.text[s:e] for i, s, e in spans]
    norms = [normalize(t) for t in texts]
    dense = np.stack(vectors) @ qv
    terms = query_terms(question, tokenizer)
    n = len(norms)
    idf = {t: math.log((n + 1) / (0.5 + sum(t in x for x in norms))) for t in terms}
    total = sum(idf.values())
    q_bigrams = _bigrams(question)
    out = []
    for (i, s, e), text, norm, d in zip(spans, texts, norms, dense, strict=True):
        term_score = sum(w for t, w in idf.items() if t in norm) / total if total > 0 else 0.0
        bigram = len(q_bigrams & _bigrams(text)) / len(q_bigrams) if q_bigrams else 0.0
        out.append(Candidate(i, s, e, text, float(d), term_score, bigram))
    return out


def choose(
    cands: list[Candidate], has_chinese: bool, config: AnswerConfig
) -> tuple[Candidate | None, float]:
    """The best candidate and its score, or None when it is below the threshold."""
    best: tuple[float, int] = (float("-inf"), -1)
    for j, c in enumerate(cands):
        score = config.weight_dense * c.dense - config.rank_decay * c.hit_rank
        if has_chinese:
            score += config.weight_terms * c.terms + config.weight_bigrams * c.bigrams
        best = max(best, (score, j))
    score, j = best
    threshold = config.threshold if has_chinese else config.threshold_dense_only
    if j < 0 or score < threshold:
        return None, score
    return cands[j], score


def extract_answer(
    question: str,
    hits: list[Hit],
    qv: np.ndarray,
    sentences: Mapping[int, Sentences],
    tokenizer: Tokenizer,
    config: AnswerConfig | None = None,
) -> tuple[Answer | None, str]:
    """The best answer and why; (None, reason) when nothing clears the threshold."""
    config = config or AnswerConfig()
    if not hits:
        return None, "no passage matched the question"
    cands = candidates(question, hits, qv, sentences, tokenizer, config.passages)
    if not cands:
        return None, "the top passages hold no complete sentence"
    has_chinese = bool(_HAN.search(question))
    best, score = choose(cands, has_chinese, config)
    if best is None:
        threshold = config.threshold if has_chinese else config.threshold_dense_only
        return None, (
            f"no sentence in the top passages answers the question well enough "
            f"(best score {score:.2f}, threshold {threshold:.2f})"
        )
    passage_id = hits[best.hit_rank].passage.passage_id
    return Answer(best.text, passage_id, best.start, best.end, round(score, 4)), "ok"
