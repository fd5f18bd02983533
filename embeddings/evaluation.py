"""Batch retrieval evaluation: labelled questions in, ranx metrics per mode out.

Relevance is judged from the labels a question carries: a passage is relevant if its id is
in `relevant_passages`, or if it lies in one of `relevant_docs` (when given) and contains one
of `answers` (when given), matched without regard to script or white space (OpenCC t2s,
full/half width, white space removed). Metrics come from ranx.

Over 300 lines on purpose (just): question files, relevance, metrics and answer accuracy
are the one evaluation every caller (CLI, HTTP batch, benchmarks) shares.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeddings.engine import MODES, Mode, SearchEngine, SourceDocument
from embeddings.store import StoredPassage
from embeddings.text import compact

logger = logging.getLogger(__name__)

METRICS = {
    "hit@1": "hit_rate@1",
    "hit@5": "hit_rate@5",
    "hit@10": "hit_rate@10",
    "mrr@10": "mrr@10",
    "ndcg@10": "ndcg@10",
}


class EvaluationError(ValueError):
    """A problem with the evaluation input that the user can fix."""


@dataclass
class Question:
    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    relevant_docs: list[str] = field(default_factory=list)
    relevant_passages: list[str] = field(default_factory=list)


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL question file; every problem is reported with its line number."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EvaluationError(f"{path}: not UTF-8 text ({exc})") from None
    questions: list[Question] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n}: expected a JSON object, got {type(obj).__name__}")
            continue
        qid, text = obj.get("id"), obj.get("question")
        if not isinstance(qid, (str, int)) or str(qid) == "":
            problems.append(f'line {n}: missing "id"')
            continue
        if not isinstance(text, str) or not text.strip():
            problems.append(f'line {n}: "question" must be a non-empty string')
            continue
        labels = {}
        for key in ("answers", "relevant_docs", "relevant_passages"):
            value = obj.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                problems.append(f'line {n}: "{key}" must be a list of non-empty strings')
                break
            labels[key] = value
        else:
            if not any(labels.values()):
                problems.append(
                    f'line {n}: no labels; give "answers", "relevant_docs" or "relevant_passages"'
                )
                continue
            if str(qid) in seen:
                problems.append(f'line {n}: duplicate id "{qid}"')
                continue
            seen.add(str(qid))
            questions.append(Question(str(qid), text.strip(), **labels))
    if problems:
        raise EvaluationError(
            f"{path}: " + "; ".join(problems[:20]) + (" …" if len(problems) > 20 else "")
        )
    if not questions:
        raise EvaluationError(f"{path}: the file holds no questions")
    return questions


def load_squad(path: Path) -> tuple[list[SourceDocument], list[Question]]:
    """A SQuAD-style file (CMRC2018, DRCD): each paragraph a document, its questions relevant to it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        articles = data["data"]
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EvaluationError(f"{path}: not a SQuAD-style JSON file ({exc})") from None
    docs: list[SourceDocument] = []
    questions: list[Question] = []
    for a, article in enumerate(articles):
        for p, para in enumerate(article.get("paragraphs", [])):
            doc_id = str(para.get("id") or f"{article.get('id', a)}-{p}")
            docs.append(SourceDocument(doc_id, para["context"], f"{path.name}#{doc_id}"))
            for qa in para.get("qas", []):
                questions.append(Question(str(qa["id"]), qa["question"], relevant_docs=[doc_id]))
    if not questions:
        raise EvaluationError(f"{path}: the file holds no questions")
    return docs, questions


def qrels_for(
    questions: Sequence[Question], passages: Sequence[StoredPassage]
) -> dict[str, dict[str, int]]:
    """Relevant passage ids per question."""
    by_doc: dict[str, list[StoredPassage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    compact_text = {p.passage_id: compact(p.text) for p in passages}
    qrels: dict[str, dict[str, int]] = {}
    for q in questions:
        pool = (
            [p for d in q.relevant_docs for p in by_doc.get(d, [])] if q.relevant_docs else passages
        )
        answers = [compact(a) for a in q.answers]
        rel: set[str] = set()
        if q.answers or q.relevant_docs:
            rel = {
                p.passage_id
                for p in pool
                if not answers or any(a in compact_text[p.passage_id] for a in answers)
            }
        rel.update(q.relevant_passages)
        qrels[q.id] = {pid: 1 for pid in rel}
    return qrels


def check_labels(
    questions: Sequence[Question], engine: SearchEngine, qrels: dict[str, dict[str, int]]
) -> list[str]:
    """Labels that match nothing in the index: scored as a miss they would lie."""
    known_docs = {d.doc_id for d in engine.documents()}
    problems = []
    for q in questions:
        unknown = [d for d in q.relevant_docs if d not in known_docs]
        if unknown:
            problems.append(f"{q.id}: relevant_docs not in the index: {', '.join(unknown)}")
        elif not qrels[q.id]:
            what = f"answers {q.answers}" if q.answers else "labels"
            problems.append(
                f"{q.id}: {what} found in no passage"
                + (f" of {q.relevant_docs}" if q.relevant_docs else "")
            )
        missing = [p for p in q.relevant_passages if engine.passage(p) is None]
        if missing:
            problems.append(f"{q.id}: relevant_passages not in the index: {', '.join(missing)}")
    return problems


@dataclass
class EvalResult:
    modes: dict[str, dict[str, float]]
    per_question: list[dict[str, Any]]
    runs: dict[str, dict[str, dict[str, float]]]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"modes": self.modes, "per_question": self.per_question}
        if self.answers is not None:
            out["answers"] = self.answers
        return out


def answer_is_correct(answer_text: str | None, answers: Sequence[str]) -> bool:
    """An answer is right when it contains one of the answer strings (script-insensitive)."""
    return bool(answer_text) and any(compact(a) in compact(answer_text or "") for a in answers)


def answer_accuracy(
    engine: SearchEngine,
    questions: Sequence[Question],
    per_question: list[dict[str, Any]],
    k: int = 5,
) -> dict[str, float]:
    """Share of questions whose /ask answer text contains one of their answer strings."""
    rows = {row["id"]: row for row in per_question}
    labelled = [q for q in questions if q.answers]
    correct = answered = 0
    for q in labelled:
        answer = engine.ask(q.question, k, "hybrid").answer
        ok = answer_is_correct(answer.text if answer else None, q.answers)
        if q.id in rows:
            rows[q.id]["answer"] = {"text": answer.text if answer else None, "correct": ok}
            if answer:
                rows[q.id]["answer"].update(
                    passage_id=answer.passage_id, start=answer.start, end=answer.end
                )
        answered += answer is not None
        correct += ok
    n = len(labelled)
    return {
        "answer_contains": round(correct / n, 4) if n else 0.0,
        "answered": round(answered / n, 4) if n else 0.0,
        "n": n,
    }


def split_questions(
    questions: Sequence[Question], seed: int = 2026
) -> tuple[list[Question], list[Question]]:
    """A fixed random half for tuning and the other half for reporting (public sets)."""
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    half = set(order[: len(order) // 2])
    tune = [q for i, q in enumerate(questions) if i in half]
    test = [q for i, q in enumerate(questions) if i not in half]
    return tune, test


def evaluate(
    engine: SearchEngine,
    questions: Sequence[Question],
    modes: Sequence[Mode] = MODES,
    k: int = 10,
    *,
    progress: bool = False,
    skip_unmatched: bool = False,
    answers: bool = False,
) -> EvalResult:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    qrels = qrels_for(questions, engine.all_passages())
    problems = check_labels(questions, engine, qrels)
    if problems and not skip_unmatched:
        raise EvaluationError(
            f"{len(problems)} question(s) have labels that match nothing in the index, so they "
            "cannot be scored (fix the labels, or pass --skip-unmatched): "
            + "; ".join(problems[:10])
        )
    scored = [q for q in questions if qrels[q.id]]
    if not scored:
        raise EvaluationError("no question has a relevant passage in the index")
    qrels = {q.id: qrels[q.id] for q in scored}
    per_question: list[dict[str, Any]] = [
        {"id": q.id, "question": q.question, "relevant": sorted(qrels[q.id])} for q in scored
    ]
    modes_out: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        results = engine.search_many([q.question for q in scored], k, mode, progress=progress)
        run = {}
        for q, hits, row in zip(scored, results, per_question, strict=True):
            # Scores by rank, so ranx sees exactly the service's order.
            run[q.id] = {h.passage.passage_id: float(k - r) for r, h in enumerate(hits)} or {
                "__none__": 0.0
            }
            ranks = [r for r, h in enumerate(hits, 1) if h.passage.passage_id in qrels[q.id]]
            row[mode] = {
                "rank": ranks[0] if ranks else None,
                "hits": [h.passage.passage_id for h in hits],
            }
        runs[mode] = run
        values = ranx_evaluate(Qrels(qrels), Run(run), list(METRICS.values()), make_comparable=True)
        modes_out[mode] = {name: round(float(values[m]), 4) for name, m in METRICS.items()}
        modes_out[mode]["n"] = len(scored)
    result = EvalResult(modes_out, per_question, runs, qrels)
    if answers:
        result.answers = answer_accuracy(engine, scored, per_question)
    return result


def compare(result: EvalResult) -> str:
    """Paired significance test between modes (two-sided paired t-test, ranx)."""
    from ranx import Qrels, Run
    from ranx import compare as ranx_compare

    runs = []
    for mode, run in result.runs.items():
        r = Run(run, name=mode)
        runs.append(r)
    report = ranx_compare(
        Qrels(result.qrels), runs, metrics=["hit_rate@1", "mrr@10"], stat_test="student", max_p=0.05
    )
    return str(report)
