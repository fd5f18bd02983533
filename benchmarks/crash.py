"""Durable acknowledgement under kill -9: every acknowledged write survives, nothing half-written.

Writer threads add, replace and delete documents over HTTP without pause, each write
carrying a unique version tag in every sentence, and record every answer. The server is
killed with SIGKILL at a random moment of the writing (and now and then while it starts up,
during recovery) and restarted. After every kill:

- a copy of the index directory, as the kill left it, is opened with `LocalBackend`: SQLite
  passes its integrity check, FAISS ids = SQLite ids = BM25 ids, and every passage carries
  the version tag of its document's current text (no mixture of versions);
- the restarted server, over HTTP: `/health` counts = SQLite's, each document's sha256 in
  `/documents` is the last acknowledged version (or an unanswered later one, applied in
  full), a lexical search for each live tag returns exactly that document's passages, no
  search hit carries a dead tag (replaced, deleted, or never applied), and dense and
  lexical searches return as many passages as SQLite has (no stale or missing view ids).

    .venv/bin/python benchmarks/crash.py [--kills 100] [--minutes 10] [--writers 2]

Prints kills, writes acknowledged, writes lost, phantom or mixed results, restart times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import shutil
import signal
import statistics
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serverproc import ServerProcess, Started, scratch_data_dir, seeds_dir  # noqa: E402

TAG = re.compile(r"zv[0-9a-z]{10}")
SEED = "000_a964bad20ebf15e6.txt"  # 10 passages: the index never becomes empty
COMMON = "记录"  # a token in every sentence of every written document
PLACES = ["东区", "西区", "南区", "北区", "城关", "河口", "山前", "湖滨", "新港", "老城"]
NOUNS = ["水库", "桥梁", "泵站", "堤防", "变电站", "供水管网", "隧道", "粮库", "码头", "站房"]
ACTS = [
    "完成了例行检查",
    "更换了老化部件",
    "记录了运行数据",
    "清理了排水设施",
    "校准了监测仪表",
    "排查了安全隐患",
    "补充了应急物资",
    "测试了备用电源",
]


def new_tag(rng: random.Random) -> str:
    return "zv" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=10))


def make_text(tag: str, rng: random.Random, paragraphs: int) -> str:
    """A document of short sentences, each carrying `tag`: every passage then carries it."""
    return "\n\n".join(
        "".join(
            f"{rng.choice(PLACES)}{rng.choice(NOUNS)}{rng.choice(ACTS)}，{COMMON} {tag} 。"
            for _ in range(rng.randint(6, 12))
        )
        for _ in range(paragraphs)
    )


def make_long_text(tag: str, rng: random.Random, paragraphs: int) -> str:
    """Like `make_text`, in long sentences: about a passage per sentence, little to embed
    beyond the passages (each sentence is also embedded, as an answer candidate)."""
    return "\n\n".join(
        "".join(
            "，".join(
                f"{rng.choice(PLACES)}{rng.choice(NOUNS)}{rng.choice(ACTS)} {COMMON} {tag}"
                for _ in range(6)
            )
            + "。"
            for _ in range(2)
        )
        for _ in range(paragraphs)
    )


def tag_query(*tags: str) -> str:
    """A query for version tags. The Chinese word keeps it off the English bridge (an
    all-ASCII query is read as English); no written or seed text contains it."""
    return "版本 " + " ".join(tags)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def passage_count(doc_id: str, text: str) -> int:
    """How many passages the service makes of `text` (the same cleaner and chunker)."""
    from embeddings.chunking import ChunkerConfig, chunk
    from embeddings.text import clean

    return len(chunk(doc_id, clean(text), ChunkerConfig()))


# -- the ledger of writes --------------------------------------------------------------------


@dataclass
class Version:
    """One write (or an observed state, op 'observed'); tag None means the document is absent."""

    doc_id: str
    op: str
    tag: str | None
    sha: str | None
    cycle: int
    acked: bool | None = None  # True: 2xx; False: no or a non-2xx answer (in doubt)
    passages: int | None = None  # as chunked here; a 2xx answer must say the same


class Ledger:
    """Every write and its answer, per doc_id in order (each doc_id has one writer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.history: dict[str, list[Version]] = {}
        self.by_sha: dict[str, Version] = {}
        self.tags: dict[str, Version] = {}
        self.acked: dict[str, int] = {"add": 0, "replace": 0, "delete": 0}
        self.in_doubt = 0
        self.errors: list[str] = []

    def begin(self, v: Version) -> None:
        with self._lock:
            self.history.setdefault(v.doc_id, []).append(v)
            if v.sha:
                self.by_sha[v.sha] = v
            if v.tag:
                self.tags[v.tag] = v

    def drop(self, v: Version) -> None:
        """A write that was never sent (the connection was refused)."""
        with self._lock:
            self.history[v.doc_id].remove(v)

    def finish(self, v: Version, acked: bool) -> None:
        with self._lock:
            v.acked = acked
            if acked:
                self.acked["delete" if v.op == "delete" else v.op.split("-")[0]] += 1
            else:
                self.in_doubt += 1

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def current(self, doc_id: str) -> Version | None:
        """The version believed live: the last one in the history (all are acked while writing)."""
        hist = self.history.get(doc_id) or []
        return hist[-1] if hist and hist[-1].tag else None

    def allowed(self, doc_id: str) -> tuple[Version | None, list[Version]]:
        """The last acknowledged version (None: never written) and the unanswered ones after it."""
        hist = self.history.get(doc_id) or []
        last = max((i for i, v in enumerate(hist) if v.acked), default=-1)
        return (hist[last] if last >= 0 else None), [v for v in hist[last + 1 :] if not v.acked]

    def observe(self, doc_id: str, v: Version | None, cycle: int) -> None:
        """What the index holds after a restart becomes the starting point of the next cycle."""
        with self._lock:
            self.history.setdefault(doc_id, []).append(
                Version(
                    doc_id,
                    "observed",
                    v.tag if v else None,
                    v.sha if v else None,
                    cycle,
                    True,
                    v.passages if v else None,
                )
            )


class Writer(threading.Thread):
    """Writes to its own doc_ids without pause until `stop` (or a failed write) ends the cycle."""

    def __init__(
        self,
        url: str,
        doc_ids: list[str],
        ledger: Ledger,
        rng: random.Random,
        stop: threading.Event,
        cycle: int,
        *,
        max_writes: int = 2000,
        paragraphs: tuple[int, int] = (1, 3),
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.doc_ids, self.ledger, self.rng = url, doc_ids, ledger, rng
        self.stop, self.cycle, self.max_writes, self.paragraphs = (
            stop,
            cycle,
            max_writes,
            paragraphs,
        )

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            for _ in range(self.max_writes):
                if self.stop.is_set() or not self.write_one(client):
                    return

    def write_one(self, client: httpx.Client) -> bool:
        rng, doc_id = self.rng, self.rng.choice(self.doc_ids)
        live = self.ledger.current(doc_id)
        op = (
            "add"
            if live is None
            else rng.choices(["replace-put", "replace-post", "delete"], [5, 2, 3])[0]
        )
        tag = new_tag(rng) if op != "delete" else None
        make = make_long_text if rng.random() < 0.7 else make_text  # 2 or ~10 sentences a passage
        text = make(tag, rng, rng.randint(*self.paragraphs)) if tag else ""
        v = Version(doc_id, op, tag, sha256(text) if tag else None, self.cycle)
        if tag:
            v.passages = passage_count(doc_id, text)
        self.ledger.begin(v)
        try:
            if op == "replace-put":
                r = client.put(f"/documents/{doc_id}", json={"text": text})
            elif op == "delete":
                r = client.delete(f"/documents/{doc_id}")
            else:
                r = client.post(
                    "/documents", json={"doc_id": doc_id, "title": f"巡检 {doc_id}", "text": text}
                )
        except httpx.ConnectError:  # the server is down: this write never left
            self.ledger.drop(v)
            return False
        except httpx.HTTPError:  # sent, no answer: in doubt
            self.ledger.finish(v, False)
            return False
        if r.status_code not in (200, 201, 204):
            self.ledger.finish(v, False)
            self.ledger.error(f"{op} {doc_id}: HTTP {r.status_code} {r.text[:200]}")
            return False
        if op != "delete":
            report = r.json()["documents"][0]
            want = "added" if op == "add" else "replaced"
            if (report["status"], report["passages"]) != (want, v.passages):
                self.ledger.error(
                    f"{op} {doc_id}: answered {report['status']} with {report['passages']} "
                    f"passages, expected {want} with {v.passages}"
                )
        self.ledger.finish(v, True)
        return True


# -- checks ----------------------------------------------------------------------------------


@dataclass
class Report:
    kills: int = 0
    kills_during_startup: int = 0
    cycles_with_writes: int = 0
    writes_acknowledged: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)
    writes_in_doubt: int = 0
    in_doubt_applied: int = 0
    writes_lost: int = 0
    phantom_or_mixed: int = 0
    id_set_mismatches: int = 0
    kills_leaving_temp_files: int = 0
    views_repaired_on_open: int = 0
    restart_to_health: list[float] = field(default_factory=list)
    restart_to_model: list[float] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def problem(self, kind: str, message: str) -> None:
        if kind == "lost":
            self.writes_lost += 1
        elif kind == "phantom":
            self.phantom_or_mixed += 1
        elif kind == "ids":
            self.id_set_mismatches += 1
        if len(self.problems) < 200:
            self.problems.append(f"[{kind}] {message}")

    @property
    def ok(self) -> bool:
        return not (
            self.writes_lost or self.phantom_or_mixed or self.id_set_mismatches or self.problems
        )

    def summary(self) -> str:
        def q(xs: list[float], p: float) -> float:
            return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")

        h, m = self.restart_to_health, self.restart_to_model
        lines = [
            f"kills: {self.kills} ({self.kills_during_startup} during startup/recovery) "
            f"in {self.seconds / 60:.1f} min",
            f"writes acknowledged: {self.writes_acknowledged} {self.acknowledged}",
            f"writes in doubt (no answer at the kill): {self.writes_in_doubt}, "
            f"found applied after restart: {self.in_doubt_applied}",
            f"writes lost: {self.writes_lost}",
            f"phantom or mixed results: {self.phantom_or_mixed}",
            f"id set mismatches (FAISS/SQLite/BM25): {self.id_set_mismatches}",
            f"kills that left temporary files: {self.kills_leaving_temp_files}; "
            f"opens that repaired a stale view: {self.views_repaired_on_open}",
            f"restart to /health 200: p50 {statistics.median(h) if h else float('nan'):.2f}s, "
            f"max {max(h, default=float('nan')):.2f}s",
            f"restart to model ready: p50 {statistics.median(m) if m else float('nan'):.2f}s, "
            f"p90 {q(m, 0.9):.2f}s, max {max(m, default=float('nan')):.2f}s",
        ]
        lines += [f"problem: {p}" for p in self.problems[:30]]
        return "\n".join(lines)


class _RepairCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "added from meta.sqlite" in record.getMessage() or "damaged" in record.getMessage():
            self.count += 1


def check_on_disk(index_dir: Path, scratch: Path, report: Report) -> dict[str, tuple[str, int]]:
    """Open a copy of the index as the kill left it; {doc_id: (sha256, passages)} in SQLite.

    Checks SQLite's integrity, the three id sets after the open, and that every passage
    carries its document's version tag (its text's sha256 names the version).
    """
    from embeddings.backends.local import LocalBackend

    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(index_dir, scratch)
    if any(p.name.endswith((".tmp", ".old")) for p in scratch.iterdir()):
        report.kills_leaving_temp_files += 1
    dim = int(json.loads((scratch / "manifest.json").read_text())["dim"])
    counter = _RepairCounter()
    log = logging.getLogger("embeddings.backends.local")
    log.addHandler(counter)
    log.propagate = False  # counted here, not printed
    try:
        backend = LocalBackend(scratch, dim)
    finally:
        log.removeHandler(counter)
        log.propagate = True
    try:
        report.views_repaired_on_open += counter.count > 0
        integrity = backend.store.check()
        if integrity != "ok":
            report.problem("phantom", f"SQLite integrity check: {integrity}")
        sql, faiss_ids, bm25 = backend.store.ids(), backend.vectors.ids(), backend.lexical.ids()
        if not (set(sql.tolist()) == set(faiss_ids.tolist()) == set(bm25.tolist())):
            report.problem(
                "ids",
                f"after open: SQLite {len(sql)}, FAISS {len(faiss_ids)}, BM25 {len(bm25)} ids",
            )
        if len(set(faiss_ids.tolist())) != len(faiss_ids) or len(set(bm25.tolist())) != len(bm25):
            report.problem("ids", "a view holds an id twice")
        docs = {d.doc_id: d for d in backend.documents()}
        by_doc: dict[str, list[str]] = {}
        for p in backend.passages():
            by_doc.setdefault(p.doc_id, []).append(p.text)
        for doc_id, doc in docs.items():
            texts = by_doc.get(doc_id, [])
            if len(texts) != doc.passages:
                report.problem(
                    "phantom", f"{doc_id}: {len(texts)} passages, the row says {doc.passages}"
                )
            if doc_id.startswith("w"):
                tags = {t for text in texts for t in TAG.findall(text)}
                untagged = sum(1 for text in texts if not TAG.search(text))
                if len(tags) != 1 or untagged:
                    report.problem(
                        "phantom", f"{doc_id} on disk: tags {sorted(tags)}, {untagged} untagged"
                    )
        if set(by_doc) - set(docs):
            report.problem("phantom", f"passages of no document: {sorted(set(by_doc) - set(docs))}")
        return {d: (doc.sha256, doc.passages) for d, doc in docs.items()}
    finally:
        backend.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _documents(client: httpx.Client) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for offset in range(0, 100_000, 500):
        page = client.get("/documents", params={"limit": 500, "offset": offset}).json()
        out.update((d["doc_id"], d) for d in page["documents"])
        if offset + 500 >= page["total"]:
            break
    return out


def _search(client: httpx.Client, query: str, mode: str, k: int = 100) -> list[dict[str, Any]]:
    r = client.post("/search", json={"query": query, "mode": mode, "k": k})
    if r.status_code != 200:
        raise RuntimeError(f"/search {mode} answered {r.status_code}: {r.text[:300]}")
    return list(r.json()["hits"])


def check_hits(
    hits: list[dict[str, Any]], live: dict[str, str], report: Report, where: str
) -> None:
    """Every tag in a hit is its document's live tag (nothing replaced, deleted or unapplied)."""
    for h in hits:
        for tag in set(TAG.findall(h["text"])):
            if live.get(h["doc_id"]) != tag:
                report.problem(
                    "phantom",
                    f"{where}: hit {h['passage_id']} of {h['doc_id']} carries dead tag {tag}",
                )


def check_served(
    server: ServerProcess,
    ledger: Ledger,
    disk: dict[str, tuple[str, int]],
    doc_ids: list[str],
    report: Report,
    cycle: int,
) -> dict[str, str]:
    """The restarted server against the ledger and SQLite (lexical only: no model needed).

    Returns {doc_id: live tag}; the ledger then starts the next cycle from what was found.
    """
    live: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        health = client.get("/health").json()
        total = sum(n for _, n in disk.values())
        if (health["documents"], health["passages"]) != (len(disk), total):
            report.problem(
                "ids",
                f"/health {health['documents']} documents, {health['passages']} passages; "
                f"SQLite {len(disk)}, {total}",
            )
        served = _documents(client)
        if {d: s["sha256"] for d, s in served.items()} != {d: s for d, (s, _) in disk.items()}:
            report.problem("phantom", "/documents differs from SQLite")
        for doc_id in doc_ids:
            sha = served[doc_id]["sha256"] if doc_id in served else None
            found = ledger.by_sha.get(sha) if sha else None
            if sha and found is None:
                report.problem("phantom", f"{doc_id}: sha256 {sha[:12]} is no version ever written")
            expected, doubts = ledger.allowed(doc_id)
            want_tag = expected.tag if expected else None
            got_tag = found.tag if found else None
            if got_tag == want_tag:
                pass
            elif any(d.tag == got_tag for d in doubts):
                report.in_doubt_applied += 1
            elif sha is None or found is not None:
                what = "deleted" if want_tag is None else f"version {want_tag}"
                report.problem(
                    "lost",
                    f"cycle {cycle}: {doc_id} acknowledged as {what}, found {got_tag or 'absent'}",
                )
            if found is not None and served[doc_id]["passages"] != found.passages:
                report.problem(
                    "phantom",
                    f"{doc_id}: {served[doc_id]['passages']} passages, {found.passages} written",
                )
            ledger.observe(doc_id, found, cycle)
            if got_tag:
                live[doc_id] = got_tag
        # each live version: all of its passages, and only them, carry its tag
        for doc_id, tag in live.items():
            hits = _search(client, tag_query(tag), "lexical")
            check_hits(hits, live, report, f"lexical {tag}")
            mine = [h for h in hits if h["doc_id"] == doc_id and tag in h["text"]]
            if len(mine) != served[doc_id]["passages"]:
                report.problem(
                    "phantom",
                    f"{doc_id}: lexical search finds {len(mine)} passages with {tag}, "
                    f"the document has {served[doc_id]['passages']}",
                )
        # no dead tag (replaced, deleted, or never applied) in any hit: many tags per query
        dead = sorted(set(ledger.tags) - set(live.values()))
        for i in range(0, len(dead), 60):
            check_hits(
                _search(client, tag_query(*dead[i : i + 60]), "lexical"), live, report, "dead tags"
            )
        expected_common = sum(n for d, (_, n) in disk.items() if d.startswith("w"))
        got = _search(client, COMMON, "lexical")
        check_hits(got, live, report, "lexical common")
        if len(got) < min(100, expected_common):
            report.problem(
                "ids", f"lexical {COMMON!r}: {len(got)} hits, {expected_common} passages hold it"
            )
    return live


def check_dense(server: ServerProcess, live: dict[str, str], passages: int, report: Report) -> None:
    """A dense search with k=100 returns every passage (when there are at most 100)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        hits = _search(client, "泵站设备的运行记录", "dense")
        check_hits(hits, live, report, "dense")
        if len(hits) != min(100, passages):
            report.problem("ids", f"dense k=100: {len(hits)} hits, {passages} passages in SQLite")
        tag = next(iter(live.values()), None)
        if tag:
            check_hits(_search(client, tag_query(tag), "hybrid", 20), live, report, "hybrid")


# -- the run ---------------------------------------------------------------------------------


def start(server: ServerProcess, index_dir: Path, work: Path) -> None:
    """Start the server, keeping a copy of the index as it was (for a start that fails)."""
    before = work / "before-start"
    shutil.rmtree(before, ignore_errors=True)
    shutil.copytree(index_dir, before)
    server.start()


def restart(server: ServerProcess, index_dir: Path, work: Path, report: Report) -> Started:
    """Start until `/health` answers; a start that fails is a problem (its index is kept
    under `work/failed-start-N`), and up to two more starts are tried."""
    for attempt in range(3):
        start(server, index_dir, work)
        try:
            return server.wait_ready(model=False, timeout=300)
        except RuntimeError as exc:
            kept = work / f"failed-start-{len(report.problems)}"
            shutil.copytree(work / "before-start", kept, dirs_exist_ok=True)
            tail = server.log.read_text(errors="replace").strip().splitlines()[-8:]
            report.problem("start", f"{exc}; index kept in {kept}; log: " + " | ".join(tail))
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def run(
    *,
    kills: int,
    minutes: float,
    writers: int = 2,
    docs_per_writer: int = 6,
    window: tuple[float, float] = (0.2, 4.0),
    startup_kill_every: int = 5,
    max_minutes: float | None = None,
    models_from: Path = ROOT / "data",
    workdir: Path | None = None,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> Report:
    """Kill and restart until `kills` kills and `minutes` have both passed (or `max_minutes`).

    Every `startup_kill_every`-th cycle the restarted server is killed again at a random
    moment of its start (opening and repairing the index) before it is started for good.
    """
    rng = random.Random(seed)
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="zhsearch-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    server = ServerProcess(
        scratch_data_dir(work, models_from), index_dir, seeds_dir(work, [SEED]), work / "server.log"
    )
    ledger, report = Ledger(), Report()
    pools = [[f"w{w}-{i:02d}" for i in range(docs_per_writer)] for w in range(writers)]
    doc_ids = [d for pool in pools for d in pool]
    t0 = time.perf_counter()
    finished = False
    limit = 60 * (max_minutes if max_minutes is not None else max(3 * minutes, minutes + 30))
    try:
        server.start()
        server.wait_ready(model=True, timeout=600)  # the first start indexes the seed
        cycle = 0
        while True:
            elapsed = time.perf_counter() - t0
            if (report.kills >= kills and elapsed >= 60 * minutes) or elapsed >= limit:
                break
            cycle += 1
            # write, then kill at a random moment of the writing
            acked_before = sum(ledger.acked.values())
            stop = threading.Event()
            threads = [
                Writer(server.url, pool, ledger, random.Random(rng.random()), stop, cycle)
                for pool in pools
            ]
            for t in threads:
                t.start()
            # the window starts at the first answer (the first write after a start is slow)
            first = time.perf_counter()
            while sum(ledger.acked.values()) == acked_before and time.perf_counter() - first < 60:
                if not any(t.is_alive() for t in threads):
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(*window))
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=180)
            report.kills += 1
            report.cycles_with_writes += 1
            disk = check_on_disk(index_dir, work / "scratch", report)
            # sometimes kill again while the server opens (and repairs) the index
            if startup_kill_every and cycle % startup_kill_every == 0:
                start(server, index_dir, work)
                last = report.restart_to_health[-1] if report.restart_to_health else 2.0
                time.sleep(rng.uniform(0.1, max(0.2, last)))
                server.kill()
                report.kills += 1
                report.kills_during_startup += 1
                disk = check_on_disk(index_dir, work / "scratch", report)
            started = restart(server, index_dir, work, report)
            report.restart_to_health.append(started.health)
            live = check_served(server, ledger, disk, doc_ids, report, cycle)
            started = server.wait_model(started, timeout=300)
            assert started.model is not None
            report.restart_to_model.append(started.model)
            check_dense(server, live, sum(n for _, n in disk.values()), report)
            report.writes_acknowledged = sum(ledger.acked.values())
            say(
                f"cycle {cycle}: kills {report.kills}, acknowledged {report.writes_acknowledged}, "
                f"in doubt {ledger.in_doubt}, lost {report.writes_lost}, "
                f"phantom/mixed {report.phantom_or_mixed}, ids {report.id_set_mismatches}, "
                f"health {started.health:.1f}s model {started.model:.1f}s, "
                f"{(time.perf_counter() - t0) / 60:.1f} min"
            )
        code = server.terminate(timeout=60)
        if code not in (0, -signal.SIGTERM):
            report.problem("exit", f"the server exited with {code} on SIGTERM")
        check_on_disk(index_dir, work / "scratch", report)
        finished = True
    finally:
        server.kill()
        report.seconds = time.perf_counter() - t0
        report.writes_acknowledged = sum(ledger.acked.values())
        report.acknowledged = dict(ledger.acked)
        report.writes_in_doubt = ledger.in_doubt
        for e in ledger.errors:
            report.problem("http", e)
        if own and report.ok and finished:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work} (server log: {server.log})")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--kills", type=int, default=100, help="at least this many kills")
    ap.add_argument("--minutes", type=float, default=10, help="and at least this long")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop here in any case")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument(
        "--window",
        type=float,
        nargs=2,
        default=(0.2, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds of writing before the kill",
    )
    ap.add_argument(
        "--models-from",
        type=Path,
        default=ROOT / "data",
        help="a DATA_DIR holding the converted model (not written to)",
    )
    ap.add_argument(
        "--startup-kill-every",
        type=int,
        default=5,
        help="every n-th cycle also kills the server while it starts (0: never)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    # a SIGTERM to this script stops its server too (the `finally` of `run`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(
        startup_kill_every=args.startup_kill_every,
        kills=args.kills,
        minutes=args.minutes,
        max_minutes=args.max_minutes,
        writers=args.writers,
        window=tuple(args.window),
        models_from=args.models_from,
        seed=args.seed,
    )
    print(report.summary())
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
