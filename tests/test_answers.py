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


def _with_words(searcher, question: str):
    """The question's own vector, its bridged words, and the normalised mean of the vectors
    of both, computed here apart from Searcher._with_words."""
    import numpy as np

    own = searcher._encode([question])[0]
    words = searcher._lexical_queries([question], [own], "hybrid", None)[0].words()
    mixed = own + searcher._encode([words])[0]
    return own, words, (mixed / np.linalg.norm(mixed)).astype(np.float32)


def test_an_english_question_s_dense_side_reads_its_bridged_words(seed_engine) -> None:
    """The model matches Chinese words to Chinese text far better than English: in hybrid
    search an English question's vector is the mean of its own and its bridged words'."""
    searcher = seed_engine.searcher
    question = "Which five industries is Leiyang building?"
    own, words, mixed = _with_words(searcher, question)
    assert "耒阳" in words and "产业" in words
    for mode, vector in (("hybrid", mixed), ("dense", own)):
        top = [h for h in seed_engine.search(question, 3, mode) if "dense" in h.scores]
        assert top
        for hit in top:
            stored = searcher.backend.vector(hit.passage.id)
            assert hit.scores["dense"] == pytest.approx(float(stored @ vector), abs=1e-4)
    # /ask scores the sentences with the mixed vector in every mode: one threshold holds
    for mode in ("dense", "lexical", "hybrid"):
        asked = searcher._question(question, mode, None)
        assert asked.scoring == pytest.approx(mixed, abs=1e-5)
        assert asked.ranking == pytest.approx(mixed if mode == "hybrid" else own, abs=1e-5)
        answer = seed_engine.ask(question, 3, mode).answer
        assert answer is not None and "童車" in answer.text
    chinese = "耒阳着力打造哪五大产业？"
    hit = seed_engine.search(chinese, 1, "hybrid")[0]
    stored = searcher.backend.vector(hit.passage.id)
    own = searcher._encode([chinese])[0]
    assert hit.scores["dense"] == pytest.approx(float(stored @ own), abs=1e-4)


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


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/search", {"query": "问题"}),
        # an English question's neighbourhood is read first, under its own lock
        ("/search", {"query": "Which industries does Leiyang build?", "mode": "lexical"}),
        ("/ask", {"question": "Which industries does Leiyang build?"}),
    ],
)
def test_unknown_doc_ids_on_search_is_422(client: TestClient, path: str, body: dict) -> None:
    r = client.post(path, json={**body, "doc_ids": ["no-such-doc"]})
    assert r.status_code == 422
    assert "no-such-doc" in r.json()["error"] and "/documents" in r.json()["error"]
    too_many = client.post(path, json={**body, "doc_ids": [f"d{i}" for i in range(101)]})
    assert too_many.status_code == 422 and "limit" in too_many.json()["error"]


def test_english_refusal_quotes_the_threshold_it_was_held_to(client: TestClient) -> None:
    from embeddings.answers import AnswerConfig

    r = client.post("/ask", json={"question": "What is the capital of Australia?"})
    assert r.status_code == 200 and r.json()["answer"] is None
    reason = r.json()["reason"]
    assert f"threshold {AnswerConfig().threshold_bridged:.2f}" in reason
    assert f"threshold {AnswerConfig().threshold:.2f}" not in reason


def test_ask_embeds_only_the_question_once(seed_engine) -> None:
    """Sentence vectors come from the index, so /ask costs one query embedding, like /search,
    and none when the question was asked before (its vector is kept)."""
    encoder = seed_engine.encoder
    calls: list[list[str]] = []
    original = encoder._embed
    encoder._embed = lambda texts, *a, **k: calls.append(list(texts)) or original(texts, *a, **k)
    seed_engine.searcher._vectors.clear()  # other tests asked this question already
    try:
        result = seed_engine.ask(LEIYANG, 5, "hybrid")
        assert len(calls) == 1 and len(calls[0]) == 1
        again = seed_engine.ask(LEIYANG, 5, "hybrid")
    finally:
        del encoder._embed
    assert result.answer is not None and "童車" in result.answer.text
    assert len(calls) == 1 and again.answer == result.answer


# --- choosing the sentence: pure functions on made-up passages -----------------------------


def _hits_and_sentences(passages, dims: int = 8):
    """Hits for (text, section, {sentence: cosine}) passages, with sentence vectors whose
    cosine with the question vector (returned too) is the given one."""
    import numpy as np

    from embeddings.hits import Hit
    from embeddings.store import Sentences, StoredPassage

    qv = np.zeros(dims, dtype=np.float32)
    qv[0] = 1.0
    hits, sentences = [], {}
    for i, (text, section, cosines) in enumerate(passages):
        p = StoredPassage(i, f"p{i}", f"doc{i}", 0, "标题", section, text, 0, len(text))
        hits.append(Hit(p, 1.0 / (i + 1), {}))
        spans = candidate_spans(text)
        vectors = np.zeros((len(spans), dims), dtype=np.float32)
        for k, (s, e) in enumerate(spans):
            c = cosines[text[s:e]]
            vectors[k, 0], vectors[k, 1] = c, (1 - c * c) ** 0.5
        sentences[i] = Sentences(spans, vectors)
    return hits, qv, sentences


def _answer(question: str, passages) -> str | None:
    from embeddings.answers import extract_answer
    from embeddings.tokenizer import default_tokenizer

    hits, qv, sentences = _hits_and_sentences(passages)
    answer, _ = extract_answer(question, hits, qv, sentences, default_tokenizer())
    return answer.text if answer else None


HEADED = (
    "三要做好安全生产。坚持预防为主，推进隐患排查治理常态化。加强应急演练。",
    "三要做好安全生产",
    {
        "三要做好安全生产。": 0.93,
        "坚持预防为主，推进隐患排查治理常态化。": 0.89,
        "加强应急演练。": 0.88,
    },
)


def test_a_heading_that_restates_the_question_gives_way_to_the_sentence_under_it() -> None:
    # The heading matches the question best (meaning and words) but says nothing new.
    assert _answer("县里如何做好安全生产？", [HEADED]) == "坚持预防为主，推进隐患排查治理常态化。"


def test_the_bare_heading_answers_when_nothing_follows_it() -> None:
    bare = ("三要做好安全生产。", "三要做好安全生产", {"三要做好安全生产。": 0.93})
    assert _answer("县里如何做好安全生产？", [bare]) == "三要做好安全生产。"


def test_a_question_asking_for_the_part_gets_the_heading() -> None:
    assert _answer("讲安全生产的是哪一部分？", [HEADED]) == "三要做好安全生产。"


def test_a_sentence_from_a_lower_passage_needs_a_clearly_better_score() -> None:
    first = ("推进定向融资产品置换工作。", "", {"推进定向融资产品置换工作。": 0.88})
    second = ("推进融资平台转型工作。", "", {"推进融资平台转型工作。": 0.92})
    assert _answer("要推进哪项置换工作？", [first, second]) == "推进定向融资产品置换工作。"


def test_the_word_asked_about_decides_between_close_sentences() -> None:
    # Each sentence holds one of the question's words besides 建立; meaning slightly prefers
    # the first, but the question asks for a 框架.
    passage = (
        "建立健全突发事件工作格局。三是建立大安全大应急框架。",
        "",
        {"建立健全突发事件工作格局。": 0.9, "三是建立大安全大应急框架。": 0.89},
    )
    assert _answer("针对突发事件要建立什么样的框架？", [passage]) == "三是建立大安全大应急框架。"


def test_an_english_question_is_worded_through_the_bridge() -> None:
    # Meaning alone prefers the first sentence; the bridged words (提案, 办理, 转变) the second.
    passage = (
        "要强化责任意识，切实抓好提案办理。推动提案办理由“答复型”向“落实型”转变。",
        "",
        {
            "要强化责任意识，切实抓好提案办理。": 0.9,
            "推动提案办理由“答复型”向“落实型”转变。": 0.89,
        },
    )
    answer = _answer("How should proposal handling be transformed?", [passage])
    assert answer == "推动提案办理由“答复型”向“落实型”转变。"


PRINTED = (  # a printed headline and its byline: the headline is closer in meaning
    "坚定不移抓落实 一心一意优服务\n湘潭市委常委、市委秘书长 刘新华",
    "坚定不移抓落实 › 一心一意优服务",
    {"坚定不移抓落实 一心一意优服务": 0.92, "湘潭市委常委、市委秘书长 刘新华": 0.86},
)


@pytest.mark.parametrize(
    "question",
    ["《坚定不移抓落实》的作者是谁？", "Who wrote the Xiangtan article on carrying out decisions?"],
)
def test_a_question_asking_who_wrote_gets_the_byline(question: str) -> None:
    assert _answer(question, [PRINTED]) == "湘潭市委常委、市委秘书长 刘新华"


def test_a_question_asking_when_gets_the_sentence_with_the_date() -> None:
    # Both sentences name the subject; meaning slightly prefers the first, but the question
    # asks for a year and only the second holds one.
    passage = (
        "普朗特是德国力学家，被称为空气动力学之父。1953年8月15日卒于哥廷根。",
        "",
        {"普朗特是德国力学家，被称为空气动力学之父。": 0.88, "1953年8月15日卒于哥廷根。": 0.85},
    )
    assert _answer("普朗特卒于哪一年？", [passage]) == "1953年8月15日卒于哥廷根。"


def test_expected_values() -> None:
    from embeddings.answers import expected_value

    when = expected_value("广三铁路在哪年建成？")
    assert when is not None and when.search("1903年建成") and when.search("光绪二十九年")
    assert not when.search("铁路建成通车")
    many = expected_value("武藏浦和站可分为几个部分？")
    assert many is not None and many.search("分为两个部分") and not many.search("分为若干部分")
    assert expected_value("張世昌出名的原因是什麼？") is None
    assert expected_value("這條鐵路是什麼時候建成的？") is when  # Traditional, normalised
    assert expected_value("他是甚麼時候出生的？") is when
    assert when.search("康熙七年五月") and not when.search("四川")
    # asking for names, or 多大 inside a word, is no quantity question
    for names in ("哪几个国家参加了？", "科罗拉多大学授予他什么学位？", "许多大学有什么共同点？"):
        assert expected_value(names) is None, names
    # a numeral inside a word (四川, 两岸, 百姓) or a heading's ordinal is no quantity
    assert not any(many.search(t) for t in ("四川", "两岸", "百姓", "二、加强"))
    assert many.search("第一批") and many.search("用了三年")


def test_a_sentence_restating_the_question_is_still_the_answer_when_it_is_no_heading() -> None:
    # Answers in running text often repeat the question's words around the answer itself.
    passage = (
        "武藏浦和站是一个高架车站，可分为两个部分。车站只有一个剪票口。",
        "",
        {"武藏浦和站是一个高架车站，可分为两个部分。": 0.93, "车站只有一个剪票口。": 0.86},
    )
    answer = _answer("武藏浦和站是一个高架车站，可分为几个部分？", [passage])
    assert answer == "武藏浦和站是一个高架车站，可分为两个部分。"


def test_a_figure_alone_does_not_put_an_off_topic_question_on_topic() -> None:
    # The gate leaves out the value feature: a passage with any number must not answer
    # a quantity question it is not about. Its meaning falls short of the threshold by
    # half the feature's weight, so counting the feature would let it through.
    from embeddings.answers import AnswerConfig

    config = AnswerConfig()
    cosine = config.threshold - config.weight_expects / 2
    passage = ("全市新增就业岗位三万个。", "", {"全市新增就业岗位三万个。": cosine})
    assert _answer("长城有多长？", [passage]) is None


def test_a_heading_answering_after_a_restating_clause_is_the_answer() -> None:
    # Its first clause restates the question, its second answers it: not a restatement.
    passage = (
        "一是提高站位抓落实，解决好忠诚问题。就是要强化政治担当，推动落实市委决策部署。",
        "一是提高站位抓落实，解决好忠诚问题",
        {
            "一是提高站位抓落实，解决好忠诚问题。": 0.92,
            "就是要强化政治担当，推动落实市委决策部署。": 0.89,
        },
    )
    assert _answer("提高站位抓落实是为了解决什么问题？", [passage]) == (
        "一是提高站位抓落实，解决好忠诚问题。"
    )


def test_novelty_is_that_of_the_newest_clause() -> None:
    from embeddings.answers import novelty

    question = "提高站位抓落实是为了解决什么问题？"
    assert novelty("一是提高站位抓落实。", question) == 0.0
    assert novelty("一是提高站位抓落实，解决好忠诚问题。", question) > 0.25
    # a clause too short to say anything (其次，) is not the new part
    assert novelty("其次，提高站位抓落实。", question) == 0.0


def test_a_byline_answers_only_a_question_about_the_author() -> None:
    # The question names the editorial (评论员文章), so the byline shares its words; it still
    # answers nothing but who wrote it.
    passage = (
        "本报评论员\n确保党的二十大精神在平阳大地落地生根、见到实效。",
        "",
        {"本报评论员": 0.99, "确保党的二十大精神在平阳大地落地生根、见到实效。": 0.85},
    )
    question = "评论员文章怎么说见到实效的？"
    assert _answer(question, [passage]) == "确保党的二十大精神在平阳大地落地生根、见到实效。"
    assert _answer("这篇评论的作者是谁？", [passage]) == "本报评论员"


def test_focus_after_asking_what_kind() -> None:
    from embeddings.answers import focus_terms
    from embeddings.tokenizer import default_tokenizer

    tokenizer = default_tokenizer()
    assert focus_terms("应坚持怎样的学习原则？", tokenizer) == ["学习", "原则"]
    assert focus_terms("要打造怎么样的营商环境？", tokenizer) == ["营商", "环境"]


LOYALTY = (
    "二要在忠诚信仰上矢志不渝。坚持用科学理论凝心铸魂，以理论上的清醒促进政治上的坚定。",
    "二要在忠诚信仰上矢志不渝",
    {
        "二要在忠诚信仰上矢志不渝。": 0.88,
        "坚持用科学理论凝心铸魂，以理论上的清醒促进政治上的坚定。": 0.86,
    },
)


def test_an_english_question_gets_the_sentence_under_a_heading() -> None:
    # What a heading adds cannot be told from dictionary words; its meaning matches the topic.
    answer = _answer("On staying loyal to the faith, what should theory bring about?", [LOYALTY])
    assert answer == "坚持用科学理论凝心铸魂，以理论上的清醒促进政治上的坚定。"


@pytest.mark.parametrize(
    "question",
    ["Which part is about loyalty to the faith?", "What is the heading of the part on loyalty?"],
)
def test_an_english_question_asking_for_the_part_gets_the_heading(question: str) -> None:
    assert _answer(question, [LOYALTY]) == "二要在忠诚信仰上矢志不渝。"


def test_a_point_quoted_by_its_label_gets_its_heading() -> None:
    # “一是” names the point asked for; the second point's heading is closer in meaning.
    path = "一、坚持做到“两个维护”"
    second = (
        "二是政治上坚决维护。坚决维护党中央权威。",
        f"{path} › 二是政治上坚决维护",
        {"二是政治上坚决维护。": 0.95, "坚决维护党中央权威。": 0.9},
    )
    first = (
        "一是思想上高度一致。坚持用党的创新理论武装头脑。",
        f"{path} › 一是思想上高度一致",
        {"一是思想上高度一致。": 0.9, "坚持用党的创新理论武装头脑。": 0.88},
    )
    question = "讲做到“两个维护”时，“一是”提出的要求是什么？"
    assert _answer(question, [second, first]) == "一是思想上高度一致。"
    assert _answer(question.replace("一是", "二是"), [second, first]) == "二是政治上坚决维护。"


@pytest.mark.parametrize(
    "question", ["刘新华担任什么职务？", "What is Liu Xinhua's position?", "刘新华在文中说了什么？"]
)
def test_a_byline_answers_a_question_about_its_author_s_office(question: str) -> None:
    # asks about the office, or names the author: the byline stays a candidate
    from embeddings.answers import AnswerConfig, candidates
    from embeddings.tokenizer import default_tokenizer

    hits, qv, sentences = _hits_and_sentences([PRINTED])
    found = candidates(question, hits, qv, sentences, default_tokenizer(), AnswerConfig().passages)
    assert "湘潭市委常委、市委秘书长 刘新华" in [c.text for c in found]
    if "刘新华担任" in question:
        assert _answer(question, [PRINTED]) == "湘潭市委常委、市委秘书长 刘新华"


def test_english_words_that_only_look_like_a_part_question_ask_for_no_heading() -> None:
    from embeddings.structure import asks_heading

    assert asks_heading("What is the title of the article on loyalty?")
    assert asks_heading("Which section is about reform?")
    for question in ("What is Liu Jun's title?", "At what point should reform start?"):
        assert not asks_heading(question), question


def test_a_question_asking_who_is_responsible_is_not_answered_with_the_byline() -> None:
    passage = (
        "本报评论员\n党委主要负责同志要对学习宣传贯彻工作负总责。",
        "",
        {"本报评论员": 0.93, "党委主要负责同志要对学习宣传贯彻工作负总责。": 0.9},
    )
    answer = _answer("学习宣传贯彻工作由谁负总责？", [passage])
    assert answer == "党委主要负责同志要对学习宣传贯彻工作负总责。"


def test_after_asking_who_the_verb_is_the_word_asked_about() -> None:
    from embeddings.answers import focus_terms
    from embeddings.tokenizer import default_tokenizer

    tokenizer = default_tokenizer()
    assert focus_terms("学习宣传贯彻工作由谁负总责？", tokenizer) == ["总责"]
    assert focus_terms("谁来牵头抓落实？", tokenizer) == ["牵头", "落实"]
    assert focus_terms("刘新华是谁？", tokenizer) == []
    # The sentence with more of the question's words arranges the work; the one holding
    # 负总责 answers who is responsible.
    passage = (
        "各级各部门要对学习宣传贯彻工作作出安排。党委主要负责同志要对学习宣传贯彻工作负总责。",
        "",
        {
            "各级各部门要对学习宣传贯彻工作作出安排。": 0.92,
            "党委主要负责同志要对学习宣传贯彻工作负总责。": 0.91,
        },
    )
    answer = _answer("各地区各部门的学习宣传贯彻工作，由谁负总责？", [passage])
    assert answer == "党委主要负责同志要对学习宣传贯彻工作负总责。"


def test_a_byline_printed_far_from_what_the_question_matched_answers_who_wrote_it(
    seed_engine,
) -> None:
    # The Linfen editorial is signed 本報評論員 at its very end, in a passage the question
    # does not bring into dense search's top three (hybrid search puts it first:
    # test_structure.py).
    question = "临汾那篇论学习宣传贯彻二十大精神的文章，署名是谁？"
    result = seed_engine.ask(question, 5, "dense")
    signed = [p for p in seed_engine.all_passages() if p.text.rstrip().endswith("本報評論員")]
    assert len(signed) == 1
    assert signed[0].passage_id not in [h.passage.passage_id for h in result.hits[:3]]
    assert result.answer is not None and result.answer.text == "本報評論員"
    assert result.answer.passage_id == signed[0].passage_id


def test_when_the_byline_is_known_another_article_s_reporter_does_not_answer() -> None:
    from embeddings.answers import extract_answer
    from embeddings.tokenizer import default_tokenizer

    lead = (
        "本报讯（记者 王五）市政协召开常委会议。",
        "",
        {"本报讯（记者 王五）市政协召开常委会议。": 0.98},
    )
    byline = ("湘潭市委常委、组织部部长 刘俊", "", {"湘潭市委常委、组织部部长 刘俊": 0.97})
    hits, qv, sentences = _hits_and_sentences([lead, byline])
    question = "谱写组织工作新篇章这篇文章的作者是谁？"
    tokenizer = default_tokenizer()
    unknown, _ = extract_answer(question, hits, qv, sentences, tokenizer)
    assert unknown is not None and "王五" in unknown.text  # either names an author
    known, _ = extract_answer(question, hits, qv, sentences, tokenizer, signer=hits[1].passage.id)
    assert known is not None and known.text == "湘潭市委常委、组织部部长 刘俊"


def test_an_english_question_is_fused_with_its_own_dense_share(seed_engine) -> None:
    from dataclasses import replace

    from embeddings.searcher import Searcher

    own = seed_engine.searcher
    config = replace(own.config, mix_alpha_bridged=1.0)
    searcher = Searcher(own.backend, own.encoder, own.tokenizer, config)
    question = "Which five industries is Leiyang building?"
    mixed = _with_words(own, question)[2]
    with own.backend.reading():
        dense = [i for i, _ in own.backend.dense_search(mixed, 5, None)]
    # all of the mix on the dense side: the ranking is the dense one
    assert [h.passage.id for h in searcher.search(question, 5, "hybrid")] == dense
    assert [h.passage.id for h in own.search(question, 5, "hybrid")] != dense
    # a Chinese question keeps the shared share
    chinese = "耒阳着力打造哪五大产业？"
    ours = [h.passage.id for h in searcher.search(chinese, 5, "hybrid")]
    assert ours == [h.passage.id for h in own.search(chinese, 5, "hybrid")]
