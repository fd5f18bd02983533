"""Soak: concurrent searchers and writers against a real server, no 5xx, no dead versions.

Searchers (mixed modes of /search, /ask, /similar) run alone for an idle phase, then with
writers that add, replace and delete documents over a pool of doc_ids, each version with a
unique tag in every sentence. A hit that carries a tag replaced or deleted by a write
acknowledged before the search was sent is a dead-version hit (must be 0), as is any 5xx.
Search latency p50/p99 is reported for the idle phase next to the writing phase.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--idle-minutes 2] [--searchers 16] [--writers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from crash import COMMON, TAG, make_text, new_tag, tag_query  # noqa: E402
from serverproc import ServerProcess, scratch_data_dir, seeds_dir  # noqa: E402

SEEDS = sorted(p.name for p in (ROOT / "seeds").glob("*.txt"))
QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "benchmarks" / "questions" / "seeds.jsonl").read_text().splitlines()
    if line.strip()
]
_HAN = re.compile(r"[\u4e00-\u9fff]")
SLOW = 5.0  # seconds: searches slower than this are listed
KINDS = {  # request kind: weight
    "search hybrid": 4,
    "search dense": 2,
    "search lexical": 3,
    "ask": 2,
    "similar": 1,
}


@dataclass
class Phase:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, kind: str, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.latencies.setdefault(kind, []).append(seconds)

    def all(self) -> list[float]:
        return [x for xs in self.latencies.values() for x in xs]


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


@dataclass
class SoakReport:
    searchers: int
    writers: int
    started: float = field(default_factory=time.monotonic)
    idle: Phase = field(default_factory=Phase)
    writing: Phase = field(default_factory=Phase)
    writes: Counter[str] = field(default_factory=Counter)
    write_statuses: Counter[int] = field(default_factory=Counter)
    write_latencies: list[float] = field(default_factory=list)
    dead_hits: int = 0
    hits_checked: int = 0
    errors: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # the searches over SLOW seconds

    @property
    def server_errors(self) -> int:
        return sum(
            n
            for c in (self.idle.statuses, self.writing.statuses, self.write_statuses)
            for s, n in c.items()
            if s >= 500 or s < 0
        )

    @property
    def slowest(self) -> float:
        """The longest search of either phase, in seconds."""
        return max([*self.idle.all(), *self.writing.all()], default=0.0)

    @property
    def ok(self) -> bool:
        return self.server_errors == 0 and self.dead_hits == 0 and not self.errors

    def figures(self) -> dict[str, Any]:
        """The figures as JSON-ready data (latencies summarised)."""

        def phase(p: Phase) -> dict[str, Any]:
            return {
                "seconds": p.seconds,
                "statuses": {str(k): v for k, v in p.statuses.items()},
                "latency_ms": {
                    k: {"n": len(v), "p50": 1000 * pct(v, 0.5), "p99": 1000 * pct(v, 0.99)}
                    for k, v in [*p.latencies.items(), ("all searches", p.all())]
                },
            }

        return {
            "searchers": self.searchers,
            "writers": self.writers,
            "idle": phase(self.idle),
            "during_writes": phase(self.writing),
            "writes": dict(self.writes),
            "write_statuses": {str(k): v for k, v in self.write_statuses.items()},
            "write_p50_ms": 1000 * pct(self.write_latencies, 0.5),
            "server_errors": self.server_errors,
            "dead_hits": self.dead_hits,
            "hits_checked": self.hits_checked,
            "slowest": self.slow,
            "errors": self.errors[:50],
        }

    def table(self) -> str:
        rows = ["| requests | phase | count | p50 ms | p99 ms |", "|---|---|---|---|---|"]
        for name, phase in (("idle", self.idle), ("during writes", self.writing)):
            for kind in [*KINDS, "all searches"]:
                xs = phase.all() if kind == "all searches" else phase.latencies.get(kind, [])
                rows.append(
                    f"| {kind} | {name} | {len(xs)} | {1000 * pct(xs, 0.5):.0f} | {1000 * pct(xs, 0.99):.0f} |"
                )
        return "\n".join(rows)

    def summary(self) -> str:
        rps = [
            len(p.all()) / p.seconds if p.seconds else float("nan")
            for p in (self.idle, self.writing)
        ]
        lines = [
            f"{self.searchers} searchers, {self.writers} writers; "
            f"idle {self.idle.seconds:.0f}s, writing {self.writing.seconds:.0f}s",
            f"search responses: idle {dict(self.idle.statuses)} ({rps[0]:.1f}/s), "
            f"during writes {dict(self.writing.statuses)} ({rps[1]:.1f}/s)",
            f"writes: {dict(self.writes)} statuses {dict(self.write_statuses)}, "
            f"p50 {1000 * pct(self.write_latencies, 0.5):.0f} ms",
            f"responses 5xx (or no answer): {self.server_errors}; "
            f"slowest search {self.slowest:.1f}s",
            f"hits checked: {self.hits_checked}; hits from deleted or replaced versions: {self.dead_hits}",
            self.table(),
        ]
        lines += [f"slow: {x}" for x in self.slow[:20]]
        lines += [f"error: {e}" for e in self.errors[:20]]
        return "\n".join(lines)


class World:
    """What the writers made live or dead, and when (monotonic seconds)."""

    def __init__(self, questions: list[str]) -> None:
        self.questions = questions
        self.live: dict[str, str] = {}  # doc_id -> tag
        self.dead_at: dict[str, float] = {}  # tag -> when the write that ended it was answered
        self.passages: list[str] = []  # passage_ids seen in hits, for /similar

    def dead_since(self, tag: str) -> float | None:
        return self.dead_at.get(tag)


async def writer(
    client: httpx.AsyncClient,
    pool: list[str],
    world: World,
    report: SoakReport,
    rng: random.Random,
    until: float,
    max_writes: int,
) -> None:
    for _ in range(max_writes):
        if time.monotonic() >= until:
            return
        doc_id = rng.choice(pool)
        old = world.live.get(doc_id)
        op = "add" if old is None else rng.choices(["replace", "delete"], [3, 2])[0]
        tag = new_tag(rng) if op != "delete" else None
        text = make_text(tag, rng, rng.randint(1, 4)) if tag else ""
        t0 = time.monotonic()
        try:
            if op == "delete":
                r = await client.delete(f"/documents/{doc_id}")
            elif op == "replace":
                r = await client.put(f"/documents/{doc_id}", json={"text": text})
            else:
                r = await client.post(
                    "/documents",
                    json={
                        "doc_id": doc_id,
                        "title": f"巡检 {doc_id}",
                        "text": text,
                    },
                )
            status = r.status_code
        except httpx.HTTPError as exc:
            status = -1
            report.errors.append(f"{op} {doc_id}: {type(exc).__name__}: {exc}")
        done = time.monotonic()
        report.write_statuses[status] += 1
        if status not in (200, 201, 204):
            if status != -1:
                report.errors.append(f"{op} {doc_id}: HTTP {status} {r.text[:200]}")
            return  # the pool's state is no longer known
        report.writes[op] += 1
        report.write_latencies.append(done - t0)
        if old is not None:
            world.dead_at[old] = done
        if tag is None:
            world.live.pop(doc_id, None)
        else:
            world.live[doc_id] = tag


async def populate(
    client: httpx.AsyncClient, pool: list[str], world: World, report: SoakReport, rng: random.Random
) -> None:
    """Add every document of the pool once."""
    for doc_id in pool:
        tag = new_tag(rng)
        body = {"doc_id": doc_id, "title": f"巡检 {doc_id}", "text": make_text(tag, rng, 2)}
        r = await client.post("/documents", json=body)
        report.write_statuses[r.status_code] += 1
        if r.status_code != 201:
            report.errors.append(f"populate {doc_id}: HTTP {r.status_code} {r.text[:200]}")
            continue
        world.live[doc_id] = tag


def _request(kind: str, rng: random.Random, world: World) -> tuple[str, dict[str, Any]]:
    pick = rng.random()
    if world.live and pick < 0.3:  # a live or a dead version by its tag
        query = tag_query(rng.choice(list(world.live.values())))
    elif world.dead_at and pick < 0.5:
        query = tag_query(rng.choice(list(world.dead_at)))
    elif pick < 0.6:
        query = f"泵站 {COMMON}"
    else:
        query = rng.choice(world.questions)
    k = rng.choice([5, 10, 20])
    if kind.startswith("search"):
        return "/search", {"query": query, "mode": kind.split()[1], "k": k}
    if kind == "ask":
        return "/ask", {
            "question": query,
            "k": 5,
            "mode": rng.choice(["hybrid", "dense", "lexical"]),
        }
    if world.passages and rng.random() < 0.7:
        return "/similar", {"passage_id": rng.choice(world.passages[-200:]), "k": k}
    return "/similar", {"text": query, "k": k}


async def searcher(
    client: httpx.AsyncClient,
    world: World,
    report: SoakReport,
    phase_of: list[Phase | None],
    rng: random.Random,
    until: float,
    max_requests: int,
) -> None:
    kinds, weights = list(KINDS), list(KINDS.values())
    for _ in range(max_requests):
        if time.monotonic() >= until:
            return
        phase = phase_of[0]
        kind = rng.choices(kinds, weights)[0]
        path, body = _request(kind, rng, world)
        sent = time.monotonic()
        try:
            r = await client.post(path, json=body)
            status = r.status_code
        except httpx.HTTPError as exc:
            status = -1
            report.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        took = time.monotonic() - sent
        if phase is not None:
            phase.add(kind, status, took)
        if took > SLOW and len(report.slow) < 50:
            report.slow.append(
                f"{took:.1f}s {kind} {'idle' if phase is report.idle else 'writing'} "
                f"sent at +{sent - report.started:.0f}s: {json.dumps(body, ensure_ascii=False)[:120]}"
            )
        if status >= 500 or status == -1:
            if status != -1:
                report.errors.append(f"{kind} {body}: HTTP {status} {r.text[:200]}")
            continue
        if status != 200:
            continue  # e.g. /similar of a passage deleted meanwhile: 404
        for h in r.json()["hits"]:
            report.hits_checked += 1
            if len(world.passages) < 5000:
                world.passages.append(h["passage_id"])
            for tag in set(TAG.findall(h["text"])):
                died = world.dead_since(tag)
                if died is not None and died < sent:
                    report.dead_hits += 1
                    report.errors.append(
                        f"{kind} {body.get('query') or body.get('question') or body}: hit "
                        f"{h['passage_id']} of {h['doc_id']} carries {tag}, dead "
                        f"{sent - died:.3f}s before the request"
                    )


async def _soak(
    url: str,
    seconds: float,
    idle: float,
    searchers: int,
    writers: int,
    docs_per_writer: int,
    seed: int,
    questions: list[str],
) -> SoakReport:
    rng = random.Random(seed)
    report, world = SoakReport(searchers, writers), World(questions)
    pools = [[f"s{w}-{i:02d}" for i in range(docs_per_writer)] for w in range(writers)]
    limits = httpx.Limits(max_connections=searchers + writers + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        # the pool exists before the idle phase, so both phases search the same corpus
        await asyncio.gather(*(populate(client, pool, world, report, rng) for pool in pools))
        report.writes.clear()
        report.write_latencies.clear()
        phase_of: list[Phase | None] = [report.idle]
        t0 = report.started = time.monotonic()
        end = t0 + idle + seconds
        tasks = [
            asyncio.create_task(
                searcher(client, world, report, phase_of, random.Random(rng.random()), end, 100_000)
            )
            for _ in range(searchers)
        ]
        await asyncio.sleep(idle)
        report.idle.seconds = time.monotonic() - t0
        phase_of[0] = report.writing
        t1 = time.monotonic()
        tasks += [
            asyncio.create_task(
                writer(client, pool, world, report, random.Random(rng.random()), end, 100_000)
            )
            for pool in pools
        ]
        await asyncio.gather(*tasks)
        report.writing.seconds = time.monotonic() - t1
    return report


def run(
    *,
    minutes: float,
    idle_minutes: float,
    searchers: int = 16,
    writers: int = 2,
    docs_per_writer: int = 8,
    seeds: list[str] = SEEDS,
    english: bool = True,
    questions: list[str] = QUESTIONS,
    models_from: Path = ROOT / "data",
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> SoakReport:
    work = Path(tempfile.mkdtemp(prefix="zhsearch-soak-"))
    server = ServerProcess(
        scratch_data_dir(work, models_from),
        work / "index",
        seeds_dir(work, seeds),
        work / "server.log",
    )
    report: SoakReport | None = None
    try:
        server.start()
        started = server.wait_ready(model=True, timeout=900)
        say(f"server ready in {started.model:.1f}s at {server.url}; english questions: {english}")
        report = asyncio.run(
            _soak(
                server.url,
                60 * minutes,
                60 * idle_minutes,
                searchers,
                writers,
                docs_per_writer,
                seed,
                questions if english else [q for q in questions if _HAN.search(q)],
            )
        )
        code = server.terminate(timeout=120)
        if code not in (0, -15):
            report.errors.append(f"the server exited with {code} on SIGTERM")
        log = server.log.read_text(errors="replace")
        if "Traceback" in log:
            report.errors.append(f"the server log has {log.count('Traceback')} tracebacks")
    finally:
        server.kill()
        if report is not None and report.ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work} (server log: {server.log})")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=10, help="searchers and writers together")
    ap.add_argument("--idle-minutes", type=float, default=2, help="searchers alone, first")
    ap.add_argument("--searchers", type=int, default=16)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument(
        "--models-from",
        type=Path,
        default=ROOT / "data",
        help="a DATA_DIR holding the converted model (not written to)",
    )
    ap.add_argument(
        "--no-english",
        action="store_true",
        help="leave out the English seed questions (they take the English bridge)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    # a SIGTERM to this script stops its server too (the `finally` of `run`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(
        minutes=args.minutes,
        idle_minutes=args.idle_minutes,
        searchers=args.searchers,
        writers=args.writers,
        english=not args.no_english,
        models_from=args.models_from,
        seed=args.seed,
    )
    print(report.summary())
    if args.json:
        args.json.write_text(json.dumps(report.figures(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
