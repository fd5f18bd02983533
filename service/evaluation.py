"""Batch retrieval evaluation against the live index: `python -m service eval`.

Relevance is judged from the labels a question carries: a passage is relevant if its id is
in `relevant_passages`, or if it lies in one of `relevant_docs` (when given) and contains one
of `answers` (when given), matched without regard to script or white space (OpenCC t2s,
full/half width, white space removed). Metrics come from ranx.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from embeddings.chunking import CHUNKER_VERSION
from embeddings.engine import INDEX_FORMAT, MODES, SearchEngine, SourceDocument
from embeddings.lexical import LEXICAL_VERSION
from embeddings.store import StoredPassage
from embeddings.text import CLEANER_VERSION, compact

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
    per_question: list[dict]
    runs: dict[str, dict[str, dict[str, float]]]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, float] | None = None

    def to_json(self) -> dict:
        out = {"modes": self.modes, "per_question": self.per_question}
        if self.answers is not None:
            out["answers"] = self.answers
        return out


def answer_accuracy(
    engine: SearchEngine, questions: Sequence[Question], per_question: list[dict], k: int = 5
) -> dict[str, float]:
    """Share of questions whose /ask answer text contains one of their answer strings."""
    from embeddings.answers import extract_answer

    labelled = [(q, row) for q, row in zip(questions, per_question, strict=True) if q.answers]
    results = engine.search_many([q.question for q, _ in labelled], k, "hybrid")
    correct = answered = 0
    for (q, row), hits in zip(labelled, results, strict=True):
        answer, _ = extract_answer(q.question, hits, engine.encoder, engine.lexical.tokenizer)
        ok = bool(answer) and any(compact(a) in compact(answer.text) for a in q.answers)
        row["answer"] = {"text": answer.text if answer else None, "correct": ok}
        answered += answer is not None
        correct += ok
    n = len(labelled)
    return {
        "answer_contains": round(correct / n, 4) if n else 0.0,
        "answered": round(answered / n, 4) if n else 0.0,
        "n": n,
    }


def evaluate(
    engine: SearchEngine,
    questions: Sequence[Question],
    modes: Sequence[str] = MODES,
    k: int = 10,
    *,
    progress: bool = False,
    skip_unmatched: bool = False,
    answers: bool = False,
) -> EvalResult:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    qrels = qrels_for(questions, engine.store.passages())
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
    per_question = [
        {"id": q.id, "question": q.question, "relevant": sorted(qrels[q.id])} for q in scored
    ]
    modes_out: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        results = engine.search_many([q.question for q in scored], k, mode, progress=progress)  # type: ignore[arg-type]
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


def table(modes: dict[str, dict[str, float]]) -> str:
    names = list(modes)
    rows = [["metric", *names]]
    for metric in [*METRICS, "n"]:
        rows.append(
            [
                metric,
                *(
                    f"{modes[m][metric]:.4f}" if metric != "n" else str(modes[m][metric])
                    for m in names
                ),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def squad_engine(path: Path, settings, encoder) -> SearchEngine:
    """An index of a SQuAD file in its own cache, keyed by file hash, model and chunker."""
    from service.factory import chunker_config, engine_options

    docs, _ = load_squad(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    chunker = chunker_config(settings)
    versions = f"{INDEX_FORMAT}.{CLEANER_VERSION}.{CHUNKER_VERSION}.{LEXICAL_VERSION}"
    key = f"{path.stem}-{digest}-{encoder.fingerprint}-c{chunker.target_chars}-v{versions}"
    engine = SearchEngine(
        settings.data_dir / "eval" / key, encoder, chunker, **engine_options(settings)
    )
    if len(engine.documents()) != len(docs):
        engine.add_documents(docs, progress=True)
    return engine


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--questions",
        type=Path,
        help="JSONL: id, question, answers / relevant_docs / relevant_passages",
    )
    src.add_argument(
        "--squad", type=Path, help="SQuAD-style JSON (CMRC2018, DRCD): indexed in its own cache"
    )
    p.add_argument("--mode", choices=[*MODES, "all"], default="all")
    p.add_argument("--k", type=int, default=10, help="depth of the ranking scored (default 10)")
    p.add_argument("--json", type=Path, help="write modes and per-question results here")
    p.add_argument("--compare", action="store_true", help="paired significance test between modes")
    p.add_argument(
        "--skip-unmatched",
        action="store_true",
        help="leave out questions whose labels match nothing",
    )
    p.add_argument("--limit", type=int, help="only the first N questions (quick runs)")
    p.add_argument(
        "--answers", action="store_true", help="also score /ask answers against the answer strings"
    )


def run_cli(args: argparse.Namespace, settings) -> int:
    from service.factory import build_encoder, open_engine

    out = sys.stdout
    try:
        if args.k < 1 or args.k > 100:
            raise EvaluationError("--k must be between 1 and 100")
        if args.questions:
            questions = load_questions(args.questions)
            engine = open_engine(settings)
        else:
            _, questions = load_squad(args.squad)
            engine = squad_engine(args.squad, settings, build_encoder(settings))
        if args.limit:
            questions = questions[: args.limit]
        modes = list(MODES) if args.mode == "all" else [args.mode]
        result = evaluate(
            engine,
            questions,
            modes,
            max(args.k, 10),
            progress=True,
            skip_unmatched=args.skip_unmatched,
        )
    except EvaluationError as exc:
        out.write(f"error: {exc}\n")
        return 2
    out.write(table(result.modes) + "\n")
    if result.answers:
        a = result.answers
        out.write(
            f"answers: {a['answer_contains']:.4f} contain an answer string, {a['answered']:.4f} answered (n={a['n']})\n"
        )
    if args.compare and len(modes) > 1:
        out.write("\n" + compare(result) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
        out.write(f"wrote {args.json}\n")
    return 0
