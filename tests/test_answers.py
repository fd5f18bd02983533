"""/ask answers, highlights on the original script, doc filters, and their bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from embeddings.answers import MAX_ANSWER_CHARS, candidate_spans
from embeddings.highlight import term_spans
from embeddings.text import normalize

LEIYANG = "耒阳着力打造哪五大产业？"


def test_ask_returns_the_answering_sentence_with_offsets(client: TestClient) -> None:
    r = client.post("/ask", json={"question": LEIYANG})
    assert r.status_code == 200
    body = r.json()
    answer = body["answer"]
    assert answer is not None and body["reason"] is None
    assert "紙品、童車" in answer["text"]
    assert len(answer["text"]) <= MAX_ANSWER_CHARS
    hit = next(h for h in body["hits"] if h["passage_id"] == answer["passage_id"])
    assert hit["text"][answer["start"] : answer["end"]] == answer["text"]
    spans = [s for s in hit["highlights"] if s["kind"] == "answer"]
    assert spans == [{"start": answer["start"], "end": answer["end"], "kind": "answer"}]


def test_ask_off_topic_question_has_no_answer_and_says_why(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "今天北京的天气怎么样？"})
    assert r.status_code == 200
    body = r.json()
    assert body["answer"] is None
    assert "threshold" in body["reason"]
    assert body["hits"]  # the passages are still shown


def test_highlights_mark_traditional_text_for_a_simplified_query(client: TestClient) -> None:
    hit = client.post("/search", json={"query": "纸品童车五大产业", "k": 1}).json()["hits"][0]
    marked = {hit["text"][s["start"] : s["end"]] for s in hit["highlights"] if s["kind"] == "term"}
    assert "紙品" in marked and "童車" in marked and "五大產業" in marked  # original script
    for s in hit["highlights"]:
        assert 0 <= s["start"] < s["end"] <= len(hit["text"])


def test_term_spans_merge_and_are_script_insensitive() -> None:
    text = "著力打造紙品、童車等五大產業"
    spans = term_spans(text, ["五大产业", "产业", "纸品"])
    assert [text[s:e] for s, e in spans] == ["紙品", "五大產業"]
    assert normalize(text)[spans[1][0] : spans[1][1]] == "五大产业"


def test_candidate_spans_are_sentences_within_the_limit() -> None:
    text = "第一句话。第二句话很长，" + "，".join(["分句内容比较长一些"] * 40) + "。短的句子。"
    spans = candidate_spans(text)
    assert text[spans[0][0] : spans[0][1]] == "第一句话。"
    assert all(e - s <= MAX_ANSWER_CHARS for s, e in spans)
    assert text[spans[-1][0] : spans[-1][1]] == "短的句子。"


def test_doc_ids_filter_search_and_ask(client: TestClient, seed_engine) -> None:
    doc = next(d.doc_id for d in seed_engine.documents() if d.doc_id.startswith("003"))
    for path, key in (("/search", "query"), ("/ask", "question")):
        r = client.post(path, json={key: LEIYANG, "doc_ids": [doc], "k": 5})
        assert r.status_code == 200
        assert r.json()["hits"] and all(h["doc_id"] == doc for h in r.json()["hits"])


def test_english_question_works_through_the_dense_model(client: TestClient) -> None:
    r = client.post(
        "/search", json={"query": "Which five industries is Leiyang building?", "k": 10}
    )
    assert r.status_code == 200
    assert any("童車" in h["text"] for h in r.json()["hits"])


@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        ({"question": ""}, 422, "question"),
        ({"question": "  "}, 422, "question"),
        ({"question": "问" * 1001}, 422, "1000"),
        ({}, 422, "question"),
        ({"question": "问题", "k": 0}, 422, "k"),
        ({"question": "问题", "mode": "semantic"}, 422, "mode"),
        ({"question": "问题", "doc_ids": ["no-such-doc"]}, 422, "no-such-doc"),
        ({"question": "问题", "doc_ids": "000"}, 422, "doc_ids"),
    ],
)
def test_bad_ask_requests(client: TestClient, body, status: int, mentions: str) -> None:
    r = client.post("/ask", json=body)
    assert r.status_code == status
    assert mentions in r.json()["error"]


def test_unknown_doc_ids_on_search_is_422(client: TestClient) -> None:
    r = client.post("/search", json={"query": "问题", "doc_ids": ["no-such-doc"]})
    assert r.status_code == 422
    assert "no-such-doc" in r.json()["error"] and "/documents" in r.json()["error"]


def test_english_refusal_quotes_the_threshold_it_was_held_to(client: TestClient) -> None:
    from embeddings.answers import AnswerConfig

    r = client.post("/ask", json={"question": "What is the capital of Australia?"})
    assert r.status_code == 200 and r.json()["answer"] is None
    reason = r.json()["reason"]
    assert f"threshold {AnswerConfig().threshold_dense_only:.2f}" in reason
    assert f"threshold {AnswerConfig().threshold:.2f}" not in reason


def test_ask_embeds_only_the_question_once(seed_engine) -> None:
    """Sentence vectors come from the index, so /ask costs one query embedding, like /search."""
    encoder = seed_engine.encoder
    calls: list[list[str]] = []
    original = encoder._embed
    encoder._embed = lambda texts, *a, **k: calls.append(list(texts)) or original(texts, *a, **k)
    try:
        result = seed_engine.ask(LEIYANG, 5, "hybrid")
    finally:
        del encoder._embed
    assert result.answer is not None and "童車" in result.answer.text
    assert len(calls) == 1 and len(calls[0]) == 1
