"""Document context: recurring place names, and what each retriever reads of a passage."""

from __future__ import annotations

from embeddings.chunking import Passage
from embeddings.context import dense_input, lexical_input, place_names


def test_place_names_recur_and_generic_ones_are_left_out() -> None:
    text = "耒阳的产业。耒阳和衡阳。建设耒阳。全国全国全国，全国。衡阳一次。"
    assert place_names(text) == ["耒阳"]
    assert place_names("长沙一次。") == []


def test_inputs_carry_section_and_context_and_dense_is_normalised() -> None:
    p = Passage("id", "d", "奮力書寫耒陽答卷", "一、堅持發展", "聚焦產業布局。", 0, 7)
    lex = lexical_input(p, "耒阳")
    assert lex.startswith("奮力書寫耒陽答卷 耒阳 一、堅持發展\n") and lex.endswith("聚焦產業布局。")
    dense = dense_input(p, "耒阳")
    assert "书写" not in dense  # the title is not in the dense input (measured: it hurts)
    assert dense == "耒阳 一、坚持发展\n聚焦产业布局。"


def test_section_already_at_the_start_of_the_text_is_not_repeated() -> None:
    p = Passage("id", "d", "T", "一要做强实体经济", "一要做强实体经济。聚焦产业。", 0, 14)
    assert lexical_input(p) == "T\n一要做强实体经济。聚焦产业。"
