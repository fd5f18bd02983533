"""The Milvus backend on a real milvus-lite server: the engine, HTTP and document tests of the
local backend run again on it, plus parity with the local backend, writes seen across
processes, a doc filter that quotes safely, and a server killed with SIGKILL losing nothing.

milvus-lite is a Python re-implementation of Milvus, not the production engine: BM25 comes
back as a negative distance (the backend flips the sign), its BM25 statistics are per segment
(all of these indexes fit in one), and index types it lacks are accepted silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import test_answers
import test_api
import test_documents
import test_evaluation
from fastapi.testclient import TestClient

from embeddings.backends.base import StorageFullError
from embeddings.bm25 import K1
from embeddings.encoders import Encoder
from embeddings.engine import SearchEngine, SourceDocument, UnknownDocumentsError
from embeddings.evaluation import evaluate, load_questions
from embeddings.manifest import IndexMismatchError
from embeddings.store import NewDocument, NewPassage
from service.app import create_app
from service.factory import open_engine
from service.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from serverproc import ServerProcess  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = load_questions(ROOT / "benchmarks" / "questions" / "seeds.jsonl")


# -- a real milvus-lite server -------------------------------------------------------------


def _server(data_dir: Path, port: int | None = None):
    from service.milvus_server import MilvusLiteServer, MilvusServerError

    try:
        return MilvusLiteServer(data_dir, port=port).start()
    except MilvusServerError as exc:
        pytest.fail(f"{exc} (install: .venv/bin/pip install milvus-lite pymilvus)")


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> Iterator[str]:
    server = _server(tmp_path_factory.mktemp("milvus-lite") / "data")
    yield server.uri
    server.stop()


def on_milvus(settings: Settings, uri: str, collection: str, index: Path, **more) -> Settings:
    update = {"backend": "milvus", "milvus_uri": uri, "milvus_collection": collection}
    return settings.model_copy(update={**update, "index_path": index, **more})


@pytest.fixture(scope="module")
def milvus_settings(settings: Settings, milvus_uri: str, tmp_path_factory) -> Settings:
    return on_milvus(settings, milvus_uri, "seeds", tmp_path_factory.mktemp("m-seeds"))


@pytest.fixture(scope="module")
def seed_engine(milvus_settings: Settings, encoder: Encoder) -> Iterator[SearchEngine]:
    """The five seeds indexed into Milvus (overrides conftest's local one in this module)."""
    engine = open_engine(milvus_settings, encoder=encoder)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(milvus_settings: Settings, seed_engine: SearchEngine) -> Iterator[TestClient]:
    with TestClient(create_app(milvus_settings, seed_engine)) as c:
        yield c


@pytest.fixture(scope="module")
def write_settings(settings: Settings, milvus_uri: str, tmp_path_factory) -> Settings:
    """test_documents' two-seed index, in its own Milvus collection."""
    seeds = tmp_path_factory.mktemp("m-two-seeds")
    for name in ("001_76806f0a31b23090.txt", "002_cbb223353e170aad.txt"):
        shutil.copy(SEEDS / name, seeds)
    index = tmp_path_factory.mktemp("m-writes") / "index"
    return on_milvus(settings, milvus_uri, "writes", index, seeds_dir=seeds)


@pytest.fixture(scope="module")
def local_engine(settings: Settings, encoder: Encoder, tmp_path_factory) -> Iterator[SearchEngine]:
    engine = open_engine(settings, tmp_path_factory.mktemp("local-seeds"), encoder)
    yield engine
    engine.close()


@pytest.fixture
def scratch(settings: Settings, milvus_uri: str, encoder: Encoder, tmp_path: Path, request):
    """An empty engine on a collection of its own."""
    name = "scratch_" + request.node.name.split("[")[0][-40:]
    engine = open_engine(
        on_milvus(settings, milvus_uri, name, tmp_path / "index"),
        encoder=encoder,
        seed_if_empty=False,
    )
    yield engine
    engine.close()


def doc(doc_id: str, text: str) -> SourceDocument:
    return SourceDocument(doc_id=doc_id, title=doc_id, text=text, source=f"{doc_id}.txt")


# -- parity with the local backend ---------------------------------------------------------


def test_lexical_rankings_equal_the_local_backends(seed_engine, local_engine) -> None:
    """Same tokens, same BM25 constants: same passages in the same order; Milvus's BM25 has the
    (k1 + 1) numerator factor our BM25 drops, so its scores are (k1 + 1) times ours. (milvus-lite
    scores with k1 = 1.5 whatever the index asks: with another K1 this test fails.)"""
    questions = [q.question for q in QUESTIONS[:20]]
    both = zip(
        QUESTIONS[:20],
        local_engine.search_many(questions, 10, "lexical"),
        seed_engine.search_many(questions, 10, "lexical"),
        strict=True,
    )
    for q, ours, theirs in both:
        assert [h.passage.passage_id for h in theirs] == [h.passage.passage_id for h in ours], q.id
        for a, b in zip(ours, theirs, strict=True):
            assert b.scores["lexical"] == pytest.approx(a.scores["lexical"] * (K1 + 1), rel=1e-4)


def test_dense_top_passages_equal_the_local_backends(seed_engine, local_engine) -> None:
    questions = [q.question for q in QUESTIONS[:20]]
    both = zip(
        QUESTIONS[:20],
        local_engine.search_many(questions, 5, "dense"),
        seed_engine.search_many(questions, 5, "dense"),
        strict=True,
    )
    for q, ours, theirs in both:
        assert [h.passage.text for h in theirs] == [h.passage.text for h in ours], q.id
        assert [h.score for h in theirs] == pytest.approx([h.score for h in ours], abs=1e-5)


def test_evaluation_within_a_hundredth_of_the_local_backend(seed_engine, local_engine) -> None:
    ours = evaluate(local_engine, QUESTIONS).modes
    theirs = evaluate(seed_engine, QUESTIONS).modes
    for mode in ("dense", "lexical", "hybrid"):
        for metric in ("hit@1", "mrr@10"):
            assert abs(theirs[mode][metric] - ours[mode][metric]) <= 0.01, (mode, metric)


def test_same_documents_passages_and_texts_as_local(seed_engine, local_engine) -> None:
    assert [d.doc_id for d in seed_engine.documents()] == [
        d.doc_id for d in local_engine.documents()
    ]
    assert len(seed_engine) == len(local_engine) and seed_engine.document_count() == 5
    for d in local_engine.documents():
        assert seed_engine.document_text(d.doc_id) == local_engine.document_text(d.doc_id)
        mine = [
            (p.passage_id, p.section, p.start, p.end, p.pages)
            for p in seed_engine.passages(d.doc_id)
        ]
        assert mine == [
            (p.passage_id, p.section, p.start, p.end, p.pages)
            for p in local_engine.passages(d.doc_id)
        ]
    assert [p.passage_id for p in seed_engine.all_passages()] == [
        p.passage_id for p in local_engine.all_passages()
    ]
    ours, theirs = local_engine.all_passages()[:20], seed_engine.all_passages()[:20]
    a = local_engine.backend.sentences([p.id for p in ours])
    b = seed_engine.backend.sentences([p.id for p in theirs])
    for p, q in zip(ours, theirs, strict=True):
        assert b[q.id].spans == a[p.id].spans and len(a[p.id].spans) > 0
        np.testing.assert_allclose(b[q.id].vectors, a[p.id].vectors, atol=1e-6)


def test_reads_past_milvus_query_window_page(seed_engine: SearchEngine, monkeypatch) -> None:
    """A query returns at most 16384 rows: longer reads page (shown here with a window of 4)."""
    from embeddings.backends import milvus

    docs, passages = seed_engine.documents(), seed_engine.all_passages()
    longest = max(docs, key=lambda d: d.passages).doc_id
    own = seed_engine.passages(longest)
    monkeypatch.setattr(milvus, "WINDOW", 4)
    assert seed_engine.documents() == docs and seed_engine.documents(2, 1) == docs[1:3]
    assert seed_engine.all_passages() == passages
    assert seed_engine.passages(longest) == own and len(own) > 8


# -- writes --------------------------------------------------------------------------------


def test_add_replace_delete_are_visible_at_once(scratch: SearchEngine) -> None:
    report = scratch.add_documents(
        [doc("园区", "量子计算产业园建设要点。园区位于湘江新区，占地三百亩。")]
    )
    assert report.ids("added") == ["园区"] and scratch.document_count() == 1
    hits = scratch.search("量子计算产业园", 5, "lexical")
    assert hits and hits[0].passage.doc_id == "园区"
    before = len(scratch)

    report = scratch.add_documents(
        [doc("园区", "量子计算产业园调整方案。园区迁至岳麓山下，改名为量子谷。")]
    )
    assert report.ids("replaced") == ["园区"]
    for mode in ("lexical", "dense", "hybrid"):
        texts = [h.passage.text for h in scratch.search("量子计算产业园", 10, mode)]
        assert any("量子谷" in t for t in texts) and not any("三百亩" in t for t in texts), mode
    assert "量子谷" in scratch.document_text("园区") and len(scratch) == before  # old rows swept
    assert scratch.add_documents(
        [doc("园区", "量子计算产业园调整方案。园区迁至岳麓山下，改名为量子谷。")]
    ).ids("unchanged") == ["园区"]

    scratch.delete_documents(["园区"])
    assert scratch.search("量子", 5, "lexical") == [] and scratch.document("园区") is None
    assert (
        len(scratch) == 0
        and scratch.document_count() == 0
        and scratch.document_text("园区") is None
    )
    with pytest.raises(UnknownDocumentsError):
        scratch.delete_documents(["园区"])


def test_a_long_document_text_is_kept_whole(scratch: SearchEngine) -> None:
    text = "".join(
        f"第{i}节。园区建设稳步推进，产业链条不断延伸，湘江新区再添新动能。\n\n"
        for i in range(1500)
    )
    scratch.add_documents([doc("长文", text)])
    stored = scratch.document_text("长文")
    assert stored is not None and len(stored.encode()) > 65535  # more than one VARCHAR
    assert all(stored[p.start : p.end] == p.text for p in scratch.passages("长文"))


def test_text_without_sentence_ends_fits_milvus(scratch: SearchEngine) -> None:
    """20,000 characters with no 。 or newline: one passage would hold more BM25 tokens than a
    VARCHAR (64 KB); the chunker cuts it, so Milvus stores it as the local backend does."""
    scratch.add_documents([doc("无句号", "耒阳纸品产业园区建设" * 2000)])
    passages = scratch.passages("无句号")
    assert len(passages) > 30 and scratch.document_text("无句号") == "耒阳纸品产业园区建设" * 2000
    assert [h.passage.doc_id for h in scratch.search("纸品产业", 1, "lexical")] == ["无句号"]


def test_doc_filter_and_unknown_docs(seed_engine: SearchEngine) -> None:
    only = seed_engine.documents()[2].doc_id
    for mode in ("dense", "lexical", "hybrid"):
        hits = seed_engine.search("党的二十大精神", 10, mode, doc_ids=[only])
        assert hits and all(h.passage.doc_id == only for h in hits), mode
    with pytest.raises(UnknownDocumentsError):
        seed_engine.search("x", 5, "hybrid", doc_ids=["nope"])


def test_filters_quote_doc_ids_and_tokens_keep_their_punctuation(scratch: SearchEngine) -> None:
    """A doc_id with quotes and backslashes cannot break out of the filter; tokens such as
    `3.5` stay one term (milvus-lite's analyzer would split them)."""
    backend, v = scratch.backend, np.eye(scratch.encoder.dim, dtype=np.float32)
    odd = ['say "hi"', "back\\slash", 'x" or doc_id != "y']
    backend.write(
        [
            NewDocument(
                d,
                d,
                "s",
                "0" * 64,
                "正文",
                [NewPassage(f"p{i}", d, "", "正文", 0, 2, v[i], ["3.5", "c++", "园区"])],
            )
            for i, d in enumerate(odd)
        ],
        [],
    )
    for i, d in enumerate(odd):
        within = backend.restrict([d])
        assert [p for p, _ in backend.dense_search(v[i], 5, within)] == [
            backend.passage(f"p{i}").id
        ]
        assert [
            backend.by_ids([p])[p].doc_id for p, _ in backend.lexical_search(["3.5"], 5, within)
        ] == [d]
    assert len(backend.lexical_search(["3"], 5, None)) == 0  # `3.5` was not split into 3 and 5
    assert len(backend.lexical_search(["c++"], 5, None)) == 3


def test_a_failed_write_changes_nothing_readers_see(scratch: SearchEngine, monkeypatch) -> None:
    scratch.add_documents([doc("甲", "甲文档的第一版。园区建设。")])
    before = ([p.text for p in scratch.passages("甲")], len(scratch))
    client = scratch.backend._client
    boom = scratch.backend._pm.MilvusException(message="deny to write, reason: disk quota exceeded")

    def refuse(*args, **kwargs):
        raise boom

    monkeypatch.setattr(client, "upsert", refuse)  # fails at the commit point
    with pytest.raises(StorageFullError):
        scratch.add_documents([doc("甲", "甲文档的第二版。产业链条。")])
    monkeypatch.undo()
    assert ([p.text for p in scratch.passages("甲")], len(scratch)) == before
    assert "第一版" in scratch.search("甲文档", 1, "lexical")[0].passage.text


# -- several processes, restarts ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_service_processes_see_each_others_writes(
    settings: Settings, milvus_uri: str, encoder: Encoder, tmp_path: Path
) -> None:
    """This process and `python -m service serve` in another one, on one collection."""
    mine = on_milvus(settings, milvus_uri, "shared", tmp_path / "a", seeds_dir=tmp_path / "none")
    engine = open_engine(mine, encoder=encoder)
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "SEEDS_DIR": str(tmp_path / "none"),
        "INDEX_DIR": str(tmp_path / "b"),
        "BACKEND": "milvus",
        "MILVUS_URI": milvus_uri,
        "MILVUS_COLLECTION": "shared",
        "PORT": str(port),
    }
    other = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        for _ in range(1200):
            try:
                if http.get("/health").json().get("model_ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert other.poll() is None, (
                other.stderr.read().decode()[-2000:] if other.stderr else ""
            )
            time.sleep(0.1)
        r = http.post(
            "/documents", json={"doc_id": "乙", "text": "乙文档来自另一个进程。量子谷园区。"}
        )
        assert r.status_code == 201, r.text
        assert engine.document("乙") is not None
        assert [h.passage.doc_id for h in engine.search("量子谷园区", 3, "lexical")] == ["乙"]

        engine.add_documents([doc("丙", "丙文档来自测试进程。岳麓山下的新城。")])
        hits = http.post("/search", json={"query": "岳麓山新城", "k": 3, "mode": "hybrid"}).json()[
            "hits"
        ]
        assert hits[0]["doc_id"] == "丙"
        listed = http.get("/documents").json()["documents"]
        assert {d["doc_id"] for d in listed} == {"乙", "丙"}

        engine.delete_documents(["乙"])
        r = http.post("/search", json={"query": "量子谷园区", "k": 3, "mode": "lexical"})
        assert all(h["doc_id"] != "乙" for h in r.json()["hits"])
        assert http.get("/documents/乙").status_code == 404
    finally:
        other.terminate()
        other.wait(30)
        engine.close()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_workers_serve_one_library_from_several_processes(
    settings: Settings, milvus_uri: str, tmp_path: Path
) -> None:
    """WORKERS=2: two uvicorn worker processes; a write through one is read by every request."""
    (tmp_path / "none").mkdir()
    log = tmp_path / "server.log"
    env = {"BACKEND": "milvus", "MILVUS_URI": milvus_uri, "MILVUS_COLLECTION": "workers"}
    server = ServerProcess(
        settings.data_dir, tmp_path / "index", tmp_path / "none", log, env={**env, "WORKERS": "2"}
    )
    server.start()
    try:
        try:
            server.wait_ready(model=True, timeout=600)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\n{log.read_text(errors='replace')[-3000:]}")
        assert server.proc is not None
        workers = [c for c in _children(server.proc.pid) if "spawn_main" in _cmdline(c)]
        assert len(workers) == 2, [_cmdline(c) for c in _children(server.proc.pid)]
        r = httpx.post(
            f"{server.url}/documents",
            json={"doc_id": "己", "text": "己文档由一个工作进程写入。湘江新区的量子谷。"},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        for _ in range(16):  # a new connection each time: the kernel spreads them
            hits = httpx.post(
                f"{server.url}/search",
                json={"query": "湘江新区量子谷", "k": 1, "mode": "hybrid"},
                timeout=120,
            ).json()["hits"]
            assert [h["doc_id"] for h in hits] == ["己"]
    finally:
        server.terminate(timeout=60)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_a_killed_milvus_loses_nothing_acknowledged(
    settings: Settings, encoder: Encoder, tmp_path: Path
) -> None:
    server = _server(tmp_path / "milvus")
    mine = on_milvus(settings, server.uri, "restart", tmp_path / "index", seeds_dir=SEEDS)
    engine = open_engine(mine, encoder=encoder)  # the five seeds
    engine.add_documents([doc("丁", "丁文档第一版。园区建设。")])
    engine.add_documents([doc("丁", "丁文档第二版。产业链条不断延伸。")])
    engine.delete_documents([engine.documents()[0].doc_id])
    seen = {
        "docs": [(d.doc_id, d.sha256, d.passages) for d in engine.documents()],
        "passages": [(p.id, p.passage_id, p.text) for p in engine.all_passages()],
        "text": engine.document_text("丁"),
        "hits": [h.passage.passage_id for h in engine.search("产业链条", 5, "hybrid")],
    }
    engine.close()
    server.kill()  # SIGKILL: nothing is flushed on the way out
    port = server.port
    server = _server(tmp_path / "milvus", port=port)
    try:
        engine = open_engine(mine, encoder=encoder)
        assert {
            "docs": [(d.doc_id, d.sha256, d.passages) for d in engine.documents()],
            "passages": [(p.id, p.passage_id, p.text) for p in engine.all_passages()],
            "text": engine.document_text("丁"),
            "hits": [h.passage.passage_id for h in engine.search("产业链条", 5, "hybrid")],
        } == seen
        assert len(engine) == len(seen["passages"])
        engine.close()
    finally:
        server.stop()


def test_an_unreachable_milvus_is_a_503_that_says_so(
    settings: Settings, encoder: Encoder, tmp_path: Path
) -> None:
    server = _server(tmp_path / "milvus")
    mine = on_milvus(settings, server.uri, "outage", tmp_path / "index", seeds_dir=tmp_path / "x")
    engine = open_engine(mine, encoder=encoder)
    engine.add_documents([doc("庚", "庚文档。湘江边的园区。")])
    try:
        with TestClient(create_app(mine, engine)) as http:
            server.kill()
            r = http.post("/search", json={"query": "园区", "mode": "lexical"})
            assert r.status_code == 503, r.text
            assert "does not answer" in r.json()["error"] and r.headers["Retry-After"]
            r = http.post("/documents", json={"doc_id": "辛", "text": "辛文档。"})
            assert r.status_code == 503, r.text
    finally:
        engine.close()
        server.stop()


def test_without_a_uri_the_service_runs_milvus_lite_under_data_dir(
    settings: Settings, encoder: Encoder, tmp_path: Path
) -> None:
    local = settings.model_copy(
        update={"backend": "milvus", "data_dir": tmp_path, "seeds_dir": tmp_path / "none"}
    )
    engine = open_engine(local, encoder=encoder)
    second = open_engine(local, encoder=encoder)  # shares the same server
    uri = engine.backend.uri
    assert (tmp_path / "milvus").is_dir() and uri.startswith("http://127.0.0.1:")
    engine.add_documents([doc("戊", "戊文档。园区。")])
    assert second.document("戊") is not None
    engine.close()
    assert second.document_count() == 1  # still running for the other engine
    second.close()
    host, port = uri.removeprefix("http://").split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass


@pytest.fixture(scope="module")
def fclient(write_settings: Settings, encoder: Encoder, tmp_path_factory) -> Iterator[TestClient]:
    """test_documents' fine-chunked index: another chunker, so another collection."""
    fine = write_settings.model_copy(
        update={
            "chunk_chars": 80,
            "index_path": tmp_path_factory.mktemp("m-formats") / "index",
            "milvus_collection": "formats",
        }
    )
    engine = open_engine(fine, encoder=encoder, seed_if_empty=False)
    with TestClient(create_app(fine, engine)) as c:
        yield c
    engine.close()


def test_a_collection_built_with_another_chunker_is_refused(
    settings: Settings, milvus_uri: str, encoder: Encoder, tmp_path: Path
) -> None:
    """Processes share the collection, not INDEX_DIR: the manifest lives in Milvus."""
    mine = on_milvus(settings, milvus_uri, "refused", tmp_path / "a", seeds_dir=tmp_path / "none")
    open_engine(mine, encoder=encoder).close()
    other = mine.model_copy(update={"chunk_chars": 500, "index_path": tmp_path / "b"})
    with pytest.raises(IndexMismatchError, match="chunk"):
        open_engine(other, encoder=encoder)


# -- the local backend's engine, HTTP and document tests, run again on Milvus ----------------


def _reuse(module: object, skip: tuple[str, ...] = ()) -> None:
    """Bring a local-backend test module's tests and fixtures here, where `seed_engine`,
    `client`, `write_settings` and `fclient` (defined above) are the Milvus ones."""
    for name, obj in vars(module).items():
        is_fixture = type(obj).__name__ == "FixtureFunctionDefinition"
        if (name.startswith("test_") and callable(obj) or is_fixture) and name not in skip:
            if name not in globals():
                globals()[name] = obj
            elif not is_fixture:
                raise RuntimeError(f"{name} is defined here and in {module}")


_reuse(test_api)
_reuse(test_answers)
_reuse(test_documents)
# The CLI tests hand the index to `python -m service` by INDEX_DIR alone (no BACKEND).
_reuse(
    test_evaluation,
    skip=("test_cli_eval_writes_json_and_table", "test_cli_eval_scores_answers_and_keeps_k"),
)
