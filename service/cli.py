"""Command line: `python -m service index|search|serve|eval`."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from embeddings.engine import IndexMismatchError, load_directory
from service.settings import Settings, get_settings

logger = logging.getLogger("service")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from service.factory import open_engine

    directory = Path(args.directory or settings.seeds_dir)
    if not directory.is_dir():
        _out(f"error: {directory} is not a directory of .txt/.md documents")
        return 2
    if args.rebuild and settings.index_dir.exists():
        shutil.rmtree(settings.index_dir)
        logger.info("removed %s", settings.index_dir)
    engine = open_engine(settings, seed_if_empty=False)
    docs = load_directory(directory)
    if not docs:
        _out(f"error: no .txt or .md files in {directory}")
        return 2
    report = engine.add_documents(docs, progress=True)
    _out(
        f"indexed {directory}: {len(report.added)} added, {len(report.replaced)} replaced, "
        f"{len(report.unchanged)} unchanged; {report.passages_embedded} passages embedded "
        f"in {report.seconds:.1f}s; {len(engine)} passages in {settings.index_dir}"
    )
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from service.factory import open_engine

    engine = open_engine(settings)
    hits = engine.search(args.query, args.k, args.mode)
    if args.json:
        _out(
            json.dumps(
                [
                    {
                        "passage_id": h.passage.passage_id,
                        "doc_id": h.passage.doc_id,
                        "section": h.passage.section,
                        "score": h.score,
                        "text": h.passage.text,
                    }
                    for h in hits
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for rank, h in enumerate(hits, 1):
        p = h.passage
        _out(f"{rank}. [{h.score:.3f}] {p.title} › {p.section}  ({p.doc_id}, {p.passage_id})")
        _out("   " + p.text[:200].replace("\n", " ") + ("…" if len(p.text) > 200 else ""))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.app import create_app
    from service.factory import open_engine

    t0 = time.perf_counter()
    # Before binding the port, so it listens once the index is open; the model may still warm.
    engine = open_engine(settings, warm_start=True)
    logger.info("ready in %.1fs: %d passages", time.perf_counter() - t0, len(engine))
    app = create_app(settings, engine)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from service.evaluation import run_cli

    return run_cli(args, settings)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ix = sub.add_parser("index", help="index a directory of documents (default: the seeds)")
    ix.add_argument("directory", nargs="?")
    ix.add_argument("--rebuild", action="store_true", help="drop the index and build it anew")
    ix.set_defaults(func=cmd_index)
    se = sub.add_parser("search", help="search the index from the command line")
    se.add_argument("query")
    se.add_argument("--k", type=int, default=5)
    se.add_argument("--mode", choices=("dense", "lexical", "hybrid"), default="hybrid")
    se.add_argument("--json", action="store_true")
    se.set_defaults(func=cmd_search)
    sv = sub.add_parser("serve", help="serve the HTTP API")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.set_defaults(func=cmd_serve)
    ev = sub.add_parser("eval", help="score retrieval on labelled questions")
    try:
        from service.evaluation import add_arguments
    except ImportError:  # evaluation not installed
        add_arguments = None
    if add_arguments:
        add_arguments(ev)
    ev.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parser().parse_args(argv)
    try:
        return args.func(args, get_settings())
    except IndexMismatchError as exc:
        _out(f"error: {exc}")
        return 2
