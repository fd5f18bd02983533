"""The chunker against the documents: sections as a reader of each seed sees them.

The outlines below were written by reading the seeds: the headings each document prints (一、
二、 …, 一要/一是 items opening a sentence, the parallel 要強化… / 更加… / 突出… lead
sentences) and, for the newspaper page 004, which headline at the foot of the page belongs
to which article. The tests check that the outline really is in the document, and then that
the chunker's passages follow it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from embeddings.chunking import CHUNKER_VERSION, ChunkerConfig, Passage, chunk
from embeddings.text import CleanDocument, clean

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PREFIXES = ["000", "001", "002", "003", "004"]

Path_ = tuple[str, ...]


def parts(top: str, *items: str) -> list[Path_]:
    """A numbered part and the items inside it, as heading paths."""
    return [(top,), *((top, item) for item in items)]


# Every heading a reader finds in each seed, in document order, as a path.
OUTLINES: dict[str, list[Path_]] = {
    "000": [
        ("一、要学出绝对忠诚",),
        ("二、要学出使命担当",),
        ("三、要学出为民情怀",),
        ("四、要学出过硬作风",),
    ],
    "001": [
        *parts(
            "一、堅持忠誠為魂",
            "一要在忠誠核心上毫不動搖",
            "二要在忠誠信仰上矢志不渝",
            "三要在忠誠人民上一以貫之",
        ),
        *parts(
            "二、堅持發展為要",
            "一要做強做優實體經濟",
            "二要縱深推進改革開放",
            "三要實施創新驅動戰略",
        ),
        *parts(
            "三、堅持民生為本",
            "一要全域推進鄉村振興",
            "二要全面增進民生福祉",
            "三要全力筑牢安全屏障",
        ),
        *parts(
            "四、堅持奮斗為榮",
            "一要筑牢攻堅克難的戰斗堡壘",
            "二要鞏固全面從嚴的常態格局",
            "三要完善自我革命的制度體系",
        ),
    ],
    # A commentary whose sections open with parallel lead sentences instead of numbers.
    "002": [
        ("要強化責任落實",),
        ("要強化示范引領",),
        ("要強化能力提升",),
        ("要強化擔當作為",),
        ("要強化督查考核",),
    ],
    "003": [
        *parts(
            "一、坚持做到“两个维护”",
            "一是思想上高度一致",
            "二是政治上坚决维护",
            "三是行动上紧紧跟随",
        ),
        *parts(
            "二、蹄疾步稳深化改革", "一是围绕发展抓改革", "二是动真碰硬抓改革", "三是争先创优抓改革"
        ),
        *parts(
            "三、全力守牢安全底线",
            "一是抓实抓细安全生产各项举措",
            "二是全面防范重大金融风险",
            "三是建立大安全大应急框架",
        ),
        *parts("四、不断增进民生福祉", "一是牢记宗旨意识", "二是办好民生实事", "三是密切联系群众"),
    ],
}

# The articles of page 004 as a reader pairs them with the headlines printed together at the
# foot of the page: headline (after its kicker, for the second news item) › subheading, the
# byline under it (the author's offices and name; a news item's reporter is named in its
# lead instead), and the words the article's text begins and ends with.
ARTICLES_004: list[tuple[Path_, str, str, str]] = [
    (
        ("深学细悟笃行党的二十大精神", "奋力开创新时代湘潭政法工作新局面"),
        "湘潭市委常委、市委政法委书记 向敏",
        "党的二十大在政治上",
        "担当的政法铁军。",
    ),
    (
        ("坚定不移抓落实", "一心一意优服务"),
        "湘潭市委常委、市委秘书长 刘新华",
        "近段时间，我反复学习",
        "新湘潭的强大合力。",
    ),
    (
        ("学习贯彻党的二十大精神", "开创高质量发展新局面"),
        "湘潭市委常委、副市长 董巍",
        "党的二十大是在全党全国",
        "把我们的事业干好。",
    ),
    (
        ("坚持以党的二十大精神为指引", "谱写湘潭组织工作新篇章"),
        "湘潭市委常委、组织部部长 刘俊",
        "党的二十大报告对深入推进",
        "提升两个覆盖质效。",
    ),
    (("市政协召开十三届五次常委会议",), "记者 陈静", "本报讯（记者 陈静）", "事事有着落。"),
    (
        (
            "刘志仁在市青年企业家商会宣讲党的二十大精神时强调",
            "把思想和行动统一到党的二十大精神上来",
            "在服务湘潭经济发展上当主力挑大梁",
        ),
        "记者 符瑶",
        "本报讯（记者 符瑶）",
        "迈向更高水平。",
    ),
]
_ZF, _MS, _JK, _ZZ, _ZX, _LZR = (headline for headline, *_ in ARTICLES_004)


def article(headline: Path_, *items: str) -> list[Path_]:
    """A page article under its headline, and the headings inside it."""
    return [headline, *((*headline, item) for item in items)]


# A newspaper page: four signed articles with their own headings, two news items.
OUTLINES["004"] = [
    *article(
        _ZF,
        "一要在深刻领会重大意义中坚定前行方向",
        "二要在准确把握精神实质中凝聚奋进力量",
        "三要在全面贯彻实践要求中彰显担当作为",
    ),
    *article(_MS, "一是体现时代性", "二是把握规律性", "三是富于创造性"),
    (*_MS, "一是提高站位抓落实"),
    (*_MS, "二是较真碰硬抓落实"),
    (*_MS, "三是改革创新抓落实"),
    *article(_JK, "更加忠诚地捍卫“两个确立”", "更深层次地推进高质量发展", "更加坚定地站稳人民立场"),
    *article(_ZZ, "突出科学理论武装", "突出正确用人导向", "突出“第一资源”开发", "突出基层基础夯实"),
    *article(_ZX),
    *article(_LZR),
]


@cache
def cleaned(prefix: str) -> CleanDocument:
    return clean(next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8"))


def passages_of(prefix: str, config: ChunkerConfig | None = None) -> list[Passage]:
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    return chunk(path.stem, cleaned(prefix), config)


def path_of(p: Passage) -> Path_:
    return tuple(p.section.split(" › ")) if p.section else ()


def heading_spans(prefix: str) -> dict[Path_, tuple[int, int]]:
    """Where each outline heading starts in the text, and where the next one not under it does."""
    text = cleaned(prefix).text
    outline = OUTLINES[prefix]
    # A page article's headline is printed apart from it: the article starts with its text.
    heads = {h: text.index(first) for h, _, first, _ in ARTICLES_004} if prefix == "004" else {}
    starts, pos = [], 0
    for path in outline:
        pos = heads[path] if path in heads else text.index(path[-1], pos)
        starts.append(pos)
    breaks = list(heads.values())
    spans = {}
    for i, (path, start) in enumerate(zip(outline, starts, strict=True)):
        later = [
            s
            for p, s in zip(outline[i + 1 :], starts[i + 1 :], strict=True)
            if p[: len(path)] != path
        ]
        end = min([*later[:1], *(b for b in breaks if b > start), len(text)])
        spans[path] = (start, end)
    return spans


# --- the outlines are the documents' own ---------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_outline_headings_open_a_paragraph_or_a_sentence(prefix: str) -> None:
    doc = cleaned(prefix)
    block_starts = {b.start for b in doc.blocks}
    for path, (start, _) in heading_spans(prefix).items():
        before = doc.text[:start].rstrip("”’」』）)》")
        assert start in block_starts or before[-1:] in "。：；！？", path


# --- passages follow the outline -----------------------------------------------------------


def foot_004() -> int:
    """Where page 004 prints its headlines and bylines together, after its last article."""
    text = cleaned("004").text
    return text.index("迈向更高水平。") + len("迈向更高水平。")


def printed_headline(p: Passage) -> bool:
    """A passage of page 004's foot: an article's headline (and byline) as printed apart."""
    return p.doc_id.startswith("004") and p.start >= foot_004()


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_heading_has_passages_and_nothing_else_is_a_section(prefix: str) -> None:
    expected = {*OUTLINES[prefix]}
    if prefix != "004":  # on the page, every passage is part of an article
        expected.add(())  # the text before the first heading
    assert {path_of(p) for p in passages_of(prefix)} == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_passages_lie_under_their_heading_in_document_order(prefix: str) -> None:
    spans = heading_spans(prefix)
    order = list(spans)
    last = -1
    for p in passages_of(prefix):
        path = path_of(p)
        if path == () or printed_headline(p):
            continue  # the text before the first heading; headlines printed at the page's foot
        start, end = spans[path]
        assert start < p.end and p.start < end, (p.section, p.start, p.end)
        if any(path == headline for headline, *_ in ARTICLES_004):
            continue  # a page article's own text, which may follow its numbered items
        assert order.index(path) >= last, p.section
        last = order.index(path)


def test_000_intro_before_the_first_heading_has_no_section() -> None:
    first = passages_of("000")[0]
    assert first.section == ""
    assert first.text.startswith("学习宣传贯彻党的二十大精神是当前和今后一个时期的首要政治任务")


def test_001_title_is_the_printed_title_and_ordinals_in_words_are_not_headings() -> None:
    title = "推動黨的二十大精神落地生根 奮力書寫耒陽經濟社會高質量發展答卷"
    passages = passages_of("001")
    assert all(p.title == title for p in passages)
    # 第一職責 and 第二個百年 are in the text, but as words, not as 第一/第二 headings.
    assert "第一職責" in cleaned("001").text and "第二個百年" in cleaned("001").text
    assert not any("第一" in p.section or "第二" in p.section for p in passages)


def test_004_each_article_carries_its_own_headline_and_stays_inside_it() -> None:
    text = cleaned("004").text
    spans = {}
    for headline, _, first, last in ARTICLES_004:
        spans[" ".join(headline)] = (text.index(first), text.index(last) + len(last))
    passages = passages_of("004")
    assert {p.title for p in passages} == {*spans}
    for p in passages:
        if printed_headline(p):
            continue  # checked with the bylines below
        start, end = spans[p.title]
        assert start <= p.start and p.end <= end, (p.title, p.text[:20])


def test_004_lists_each_articles_headline_and_author() -> None:
    """Each article under headline › subheading, with its author: the byline printed under
    its headline at the foot, or the reporter its lead names (本报讯（记者 …）)."""
    text = cleaned("004").text
    foot = text[foot_004() :]
    passages = passages_of("004")
    for headline, byline, first, _ in ARTICLES_004:
        assert all(line in foot for line in headline)
        signed = byline in foot
        assert signed or text.index(byline) < text.index(first) + len(first)  # the lead's
        mine = [p for p in passages if p.title == " ".join(headline)]
        body = [p for p in mine if not printed_headline(p)]
        (printed,) = [p for p in mine if printed_headline(p)]
        assert body[0].text.startswith(first)
        # The headline as printed, with the byline under it when the page prints one.
        assert printed.text.split() == [*headline, *(byline.split() if signed else [])]
        for p in mine:
            assert path_of(p)[: len(headline)] == headline, p.section
            assert p.byline == byline
    assert all(p.section for p in passages)  # no passage of the page without a heading path
    assert all(p.byline == "" for prefix in PREFIXES[:4] for p in passages_of(prefix))


# --- passage shape -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_passages_are_exact_slices_in_order(prefix: str) -> None:
    doc = cleaned(prefix)
    passages = passages_of(prefix)
    assert passages
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip()
        assert len(p.text) <= 300 * 1.5 + 50
        assert p.pages == ()  # plain text has no pages
    starts = [p.start for p in passages]
    assert starts == sorted(starts)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_passage_ids_are_stable_and_unique(prefix: str) -> None:
    first, second = passages_of(prefix), passages_of(prefix)
    assert [p.passage_id for p in first] == [p.passage_id for p in second]
    assert len({p.passage_id for p in first}) == len(first)


def test_long_sections_split_at_sentence_ends_with_overlap() -> None:
    passages = passages_of("004", ChunkerConfig(target_chars=120))
    same_section = [
        (a, b)
        for a, b in zip(passages, passages[1:], strict=False)
        if a.section == b.section and a.title == b.title
    ]
    assert same_section
    for a, _ in same_section:
        assert a.text[-1] in "。！？；”"
    assert any(b.start < a.end for a, b in same_section)  # one sentence shared


def test_text_without_sentence_ends_is_cut_into_bounded_passages() -> None:
    """A flattened table or OCR that lost its stops: thousands of characters, no 。 or newline.
    Cut after a clause mark where one is near, else at the limit; nothing lost or reordered."""
    config = ChunkerConfig()
    clauses = "，".join(f"第{i}项指标完成情况良好" for i in range(400))  # commas only
    bare = "耒阳纸品产业" * 1000  # not even a comma
    for text in (clauses, bare):
        passages = chunk("flat", clean(text), config)
        assert len(passages) >= 9
        assert max(len(p.text) for p in passages) <= config.max_sentence_chars + config.min_chars
        assert passages[0].start == 0 and passages[-1].end == len(text)
        assert all(a.end >= b.start for a, b in zip(passages, passages[1:], strict=False))
    assert all(p.text.endswith("，") for p in chunk("flat", clean(clauses), config)[:-1])


@pytest.mark.parametrize("prefix", PREFIXES)
def test_tiny_fragments_are_merged(prefix: str) -> None:
    # A headline printed on its own at the page's foot is a whole, however short.
    assert all(
        len(p.text) >= ChunkerConfig().min_chars or printed_headline(p) for p in passages_of(prefix)
    )


# --- Markdown headings (every source format's headings) and pages ------------------------

MARKDOWN = """# 基层治理工作笔记

本文记录基层治理工作中的几点体会。

## 一、坚持党建引领

基层党组织是党在社会基层组织中的战斗堡垒。一是建强村级班子。选优配强村党组织书记。二是规范议事程序。落实“四议两公开”工作法。

### 网格化管理

把党支部建在网格上，做到人在网中走、事在格中办。

#### 网格员队伍

每个网格配备一名专职网格员，负责信息采集和矛盾排查。

### 数字化平台

建设基层治理数字平台，实现事件上报、分拨、办结全流程闭环。

## 二、做实为民服务

聚焦群众“急难愁盼”问题，推动服务资源向基层下沉。
"""


def test_version() -> None:
    assert CHUNKER_VERSION == "5"


def test_markdown_headings_nest_by_level() -> None:
    doc = clean(MARKDOWN)
    passages = chunk("notes", doc, ChunkerConfig(target_chars=40))
    assert doc.title == "基层治理工作笔记"
    assert all(p.title == "基层治理工作笔记" for p in passages)
    # The document's own outline: ## under the title, ### under ##, #### under ###, and the
    # 一是/二是 items of the first section under it; the title itself is no section.
    assert list(dict.fromkeys(p.section for p in passages)) == [
        "",
        "一、坚持党建引领",
        "一、坚持党建引领 › 一是建强村级班子",
        "一、坚持党建引领 › 二是规范议事程序",
        "一、坚持党建引领 › 网格化管理",
        "一、坚持党建引领 › 网格化管理 › 网格员队伍",
        "一、坚持党建引领 › 数字化平台",
        "二、做实为民服务",
    ]
    for p in passages:
        assert doc.text[p.start : p.end] == p.text


def test_markdown_heading_alone_opens_its_section() -> None:
    # The first sentence under 乙 does not fit one passage with its heading, so the heading
    # is a fragment of its own: it goes with the text after it, not into the section before.
    long_sentence = "乙节的第一句话很长，" * 5 + "到此结束。"
    doc = clean(f"# 标题\n\n## 甲\n\n甲节的内容很短。\n\n## 乙\n\n{long_sentence}")
    passages = chunk("t", doc, ChunkerConfig(target_chars=40))
    assert (passages[-1].section, passages[-1].text) == ("乙", f"## 乙\n{long_sentence}")
    assert all("## 乙" not in p.text for p in passages[:-1])


def test_markdown_heading_path_without_marks_and_long_headings_cut() -> None:
    long_heading = (
        "关于进一步加强和改进新时代基层治理工作的若干意见和具体实施办法的起草说明与政策解读"
    )
    doc = clean(f"## {long_heading}\n正文第一句。正文第二句。")
    (p,) = chunk("x", doc)
    assert "#" not in p.section
    assert p.section == long_heading[:39] + "…"


def test_numbered_headings_after_markdown_sections_restart() -> None:
    doc = clean(
        "# 报告\n\n## 第一部分\n\n一、总体要求。内容。\n\n二、主要任务。内容。\n\n"
        "## 第二部分\n\n一、保障措施。内容。"
    )
    sections = {p.section for p in chunk("r", doc, ChunkerConfig(target_chars=8))}
    assert "第一部分 › 二、主要任务" in sections
    assert "第二部分 › 一、保障措施" in sections  # a new part: the numbering starts again
    assert not any(s.startswith("第一部分 › 二、主要任务 › ") for s in sections)


def test_passages_know_their_pages() -> None:
    raw = (
        "工作报告\n一、总体要求。坚持以人民为中心的发展思想，完善社会\f治理体系。"
        "\n二、主要任务。推进平安建设。\f\n三、保障措施。加强组织领导。"
    )
    doc = clean(raw)
    passages = {p.section: p for p in chunk("r", doc, ChunkerConfig(target_chars=20))}
    assert passages["一、总体要求"].pages == (1, 2)
    assert passages["二、主要任务"].pages == (2,)
    assert passages["三、保障措施"].pages == (3,)


def test_passage_built_without_pages() -> None:
    p = Passage("id", "doc", "title", "", "text", 0, 4)
    assert p.pages == ()


def test_clean_text_without_markdown_is_chunked_as_before() -> None:
    # A line that merely starts with '#' (a hashtag) is text, not a heading.
    doc = clean("#二十大# 学习体会\n正文。")
    assert doc.title == "#二十大# 学习体会"
    assert re.fullmatch(r"#二十大# 学习体会\n正文。", chunk("t", doc)[0].text)


def test_bylines_name_the_author_and_nothing_else() -> None:
    from embeddings.chunking import is_byline, names_author

    for line in ("湘潭市委常委、组织部部长 刘俊", "本报评论员", "本報評論員", "本报特约评论员"):
        assert is_byline(line) and names_author(line), line
    lead = "本报讯（记者 陈静）11月5日，全市政法工作会议召开。"
    assert names_author(lead) and not is_byline(lead)  # a lead names its reporter, and says more
    for line in ("评论员文章指出，要狠抓落实。", "要加强评论员队伍建设。"):
        assert not is_byline(line), line
