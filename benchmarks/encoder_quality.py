"""Does the int8 ONNX encoder keep the fp32 model's quality? Dense and hybrid hit@1 and
MRR@10 with each encoder, on the seed dev set and the whole CMRC2018 and DRCD dev sets.

    .venv/bin/python benchmarks/encoder_quality.py [--limit N]

The same model, prompts, chunker and fusion; only ENCODER_BACKEND differs (torch: the
converted model through sentence-transformers in fp32; onnx: its int8 copy, the default).
Each public set is indexed once per encoder under DATA_DIR/eval (PyTorch is slow here: about
twenty minutes for both sets on 2 cores), later runs reuse those indexes.
Writes benchmarks/results/encoder_quality.md and puts the same table into quality.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, public_sets, seed_questions  # noqa: I001

from embeddings.evaluation import evaluate, load_squad
from service.evaluation import squad_engine
from service.factory import build_encoder, open_engine
from service.settings import Settings

MODES = ["dense", "hybrid"]
BACKENDS = ("torch", "onnx")  # PyTorch fp32, then the int8 ONNX copy
TOLERANCE = 0.005  # the bound on a hit@1 difference
BEGIN, END = "<!-- encoder-quality -->", "<!-- /encoder-quality -->"


def scores(settings: Settings, limit: int | None) -> dict[str, dict]:
    """Set name -> mode -> metrics, for the encoder `settings` choose."""
    encoder = build_encoder(settings)
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        seeds = open_engine(settings, Path(tmp) / "index", encoder)
        out["seeds (dev)"] = evaluate(seeds, seed_questions("seeds (dev)"), MODES, 10).modes
        seeds.close()
    for name, path in public_sets().items():
        _, questions = load_squad(path)
        engine = squad_engine(path, settings, encoder)
        qs = questions[:limit] if limit else questions
        label = f"first {len(qs)}" if len(qs) < len(questions) else f"all {len(qs)}"
        out[f"{name} ({label} questions)"] = evaluate(engine, qs, MODES, 10, progress=True).modes
        engine.close()
    return out


def table(results: dict[str, dict[str, dict]]) -> tuple[list[str], float]:
    """The rows, and the largest hit@1 loss of int8 against fp32 (0 when none)."""
    lines = [
        "| set | mode | hit@1 fp32 | hit@1 int8 | Δ | MRR@10 fp32 | MRR@10 int8 | Δ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    loss = 0.0
    fp32, int8 = results["torch"], results["onnx"]
    for name in fp32:
        for mode in MODES:
            a, b = fp32[name][mode], int8[name][mode]
            d1, d2 = b["hit@1"] - a["hit@1"], b["mrr@10"] - a["mrr@10"]
            loss = max(loss, -d1)
            lines.append(
                f"| {name} | {mode} | {a['hit@1']:.3f} | {b['hit@1']:.3f} | {d1:+.3f} | "
                f"{a['mrr@10']:.3f} | {b['mrr@10']:.3f} | {d2:+.3f} |"
            )
    return lines, loss


def splice(path: Path, section: str) -> None:
    """Put `section` into the page at `path`, replacing an earlier copy."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="questions per public set (quick runs)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    base = Settings()
    results = {
        backend: scores(base.model_copy(update={"encoder_backend": backend}), args.limit)
        for backend in BACKENDS
    }
    lines, loss = table(results)
    md = [
        "## Quality kept by the int8 encoder",
        "",
        f"`benchmarks/encoder_quality.py` ({platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s; load average "
        f"{load_before:.1f} before): the same model, chunker and fusion with the PyTorch fp32 "
        "encoder and with the int8 ONNX copy that serves by default; k = 10.",
        "",
        *lines,
        "",
        f"Largest hit@1 loss of int8 against fp32: {loss:.3f} "
        f"({'within' if loss <= TOLERANCE else 'outside'} the {TOLERANCE} bound). One question is worth "
        f"1/{len(seed_questions('seeds (dev)'))} of hit@1 on the seed set, so a loss there is "
        "whole questions: the seeds' dense scores sit close together, and quantisation noise "
        "reorders near ties.",
    ]
    section = "\n".join(md) + "\n"
    (RESULTS / "encoder_quality.md").write_text(section, encoding="utf-8")
    splice(RESULTS / "quality.md", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
