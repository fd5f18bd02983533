"""`python -m service eval`: the engine's evaluation (embeddings/evaluation.py) from the shell."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from embeddings.encoders import AnyEncoder
from embeddings.engine import MODES, SearchEngine
from embeddings.evaluation import (
    METRICS,
    EvaluationError,
    compare,
    evaluate,
    load_questions,
    load_squad,
)
from embeddings.manifest import build_manifest
from service.factory import build_encoder, engine_config, open_engine
from service.settings import Settings


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


def squad_engine(path: Path, settings: Settings, encoder: AnyEncoder) -> SearchEngine:
    """An index of a SQuAD file in its own cache, keyed by file hash and everything that built it."""
    docs, _ = load_squad(path)
    config = engine_config(settings)
    manifest = build_manifest(
        encoder.name, encoder.fingerprint, encoder.dim, encoder.passage_prompt, config.chunker
    )
    built = hashlib.sha1(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    engine = SearchEngine(
        settings.data_dir / "eval" / f"{path.stem}-{digest}-{built}", encoder, config
    )
    if engine.document_count() != len(docs):
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


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    out = sys.stdout
    try:
        if args.k < 1 or args.k > 100:
            raise EvaluationError("--k must be between 1 and 100")
        if args.limit is not None and args.limit < 1:
            raise EvaluationError("--limit must be at least 1")
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
            args.k,
            progress=True,
            skip_unmatched=args.skip_unmatched,
            answers=args.answers,
        )
    except EvaluationError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    out.write(table(result.modes) + "\n")
    if result.answers:
        a = result.answers
        out.write(
            f"answers: {a['answer_contains']:.4f} contain an answer string, "
            f"{a['answered']:.4f} answered (n={a['n']})\n"
        )
    if args.compare and len(modes) > 1:
        out.write("\n" + compare(result) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
        out.write(f"wrote {args.json}\n")
    return 0
