"""Durable acknowledgement with a real server process: SIGKILL at random moments, SIGTERM mid-write.

The short version of `benchmarks/crash.py` (10 kills) and the shutdown and restart cases
around it. Each test starts `python -m service serve` on 127.0.0.1 with the test model.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import crash  # noqa: E402
from serverproc import ServerProcess, scratch_data_dir, seeds_dir  # noqa: E402

SEED = "000_a964bad20ebf15e6"


def _server(tmp_path: Path, test_data_dir: Path, seeds: list[str], **env: str) -> ServerProcess:
    return ServerProcess(
        scratch_data_dir(tmp_path, test_data_dir),
        tmp_path / "index",
        seeds_dir(tmp_path, seeds),
        tmp_path / "server.log",
        env=env,
    )


def test_kill_9_at_random_moments_loses_no_acknowledged_write(
    test_data_dir: Path, tmp_path: Path
) -> None:
    """10 kills: 8 during writing (0.2-2 s after the first answer), 2 while restarting."""
    report = crash.run(
        kills=10,
        minutes=0,
        window=(0.2, 2.0),
        startup_kill_every=4,
        max_minutes=15,
        models_from=test_data_dir,
        workdir=tmp_path / "crash",
        say=lambda line: None,
    )
    assert report.ok, report.summary()
    assert report.kills >= 10, report.summary()
    assert report.writes_acknowledged >= 5, report.summary()


def _start(server: ServerProcess, *, model: bool) -> None:
    """Start and wait; a server that exits instead fails the test with the end of its log."""
    server.start()
    try:
        server.wait_ready(model=model, timeout=600)
    except (RuntimeError, TimeoutError) as exc:
        tail = server.log.read_text(errors="replace").strip().splitlines()[-6:]
        pytest.fail(f"{exc}\n" + "\n".join(tail))


def _big_text(tag: str, paragraphs: int) -> str:
    return crash.make_long_text(tag, random.Random(tag), paragraphs)


def test_sigterm_during_large_writes_finishes_or_rolls_back_each(
    test_data_dir: Path, tmp_path: Path
) -> None:
    """A job of ~210 passages and a synchronous write of ~80 are in flight at SIGTERM:
    after the exit each document is fully there or fully absent, and one answered 201 is there.
    """
    server = _server(tmp_path, test_data_dir, [f"{SEED}.txt"])
    rng = random.Random(7)
    job_tag, sync_tag = crash.new_tag(rng), crash.new_tag(rng)
    texts = {
        "big-job": (job_tag, _big_text(job_tag, 105)),
        "big-sync": (sync_tag, _big_text(sync_tag, 40)),
    }
    expected = {d: (crash.sha256(t), crash.passage_count(d, t)) for d, (_, t) in texts.items()}
    assert expected["big-job"][1] > 200 >= expected["big-sync"][1] > 50
    answers: dict[str, object] = {}
    try:
        _start(server, model=True)
        with httpx.Client(base_url=server.url, timeout=300) as client:
            r = client.post("/documents", json={"doc_id": "big-job", "text": texts["big-job"][1]})
            assert r.status_code == 202, r.text
            job = r.json()["status_url"]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:  # SIGTERM once embedding is under way
                state = client.get(job).json()
                if state["state"] != "queued" and state["done"] > 0:
                    break
                time.sleep(0.05)

            def sync_write() -> None:
                try:
                    with httpx.Client(base_url=server.url, timeout=600) as c:
                        answers["big-sync"] = c.post(
                            "/documents", json={"doc_id": "big-sync", "text": texts["big-sync"][1]}
                        ).status_code
                except httpx.HTTPError as exc:
                    answers["big-sync"] = exc

            writer = threading.Thread(target=sync_write)
            writer.start()
            time.sleep(0.5)
        t0 = time.monotonic()
        code = server.terminate(timeout=600)
        writer.join(timeout=60)
        assert code in (0, -15), f"exit status {code} after SIGTERM; see {server.log}"
        stopped_in = time.monotonic() - t0

        report = crash.Report()
        disk = crash.check_on_disk(tmp_path / "index", tmp_path / "scratch", report)
        assert report.ok, report.summary()
        for doc_id, want in expected.items():
            assert disk.get(doc_id, want) == want, (
                f"{doc_id} is partial: {disk.get(doc_id)} != {want}"
            )
        if answers.get("big-sync") == 201:
            assert "big-sync" in disk, "a write answered 201 is gone after SIGTERM"

        server.start()  # the restarted server serves the same: lexical needs no model
        server.wait_ready(model=False, timeout=300)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            health = client.get("/health").json()
            assert health["passages"] == sum(n for _, n in disk.values())
            for doc_id, (tag, _) in texts.items():
                hits = client.post(
                    "/search", json={"query": crash.tag_query(tag), "mode": "lexical", "k": 100}
                ).json()
                n = len([h for h in hits["hits"] if h["doc_id"] == doc_id and tag in h["text"]])
                assert n == (min(100, expected[doc_id][1]) if doc_id in disk else 0), doc_id
        print(f"SIGTERM: stopped in {stopped_in:.1f}s; kept {sorted(disk)}; sync answer {answers}")
    finally:
        server.kill()


def test_acknowledged_delete_of_the_last_document_survives_a_restart(
    test_data_dir: Path, tmp_path: Path
) -> None:
    """DELETE answered 204 for every document, then kill -9: the next start must not bring
    the seeds back (today `open_engine` re-indexes SEEDS_DIR whenever the index is empty),
    and must start at all (today re-seeding waits for the warming model with the request
    timeout MODEL_WAIT_SECONDS and, when the model is slower, the start fails).
    """
    server = _server(tmp_path, test_data_dir, [f"{SEED}.txt"])
    try:
        _start(server, model=True)
        assert httpx.delete(f"{server.url}/documents/{SEED}", timeout=60).status_code == 204
        assert httpx.get(f"{server.url}/documents", timeout=60).json()["total"] == 0
        server.kill()
        _start(server, model=False)
        total = httpx.get(f"{server.url}/documents", timeout=60).json()["total"]
        assert total == 0, "an acknowledged delete was undone by the restart (seeds re-indexed)"
    finally:
        server.kill()


def test_a_restart_does_not_fail_while_the_model_warms(test_data_dir: Path, tmp_path: Path) -> None:
    """An empty index left by a kill during the first start's seeding (its manifest already
    written): the next start must come up whatever the model's loading time.
    MODEL_WAIT_SECONDS=0.5 stands for a model slower than the wait, as on a busy machine.
    """
    server = _server(tmp_path, test_data_dir, [], MODEL_WAIT_SECONDS="0.5")
    try:
        _start(server, model=True)  # an empty seeds directory: the index is created empty
        server.kill()
        seeds_dir(tmp_path, [f"{SEED}.txt"])  # seeds present, as when the seeding was killed
        _start(server, model=False)
    finally:
        server.kill()


def test_a_kill_while_the_first_start_creates_the_index_does_not_block_the_next(
    test_data_dir: Path, tmp_path: Path
) -> None:
    """The first start creates meta.sqlite (LocalBackend) and only then writes manifest.json;
    a kill between the two leaves an empty index without a manifest, which every later start
    refuses ("has no manifest ... rebuild it"). The state is made directly here.
    """
    from embeddings.backends.local import LocalBackend

    LocalBackend(tmp_path / "index", 384).close()
    assert not (tmp_path / "index" / "manifest.json").exists()
    server = _server(tmp_path, test_data_dir, [f"{SEED}.txt"])
    try:
        _start(server, model=False)
    finally:
        server.kill()


def test_the_disk_check_sees_a_document_of_mixed_versions(tmp_path: Path) -> None:
    """The checker can fail: passages of two versions under one document are reported."""
    import numpy as np

    from embeddings.backends.local import LocalBackend
    from embeddings.store import NewDocument, NewPassage

    rng = np.random.default_rng(0)

    def passage(i: int, tag: str) -> NewPassage:
        text = f"东区水库完成了例行检查，记录 {tag} 。"
        vec = rng.normal(size=384).astype(np.float32)
        return NewPassage(f"p{i}", "t", "", text, 0, len(text), vec / np.linalg.norm(vec), [tag])

    backend = LocalBackend(tmp_path / "index", 384)
    mixed = [passage(0, "zv0000000000"), passage(1, "zv1111111111")]
    backend.write([NewDocument("w0-00", "t", "", "sha", "text", mixed)], [])
    backend.close()
    (tmp_path / "index" / "manifest.json").write_text('{"dim": 384}')
    report = crash.Report()
    disk = crash.check_on_disk(tmp_path / "index", tmp_path / "scratch", report)
    assert disk == {"w0-00": ("sha", 2)}
    assert report.phantom_or_mixed == 1 and not report.ok, report.summary()
