"""What the English bridge costs per question, and why it reads a neighbourhood, not the corpus.

The bridge (embeddings/bridge.py) keeps only the translations and names its corpus holds,
and reads that corpus with jieba, OpenCC and pinyin. Reading a whole corpus grows with it
and was paid again after every write; reading a question's dense top 100 does not grow.
This prints both on real Chinese text (the CMRC2018 and DRCD dev contexts, cut to passages
of about 300 characters and repeated to the size asked for):

- reading N passages as the bridge's corpus: seconds;
- bridging one English question over its 100 neighbours: passages never read before; read
  before, for other questions (each passage's reading is kept); the same 50 as an earlier
  question (the set is kept).

    .venv/bin/python benchmarks/bridge.py [--sizes 1000,5000,20000]

Prints the figures and writes them to benchmarks/results/bridge.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import RESULTS, public_sets  # noqa: E402

from embeddings.bridge import CorpusText, _passage_words, bridge, passages_text  # noqa: E402
from embeddings.config import EngineConfig  # noqa: E402
from embeddings.evaluation import load_squad  # noqa: E402
from embeddings.tokenizer import default_tokenizer  # noqa: E402

QUESTIONS = [
    "Which campaign targets weak village collective economies in Yongzhou?",
    "Which five industries does Leiyang build?",
    "How should proposal handling be transformed, according to CPPCC chairman Yang Zhenping?",
    "What does the Linfen editorial ask Party members to study?",
]
NEIGHBOURS = EngineConfig().bridge_neighbours


def passages(n: int) -> list[str]:
    """n passages of about 300 characters of real text (contexts cut, repeated as needed)."""
    texts = []
    for path in public_sets().values():
        for doc in load_squad(path)[0]:
            texts += [doc.text[i : i + 300] for i in range(0, len(doc.text), 300)]
    out = []
    while len(out) < n:
        out += [f"{t}（{len(out) + i}）" for i, t in enumerate(texts[: n - len(out)])]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,20000")
    args = ap.parse_args()
    tok = default_tokenizer()
    tok.tokens("预热")
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line)
        lines.append(line)

    sizes = [int(s) for s in args.sizes.split(",")]
    texts = passages(max(sizes))
    out(f"{len(texts)} passages of real text, {sum(map(len, texts)) / len(texts):.0f} chars each")
    out()
    out("reading a whole corpus (what the bridge paid on the first English question after")
    out("every write when it read the corpus):")
    out("| passages | seconds |")
    out("|---|---|")
    for n in sizes:
        _passage_words.cache_clear()
        t0 = time.perf_counter()
        CorpusText(texts[:n], tok).spell(["lei", "yang"])
        out(f"| {n} | {time.perf_counter() - t0:.1f} |")
    _passage_words.cache_clear()
    rng = random.Random(2026)
    pool = texts[:400]  # neighbourhoods drawn from a small pool overlap, as real ones do
    timings: dict[str, list[float]] = {"fresh": [], "read before": [], "same set": []}
    for q in QUESTIONS * 5:
        near = tuple(rng.sample(texts[400:], NEIGHBOURS))
        for case in ("fresh", "same set"):
            t0 = time.perf_counter()
            bridge(q, passages_text(near, tok))
            timings[case].append(time.perf_counter() - t0)
    for p in pool:
        _passage_words(p, tok)
    for q in QUESTIONS * 5:
        near = tuple(rng.sample(pool, NEIGHBOURS))
        t0 = time.perf_counter()
        bridge(q, passages_text(near, tok))
        timings["read before"].append(time.perf_counter() - t0)
    out()
    out(f"one English question over its {NEIGHBOURS} neighbours (any corpus size), median ms:")
    for case, values in timings.items():
        out(f"- {case}: {1000 * statistics.median(values):.1f}")
    (RESULTS / "bridge.md").write_text(
        "# The English bridge's cost\n\n`benchmarks/bridge.py`, on this machine.\n\n"
        + "\n".join(lines)
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
