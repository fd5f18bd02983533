"""Local backend against Milvus (milvus-lite here): retrieval quality per mode, then /search
latency and throughput of the real service with one and two uvicorn workers.

    .venv/bin/python benchmarks/milvus.py [--public] [--limit N] [--requests 110]

Starts its own milvus-lite server in a temporary directory and writes
benchmarks/results/milvus.md (and --json). Quality: the seed sets, and with --public the
CMRC2018/DRCD test halves (each indexed into both backends; slow on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from common import RESULTS, ROOT, SEED_SETS, public_half, public_sets, seed_questions  # noqa: I001

from embeddings.engine import SearchEngine
from embeddings.evaluation import evaluate
from embeddings.store import NewDocument, NewPassage
from service.evaluation import squad_engine
from service.factory import build_encoder, open_engine
from service.milvus_server import MilvusLiteServer, free_port
from service.settings import Settings

MODES = ["dense", "lexical", "hybrid"]
METRICS = ["hit@1", "mrr@10"]
QUERY = "耒阳着力打造哪五大产业？"


def on_milvus(settings: Settings, uri: str, collection: str, index: Path) -> Settings:
    update = {"backend": "milvus", "milvus_uri": uri, "milvus_collection": collection}
    return settings.model_copy(update={**update, "index_path": index})


def flush(engine) -> None:
    """milvus-lite rebuilds the BM25 index of rows still in its memtable on every search;
    flushed rows sit in a segment whose index is cached (Milvus flushes on its own)."""
    backend = engine.backend
    for name in (backend.passages_name, backend.documents_name, backend.texts_name):
        backend._client.flush(name)


def copy_index(source: SearchEngine, target: SearchEngine, batch: int = 50) -> None:
    """The local index's documents, passages, vectors, tokens and sentences, written into the
    target backend as they are (nothing embedded again), in the order they were indexed."""
    store, dim = source.backend.store, source.encoder.dim  # type: ignore[attr-defined]
    docs = sorted(
        source.documents(), key=lambda d: min((p.id for p in store.passages(d.doc_id)), default=0)
    )
    for i in range(0, len(docs), batch):
        puts = []
        for d in docs[i : i + batch]:
            passages = store.passages(d.doc_id)
            ids = [p.id for p in passages]
            stored = {
                int(j): (v, t)
                for got, vecs, toks in store.vectors_and_tokens(ids, dim)
                for j, v, t in zip(got, vecs, toks, strict=True)
            }
            sentences = store.sentences(ids, dim)
            new = [
                NewPassage(
                    p.passage_id,
                    p.title,
                    p.section,
                    p.text,
                    p.start,
                    p.end,
                    stored[p.id][0],
                    stored[p.id][1],
                    p.pages,
                    tuple(sentences[p.id].spans),
                    sentences[p.id].vectors,
                )
                for p in passages
            ]
            text = store.document_text(d.doc_id) or ""
            puts.append(
                NewDocument(d.doc_id, d.title, d.source, d.sha256, text, new, d.format, d.size)
            )
        target.backend.write(puts, [])


# -- quality ---------------------------------------------------------------------------------


def quality(
    settings: Settings, uri: str, tmp: Path, public: bool, limit: int | None, only: list[str]
) -> dict:
    encoder = build_encoder(settings)
    out: dict[str, dict] = {}
    engines = {
        "local": open_engine(settings, tmp / "q-local", encoder),
        "milvus": open_engine(on_milvus(settings, uri, "q_seeds", tmp / "q-m"), encoder=encoder),
    }
    flush(engines["milvus"])
    for name in SEED_SETS:
        qs = seed_questions(name)
        out[name] = {b: evaluate(e, qs, MODES, 10).modes for b, e in engines.items()}
    for e in engines.values():
        e.close()
    if public:
        for name, path in public_sets().items():
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            qs = public_half(path, "test")[:limit] if limit else public_half(path, "test")
            local = squad_engine(path, settings, encoder)  # cached under DATA_DIR/eval
            m = on_milvus(settings, uri, f"q_{path.stem.lower()}", tmp / f"p-{path.stem}")
            milvus = open_engine(m, encoder=encoder, seed_if_empty=False)
            copy_index(local, milvus)
            flush(milvus)
            out[f"{name} (test half)"] = {
                b: evaluate(e, qs, MODES, 10, progress=True).modes
                for b, e in (("local", local), ("milvus", milvus))
            }
            local.close()
            milvus.close()
    return out


def quality_table(results: dict) -> str:
    head = "| set | mode | " + " | ".join(f"{m} local | {m} milvus | Δ" for m in METRICS) + " | n |"
    lines = [head, "|---|---|" + "---|---|---|" * len(METRICS) + "---|"]
    for name, res in results.items():
        for mode in MODES:
            a, b = res["local"][mode], res["milvus"][mode]
            cells = [f"{a[m]:.3f} | {b[m]:.3f} | {b[m] - a[m]:+.3f}" for m in METRICS]
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + f" | {a['n']} |")
    return "\n".join(lines)


# -- speed -----------------------------------------------------------------------------------


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until /health says the model is loaded (every worker: each answers some probes)."""
    t0, ready = time.perf_counter(), 0
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the service exited")
        try:
            r = httpx.get(url + "/health", timeout=2)
            ready = ready + 1 if r.status_code == 200 and r.json().get("model_ready") else 0
            if ready >= 10:
                return
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.05)
    raise TimeoutError("service not ready")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(url: str, questions: list[str], requests: int, clients: int) -> dict:
    """Sequential latency per mode, then throughput of `clients` concurrent hybrid searchers."""
    out: dict[str, object] = {}
    with httpx.Client(base_url=url, timeout=120) as http:
        for mode in ("hybrid", "lexical"):
            for q in questions[:5]:  # warm-up
                http.post("/search", json={"query": q, "mode": mode}).raise_for_status()
            times = []
            for i in range(requests):
                t0 = time.perf_counter()
                r = http.post(
                    "/search", json={"query": questions[i % len(questions)], "mode": mode}
                )
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            out[mode] = {
                "p50": round(statistics.median(times), 1),
                "p95": round(percentile(times, 95), 1),
            }
    done, errors, lock = [0], [0], threading.Lock()

    def searcher(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(offset, requests * 2, clients):
                r = http.post("/search", json={"query": questions[i % len(questions)]})
                with lock:
                    done[0] += r.status_code == 200
                    errors[0] += r.status_code != 200

    threads = [threading.Thread(target=searcher, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    out["throughput"] = {
        "rps": round(done[0] / seconds, 1),
        "errors": errors[0],
        "clients": clients,
    }
    return out


def serve(
    cmd: list[str], env: dict[str, str], measure_it: Callable[[str], dict], log: Path
) -> dict:
    port = free_port()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            cmd + ["--port", str(port)] if cmd[-1] != "serve" else cmd,
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        return measure_it(url)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"failed: {exc}", *tail, sep="\n")
        return {"error": str(exc)}
    finally:
        proc.terminate()
        proc.wait(60)


def speed(settings: Settings, uri: str, tmp: Path, requests: int, clients: int) -> dict:
    encoder = build_encoder(settings)
    local_index, milvus_index = tmp / "s-local", tmp / "s-milvus"
    open_engine(settings, local_index, encoder).close()  # seeds indexed before any worker starts
    m = open_engine(on_milvus(settings, uri, "s_seeds", milvus_index), encoder=encoder)
    flush(m)
    m.close()
    questions = [q.question for q in seed_questions("seeds (dev)")]
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "SEEDS_DIR": str(ROOT / "seeds")}
    local_env = {**env, "INDEX_DIR": str(local_index)}
    milvus_env = {
        **env,
        "INDEX_DIR": str(milvus_index),
        "BACKEND": "milvus",
        "MILVUS_URI": uri,
        "MILVUS_COLLECTION": "s_seeds",
    }
    serve_cmd = [sys.executable, "-m", "service", "serve"]
    runs = {
        "local, 1 worker": (serve_cmd, local_env),
        "milvus-lite, 1 worker": (serve_cmd, milvus_env),
        "milvus-lite, 2 workers": (serve_cmd, {**milvus_env, "WORKERS": "2"}),
    }
    out = {}
    for name, (cmd, run_env) in runs.items():
        print(f"speed: {name}", flush=True)
        log = tmp / f"serve-{len(out)}.log"
        out[name] = serve(cmd, run_env, lambda url: measure(url, questions, requests, clients), log)
    return out


def speed_table(results: dict, requests: int) -> str:
    lines = [
        "| service | hybrid p50 ms | hybrid p95 ms | lexical p50 ms | lexical p95 ms | "
        "hybrid req/s (concurrent) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} | | | | |")
            continue
        t = r["throughput"]
        lines.append(
            f"| {name} | {r['hybrid']['p50']} | {r['hybrid']['p95']} | {r['lexical']['p50']} | "
            f"{r['lexical']['p95']} | {t['rps']} ({t['clients']} clients, {t['errors']} errors) |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--public", action="store_true", help="also the CMRC2018/DRCD test halves")
    ap.add_argument("--limit", type=int, help="only the first N questions of each public set")
    ap.add_argument("--only", nargs="*", default=[], help="public sets whose name contains one")
    ap.add_argument("--requests", type=int, default=110)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--out", type=Path, default=RESULTS / "milvus.md")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data", help="model and caches")
    args = ap.parse_args()
    settings = Settings(data_dir=args.data_dir, seeds_dir=ROOT / "seeds")
    t_start = time.perf_counter()
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with MilvusLiteServer(tmp / "milvus") as server:
            results["quality"] = quality(
                settings, server.uri, tmp, args.public, args.limit, args.only
            )
            print(quality_table(results["quality"]), flush=True)
            if not args.skip_speed:
                load = os.getloadavg()[0]
                results["speed"] = speed(settings, server.uri, tmp, args.requests, args.clients)
                results["load"] = [round(load, 1), round(os.getloadavg()[0], 1)]
                print(speed_table(results["speed"], args.requests))
    results["seconds"] = round(time.perf_counter() - t_start)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    args.out.write_text(to_markdown(results, args), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def to_markdown(results: dict, args: argparse.Namespace) -> str:
    parts = [
        "# Local backend against Milvus (milvus-lite)",
        "",
        f"Machine: {results['machine']}; date {results['date']}; made by "
        f"`.venv/bin/python benchmarks/milvus.py{_flags(args)}` in "
        f"{results['seconds']} s. Milvus here is milvus-lite {_lite_version()} (a Python "
        "re-implementation of Milvus, run as a server on the same machine), so the figures "
        "say whether the two backends agree, and what milvus-lite costs; production Milvus "
        "(≥ 2.5) differs in speed.",
        "",
        "## Retrieval quality (the evaluation CLI's metrics, k = 10)",
        "",
        quality_table(results["quality"]),
        "",
    ]
    if not args.public or args.only:
        parts += [
            "Public sets not listed are not in this run: `--public` scores the test halves of "
            "CMRC2018 and DRCD on the "
            "local index cached under DATA_DIR/eval (built by `make bench-quality`, over an "
            "hour on 2 cores) and on a copy of it written into Milvus (nothing re-embedded).",
            "",
        ]
    if "speed" in results:
        parts += [
            "## /search over HTTP",
            "",
            f"{args.requests} sequential requests per mode (the seed dev questions in turn, k = 5) "
            f"after 5 warm-up ones, then {args.requests * 2} hybrid requests from "
            f"{args.clients} concurrent clients. The service, milvus-lite and the client share "
            "the machine's 2 cores with whatever else runs: the 1-minute load average was "
            f"{results['load'][0]} before and {results['load'][1]} after, so compare rows "
            "with care. Each worker is a whole service process with its own model.",
            "",
            speed_table(results["speed"], args.requests),
            "",
        ]
    return "\n".join(parts)


def _flags(args: argparse.Namespace) -> str:
    flags = " --public" if args.public else ""
    return flags + (" --only " + " ".join(args.only) if args.only else "")


def _lite_version() -> str:
    from importlib.metadata import version

    return version("milvus-lite")


if __name__ == "__main__":
    sys.exit(main())
