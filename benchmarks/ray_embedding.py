"""Embedding throughput of `python -m service index DIR`: plain, and with Ray Data (1 and 2 workers).

The five seeds, each paragraph marked with a fresh tag per run (nothing comes from the
embedding cache), repeated `--rounds` times as separate documents, indexed into an empty
index by the real command in its own process. Passages/s counts passages; each passage's
answer sentences are embedded too (that is what an index holds), so texts/s is also shown.
The Ray runs start a local Ray inside the command, and that start is part of their time.

    .venv/bin/python benchmarks/ray_embedding.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import RESULTS, ROOT
from ingest import paragraphs
from serverproc import scratch_data_dir

RUNS = {
    "plain (no Ray)": [],
    "Ray, 1 worker": ["--ray", "--ray-workers", "1"],
    "Ray, 2 workers": ["--ray", "--ray-workers", "2"],
}
REPORT = re.compile(r"(\d+) passages embedded in ([\d.]+)s")


def corpus(folder: Path, rounds: int) -> None:
    folder.mkdir(parents=True)
    for r in range(rounds):
        for path in sorted((ROOT / "seeds").glob("*.txt")):
            title, paras = paragraphs(path, uuid.uuid4().hex[:8])
            (folder / f"{path.stem}-{r}.txt").write_text("\n\n".join([title, *paras]))


def texts_embedded(data: Path) -> int:
    """Rows the run added to the embedding cache: every text it embedded."""
    total = 0
    for db in (data / "cache" / "embeddings").glob("*.sqlite"):
        with sqlite3.connect(db) as c:
            total += int(c.execute("SELECT count(*) FROM vectors").fetchone()[0])
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in RUNS.items():
            where = Path(tmp) / f"run{len(rows)}"
            data = scratch_data_dir(where, Path(os.environ.get("DATA_DIR", ROOT / "data")))
            before = texts_embedded(data)
            docs = where / "docs"
            corpus(docs, args.rounds)
            env = {**os.environ, "DATA_DIR": str(data), "INDEX_DIR": str(where / "index")}
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "service", "index", str(docs), *extra],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.perf_counter() - t0
            match = REPORT.search(out)
            if not match:
                raise RuntimeError(f"{name}: no report in {out!r}")
            passages, seconds = int(match[1]), float(match[2])
            texts = texts_embedded(data) - before
            rows.append((name, passages, texts, seconds, wall))
            load.append(os.getloadavg()[0])
            print(
                f"{name:16} {passages} passages ({texts} texts) in {seconds:.1f}s, {wall:.1f}s wall"
            )
    lines = [
        "# Embedding a corpus with Ray Data",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {time.strftime('%Y-%m-%d')}; made by `.venv/bin/python benchmarks/ray_embedding.py "
        f"--rounds {args.rounds}`. Model: the default multilingual-e5-small as int8 ONNX, one "
        "ONNX thread per Ray worker (the plain command uses all cores). "
        f"1-minute load average before and after each run: {', '.join(f'{x:.1f}' for x in load)}.",
        "",
        f"{args.rounds * 5} documents (the seeds, fresh text each run); the command's own report "
        "(`passages embedded in Ns`: reading excluded, Ray's start included) and the whole "
        "process's wall time (Python start, model load).",
        "",
        "| run | passages | texts embedded | seconds | passages/s | texts/s | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, passages, texts, seconds, wall in rows:
        lines.append(
            f"| {name} | {passages} | {texts} | {seconds:.1f} | {passages / seconds:.1f} | "
            f"{texts / seconds:.1f} | {wall:.1f} |"
        )
    lines += [
        "",
        "On one 2-core machine Ray adds its start (several seconds) and cannot add cores: "
        "two workers share the same two cores the plain command already uses. The point of "
        "`--ray ADDRESS` is a cluster, where each worker brings its own cores; the same code "
        "runs there unchanged.",
    ]
    (RESULTS / "ray.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'ray.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
