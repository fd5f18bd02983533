"""Choose the hybrid fusion by measurement on tuning data only.

Tuning data: the seed dev set and the fixed tuning halves of CMRC2018 dev and DRCD dev (their
test halves and the seed held-out set are reported by quality.py, never used here). Runs
dense and lexical retrieval once per question (top 50 each), then scores the engine's own
fusion (embeddings.fusion.fuse) with several settings: weighted RRF, score-normalised convex
mixes (min-max, and divided by the best score), and RRF whose BM25 weight follows how much of
the query BM25's best passage holds. Prints hit@1 / MRR@10 per set and their mean.

    .venv/bin/python benchmarks/tune_fusion.py [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import ROOT, hit1_mrr, judged, public_half, public_sets, score_cells, seed_questions  # noqa: I001

from embeddings.bridge import lexical_query
from embeddings.fusion import fuse, rrf
from embeddings.text import normalize
from service.evaluation import squad_engine
from service.factory import build_encoder, open_engine
from service.settings import Settings

DEPTH = 50


def coverage(groups, text: str) -> float:
    """Share of the query's concepts `text` holds: groups of alternative words, one of which
    is enough; one-character words say too little to count, and a group with no word (an
    English word the corpus has no term for) is never held."""
    words = [tuple(w for w in g if len(w) >= 2) for g in groups]
    wanted = list(dict.fromkeys(g for g in words if g))
    missed = sum(1 for g in groups if not g)
    norm = normalize(text)
    held = sum(any(w in norm for w in g) for g in wanted)
    return held / (len(wanted) + missed) if wanted or missed else 0.0


def by_coverage(dense, lexical, matched: float, k: int, low: float, high: float):
    """RRF whose BM25 weight runs from `low` (BM25's best passage holds none of the query's
    concepts) to `high` (it holds them all)."""
    if not lexical:
        return list(dense)
    return rrf([dense, lexical], k=k, weights=[1.0, low + (high - low) * matched])


def max_scaled(dense, lexical, alpha: float):
    """Convex mix of scores divided by each list's best (no shift by the worst)."""

    def norm(pairs):
        hi = max((s for _, s in pairs), default=0.0)
        return {d: s / hi if hi > 0 else 0.0 for d, s in pairs}

    nd, nl = norm(dense), norm(lexical)
    fused = {
        d: alpha * nd.get(d, 0.0) + (1 - alpha) * nl.get(d, 0.0) for d in nd.keys() | nl.keys()
    }
    return sorted(fused.items(), key=lambda x: -x[1])


def zscore_mix(dense, lexical, alpha: float, clip: float | None = None):
    """Convex mix of scores in standard deviations from their list's mean; with `clip`,
    distribution-based fusion (scores scaled between mean ± clip·σ, as Qdrant's DBSF)."""

    def norm(pairs):
        if not pairs:
            return {}
        xs = [s for _, s in pairs]
        mean = sum(xs) / len(xs)
        sd = (sum((x - mean) ** 2 for x in xs) / len(xs)) ** 0.5 or 1.0
        if clip is None:
            return {d: (s - mean) / sd for d, s in pairs}
        lo, hi = mean - clip * sd, mean + clip * sd
        return {d: min(max((s - lo) / (hi - lo), 0.0), 1.0) for d, s in pairs}

    nd, nl = norm(dense), norm(lexical)
    floor_d = min(nd.values(), default=0.0)
    floor_l = min(nl.values(), default=0.0)
    fused = {
        d: alpha * nd.get(d, floor_d) + (1 - alpha) * nl.get(d, floor_l)
        for d in nd.keys() | nl.keys()
    }
    return sorted(fused.items(), key=lambda x: -x[1])


def minmax_by_coverage(dense, lexical, matched: float, low: float, high: float):
    """Min-max mix whose dense weight runs from `high` (BM25's best passage holds none of the
    query's concepts) down to `low` (it holds them all)."""
    return fuse(dense, lexical, "minmax", mix_alpha=high - (high - low) * matched)


def lists(engine, questions):
    """Dense and BM25 top lists per question, and the share of its terms BM25's best holds."""
    texts = [q.question for q in questions]
    dense = engine.search_many(texts, DEPTH, "dense")
    lexical = engine.search_many(texts, DEPTH, "lexical")
    s = engine.searcher  # an English question's bridge reads its dense neighbourhood
    neighbours = engine.search_many(texts, s.config.bridge_neighbours, "dense")
    queries = [
        lexical_query(t, s.tokenizer, [h.passage.text for h in near])
        for t, near in zip(texts, neighbours, strict=True)
    ]
    matched = [
        coverage(lq.groups, hits[0].passage.text) if hits else 0.0
        for lq, hits in zip(queries, lexical, strict=True)
    ]
    as_pairs = lambda hits: [(h.passage.passage_id, h.score) for h in hits]  # noqa: E731
    return [as_pairs(h) for h in dense], [as_pairs(h) for h in lexical], matched


def variants():
    yield "dense", lambda d, lx, m: d
    yield "lexical", lambda d, lx, m: lx
    for k in (2, 5, 10, 60):
        for w in (1.0, 2.0, 3.0, 4.0):
            yield (
                f"rrf k={k} w_lex={w}",
                lambda d, lx, m, k=k, w=w: fuse(d, lx, "rrf", rrf_k=k, lexical_weight=w),
            )
    for alpha in (0.2, 0.3, 0.4, 0.5, 0.6):
        yield (
            f"minmax a_dense={alpha}",
            lambda d, lx, m, a=alpha: fuse(d, lx, "minmax", mix_alpha=a),
        )
    for alpha in (0.3, 0.5, 0.7):
        yield (
            f"max-scaled a_dense={alpha}",
            lambda d, lx, m, a=alpha: max_scaled(d, lx, a),
        )
    for depth in (10, 20):
        for alpha in (0.3, 0.4, 0.5):
            yield (
                f"minmax top-{depth} a_dense={alpha}",
                lambda d, lx, m, a=alpha, n=depth: fuse(d[:n], lx[:n], "minmax", mix_alpha=a),
            )
    for alpha in (0.3, 0.4, 0.5):
        yield f"z-score a_dense={alpha}", lambda d, lx, m, a=alpha: zscore_mix(d, lx, a)
        yield f"dbsf a_dense={alpha}", lambda d, lx, m, a=alpha: zscore_mix(d, lx, a, 3.0)
    for lo, hi in ((0.2, 0.5), (0.3, 0.5), (0.3, 0.6), (0.4, 0.6)):
        yield (
            f"minmax a_dense={hi}..{lo} by coverage",
            lambda d, lx, m, lo=lo, hi=hi: minmax_by_coverage(d, lx, m, lo, hi),
        )
    for k in (5, 10):
        for hi in (3.0, 4.0, 6.0):
            for lo in (0.5, 1.0, 2.0):
                yield (
                    f"rrf k={k} w_lex={lo}..{hi} by coverage",
                    lambda d, lx, m, k=k, hi=hi, lo=lo: by_coverage(d, lx, m, k, lo, hi),
                )


def score(qrels, questions, dense, lexical, matched, fuse):
    ranked = {
        q.id: fuse(d, lx, m) for q, d, lx, m in zip(questions, dense, lexical, matched, strict=True)
    }
    return hit1_mrr(qrels, ranked)


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
        cells, mean = score_cells(row, names)
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
    tmp = tempfile.TemporaryDirectory()
    sets = {}
    seeds = open_engine(settings, Path(tmp.name) / "index", encoder)
    sets["seeds dev"] = (seeds, seed_questions("seeds (dev)"))
    for name, path in public_sets().items():
        tune = public_half(path, "tune")
        sets[f"{name} (tuning half)"] = (
            squad_engine(path, settings, encoder),
            tune[: args.limit] if args.limit else tune,
        )
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (engine, questions) in sets.items():
        questions, qrels = judged(questions, engine.all_passages())
        dense, lexical, matched = lists(engine, questions)
        for label, fused in variants():
            table.setdefault(label, {})[name] = score(
                qrels, questions, dense, lexical, matched, fused
            )
        engine.close()
    tmp.cleanup()
    names = list(sets)
    print(
        f"{'variant':36}"
        + "".join(f"{n[:14] + ' h@1':>20}{n[:14] + ' mrr':>20}" for n in names)
        + f"{'mean h@1':>12}"
    )
    for label, row in table.items():
        mean = sum(row[n][0] for n in names) / len(names)
        print(
            f"{label:36}"
            + "".join(f"{row[n][0]:20.4f}{row[n][1]:20.4f}" for n in names)
            + f"{mean:12.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    write_markdown(table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
