"""Choose the hybrid fusion by measurement on the seed set and both public sets together.

Runs dense and lexical retrieval once per question (top 50 each), then scores fusion
variants offline: reciprocal rank fusion with several k and lexical weights, and a convex
mix of min-max normalised scores. Prints hit@1 / MRR@10 per set and their mean.

    .venv/bin/python benchmarks/tune_fusion.py [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ranx import Qrels, Run, evaluate  # noqa: E402

from embeddings.fusion import rrf  # noqa: E402
from service.evaluation import load_questions, load_squad, qrels_for, squad_engine  # noqa: E402
from service.factory import build_encoder, open_engine  # noqa: E402
from service.settings import Settings  # noqa: E402

BENCH = ROOT.parent / "shared" / "benchmarks"
DEPTH = 50


def lists(engine, questions):
    texts = [q.question for q in questions]
    dense = engine.search_many(texts, DEPTH, "dense")
    lexical = engine.search_many(texts, DEPTH, "lexical")
    as_pairs = lambda hits: [(h.passage.passage_id, h.score) for h in hits]  # noqa: E731
    return [as_pairs(h) for h in dense], [as_pairs(h) for h in lexical]


def minmax(pairs):
    if not pairs:
        return {}
    scores = [s for _, s in pairs]
    lo, hi = min(scores), max(scores)
    return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in pairs}


def maxnorm(pairs):
    top = max((s for _, s in pairs), default=0.0)
    return {d: s / top for d, s in pairs} if top > 0 else {}


def mixer(norm, alpha):
    def mix(d, lx):
        nd, nl = norm(d), norm(lx)
        docs = set(nd) | set(nl)
        fused = ((x, alpha * nd.get(x, 0) + (1 - alpha) * nl.get(x, 0)) for x in docs)
        return sorted(fused, key=lambda t: -t[1])

    return mix


def variants():
    yield "dense", lambda d, lx: d
    yield "lexical", lambda d, lx: lx
    for k in (2, 5, 10, 60):
        for w in (1.0, 2.0, 2.5, 3.0, 4.0):
            yield (
                f"rrf k={k} w_lex={w}",
                lambda d, lx, k=k, w=w: rrf([d, lx], k=k, weights=[1.0, w]),
            )
    for alpha in (0.2, 0.3, 0.4, 0.5):
        yield f"minmax a_dense={alpha}", mixer(minmax, alpha)
    for alpha in (0.3, 0.5, 0.7):
        yield f"max-scaled a_dense={alpha}", mixer(maxnorm, alpha)


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
        "Made by `benchmarks/tune_fusion.py`: dense and lexical top-50 lists fused offline; "
        "hit@1 / MRR@10 per set, and the mean hit@1 over the sets.",
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
    seeds = open_engine(settings, encoder=encoder)
    qs = load_questions(ROOT / "benchmarks" / "questions" / "seeds.jsonl")
    sets["seeds"] = (seeds, qs)
    for name, file in (("cmrc2018", "cmrc2018_dev.json"), ("drcd", "DRCD_dev.json")):
        path = BENCH / file
        if not path.exists():
            print(f"{path} not found: skipping {name}")
            continue
        _, squad_qs = load_squad(path)
        sets[name] = (
            squad_engine(path, settings, encoder),
            squad_qs[: args.limit] if args.limit else squad_qs,
        )
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (engine, questions) in sets.items():
        qrels = qrels_for(questions, engine.store.passages())
        questions = [q for q in questions if qrels[q.id]]
        qrels = {q.id: qrels[q.id] for q in questions}
        dense, lexical = lists(engine, questions)
        for label, fuse in variants():
            table.setdefault(label, {})[name] = score(qrels, questions, dense, lexical, fuse)
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
