"""Load generator: N concurrent clients send the seed dev questions in turn: `make bench-load`.

Each client is an asyncio task with its own keep-alive connection, sending one request at a
time (k=5) for a fixed time; throughput counts every answer, latency is per request. Runs
against a server it starts on the seeds (DATA_DIR), twice: with the query-vector cache (the
default; the seed questions repeat, so after the first round no query is embedded again) and
with QUERY_CACHE=0 (every request embeds its query), or against `--url`.

    .venv/bin/python benchmarks/load.py [--url http://127.0.0.1:8000] [--clients 1,8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import RESULTS, TIMED_QUESTIONS, seed_questions  # noqa: I001
from serverproc import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
TARGETS = [("/search", "hybrid"), ("/search", "lexical"), ("/search", "dense"), ("/ask", "hybrid")]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run(url: str, path: str, mode: str, clients: int, seconds: float, questions: list[str]):
    key = "question" if path == "/ask" else "query"
    times: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            i = offset
            while time.perf_counter() < deadline:
                body = {key: questions[i % len(questions)], "k": 5, "mode": mode}
                t0 = time.perf_counter()
                r = await c.post(path, json=body)
                times.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200
                i += clients

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - t0
    return {
        "rps": len(times) / elapsed,
        "p50": statistics.median(times),
        "p99": percentile(times, 99),
        "n": len(times),
        "errors": errors,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| clients | endpoint | mode | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clients']} | {r['path']} | {r['mode']} | {r['rps']:.1f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['n']} | {r['errors']} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict]) -> list[str]:
    out = []
    for clients in sorted({r["clients"] for r in rows}):
        by = {(r["path"], r["mode"]): r for r in rows if r["clients"] == clients}
        lexical = by.get(("/search", "lexical"))
        if not lexical:
            continue
        for key in (("/search", "hybrid"), ("/ask", "hybrid")):
            if key in by:
                share = by[key]["rps"] / lexical["rps"]
                out.append(
                    f"{clients} clients: {key[0]} {key[1]} throughput = {share:.2f} × lexical"
                )
    return out


async def measure(url: str, clients: list[int], seconds: float) -> list[dict]:
    questions = [q.question for q in seed_questions("seeds (dev)")][:TIMED_QUESTIONS]
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:  # warm every path once
        for path, mode in TARGETS:
            key = "question" if path == "/ask" else "query"
            (await c.post(path, json={key: questions[0], "mode": mode})).raise_for_status()
    rows = []
    for n in clients:
        for path, mode in TARGETS:
            r = await run(url, path, mode, n, seconds, questions)
            rows.append({"clients": n, "path": path, "mode": mode, **r})
            print(
                f"{n:>2} clients {path:8} {mode:8} {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms"
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a running service; default: start one on the seeds")
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=RESULTS / "load.md")
    args = ap.parse_args()
    clients = [int(x) for x in args.clients.split(",")]
    load_before = os.getloadavg()
    runs: list[tuple[str, list[dict]]] = []
    if args.url:
        runs.append((f"Against {args.url}", asyncio.run(measure(args.url, clients, args.seconds))))
    else:
        data = Path(os.environ.get("DATA_DIR", ROOT / "data")).resolve()
        for title, env in (
            ("With the query-vector cache (the default, `QUERY_CACHE=4096`)", {}),
            ("Every query embedded (`QUERY_CACHE=0`)", {"QUERY_CACHE": "0"}),
        ):
            print(title)
            with tempfile.TemporaryDirectory() as tmp:
                server = ServerProcess(
                    data, Path(tmp) / "index", ROOT / "seeds", Path(tmp) / "server.log", env=env
                )
                with server:
                    server.start()
                    server.wait_ready(model=True)
                    runs.append((title, asyncio.run(measure(server.url, clients, args.seconds))))
    md = [
        "# Load",
        "",
        f"Made by `make bench-load` ({platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}; 1-minute load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after): each client sends the seed dev questions in turn, "
        f"k=5, one request at a time, for {args.seconds:.0f} s per row. The load generator "
        "runs on the same 2 cores as the service and takes its share of them.",
    ]
    for title, rows in runs:
        md += ["", f"## {title}", "", table(rows), "", *[f"- {line}" for line in ratios(rows)]]
    args.out.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
