"""What the benchmark scripts share: where things are, and the question sets they score."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embeddings.evaluation import (  # noqa: E402
    Question,
    load_questions,
    load_squad,
    qrels_for,
    split_questions,
)
from embeddings.store import StoredPassage  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
QUESTIONS = ROOT / "benchmarks" / "questions"
BENCH = Path(os.environ.get("BENCHMARKS_DIR", ROOT.parent / "shared" / "benchmarks"))
SEED_SETS = {"seeds (dev)": "seeds.jsonl", "seeds (held-out)": "seeds_holdout.jsonl"}
PUBLIC_SETS = {"CMRC2018 dev": "cmrc2018_dev.json", "DRCD dev": "DRCD_dev.json"}


# The speed and load runs send the first 110 dev questions, the set their committed figures
# were measured on: the later ones are a third English, each costing one more encoder call,
# so a run over them would not compare with the earlier ones.
TIMED_QUESTIONS = 110


def seed_questions(name: str) -> list[Question]:
    return load_questions(QUESTIONS / SEED_SETS[name])


def seed_languages(name: str) -> dict[str, str]:
    """Each seed question's language label (zh-Hans, zh-Hant, en) by id."""
    lines = (QUESTIONS / SEED_SETS[name]).read_text(encoding="utf-8").splitlines()
    return {str(o["id"]): o.get("lang", "") for o in map(json.loads, filter(str.strip, lines))}


def public_sets() -> dict[str, Path]:
    """The public sets present on this machine (a note for each one absent)."""
    found = {}
    for name, file in PUBLIC_SETS.items():
        path = BENCH / file
        if path.exists():
            found[name] = path
        else:
            print(f"note: {path} is absent, so {name} is skipped (set BENCHMARKS_DIR)")
    return found


def public_half(path: Path, half: str) -> list[Question]:
    """The fixed tuning or test half of a public set's questions: tune on one, report the other."""
    _, questions = load_squad(path)
    tune, test = split_questions(questions)
    return tune if half == "tune" else test


def squad_answers(path: Path) -> dict[str, list[str]]:
    """Each question's answer strings in a SQuAD-style file (load_squad keeps only the
    paragraph, which is what retrieval is judged by)."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    return {
        str(qa["id"]): [a["text"] for a in qa.get("answers", [])]
        for article in data["data"]
        for para in article.get("paragraphs", [])
        for qa in para.get("qas", [])
    }


Qrels = dict[str, dict[str, int]]


def judged(
    questions: list[Question], passages: list[StoredPassage]
) -> tuple[list[Question], Qrels]:
    """The questions some passage is relevant to, and their qrels: the rest cannot be scored."""
    qrels = qrels_for(questions, passages)
    kept = [q for q in questions if qrels[q.id]]
    return kept, {q.id: qrels[q.id] for q in kept}


def hit1_mrr(
    qrels: Qrels, ranked: dict[str, Sequence[tuple[object, float]]]
) -> tuple[float, float]:
    """hit@1 and MRR@10 of each question's ranking of (passage id, score)."""
    from ranx import Qrels as RanxQrels  # loaded by the scripts that score only
    from ranx import Run, evaluate

    run = {
        q: {pid: float(10 - r) for r, (pid, _) in enumerate(pairs[:10])} or {"none": 0.0}
        for q, pairs in ranked.items()
    }
    m = evaluate(RanxQrels(qrels), Run(run), ["hit_rate@1", "mrr@10"], make_comparable=True)
    return m["hit_rate@1"], m["mrr@10"]


def score_cells(row: dict[str, tuple[float, float]], names: list[str]) -> tuple[list[str], float]:
    """A table row's "hit@1 / MRR@10" cell per set, and its mean hit@1."""
    cells = [f"{row[n][0]:.3f} / {row[n][1]:.3f}" for n in names]
    return cells, sum(row[n][0] for n in names) / len(names)
