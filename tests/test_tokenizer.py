"""Tokenisation: dictionary terms whole, scripts alike, query and index the same."""

from __future__ import annotations

import pytest

from embeddings.tokenizer import char_bigrams, default_tokenizer


@pytest.fixture(scope="module")
def tok():
    return default_tokenizer()


@pytest.mark.parametrize(
    "term", ["两个确立", "两个维护", "四个意识", "千百十", "三高四新", "枫桥经验"]
)
def test_dictionary_terms_stay_whole(tok, term: str) -> None:
    assert term in tok.tokens(f"必须坚持{term}的要求")


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("政法评论里“一要”部分讲的是什么？", "一要在深刻领会重大意义中坚定前行方向。"),
        ("“二是”讲了什么", "二是政治上坚决维护。"),
    ],
)
def test_ordinal_headings_are_one_token_in_questions_and_text(
    tok, question: str, heading: str
) -> None:
    ordinal = heading[:2]
    assert ordinal in tok.tokens(question)
    assert ordinal in tok.tokens(heading)
    assert tok.tokens("统一是前提") == ["统一", "前提"]  # not 统 + 一是


def test_simplified_and_traditional_give_the_same_tokens(tok) -> None:
    assert tok.tokens("堅持發展為要，奮力推動經濟高質量發展") == tok.tokens(
        "坚持发展为要，奋力推动经济高质量发展"
    )
    assert tok.tokens("ＡＢＣ產業") == tok.tokens("abc产业")


def test_stop_words_and_punctuation_are_dropped(tok) -> None:
    tokens = tok.tokens("耒阳打造了哪些产业？")
    assert "哪些" not in tokens and "了" not in tokens and "？" not in tokens
    assert "耒阳" in tokens and "产业" in tokens


def test_spans_index_the_original_text(tok) -> None:
    text = "耒陽著力打造紙品、童車等五大產業"
    for token, start, end in tok.spans(text):
        assert len(text[start:end]) == len(token)


def test_bm25_tokens_add_character_bigrams_across_word_boundaries(tok) -> None:
    """jieba reads 南京市长江大桥 as 南京市 / 长江大桥, so a question about its 市长 shares no
    word with it; the bigrams give BM25 the shared pair."""
    text = "南京市长江大桥"
    assert "市长" not in tok.tokens(text)
    assert tok.bm25_tokens(text)[: len(tok.tokens(text))] == tok.tokens(text)
    assert "市长" in tok.bm25_tokens(text) and "市长" in tok.bm25_tokens("市长是谁？")
    assert char_bigrams("長江大橋") == ["长江", "江大", "大桥"]  # of the t2s form
    assert char_bigrams("南京市，长江AI大桥") == ["南京", "京市", "长江", "大桥"]  # runs only
    assert tok.bm25_tokens("AI，大") == tok.tokens("AI，大")  # no pair of Chinese characters
