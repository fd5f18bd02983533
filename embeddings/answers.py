"""Extractive answers: the sentence (or clause) of the top passages that best answers a question.

Each candidate sentence is scored by meaning (cosine between the question and the sentence)
and by wording (the share of the question's terms, and of its character bigrams, that the
sentence contains). Below a threshold there is no answer rather than a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from embeddings.encoders import Encoder
from embeddings.engine import Hit
from embeddings.highlight import query_terms
from embeddings.lexical import Tokenizer
from embeddings.text import CLOSERS, TERMINAL, normalize

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
    weight_dense: float = 0.5
    weight_terms: float = 0.3
    weight_bigrams: float = 0.2
    rank_decay: float = 0.02  # a later passage needs a slightly better sentence
    threshold: float = 0.45


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


def extract_answer(
    question: str,
    hits: list[Hit],
    encoder: Encoder,
    tokenizer: Tokenizer,
    config: AnswerConfig | None = None,
) -> tuple[Answer | None, str]:
    """The best answer and why; (None, reason) when nothing clears the threshold."""
    config = config or AnswerConfig()
    if not hits:
        return None, "no passage matched the question"
    candidates: list[tuple[int, int, int]] = []  # (hit index, start, end)
    for i, hit in enumerate(hits[: config.passages]):
        candidates.extend((i, s, e) for s, e in candidate_spans(hit.passage.text))
    if not candidates:
        return None, "the top passages hold no complete sentence"
    texts = [hits[i].passage.text[s:e] for i, s, e in candidates]
    qv = encoder.encode_queries([question])[0]
    sv = encoder.encode_passages(texts)
    dense = sv @ qv
    terms = query_terms(question, tokenizer)
    q_bigrams = _bigrams(question)
    best: tuple[float, int] = (-1.0, -1)
    for j, ((i, _, _), text) in enumerate(zip(candidates, texts, strict=True)):
        norm = normalize(text)
        term_share = sum(len(t) for t in terms if t in norm) / max(1, sum(len(t) for t in terms))
        bigram_share = len(q_bigrams & _bigrams(text)) / len(q_bigrams) if q_bigrams else 0.0
        score = (
            config.weight_dense * float(dense[j])
            + config.weight_terms * term_share
            + config.weight_bigrams * bigram_share
            - config.rank_decay * i
        )
        best = max(best, (score, j))
    score, j = best
    if score < config.threshold:
        return (
            None,
            f"no sentence answers the question well enough (best score {score:.2f} < {config.threshold})",
        )
    i, s, e = candidates[j]
    return Answer(texts[j], hits[i].passage.passage_id, s, e, round(float(score), 4)), "ok"
