"""Choose the hybrid fusion by measurement on tuning data only.

Tuning data: the seed dev set and the fixed tuning halves of CMRC2018 dev and DRCD dev (their
test halves and the seed held-out set are reported by quality.py, never used here). Runs
dense and lexical retrieval once per question (top 50 each), then scores the engine's own
fusion (embeddings.fusion.fuse) with several settings. Prints hit@1 / MRR@10 per set and
their mean.

    .venv/bin/python benchmarks/tune_fusion.py [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import ROOT, public_half, public_sets, seed_questions  # noqa: I001
from ranx import Qrels, Run, evaluate

from embeddings.evaluation import qrels_for
from embeddings.fusion import fuse
from service.evaluation import squad_engine
from service.factory import build_encoder, open_engine
from service.settings import Settings

DEPTH = 50


def lists(engine, questions):
    texts = [q.question for q in questions]
    dense = engine.search_many(texts, DEPTH, "dense")
    lexical = engine.search_many(texts, DEPTH, "lexical")
    as_pairs = lambda hits: [(h.passage.passage_id, h.score) for h in hits]  # noqa: E731
    return [as_pairs(h) for h in dense], [as_pairs(h) for h in lexical]


def variants():
    yield "dense", lambda d, lx: d
    yield "lexical", lambda d, lx: lx
    for k in (2, 5, 10, 60):
        for w in (1.0, 2.0, 2.5, 3.0, 4.0):
            yield (
                f"rrf k={k} w_lex={w}",
                lambda d, lx, k=k, w=w: fuse(d, lx, "rrf", rrf_k=k, lexical_weight=w),
            )
    for alpha in (0.2, 0.3, 0.4, 0.5, 0.6):
        yield (
            f"minmax a_dense={alpha}",
            lambda d, lx, a=alpha: fuse(d, lx, "minmax", mix_alpha=a),
        )


def score(qrels, questions, dense, lexical, fuse):
    run = {}
    for q, d, lx in zip(questions, dense, lexical, strict=True):
        ranked = fuse(d, lx)[:10]
        run[q.id] = {pid: float(10 - r) for r, (pid, _) in enumerate(ranked)} or {"none": 0.0}
    m = evaluate(Qrels(qrels), Run(run), ["hit_rate@1", "mrr@10"], make_comparable=True)
    return m["hit_rate@1"], m["mrr@10"]


def write_markdown(table: dict, path: Path) -> None:
    names = list(next(iter(table.values())))
    lines = [
        "## Fusion settings",
        "",
        "Made by `benchmarks/tune_fusion.py` on tuning data only (seed dev set, and the fixed "
        "tuning halves of CMRC2018 dev and DRCD dev): dense and lexical top-50 lists fused "
        "offline; hit@1 / MRR@10 per set, and the mean hit@1 over the sets. The figures in "
        "quality.md are on the other halves.",
        "",
        "| variant | " + " | ".join(names) + " | mean hit@1 |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for label, row in table.items():
        mean = sum(row[n][0] for n in names) / len(names)
        cells = [f"{row[n][0]:.3f} / {row[n][1]:.3f}" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.3f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="questions per public set")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--from-json", type=Path, help="only turn an earlier --json output into markdown"
    )
    ap.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "results" / "fusion.md")
    args = ap.parse_args()
    if args.from_json:
        write_markdown(json.loads(args.from_json.read_text()), args.markdown)
        return 0
    settings = Settings()
    encoder = build_encoder(settings)
    sets = {}
    sets["seeds dev"] = (open_engine(settings, encoder=encoder), seed_questions("seeds (dev)"))
    for name, path in public_sets().items():
        tune = public_half(path, "tune")
        sets[f"{name} (tuning half)"] = (
            squad_engine(path, settings, encoder),
            tune[: args.limit] if args.limit else tune,
        )
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (engine, questions) in sets.items():
        qrels = qrels_for(questions, engine.all_passages())
        questions = [q for q in questions if qrels[q.id]]
        qrels = {q.id: qrels[q.id] for q in questions}
        dense, lexical = lists(engine, questions)
        for label, fused in variants():
            table.setdefault(label, {})[name] = score(qrels, questions, dense, lexical, fused)
    names = list(sets)
    print(
        f"{'variant':28}"
        + "".join(f"{n + ' h@1':>16}{n + ' mrr':>16}" for n in names)
        + f"{'mean h@1':>12}"
    )
    for label, row in table.items():
        mean = sum(row[n][0] for n in names) / len(names)
        print(
            f"{label:28}"
            + "".join(f"{row[n][0]:16.4f}{row[n][1]:16.4f}" for n in names)
            + f"{mean:12.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    write_markdown(table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
