"""Questions about structure: the passage holding the heading asked for comes first."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from embeddings.store import StoredPassage
from embeddings.structure import (
    asked_ordinal,
    asks_author,
    asks_heading,
    byline_first,
    byline_passage,
    heading_first,
    heading_target,
)


@pytest.mark.parametrize(
    ("question", "n"),
    [
        ("县委副书记发言的第一部分标题是什么？", 1),
        ("耒陽市那篇文章講團結奮鬥的第四部分，標題後半句是什麼？", 4),
        ("湘潭政法工作那篇文章的第二点标题是什么？", 2),
        ("第3点的题目是什么？", 3),
        ("第十二条的标题是什么？", 12),
        ("第两个方面的标题？", 2),
        ("第二部份的標題是什麼？", 2),  # 部份, as Taiwan writes it
        ("那篇文章第二部分的标题提到人才吗？", 2),
        ("哪一篇文章的第二部分讲人才？", None),  # asks what part two says
        ("关于改革的那一部分标题是什么？", None),  # asks for a heading, names no number
        ("第二部分讲了什么措施？", None),  # names a number, asks for no heading
    ],
)
def test_asked_ordinal(question: str, n: int | None) -> None:
    assert asked_ordinal(question) == n


def test_asks_heading_in_either_script() -> None:
    assert asks_heading("講安全的那部分標題是什麼？") and asks_heading("哪一個部分講安全？")
    assert asks_heading("哪一篇文章讲人才？")  # a headline, for /ask
    for question in ("耒阳着力打造哪五大产业？", "哪一段时间最忙？", "哪一部分人群受益？"):
        assert not asks_heading(question), question


def passage(id_: int, doc: str, section: str, text: str) -> StoredPassage:
    return StoredPassage(id_, f"{doc}:{id_}", doc, id_, "标题", section, text, 0, len(text))


TALK = [
    passage(1, "talk", "", "县委副书记在读书班上的发言。党的二十大是一次团结奋进的大会。"),
    passage(2, "talk", "一、坚持两个维护", "一、坚持两个维护 大会指出，两个确立意义重大。"),
    passage(3, "talk", "一、坚持两个维护 › 一是思想上高度一致", "一是思想上高度一致。要学深悟透。"),
    passage(4, "talk", "二、深化改革", "二、深化改革 改革是关键一招。"),
    passage(5, "talk", "二、深化改革 › 二是动真碰硬抓改革", "二是动真碰硬抓改革。要啃硬骨头。"),
    passage(6, "other", "二、另一篇的第二部分", "二、另一篇的第二部分 别处的文字。"),
]
ROWS = {p.id: p for p in TALK}


def test_an_ordinal_picks_the_top_level_heading_of_that_number_in_the_best_document() -> None:
    # ranked: the other document's part two, then the talk's sub-point 二是, then its part 二、
    ranked = [5, 6, 1, 3, 4, 2]
    assert heading_target("发言的第二部分标题是什么？", ranked, ROWS) == 4
    assert heading_target("发言的第一部分标题是什么？", ranked, ROWS) == 2
    # no passage carries a part three: nothing moves
    assert heading_target("发言的第三部分标题是什么？", ranked, ROWS) is None


def test_without_an_ordinal_the_best_passage_s_top_level_heading_comes_first() -> None:
    fused = [(5, 0.9), (1, 0.8), (4, 0.7), (3, 0.6)]
    moved = heading_first("讲改革的那一部分标题是什么？", fused, ROWS)
    assert moved == [(4, 0.9), (5, 0.9), (1, 0.8), (3, 0.6)]  # scored as the best


def test_an_ordinal_asks_for_a_top_level_part_not_a_sub_point_of_another() -> None:
    parts = [
        passage(1, "talk", "", "县委副书记在读书班上的发言。"),
        passage(
            2, "talk", "二、深化改革 › （一）动真碰硬抓改革", "（一）动真碰硬抓改革。要啃硬骨头。"
        ),
        passage(3, "talk", "一、坚持两个维护 › （一）思想一致", "（一）思想一致。要学深悟透。"),
    ]
    rows = {p.id: p for p in parts}
    # part one's own passage is not among the candidates: nothing moves, rather than a （一）
    assert heading_target("发言的第一部分标题是什么？", [1, 2, 3], rows) is None


def test_markdown_headings_are_found_under_their_marks() -> None:
    doc = [
        passage(1, "md", "", "# 年度计划\n总的要求如下。"),
        passage(2, "md", "二、重点任务 › 细则", "各部门抓好落实。"),
        passage(3, "md", "二、重点任务", "## 二、重点任务\n推进改革。"),
    ]
    rows = {p.id: p for p in doc}
    assert heading_target("计划的第二部分标题是什么？", [1, 2, 3], rows) == 3
    assert heading_target("讲重点任务的是哪一部分？", [2, 1, 3], rows) == 3


def test_questions_not_asking_for_a_heading_keep_the_fused_order() -> None:
    fused = [(5, 0.9), (4, 0.7)]
    assert heading_first("改革要啃什么？", fused, ROWS) == fused
    # already first, or the best passage has no numbered heading above it
    assert heading_first("讲改革的那一部分标题是什么？", [(4, 0.9), (5, 0.8)], ROWS)[0][0] == 4
    assert heading_first("那一部分标题是什么？", [(1, 0.9), (4, 0.8)], ROWS)[0][0] == 1


def test_an_ordinal_stays_inside_the_best_passage_s_article_on_a_page() -> None:
    page = [
        passage(
            10, "page", "湘潭政法 › 奋力开创新局面", "湘潭政法 奋力开创新局面 市委政法委书记 向敏"
        ),
        passage(11, "page", "秘书长文章 › 抓落实", "秘书长文章 抓落实 市委秘书长 刘新华"),
        passage(12, "page", "秘书长文章 › 抓落实 › 二要改革创新", "二要改革创新。打破常规。"),
        passage(13, "page", "湘潭政法 › 奋力开创新局面 › 二要凝聚力量", "二要凝聚力量。全面准确。"),
    ]
    rows = {p.id: p for p in page}
    assert heading_target("政法工作那篇文章的第二点标题是什么？", [10, 11, 12, 13], rows) == 13


def test_hybrid_search_puts_the_asked_part_first(client: TestClient) -> None:
    for question, heading in (
        ("县委副书记发言的第一部分标题是什么？", "一、坚持做到“两个维护”"),
        ("县委副书记讲话中关于改革的那一部分标题是什么？", "二、蹄疾步稳深化改革"),
    ):
        r = client.post("/search", json={"query": question, "k": 3, "mode": "hybrid"})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert hits[0]["text"].startswith(heading), question
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # BM25 alone is left as it ranks: the rule is the hybrid mode's
    r = client.post(
        "/search", json={"query": "县委副书记发言的第一部分标题是什么？", "mode": "lexical"}
    )
    assert not r.json()["hits"][0]["text"].startswith("一、坚持做到“两个维护”")


def test_ask_answers_with_the_heading_asked_for(client: TestClient) -> None:
    """The question names the document (县委副书记 发言), not the heading's words: its title
    counts for the heading, and 第一部分/标题 count for nothing."""
    for question, heading in (
        ("县委副书记发言的第一部分标题是什么？", "坚持做到“两个维护”"),
        ("湘潭政法工作那篇文章的第二点标题是什么？", "在准确把握精神实质中凝聚奋进力量"),
    ):
        body = client.post("/ask", json={"question": question}).json()
        assert body["answer"] is not None, body["reason"]
        assert heading in body["answer"]["text"], question


@pytest.mark.parametrize(
    "question", ["美国宪法第二部分的标题是什么？", "这本菜谱第三章的标题叫什么？"]
)
def test_a_heading_question_about_something_else_is_still_refused(
    client: TestClient, question: str
) -> None:
    body = client.post("/ask", json={"question": question}).json()
    assert body["answer"] is None and "threshold" in body["reason"]


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("临汾那篇评论文章，署名是谁？", True),
        ("这篇文章是谁执笔的？", True),
        ("Who wrote the article on Linfen?", True),
        ("学习宣传贯彻工作由谁负总责？", False),  # who is responsible, not who wrote it
        ("衡量发展成效由谁说了算？", False),
        ("文章落款日期是哪天？", False),  # the date
        ("人民日报发表了哪篇署名文章？", False),  # which article
        ("这篇文章的署名是谁？", True),
        ("What does the plan written by the commission say?", False),
        ("提出要站稳人民立场的那篇湘潭署名文章，出自哪位领导之手？", True),
        ("这句话出自哪里？", False),
        ("Who signed the Linfen newspaper commentary on the Congress?", True),
        ("Who signed the agreement with Leiyang?", False),
        ("Which reporter filed the story on the CPPCC meeting?", True),
        ("Who reported the story about the Party secretary's visit?", True),
    ],
)
def test_asks_author(question: str, asks: bool) -> None:
    assert asks_author(question) is asks


EDITORIAL = [
    passage(0, "a", "", "凝心聚力。"),
    passage(1, "a", "要强化督查", "严格考核。"),
    passage(2, "a", "要强化督查", "扶摇直上九万里。\n本报评论员"),
]
PAGE = [  # a newspaper page: each article's headline heads its passages' section paths
    passage(
        10, "b", "坚定不移抓落实 › 一心一意优服务 › 一是提高站位抓落实", "一是提高站位抓落实。"
    ),
    passage(11, "b", "坚定不移抓落实 › 一心一意优服务", "湘潭市委常委、市委秘书长 刘新华"),
    passage(12, "b", "谱写组织工作新篇章", "谱写组织工作新篇章\n湘潭市委常委、组织部部长 刘俊"),
    passage(13, "b", "刘志仁宣讲时强调", "本报讯（记者 符瑶）12月5日，刘志仁来到商会宣讲。"),
    passage(14, "b", "刘志仁宣讲时强调", "刘志仁勉励大家扎根湘潭勇作为。"),
    passage(15, "b", "", "市政协召开常委会议。"),
    # an article whose parts are unnumbered subheadings under its headline › subheading
    passage(16, "b", "学习贯彻二十大精神 › 开创新局面 › 更加坚定地站稳人民立场", "站稳人民立场。"),
    passage(17, "b", "学习贯彻二十大精神 › 开创新局面", "湘潭市委常委、副市长 董巍"),
]


def test_the_passage_saying_who_wrote_the_best_passage_s_article() -> None:
    assert byline_passage(EDITORIAL[0], EDITORIAL) is EDITORIAL[2]
    assert byline_passage(PAGE[0], PAGE) is PAGE[1]
    assert byline_passage(PAGE[4], PAGE) is PAGE[3]  # a news lead naming its reporter
    assert byline_passage(PAGE[5], PAGE) is None  # no headline says whose it is
    assert byline_passage(EDITORIAL[0], EDITORIAL[:2]) is None
    assert byline_passage(PAGE[6], PAGE) is PAGE[7]  # its article's path heads the passage's


def test_one_signed_article_on_a_page_signs_no_other() -> None:
    page = [
        passage(0, "c", "政法工作新局面", "深学细悟笃行。"),
        passage(1, "c", "政法工作新局面", "湘潭市委常委、市委政法委书记 向敏"),
        passage(2, "c", "市政协召开常委会议", "会议为期一天。"),
    ]
    assert byline_passage(page[0], page) is page[1]
    assert byline_passage(page[2], page) is None  # not its last passage: not the page's


def test_a_question_asking_who_wrote_it_gets_the_byline_first() -> None:
    rows = {p.id: p for p in PAGE}
    ranked = [(10, 0.9), (12, 0.8), (11, 0.5), (15, 0.4)]
    assert byline_first(ranked, rows, PAGE) == [(11, 0.9), (10, 0.9), (12, 0.8), (15, 0.4)]
    # not when the best passage's article has no byline in the ranking, or when the best
    # passage is the byline
    assert byline_first([(10, 0.9), (12, 0.8)], rows, PAGE) == [(10, 0.9), (12, 0.8)]
    assert byline_first([(11, 0.9), (10, 0.8)], rows, PAGE) == [(11, 0.9), (10, 0.8)]


def test_hybrid_search_puts_the_byline_asked_for_first(seed_engine) -> None:
    # The Linfen editorial is signed 本報評論員 at its very end; the question's words match
    # its headline and opening.
    question = "临汾那篇论学习宣传贯彻二十大精神的文章，署名是谁？"
    signed = [p for p in seed_engine.all_passages() if p.text.rstrip().endswith("本報評論員")]
    assert len(signed) == 1
    for mode in ("dense", "lexical"):  # neither retriever ranks it first
        assert seed_engine.search(question, 1, mode)[0].passage.passage_id != signed[0].passage_id
    assert seed_engine.search(question, 5, "hybrid")[0].passage.passage_id == signed[0].passage_id
