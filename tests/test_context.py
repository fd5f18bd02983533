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


def test_a_signed_article_gives_both_retrievers_its_byline_and_its_headline_once() -> None:
    p = Passage(
        "id",
        "004",
        "坚定不移抓落实 一心一意优服务",
        "坚定不移抓落实 › 一心一意优服务 › 一是提高站位抓落实",
        "一是提高站位抓落实，解决好忠诚问题。",
        0,
        18,
        byline="湘潭市委常委、市委秘书长 刘新华",
    )
    # BM25: the headline as title (not again as path), the byline; the item's heading is the
    # passage's own first words.
    assert lexical_input(p) == (
        "坚定不移抓落实 一心一意优服务 湘潭市委常委、市委秘书长 刘新华\n"
        "一是提高站位抓落实，解决好忠诚问题。"
    )
    # The dense model has no title: the headline comes with the heading path.
    assert dense_input(p) == (
        "湘潭市委常委、市委秘书长 刘新华 坚定不移抓落实 › 一心一意优服务 › 一是提高站位抓落实\n"
        "一是提高站位抓落实,解决好忠诚问题。"
    )
