"""Extractive answers: the sentence (or clause) of the top passages that best answers a question.

Each candidate sentence is scored by meaning (cosine between the question and the sentence)
and by wording: the question's terms it contains, each weighted by how rare it is among the
candidates (a term every candidate shares, such as the town's name, decides nothing), and
the word the question asks about (…什么样的框架 → 框架). A sentence from a lower-ranked
passage needs a clearly better score: the passages' order already weighs both retrievers'
evidence, a sentence's wording only its own. Questions without Chinese (English) are worded
through the bridge (embeddings/bridge.py): their words' Chinese terms in the top passages.

A heading that restates the question (三要做好某事。 for "如何做好某事？") says nothing new:
the sentences under it answer instead, and the bare heading wins only when none follows it.
A sentence of running text that repeats the question's words stays a candidate like any
other: answers often sit among the question's own words (…可分为两个部分).
A question asking for a time or a quantity (哪一年, 多少) favours a sentence holding one.
When the question asks which part says something, the best heading answers; when it asks
who wrote it, the best byline. Below a threshold there is no answer rather than a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from embeddings.bridge import bridge, is_foreign, passages_text
from embeddings.chunking import is_byline, names_author, path_labels
from embeddings.highlight import query_terms
from embeddings.hits import Hit
from embeddings.store import Sentences
from embeddings.structure import asks_author, asks_heading, starts_with_label, structure_words
from embeddings.text import SENTENCE_BODY, SENTENCE_END, han_bigrams, normalize
from embeddings.tokenizer import Tokenizer

MAX_ANSWER_CHARS = 200
_SENTENCE = re.compile(rf"{SENTENCE_BODY}(?:{SENTENCE_END})?")
_CLAUSE = re.compile(r"[^，,：:]+[，,：:]?")
_MIN_CLAUSE = 3  # Han characters: a shorter clause (其次，) says too little to count as new
_HAN = re.compile(r"[\u4e00-\u9fff]")
_NUM = "一二三四五六七八九十"
# The numbering of a heading, which restates nothing and answers nothing.
_ORDINAL = re.compile(
    rf"^([{_NUM}]{{1,3}}[、要是]|[（(][{_NUM}]{{1,3}}[)）]|第[{_NUM}]{{1,3}}[，、,：:]?)"
)
# A question about someone's office, which a byline answers too (刘新华担任什么职务？).
_ASKS_ROLE = re.compile(r"职务|职位|担任|身份|\b(position|role|office|post)\b")
# A question asking for a time or a quantity, and the values that answer it. "哪几个" asks
# for names, not a count; 许多大学 and 科罗拉多大学 hold no 多大.
_ASKS_TIME = re.compile(
    r"([哪那]一?年|何年|[哪那]一?天|几月|[哪那]个?月|什么时候|甚么时候|何时|几时|什么时间|"
    r"哪一?世纪|年份|日期)"
)
_ASKS_NUMBER = re.compile(
    r"(多少|(?<![哪])几[个次种名位项条座家天年岁倍场届部首]|"
    r"(?<![许很最更诸众繁拉])多[长高大重远久宽深]|第几)"
)
# 一 alone (一种, 一个) is mostly an article, not a quantity; inside a number it counts.
_NUMERAL = "一〇零二三四五六七八九十百千万亿两"
_TIME = re.compile(rf"(\d+|[{_NUMERAL}]+|[元初])\s*(年|月|日|世纪|年代)|公元")
_UNITS = (  # measure words after a single numeral: 三年, 两个, 五百多
    "个次种名位项条座家天年月日周岁倍场届部首人元米分秒吨里成多余"
    "级章集期代楼号套本辆台只头张片块间层支队国省门所节篇句字页声遍回轮局架艘枚颗件份批组对"
)
_NUMBER = re.compile(rf"\d|[{_NUMERAL}]{{2,}}|[{_NUMERAL[1:]}]\s*[{_UNITS}]|第[{_NUMERAL}]")
# A point the question names by its printed label, in quotes: “一是”提出的要求是什么？
_QUOTED_LABEL = re.compile(
    rf"[“‘\"'「『]([{_NUM}]{{1,3}}[是要]|[（(][{_NUM}]{{1,3}}[)）])[”’\"'」』]"
)
# The question word, and the word after it that names what is asked for (什么样的框架 → 框架).
_WH = re.compile(
    r"(什么样的?|什么|怎么样的|怎样的|哪一|哪些|哪个|哪几|哪|多少|几|谁)[个项种类些位家次条名]?"
)
_FOCUS_END = re.compile(r"[，。？！?!,、；;：:“”\s]")


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
    # Weights and thresholds chosen by benchmarks/tune_answers.py on the seed dev questions
    # and the public sets' tuning halves (thousands of questions, so less fit to the 55).
    weight_dense: float = 1.0
    weight_terms: float = 0.5
    weight_focus: float = 0.2  # the sentence holds the word the question asks about
    weight_expects: float = 0.3  # it holds the kind of value asked for (a time, a quantity)
    rank_decay: float = 0.15  # each step down the ranking costs a sentence this much
    restates: float = 0.25  # a heading with less new wording than this restates the question
    threshold: float = 0.95  # for questions with Chinese
    threshold_bridged: float = 0.85  # without Chinese: the best sentence's meaning score


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


def novelty(text: str, question: str) -> float:
    """What a sentence (numbering aside) adds to the question: the share of its characters in
    no character bigram of the question, for its newest clause. A heading whose first clause
    restates the question and whose second answers it (一是提高站位抓落实，解决好忠诚问题) adds
    what its second clause adds; taken whole, it would pass for a restatement."""
    q = set(han_bigrams(question))
    text = _ORDINAL.sub("", normalize(text).strip())
    clauses = ["".join(_HAN.findall(c)) for c in _CLAUSE.findall(text)]
    clauses = [c for c in clauses if len(c) >= _MIN_CLAUSE] or ["".join(_HAN.findall(text))]
    return max(_uncovered(c, q) for c in clauses)


def _uncovered(t: str, bigrams: set[str]) -> float:
    if not t:
        return 0.0
    covered = [False] * len(t)
    for i in range(len(t) - 1):
        if t[i : i + 2] in bigrams:
            covered[i] = covered[i + 1] = True
    return 1 - sum(covered) / len(t)


def focus_terms(question: str, tokenizer: Tokenizer) -> list[str]:
    """The words after the question word that name what is asked for (哪项置换工作 → 置换, 工作)."""
    q = normalize(question)
    m = _WH.search(q)
    if not m:
        return []
    after = _FOCUS_END.split(q[m.end() :], maxsplit=1)[0][:6]
    after = after.rsplit("的", 1)[-1]
    return [t for t in tokenizer.tokens(after) if len(t) >= 2]


def expected_value(question: str) -> re.Pattern[str] | None:
    """The kind of value that answers `question` when it asks for a time or a quantity: a
    sentence holding one gains `weight_expects` (a preference, not a requirement)."""
    q = normalize(question)
    if _ASKS_TIME.search(q):
        return _TIME
    if _ASKS_NUMBER.search(q):
        return _NUMBER
    return None


def is_heading(text: str, section: str) -> bool:
    """Whether a sentence is the heading of its passage's section (or one above it)."""
    return any(starts_with_label(text, label, 4) for label in path_labels(section))


@dataclass(frozen=True)
class Candidate:
    hit_rank: int
    start: int
    end: int
    text: str
    dense: float
    terms: float
    focus: float = 0.0
    heading: bool = False
    novelty: float = 1.0
    asked: bool = False  # the kind of sentence the question asks for: a heading, a byline
    expects: float = 0.0  # the question asks for a time or a quantity and the sentence has one


def candidates(
    question: str,
    hits: list[Hit],
    qv: np.ndarray,
    sentences: Mapping[int, Sentences],
    tokenizer: Tokenizer,
    passages: int = 3,
    signer: int | None = None,
) -> list[Candidate]:
    """Every candidate sentence of the top passages with its feature scores.

    `qv` is the question's vector and `sentences` each passage's candidate spans with their
    vectors, stored at index time, so answering embeds nothing but the question (once, for
    search and answer alike; an English one with its bridged words, searcher._with_words).
    When `signer` (a passage id) is given, only its byline answers who wrote the article.
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
    wording = question
    focus = focus_terms(question, tokenizer)
    groups: list[tuple[str, ...]] = [(t,) for t in query_terms(question, tokenizer)]
    if is_foreign(question):  # its Chinese terms, as the top passages spell them
        corpus = passages_text(tuple(h.passage.text for h in hits[:passages]), tokenizer)
        bridged = bridge(question, corpus)
        wording = " ".join(bridged.words())
        # One group per English word: any of its translations is the word; a content word
        # with no translation here is a group no sentence holds.
        groups = [(normalize(w),) for w in bridged.names.values()]
        groups += [tuple(normalize(w) for w in ws) for ws in bridged.terms.values()]
        groups += [() for _ in bridged.missed]
    structural = structure_words(question)
    if structural:  # 第一部分的标题: no sentence holds these words, a heading least of all
        groups = [g for g in groups if not g or not all(any(t in w for w in structural) for t in g)]
    n = len(norms)
    idf = [
        (g, math.log((n + 1) / (0.5 + sum(any(t in x for t in g) for x in norms)))) for g in groups
    ]
    total = sum(w for _, w in idf)
    asking = normalize(question)
    label = _QUOTED_LABEL.search(asking)
    heading_asked = asks_heading(question) or label is not None
    author = asks_author(question)
    asks_role = bool(_ASKS_ROLE.search(asking))
    value = expected_value(question)
    out = []
    for (i, s, e), text, norm, d in zip(spans, texts, norms, dense, strict=True):
        if is_byline(text) and not (author or asks_role or _names_in(text, asking)):
            continue  # who wrote it answers nothing but who wrote it, or what office they hold
        heading = is_heading(text, hits[i].passage.section)
        # the heading asked for; with a label, that point's only (not “二是” for “一是”)
        wanted = heading_asked and heading and (not label or norm.startswith(label.group(1)))
        where = norm
        if wanted:  # the question names the document the heading is in
            p = hits[i].passage
            where = normalize(f"{p.title}\n{p.section}") + "\n" + norm
        held = sum(w for g, w in idf if any(t in where for t in g))
        term_score = held / total if total > 0 else 0.0
        out.append(
            Candidate(
                i,
                s,
                e,
                text,
                float(d),
                term_score,
                focus=sum(t in norm for t in focus) / len(focus) if focus else 0.0,
                heading=heading,
                novelty=novelty(text, wording),
                asked=wanted
                or author
                and names_author(text)
                and signer in (None, hits[i].passage.id),
                expects=float(not heading and value is not None and bool(value.search(norm))),
            )
        )
    return out


def _names_in(byline: str, asking: str) -> bool:
    """Whether the (normalised) question names the byline's author, its last word
    (湘潭市委秘书长 刘新华)."""
    words = byline.split()
    return bool(words) and len(words[-1]) >= 2 and normalize(words[-1]) in asking


def score(c: Candidate, config: AnswerConfig) -> float:
    """A candidate's score: meaning, wording, the word asked about, and where it comes from."""
    total = config.weight_dense * c.dense - config.rank_decay * c.hit_rank
    total += config.weight_expects * c.expects
    return total + config.weight_terms * c.terms + config.weight_focus * c.focus


def choose(
    cands: list[Candidate], has_chinese: bool, config: AnswerConfig
) -> tuple[Candidate | None, float]:
    """The best candidate and its score, or None when it is below the threshold.

    When the question asks for a heading or an author and the top passages hold one, the
    best of those is the answer. Otherwise a heading that restates the question gives way to
    the best sentence under it; for a question without Chinese, any heading does: what it adds
    cannot be told from dictionary words, and its meaning matches the topic the question
    names. The best score of all, less the value feature (a figure says nothing about being
    on topic), says whether the passages answer the question at all;
    for a question without Chinese, its meaning alone: a dictionary sense its words share
    with a sentence (capital → 资金) helps choose among sentences but says little about being
    on topic.
    """
    scores = [score(c, config) for c in cands]
    if not cands:
        return None, float("-inf")
    j = max(range(len(cands)), key=lambda x: (scores[x], -x))
    best = cands[j]
    asked = [x for x, c in enumerate(cands) if c.asked]
    if asked:
        best = cands[max(asked, key=lambda x: (scores[x], -x))]
    elif best.heading and (best.novelty < config.restates or not has_chinese):
        others = [
            x
            for x, c in enumerate(cands)
            if c.hit_rank == best.hit_rank
            and c.novelty >= config.restates
            and c.start >= best.end
            and not c.heading
        ]
        if others:
            best = cands[max(others, key=lambda x: (scores[x], -x))]
    gate = (
        max(sc - config.weight_expects * c.expects for sc, c in zip(scores, cands, strict=True))
        if has_chinese
        else cands[j].dense
    )
    if gate < (config.threshold if has_chinese else config.threshold_bridged):
        return None, gate
    return best, scores[j]


def extract_answer(
    question: str,
    hits: list[Hit],
    qv: np.ndarray,
    sentences: Mapping[int, Sentences],
    tokenizer: Tokenizer,
    config: AnswerConfig | None = None,
    signer: int | None = None,
) -> tuple[Answer | None, str]:
    """The best answer and why; (None, reason) when nothing clears the threshold. `signer`
    is the passage with the byline of the article asked about, when it is known."""
    config = config or AnswerConfig()
    if not hits:
        return None, "no passage matched the question"
    cands = candidates(question, hits, qv, sentences, tokenizer, config.passages, signer)
    if not cands:
        return None, "the top passages hold no complete sentence"
    has_chinese = bool(_HAN.search(question))
    best, best_score = choose(cands, has_chinese, config)
    if best is None:
        threshold = config.threshold if has_chinese else config.threshold_bridged
        return None, (
            f"no sentence in the top passages answers the question well enough "
            f"(best score {best_score:.2f}, threshold {threshold:.2f})"
        )
    passage_id = hits[best.hit_rank].passage.passage_id
    return Answer(best.text, passage_id, best.start, best.end, round(best_score, 4)), "ok"
