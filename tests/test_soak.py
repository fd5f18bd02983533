"""The 30-second version of `benchmarks/soak.py` against a real server process.

Fewer clients than the benchmark (4 searchers, 2 writers; the benchmark runs 16 and 2 for
10 minutes) so the suite stays fast on 2 cores: no 5xx, no hit from a deleted or replaced
version, and latencies measured in both phases.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import soak  # noqa: E402
from serverproc import ServerProcess, scratch_data_dir, seeds_dir  # noqa: E402


def test_soak_30_seconds_no_5xx_no_dead_versions(test_data_dir: Path) -> None:
    report = soak.run(
        minutes=20 / 60,
        idle_minutes=10 / 60,
        searchers=4,
        writers=2,
        docs_per_writer=4,
        seeds=["000_a964bad20ebf15e6.txt", "002_cbb223353e170aad.txt"],
        models_from=test_data_dir,
        say=lambda line: None,
    )
    assert report.ok, report.summary()
    assert report.server_errors == 0 and report.dead_hits == 0
    assert sum(report.writes.values()) >= 1, report.summary()
    assert report.idle.all() and report.writing.all(), report.summary()
    assert report.hits_checked > 0
    # generous on a shared 2-core machine: a search stuck behind a write shows as 20 s+
    assert report.slowest < 10, report.summary()


def test_a_first_english_query_does_not_stall_searches_queued_behind_a_write(
    test_data_dir: Path, tmp_path: Path
) -> None:
    """Found by the soak: an all-ASCII query goes through the English bridge
    (`embeddings/bridge.py: lexical_query`, CC-CEDICT parsed on first use; then it also
    re-read every passage after each write), called from `Searcher._rank` under the
    backend's read lock. A write waiting for the writer lock then holds back every other
    search (the lock prefers writers) until the bridge is done: seconds on 2 cores.
    """
    server = ServerProcess(
        scratch_data_dir(tmp_path, test_data_dir),
        tmp_path / "index",
        seeds_dir(tmp_path, ["000_a964bad20ebf15e6.txt", "002_cbb223353e170aad.txt"]),
        tmp_path / "server.log",
    )
    took: dict[str, float] = {}

    def call(name: str, method: str, path: str, **kw: object) -> None:
        t0 = time.perf_counter()
        httpx.request(method, server.url + path, timeout=120, **kw)  # type: ignore[arg-type]
        took[name] = time.perf_counter() - t0

    try:
        server.start()
        server.wait_ready(model=True, timeout=600)
        english = {"query": "Which five industries does Leiyang build?", "mode": "lexical"}
        chinese = {"query": "永州提出要在全省版图中增加什么？", "mode": "lexical"}
        calls = [
            ("english", "POST", "/search", {"json": english}),
            ("delete", "DELETE", "/documents/002_cbb223353e170aad", {}),
            ("chinese", "POST", "/search", {"json": chinese}),
        ]
        threads = []
        for (name, method, path, kw), pause in zip(calls, [0.8, 0.3, 0], strict=True):
            threads.append(threading.Thread(target=call, args=(name, method, path), kwargs=kw))
            threads[-1].start()
            time.sleep(pause)  # the English query is then in the bridge, the delete queued
        for t in threads:
            t.join(timeout=180)
    finally:
        server.kill()
    # Relative to the English query's own time, so a loaded machine slows both alike: had the
    # Chinese search waited behind the bridge, it would end about when the English one does.
    assert took["chinese"] < max(1.5, 0.5 * took["english"]), (
        f"a plain lexical search waited: {took}"
    )
