"""The cleaner on the real seed text: every artefact it repairs, and what it must leave alone."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from embeddings.text import (
    CLEANER_VERSION,
    Block,
    CleanDocument,
    clean,
    compact,
    heading_level,
    heading_text,
    looks_like_title,
    normalize,
    remove_pinyin_glosses,
    repair_mojibake,
)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PREFIXES = ["000", "001", "002", "003", "004"]
HAN_QUESTION_HAN = re.compile(r"[\u4e00-\u9fff]\?+[\u4e00-\u9fff]")


@cache
def raw(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


@cache
def cleaned(prefix: str) -> CleanDocument:
    return clean(raw(prefix))


def test_cleaner_version() -> None:
    assert CLEANER_VERSION == "3"


# --- OCR hard line breaks (004) ----------------------------------------------------------


def test_004_raw_really_is_wrapped() -> None:
    text = raw("004")
    assert "实\n践上取得" in text
    assert "首要\n政治任务" in text
    assert "科\n\n学设定" in text  # a column break (blank line) in the middle of a sentence


@pytest.mark.parametrize(
    "joined",
    [
        "理论上、实践上取得了一系列重大成果",  # 实|践
        "意义重大而深远",  # 重|大
        "全面学习把握落实",  # 学|习
        "作为首要政治任务",  # 首要|政治
        "强化责任担当",  # 担|当
        "坚定前行方向",  # 坚|定
        "也有目标上的科学设定",  # 科|(blank line)|学: a column break mid-sentence
    ],
)
def test_004_line_breaks_joined_inside_sentences(joined: str) -> None:
    assert joined in cleaned("004").text


def test_004_real_paragraph_breaks_kept() -> None:
    doc = cleaned("004")
    lines = [ln for ln in raw("004").split("\n") if ln.strip()]
    assert len(lines) > 400
    # 428 wrapped lines make a few dozen paragraphs, not one and not hundreds.
    assert 20 <= len(doc.blocks) <= 60
    starts = [b.text[:8] for b in doc.blocks]
    assert "党的二十大在政治" in starts
    assert "一要在深刻领会重" in starts
    assert "二要在准确把握精" in starts
    # Each paragraph is one line of clean text, and every one of them is wrapped text.
    assert all("\n" not in b.text for b in doc.blocks)
    assert doc.blocks[0].width is not None


# --- pinyin glosses (002) ------------------------------------------------------------------


def test_002_raw_has_glosses() -> None:
    assert "學(xué)習(xí)" in raw("002")
    assert "結(jié)果" in raw("002")


def test_002_pinyin_glosses_removed() -> None:
    text = cleaned("002").text
    assert "學習宣傳貫徹" in text
    assert "開花結果" in text
    assert "責任落實" in text
    assert not re.search(r"\([a-zü\u00e0-\u01dc]+\)", text)
    assert "(黨組)" in text  # a real bracket in the same text survives


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("學(xué)習(xí)", "學習"),
        ("開花結(jié)果", "開花結果"),
        ("網(wǎng)絡(luò)", "網絡"),
        ("（一）堅持學習", "（一）堅持學習"),
        ("報告(2022)指出", "報告(2022)指出"),
        ("黨委(黨組)班子", "黨委(黨組)班子"),
        ("使用(shiyong)拼音", "使用(shiyong)拼音"),  # no tone mark: not a gloss
        ("see (lǜ) alone", "see (lǜ) alone"),  # not glued to a Han character
    ],
)
def test_remove_pinyin_glosses(before: str, after: str) -> None:
    assert remove_pinyin_glosses(before) == after


# --- mojibake (002) -------------------------------------------------------------------------


def test_002_raw_has_the_two_mojibake_runs() -> None:
    assert "九萬里?!毙抡鞒淌浅錆M光榮" in raw("002")
    assert "貫徹?zé)岢?。" in raw("002")


def test_002_lost_lead_byte_before_punctuation_repaired() -> None:
    # ?!毙抡鞒淌浅錆M: lead byte A1 lost from 。(A1 A3) ”(A1 B1) 新征程是充滿; the run
    # resyncs at 'M', the second byte of 滿 (9D 4D).
    assert "扶搖直上九萬里。”新征程是充滿光榮和夢想的遠征" in cleaned("002").text


def test_002_mojibake_inside_pinyin_gloss_repaired() -> None:
    # ?zé) is the mojibake character 責 (D8 9F), glossed by the pinyin tool; 9F is the lost
    # lead byte of 熱 (9F E1), and 潮 (B3 B1) lost its final byte.
    assert "以實際行動帶動學習宣傳貫徹熱潮。要帶頭腳踏實地" in cleaned("002").text


def test_002_no_question_mark_or_garbage_left() -> None:
    text = cleaned("002").text
    assert "?" not in text
    assert not HAN_QUESTION_HAN.search(text)
    for garbage in ("毙", "抡", "鞒", "錆", "岢", "zé)", "提出。要帶頭", "灒"):
        assert garbage not in text


def test_mojibake_snippet_repaired_on_its_own() -> None:
    assert (
        repair_mojibake("扶搖直上九萬里?!毙抡鞒淌浅錆M光榮") == "扶搖直上九萬里。”新征程是充滿光榮"
    )


def test_unrecoverable_mojibake_is_dropped_not_guessed() -> None:
    # Without the text's other glosses (責(zé)) nothing says which byte the '?zé)' lost, and
    # the final byte is lost too: two guessed bytes against two known ones. The run goes.
    assert repair_mojibake("宣傳貫徹?zé)岢?。") == "宣傳貫徹。"
    # With a gloss of 責 elsewhere in the text, the lead byte is known and it is repaired.
    text = "負責(zé)同志。宣傳貫徹?zé)岢?。"
    assert repair_mojibake(text) == "負責(zé)同志。宣傳貫徹熱潮。"


@pytest.mark.parametrize("prefix", ["000", "001", "003", "004"])
def test_clean_seeds_untouched_by_repair(prefix: str) -> None:
    assert repair_mojibake(raw(prefix)) == raw(prefix)


@pytest.mark.parametrize(
    "sentence",
    [
        "你好?我很好",
        "是什么?",
        "你好?我很好?",
        "为什么?因为我们很忙?",
        "是什么?我说OK吧",
        "经济?5G网络",
        "发展?GDP增长",
        "他说?好的!",
        "谁?!",
        "我?你?他?",
        "真的??真的",
        "問題?答案:是的",
    ],
)
def test_literal_question_mark_not_altered(sentence: str) -> None:
    assert repair_mojibake(sentence) == sentence


@pytest.mark.parametrize("prefix", ["000", "001", "003", "004"])
def test_literal_question_marks_in_real_text_not_altered(prefix: str) -> None:
    # Real sentences with '?' where the punctuation was: nothing reads as mojibake.
    text = raw(prefix)[:3000]
    for variant in (text.replace("。", "?"), text.replace("，", "?").replace(",", "?")):
        assert repair_mojibake(variant) == variant


# --- page furniture --------------------------------------------------------------------------


def test_002_furniture_dropped() -> None:
    text = cleaned("002").text
    assert "2022-12-21" in raw("002")
    assert "2022-12-21" not in text
    assert "來源" not in text
    assert "瀏覽次數" not in text
    assert "責任編輯" not in text
    assert "吉政" not in text
    assert "版權聲明" not in text
    assert "未經書面授權" not in text
    assert text.endswith("本報評論員")  # the byline is content, not furniture


def test_furniture_in_both_scripts() -> None:
    doc = clean(
        "标题\n2022-01-01 10:00 来源:某网 浏览次数:\n正文第一句。\n"
        "责任编辑: 某某\n版权声明:不得转载。\n責任編輯:某某\n版權聲明:不得轉載。"
    )
    assert doc.text == "标题\n正文第一句。"


def test_001_title_printed_twice_appears_once() -> None:
    title = "推動黨的二十大精神落地生根 奮力書寫耒陽經濟社會高質量發展答卷"
    assert raw("001").count(title) == 2
    doc = cleaned("001")
    assert doc.text.count(title) == 1
    assert doc.blocks[0].text == title
    assert doc.blocks[1].text == "耒陽市委理論學習中心組"


# --- script, normalisation -----------------------------------------------------------------


def test_original_script_preserved() -> None:
    text = cleaned("001").text
    assert "推動黨的二十大精神" in text
    assert "黨" in text and "党" not in text
    assert "學習" in text and "学习" not in text
    assert normalize(text) != text
    assert "熱潮" in cleaned("002").text  # the repair is in the document's own script


def test_normalize() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("學習") == "学习"
    assert normalize("推動黨的二十大精神") == "推动党的二十大精神"
    assert normalize("（一）") == "(一)"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_normalize_keeps_length(prefix: str) -> None:
    for text in (raw(prefix), cleaned(prefix).text):
        assert len(normalize(text)) == len(text)


def test_compact() -> None:
    assert compact("學 習\n\tＡＢＣ　１２３ ") == "学习abc123"
    assert not re.search(r"\s", compact(cleaned("004").text))


# --- blocks and titles ---------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_block_offsets_index_text(prefix: str) -> None:
    doc = cleaned(prefix)
    assert doc.blocks
    for b in doc.blocks:
        assert doc.text[b.start : b.end] == b.text
        assert b.text == b.text.strip() and b.text
    assert "\n".join(b.text for b in doc.blocks) == doc.text


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("000", ""),  # starts straight with body prose
        ("001", "推動黨的二十大精神落地生根 奮力書寫耒陽經濟社會高質量發展答卷"),
        ("002", "讓黨的二十大精神在臨汾落地生根開花結果——論深入學習宣傳貫徹黨的二十大精神"),
        ("003", "县委副书记在县委理论中心组党的大会精神专题读书班上的发言"),
        ("004", ""),  # a newspaper page: body first, the headlines come later
    ],
)
def test_titles(prefix: str, title: str) -> None:
    doc = cleaned(prefix)
    print(prefix, repr(doc.title))
    assert doc.title == title
    if title:
        assert doc.blocks[0].text == title
    else:
        assert not looks_like_title(doc.blocks[0].text)


# --- Markdown headings ---------------------------------------------------------------------

# Wrapped OCR text (short lines, most not ending a sentence), with headings among the lines.
WRAPPED_WITH_HEADINGS = """# 湘潭市政法工作会议纪要
会议强调，要深入学习贯彻党的
二十大精神，奋力开创新时代湘
潭政法工作新局面，全市政法系
统要坚持以人民为中心的发展思
## 一、提高政治站位
想，切实维护社会大局稳定，为
全市高质量发展提供坚强保障，
要把学习贯彻党的二十大精神作
为首要政治任务，引导政法干警
深刻领悟两个确立的决定性意义
### （一）加强理论武装
坚持用新时代中国特色社会主义
思想凝心铸魂。"""


def test_heading_lines_stay_blocks_in_wrapped_text() -> None:
    doc = clean(WRAPPED_WITH_HEADINGS)
    texts = [b.text for b in doc.blocks]
    # The hard line breaks are joined, but never into or across a heading.
    assert texts == [
        "# 湘潭市政法工作会议纪要",
        "会议强调，要深入学习贯彻党的二十大精神，奋力开创新时代湘潭政法工作新局面，"
        "全市政法系统要坚持以人民为中心的发展思",
        "## 一、提高政治站位",
        "想，切实维护社会大局稳定，为全市高质量发展提供坚强保障，要把学习贯彻党的二十大"
        "精神作为首要政治任务，引导政法干警深刻领悟两个确立的决定性意义",
        "### （一）加强理论武装",
        "坚持用新时代中国特色社会主义思想凝心铸魂。",
    ]
    assert doc.title == "湘潭市政法工作会议纪要"


def test_heading_level_and_text() -> None:
    assert heading_level("## 一、总体要求") == 2
    assert heading_text("## 一、总体要求") == "一、总体要求"
    assert heading_level("#### 4") == 4
    for not_heading in ("#二十大#", "正文 # 不是标题", "##", "#\t", "1. 列表"):
        assert heading_level(not_heading) == 0
        assert heading_text(not_heading) == not_heading


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("# 标题\n正文。", "标题"),
        ("## 一、第一节\n正文。", ""),  # a section heading, not the document's title
        ("# 第一章\n正文。\n# 第二章\n正文。", ""),  # one of several top-level sections
        ("标题\n## 一、第一节\n正文。", "标题"),
    ],
)
def test_title_from_headings(raw: str, title: str) -> None:
    assert clean(raw).title == title


# --- pages (form feeds) --------------------------------------------------------------------


def test_form_feeds_mark_pages_and_leave_no_character() -> None:
    raw = "标题\n第一页的第一段。\f第二页的第一段。\n第二页的第二段。\f第三页。"
    doc = clean(raw)
    assert "\f" not in doc.text
    assert doc.text == "标题\n第一页的第一段。\n第二页的第一段。\n第二页的第二段。\n第三页。"
    assert [doc.text[s : s + 4] for s in doc.page_starts] == ["第二页的", "第三页。"]
    assert doc.pages(0, 2) == (1,)
    assert doc.pages(doc.text.index("第二页的第二段"), len(doc.text)) == (2, 3)


def test_sentence_cut_by_a_page_break_is_one_paragraph() -> None:
    doc = clean(
        "第一段。\n坚持和发展新时代枫桥经验，完善社会\f治理体系，加快推进现代化。\n下一段。"
    )
    assert "完善社会治理体系" in doc.text
    assert len(doc.blocks) == 3
    (start,) = doc.page_starts
    assert doc.text[start:].startswith("治理体系")
    assert doc.pages(doc.blocks[1].start, doc.blocks[1].end) == (1, 2)


def test_page_starts_survive_dropped_furniture_and_collapsed_spaces() -> None:
    raw = "正文一。\f责任编辑：某某\n  正文   二。\f\f正文三。\f"
    doc = clean(raw)
    assert doc.text == "正文一。\n正文 二。\n正文三。"
    # Page 2 starts where its first kept text does; page 3 is empty; a trailing form feed
    # ends the last page rather than opening a new one.
    assert [doc.text[s:] for s in doc.page_starts] == [
        "正文 二。\n正文三。",
        "正文三。",
        "正文三。",
    ]


def test_form_feeds_in_wrapped_ocr_text() -> None:
    lines = WRAPPED_WITH_HEADINGS.split("\n")
    raw = "\n".join(lines[:8]) + "\f" + "\n".join(lines[8:])
    doc = clean(raw)
    assert doc.text == clean(WRAPPED_WITH_HEADINGS).text
    (start,) = doc.page_starts
    assert doc.text[start:].startswith(lines[8])


@pytest.mark.parametrize("prefix", PREFIXES)
def test_seeds_have_no_pages(prefix: str) -> None:
    assert cleaned(prefix).page_starts == []
    assert cleaned(prefix).pages(0, 10) == ()


def test_clean_document_built_without_pages() -> None:
    doc = CleanDocument("正文。", [Block("正文。", 0, 3)], "")
    assert doc.page_starts == [] and doc.pages(0, 3) == ()
