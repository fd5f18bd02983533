"""Choose BM25's tokens and constants by measurement on tuning data only.

Tuning data as in tune_fusion.py: the seed dev set and the fixed tuning halves of CMRC2018 dev
and DRCD dev. Each variant re-tokenises every passage (the same cleaning, chunking and context
as the index), builds a BM25 of its own, and is scored alone and fused with the engine's dense
top 50 (the min-max mix at 0.3, 0.4 and 0.5 dense). Variants: jieba words only; words plus the
character bigrams of each run of Chinese characters (what the engine indexes); bigrams kept
apart from words (`#` prefix); only the bigrams that are not already words; and BM25's k1 and b.
English questions go through the bridge (embeddings/bridge.py) with each variant's tokens.

    .venv/bin/python benchmarks/tune_lexical.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from common import (  # noqa: I001
    RESULTS,
    ROOT,
    hit1_mrr,
    judged,
    public_half,
    public_sets,
    score_cells,
    seed_questions,
)

from embeddings import bm25
from embeddings.bm25 import BM25Index
from embeddings.bridge import lexical_query, lexical_search
from embeddings.chunking import ChunkerConfig
from embeddings.evaluation import load_squad
from embeddings.fusion import fuse
from embeddings.indexer import content_hash, prepare_document
from embeddings.sources import SourceDocument, load_directory
from embeddings.text import normalize
from embeddings.tokenizer import Tokenizer, char_bigrams
from service.evaluation import squad_engine
from service.factory import build_encoder, engine_config, open_engine
from service.settings import Settings

DEPTH = 50
ALPHAS = (0.3, 0.4, 0.5)
CONSTANTS = ((1.5, 0.75), (1.2, 0.75), (0.9, 0.4))
K1, B = bm25.K1, bm25.B  # the engine's constants, restored after each measurement


def _new_bigrams(tok: Tokenizer, text: str) -> list[str]:
    words = tok.tokens(text)
    known = set(words)
    return words + [b for b in char_bigrams(text) if b not in known]


def _content_bigrams(tok: Tokenizer, text: str) -> list[str]:
    """Bigrams of the runs of characters inside kept tokens (stop words split the runs)."""
    norm = normalize(text)
    kept = [False] * len(norm)
    for _, start, end in tok.spans(text):
        kept[start:end] = [True] * (end - start)
    runs: list[str] = []
    run = ""
    for ch, k in zip(norm, kept, strict=True):
        if k and "\u4e00" <= ch <= "\u9fff":
            run += ch
        else:
            runs.append(run)
            run = ""
    runs.append(run)
    return tok.tokens(text) + [r[i : i + 2] for r in runs for i in range(len(r) - 1)]


VARIANTS: dict[str, Callable[[Tokenizer, str], list[str]]] = {
    "words": lambda tok, text: tok.tokens(text),
    "words + bigrams": Tokenizer.bm25_tokens,  # the engine's own
    "words + #bigrams": lambda tok, text: tok.tokens(text) + ["#" + b for b in char_bigrams(text)],
    "words + bigrams not words": _new_bigrams,
    "words + bigrams of kept words": _content_bigrams,
}


class VariantTokenizer(Tokenizer):
    """The engine's tokenizer with `bm25_tokens` replaced by a variant's."""

    def __init__(self, variant: Callable[[Tokenizer, str], list[str]]) -> None:
        super().__init__()
        self.variant = variant

    def bm25_tokens(self, text: str) -> list[str]:
        return self.variant(self, text)


def variant_index(
    tok: Tokenizer, docs: list[SourceDocument], chunker: ChunkerConfig
) -> tuple[list[str], BM25Index]:
    """BM25 over every passage as the indexer prepares it, with `tok`'s tokens."""
    pids: list[str] = []
    tokens: list[list[str]] = []
    for doc in docs:
        prepared = prepare_document(doc, content_hash(doc.text), "added", tok, chunker)
        assert prepared.record is not None
        for p in prepared.record.passages:
            pids.append(p.passage_id)
            tokens.append(p.tokens)
    index = BM25Index()
    index.add(np.arange(len(pids)), tokens)
    return pids, index


class VariantBackend:
    """What `bridge.lexical_search` needs of a backend, over a variant's own BM25."""

    def __init__(self, pids: list[str], index: BM25Index) -> None:
        self.pids, self.index = pids, index

    def lexical_search(
        self, tokens: Sequence[str], n: int, within: object | None = None
    ) -> list[tuple[str, float]]:
        return [(self.pids[i], score) for i, score in self.index.search(tokens, n)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="questions per public set")
    ap.add_argument("--markdown", type=Path, default=RESULTS / "lexical.md")
    args = ap.parse_args()
    started = time.time()
    settings = Settings()
    encoder = build_encoder(settings)
    chunker = engine_config(settings).chunker
    alphas = sorted({*ALPHAS, settings.mix_alpha})  # the engine's mix always among them
    seeds = open_engine(settings, settings.index_dir, encoder)
    sets = {"seeds dev": (seeds, seed_questions("seeds (dev)"), load_directory(ROOT / "seeds")[0])}
    for name, path in public_sets().items():
        tune = public_half(path, "tune")
        sets[f"{name} (tuning half)"] = (
            squad_engine(path, settings, encoder),
            tune[: args.limit] if args.limit else tune,
            load_squad(path)[0],
        )
    # (variant, k1, b, alpha or None for BM25 alone) -> set -> (hit@1, MRR@10)
    table: dict[tuple[str, float, float, float | None], dict[str, tuple[float, float]]] = {}
    for name, (engine, questions, docs) in sets.items():
        questions, qrels = judged(questions, engine.all_passages())
        texts = [q.question for q in questions]
        dense = [
            [(h.passage.passage_id, h.score) for h in hits]
            for hits in engine.search_many(texts, DEPTH, "dense")
        ]
        neighbours = engine.search_many(texts, engine.searcher.config.bridge_neighbours, "dense")
        near = [[h.passage.text for h in hits] for hits in neighbours]  # the bridge reads these
        for label, variant in VARIANTS.items():
            tok = VariantTokenizer(variant)
            pids, index = variant_index(tok, docs, chunker)
            queries = [lexical_query(t, tok, ts) for t, ts in zip(texts, near, strict=True)]
            for k1, b in CONSTANTS:
                bm25.K1, bm25.B = k1, b
                try:
                    mine = VariantBackend(pids, index)
                    lexical = [lexical_search(lq, tok, mine, DEPTH) for lq in queries]
                finally:
                    bm25.K1, bm25.B = K1, B
                table.setdefault((label, k1, b, None), {})[name] = hit1_mrr(
                    qrels, {q.id: lx for q, lx in zip(questions, lexical, strict=True)}
                )
                for alpha in alphas:
                    fused = {
                        q.id: fuse(d, lx, "minmax", mix_alpha=alpha)
                        for q, d, lx in zip(questions, dense, lexical, strict=True)
                    }
                    table.setdefault((label, k1, b, alpha), {})[name] = hit1_mrr(qrels, fused)
        engine.close()
    names = list(sets)
    lines = [
        "## BM25 tokens and constants",
        "",
        f"Made by `benchmarks/tune_lexical.py` ({time.time() - started:.0f} s) on tuning data "
        "only (seed dev set, and the fixed tuning halves of CMRC2018 dev and DRCD dev): each "
        "variant re-tokenises every passage and builds its own BM25; hit@1 / MRR@10 of BM25 "
        "alone and of the min-max mix with the engine's dense list (`dense` = its weight), and "
        "the mean hit@1 over the sets.",
        "",
        "| tokens | k1 | b | dense | " + " | ".join(names) + " | mean hit@1 |",
        "|---|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for (label, k1, b, mix_alpha), row in table.items():
        cells, mean = score_cells(row, names)
        mix = "BM25 alone" if mix_alpha is None else f"{mix_alpha}"
        lines.append(f"| {label} | {k1} | {b} | {mix} | " + " | ".join(cells) + f" | {mean:.3f} |")

    def mean_of(key: tuple[str, float, float, float | None]) -> float:
        return score_cells(table[key], names)[1]

    best = max(table, key=mean_of)
    label, k1, b, best_alpha = best
    ours = ("words + bigrams", K1, B, settings.mix_alpha)
    lines += [
        "",
        f"Best mean hit@1: {label}, k1 = {k1}, b = {b}, "
        + ("BM25 alone" if best_alpha is None else f"{best_alpha} dense")
        + f" ({mean_of(best):.4f}). The engine (`Tokenizer.bm25_tokens`, k1 = {K1}, b = {B}, "
        f"{settings.mix_alpha} dense): {mean_of(ours):.4f}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
