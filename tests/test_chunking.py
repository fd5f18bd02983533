"""Section paths and passage shapes of the five real seed documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddings.chunking import PAGE_HEADLINES, ChunkerConfig, chunk
from embeddings.text import clean

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def passages_of(prefix: str, config: ChunkerConfig | None = None):
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    doc = clean(path.read_text(encoding="utf-8"))
    return doc, chunk(path.stem, doc, config)


def sections(prefix: str) -> list[str]:
    return [p.section for p in passages_of(prefix)[1]]


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_passages_are_exact_slices_in_order(prefix: str) -> None:
    doc, passages = passages_of(prefix)
    assert passages
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip()
        assert len(p.text) <= 300 * 1.5 + 50
    starts = [p.start for p in passages]
    assert starts == sorted(starts)


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_passage_ids_are_stable_and_unique(prefix: str) -> None:
    _, first = passages_of(prefix)
    _, second = passages_of(prefix)
    assert [p.passage_id for p in first] == [p.passage_id for p in second]
    assert len({p.passage_id for p in first}) == len(first)


def test_000_numbered_headings() -> None:
    assert set(sections("000")) == {
        "",
        "一、要学出绝对忠诚",
        "二、要学出使命担当",
        "三、要学出为民情怀",
        "四、要学出过硬作风",
    }


def test_001_inline_yao_items_nest_under_numbered_sections() -> None:
    secs = sections("001")
    assert "二、堅持發展為要 › 三要實施創新驅動戰略" in secs
    assert "一、堅持忠誠為魂 › 一要在忠誠核心上毫不動搖" in secs
    assert "四、堅持奮斗為榮 › 三要完善自我革命的制度體系" in secs
    # 第一職責 / 第二個百年 are words, not headings
    assert not any("第一" in s or "第二" in s for s in secs)
    doc, passages = passages_of("001")
    assert all(
        p.title == "推動黨的二十大精神落地生根 奮力書寫耒陽經濟社會高質量發展答卷" for p in passages
    )


def test_002_parallel_lead_sentences_are_sections() -> None:
    # A section longer than a passage spans several passages: compare the distinct paths.
    assert list(dict.fromkeys(sections("002")[1:])) == [
        "要強化責任落實",
        "要強化示范引領",
        "要強化能力提升",
        "要強化擔當作為",
        "要強化督查考核",
    ]


def test_003_standalone_headings_with_shi_items() -> None:
    secs = sections("003")
    assert "一、坚持做到“两个维护” › 二是政治上坚决维护" in secs
    assert "二、蹄疾步稳深化改革 › 一是围绕发展抓改革" in secs
    assert "三、全力守牢安全底线 › 三是建立大安全大应急框架" in secs
    assert any(s.startswith("四、不断增进民生福祉") for s in secs)


def test_004_articles_are_separated_and_titled_by_their_headlines() -> None:
    _, passages = passages_of("004")
    by_title: dict[str, list] = {}
    for p in passages:
        by_title.setdefault(p.title, []).append(p)
    titles = list(by_title)
    assert titles == [
        "深学细悟笃行党的二十大精神 奋力开创新时代湘潭政法工作新局面",
        "坚定不移抓落实 一心一意优服务",
        "学习贯彻党的二十大精神 开创高质量发展新局面",
        "坚持以党的二十大精神为指引 谱写湘潭组织工作新篇章",
        "市政协召开十三届五次常委会议",
        "刘志仁在市青年企业家商会宣讲党的二十大精神时强调 把思想和行动统一到党的二十大精神上来 在服务湘潭经济发展上当主力挑大梁",
        PAGE_HEADLINES,
    ]
    first = {t: ps[0].text for t, ps in by_title.items()}
    assert first["坚定不移抓落实 一心一意优服务"].startswith("近段时间，我反复学习")
    assert first["市政协召开十三届五次常委会议"].startswith("本报讯（记者 陈静）")
    assert first[titles[5]].startswith("本报讯（记者 符瑶）")
    assert first["坚持以党的二十大精神为指引 谱写湘潭组织工作新篇章"].startswith(
        "党的二十大报告对深入推进"
    )
    politics = {p.section for p in by_title[titles[0]]}
    assert "二要在准确把握精神实质中凝聚奋进力量" in politics
    assert {p.section for p in by_title[titles[2]]} >= {
        "更加忠诚地捍卫“两个确立”",
        "更深层次地推进高质量发展",
    }
    assert {p.section for p in by_title[titles[3]]} >= {"突出正确用人导向", "突出基层基础夯实"}
    # no passage crosses from one article into the next
    news = [p.text for p in by_title["市政协召开十三届五次常委会议"]]
    assert not any("符瑶" in t for t in news)


def test_long_sections_split_at_sentence_ends_with_overlap() -> None:
    _, passages = passages_of("004", ChunkerConfig(target_chars=120))
    same_section = [
        (a, b)
        for a, b in zip(passages, passages[1:], strict=False)
        if a.section == b.section and a.title == b.title
    ]
    assert same_section
    for a, _ in same_section:
        assert a.text[-1] in "。！？；”"
    assert any(b.start < a.end for a, b in same_section)  # one sentence shared


def test_tiny_fragments_are_merged() -> None:
    for prefix in ["000", "001", "002", "003", "004"]:
        _, passages = passages_of(prefix)
        assert all(
            len(p.text) >= ChunkerConfig().min_chars or p.section == PAGE_HEADLINES
            for p in passages
        ), prefix
