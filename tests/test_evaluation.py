"""Batch evaluation: input forms, label checks, metrics checked by hand, HTTP agreement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from embeddings.engine import SearchEngine
from embeddings.evaluation import (
    EvaluationError,
    Question,
    evaluate,
    load_questions,
    load_squad,
    qrels_for,
)
from service.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "benchmarks" / "questions"


def write(tmp_path: Path, lines: list[str], name: str = "q.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ['{"id": "a", "question": "耒阳", "answers": ["紙品"]}', '{"id": "b", "question": '],
    )
    with pytest.raises(EvaluationError, match="line 2"):
        load_questions(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "x", "answers": ["y"]}', 'missing "id"'),
        ('{"id": "a", "question": "  ", "answers": ["y"]}', "question"),
        ('{"id": "a", "question": "x"}', "no labels"),
        ('{"id": "a", "question": "x", "answers": [""]}', "answers"),
        ('["not", "an", "object"]', "JSON object"),
    ],
)
def test_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        load_questions(write(tmp_path, [line]))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="no questions"):
        load_questions(write(tmp_path, ["", "   "]))


def test_duplicate_ids_are_an_error(tmp_path: Path) -> None:
    line = '{"id": "a", "question": "x", "answers": ["y"]}'
    with pytest.raises(EvaluationError, match="duplicate"):
        load_questions(write(tmp_path, [line, line]))


def test_seed_question_sets_are_well_formed_and_answers_occur_in_their_documents(
    seed_engine: SearchEngine,
) -> None:
    from embeddings.text import compact

    for name, minimum in (("seeds.jsonl", 40), ("seeds_holdout.jsonl", 24)):
        questions = load_questions(QUESTIONS / name)
        assert len(questions) >= minimum
        docs = {
            d.doc_id: compact(seed_engine.document_text(d.doc_id)) for d in seed_engine.documents()
        }
        assert {d for q in questions for d in q.relevant_docs} == set(docs)
        for q in questions:
            assert q.answers and q.relevant_docs
            assert any(compact(a) in docs[d] for a in q.answers for d in q.relevant_docs), q.id
        langs = [
            json.loads(ln)["lang"]
            for ln in (QUESTIONS / name).read_text().splitlines()
            if ln.strip()
        ]
        assert {"zh-Hans", "zh-Hant", "en"} <= set(langs)


def test_script_and_space_insensitive_answer_matching(seed_engine: SearchEngine) -> None:
    q = Question("t", "耒阳产业", answers=["纸品、童车"])  # Simplified; the passage is Traditional
    rel = qrels_for([q], seed_engine.all_passages())["t"]
    texts = [seed_engine.passage(pid).text for pid in rel]
    assert texts and all("紙品、童車" in t for t in texts)


def test_unmatched_answer_is_reported_not_scored(seed_engine: SearchEngine) -> None:
    qs = [
        Question("ok", "耒阳打造哪五大产业", answers=["童車"]),
        Question("bad", "x", answers=["火星殖民地"]),
    ]
    with pytest.raises(EvaluationError, match="bad.*火星殖民地"):
        evaluate(seed_engine, qs, ["lexical"])
    result = evaluate(seed_engine, qs, ["lexical"], skip_unmatched=True)
    assert result.modes["lexical"]["n"] == 1


def test_metrics_match_a_hand_computed_example(seed_engine: SearchEngine) -> None:
    """Relevance by passage id, so the expected numbers follow from the ranking by hand."""
    query = "耒阳着力打造哪五大产业？"
    ranked = [h.passage.passage_id for h in seed_engine.search(query, 10, "lexical")]
    # q1: relevant at rank 1; q2: relevant at rank 3; q3: relevant at ranks 2 and 4; q4: none in top 10
    outside = next(p.passage_id for p in seed_engine.all_passages() if p.passage_id not in ranked)
    qs = [
        Question("q1", query, relevant_passages=[ranked[0]]),
        Question("q2", query, relevant_passages=[ranked[2]]),
        Question("q3", query, relevant_passages=[ranked[1], ranked[3]]),
        Question("q4", query, relevant_passages=[outside]),
    ]
    m = evaluate(seed_engine, qs, ["lexical"]).modes["lexical"]
    assert m["n"] == 4
    assert m["hit@1"] == pytest.approx(1 / 4)
    assert m["hit@5"] == pytest.approx(3 / 4)
    assert m["hit@10"] == pytest.approx(3 / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 2 + 0) / 4, abs=1e-4)
    import math

    dcg3 = 1 / math.log2(3) + 1 / math.log2(5)
    idcg3 = 1 + 1 / math.log2(3)
    ndcg = (1 + (1 / math.log2(4)) + dcg3 / idcg3 + 0) / 4
    assert m["ndcg@10"] == pytest.approx(ndcg, abs=1e-4)


@pytest.fixture
def cli_env(settings, seed_engine: SearchEngine, monkeypatch, tmp_path: Path) -> None:
    """The CLI's own settings (from the environment) pointed at the test model and a copy of
    the seed index (the session's engine owns the original: an index has one process)."""
    from service.settings import get_settings

    index = tmp_path / "seed-index"
    shutil.copytree(seed_engine.index_dir, index, ignore=shutil.ignore_patterns(".lock"))
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("INDEX_DIR", str(index))
    monkeypatch.setenv("SEEDS_DIR", str(settings.seeds_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_eval_writes_json_and_table(tmp_path: Path, cli_env, capsys) -> None:
    out = tmp_path / "out.json"
    code = main(
        [
            "eval",
            "--questions",
            str(QUESTIONS / "seeds.jsonl"),
            "--mode",
            "all",
            "--json",
            str(out),
            "--compare",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert (
        "dense" in printed and "lexical" in printed and "hybrid" in printed and "mrr@10" in printed
    )
    data = json.loads(out.read_text())
    assert set(data["modes"]) == {"dense", "lexical", "hybrid"}
    for values in data["modes"].values():
        assert set(values) == {"hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "n"}
    assert len(data["per_question"]) == data["modes"]["hybrid"]["n"]


def test_cli_eval_errors_are_reported(tmp_path: Path, capsys) -> None:
    empty = write(tmp_path, [""])
    assert main(["eval", "--questions", str(empty)]) == 2
    assert "no questions" in capsys.readouterr().err


def test_squad_file_each_paragraph_a_document(tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "id": "A",
                "paragraphs": [
                    {
                        "id": "A-1",
                        "context": "湘江流经湘潭。",
                        "qas": [{"id": "q1", "question": "湘江流经哪里？", "answers": []}],
                    },
                    {
                        "id": "A-2",
                        "context": "岳麓山在长沙。",
                        "qas": [{"id": "q2", "question": "岳麓山在哪？", "answers": []}],
                    },
                ],
            }
        ]
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(squad, ensure_ascii=False))
    docs, qs = load_squad(path)
    assert [d.doc_id for d in docs] == ["A-1", "A-2"]
    assert [(q.id, q.relevant_docs) for q in qs] == [("q1", ["A-1"]), ("q2", ["A-2"])]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(EvaluationError, match="SQuAD"):
        load_squad(tmp_path / "bad.json")


def test_figures_agree_with_an_independent_count_over_http(
    client: TestClient, seed_engine: SearchEngine
) -> None:
    """hit@1 from the evaluator equals a count made with /search and plain substring checks
    (OpenCC, NFKC and case, so 「，」 in an answer matches the text's ",")."""
    import unicodedata

    from opencc import OpenCC

    cc = OpenCC("t2s")

    def plain(text: str) -> str:
        return "".join(cc.convert(unicodedata.normalize("NFKC", text)).lower().split())

    questions = load_questions(QUESTIONS / "seeds.jsonl")
    result = evaluate(seed_engine, questions, ["hybrid"])
    hits = 0
    for q in questions:
        top = client.post("/search", json={"query": q.question, "k": 1, "mode": "hybrid"}).json()[
            "hits"
        ][0]
        if top["doc_id"] in q.relevant_docs and any(
            plain(a) in plain(top["text"]) for a in q.answers
        ):
            hits += 1
    assert result.modes["hybrid"]["hit@1"] == pytest.approx(hits / len(questions), abs=1e-4)


def test_batch_search_keeps_order_and_limits(client: TestClient, settings) -> None:
    queries = [
        "耒阳着力打造哪五大产业？",
        "临汾市委全会审议通过了什么方案？",
        "What did 刘志仁 tell young entrepreneurs?",
    ]
    r = client.post("/search/batch", json={"queries": queries, "k": 2})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["query"] for x in results] == queries
    for q, x in zip(queries, results, strict=True):
        single = client.post("/search", json={"query": q, "k": 2}).json()["hits"]
        assert [h["passage_id"] for h in x["hits"]] == [h["passage_id"] for h in single]
    too_many = client.post(
        "/search/batch", json={"queries": ["问题"] * (settings.max_batch_queries + 1)}
    )
    assert too_many.status_code == 413
    assert str(settings.max_batch_queries) in too_many.json()["error"]
    for body in (
        {"queries": []},
        {"queries": ["ok", " "]},
        {"queries": ["问" * 1001]},
        {"queries": "x"},
        {},
    ):
        bad = client.post("/search/batch", json=body)
        assert bad.status_code == 422, body
        assert bad.json()["error"]


def test_cli_eval_scores_answers_and_keeps_k(tmp_path: Path, cli_env, capsys) -> None:
    out = tmp_path / "out.json"
    args = ["eval", "--questions", str(QUESTIONS / "seeds.jsonl"), "--mode", "lexical"]
    assert main([*args, "--k", "3", "--answers", "--limit", "6", "--json", str(out)]) == 0
    assert "answers:" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["answers"]["n"] == 6
    assert all(len(row["lexical"]["hits"]) <= 3 for row in data["per_question"])
    assert all("answer" in row for row in data["per_question"])


def test_public_sets_split_into_fixed_halves() -> None:
    from embeddings.evaluation import split_questions

    qs = [Question(str(i), f"q{i}", answers=["a"]) for i in range(101)]
    tune, test = split_questions(qs)
    assert len(tune) == 50 and len(test) == 51
    assert {q.id for q in tune}.isdisjoint(q.id for q in test)
    assert split_questions(qs) == (tune, test)  # the same halves every time
