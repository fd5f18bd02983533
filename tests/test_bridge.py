"""The lexical bridge: English questions to the Chinese terms and names the corpus uses."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from embeddings.bridge import (
    CorpusText,
    LexicalQuery,
    bridge,
    is_foreign,
    lexical_query,
    lexical_search,
    segment_pinyin,
)
from embeddings.chunking import chunk
from embeddings.text import clean
from embeddings.tokenizer import default_tokenizer

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
tok = default_tokenizer()


@cache
def corpus() -> CorpusText:
    """The seed documents' passages, as the bridge reads a corpus."""
    texts = [
        p.text for f in sorted(SEEDS.glob("*.txt")) for p in chunk(f.stem, clean(f.read_text()))
    ]
    return CorpusText(texts, default_tokenizer())


class _Backend:
    """Just what `bridge.lexical_search` needs of a backend: BM25 over some texts."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts

    def lexical_search(self, tokens, n, within):
        from embeddings.bm25 import BM25Index

        index = BM25Index()
        index.add(range(len(self._texts)), [tok.bm25_tokens(t) for t in self._texts])
        return index.search(tokens, n)


def test_english_words_become_the_corpus_terms_and_names() -> None:
    found = bridge(
        "How should proposal handling be transformed, according to CPPCC chairman Yang Zhenping?",
        corpus(),
    )
    assert found.names == {"Yang Zhenping": "杨真平"}  # spelled as the corpus spells it
    assert "提案" in found.terms["proposal"]
    assert "办理" in found.terms["handling"]
    assert found.terms["cppcc"] == ["政协"]
    assert "主席" in found.terms["chairman"]
    assert "转变" in found.terms["transformed"]  # an inflected form, looked up as "transform"


@pytest.mark.parametrize(
    ("question", "name", "spelled"),
    [
        ("What does the Xiangtan commentary say?", "Xiangtan", "湘潭"),
        ("What did Liu Zhiren call for?", "Liu Zhiren", "刘志仁"),
        ("Which campaign is run in Yongzhou?", "Yongzhou", "永州"),
        ("What does the Linfen editorial ask?", "Linfen", "临汾"),
        ("What is Linfen's implementation plan?", "Linfen", "临汾"),  # possessive
        ("What is Linfen’s implementation plan?", "Linfen", "临汾"),
    ],
)
def test_romanised_names_are_matched_through_pinyin(question: str, name: str, spelled: str) -> None:
    assert bridge(question, corpus()).names[name] == spelled


def test_phrases_before_words_and_only_terms_the_corpus_has() -> None:
    found = bridge("What does high-level rule of law safeguard in Australia?", corpus())
    assert found.terms["rule of law"] == ["法治"]  # the phrase, not rule / law one by one
    assert "law" not in found.terms and "rule" not in found.terms
    assert "australia" not in found.terms and not found.names  # 澳大利亚 is not in the corpus
    assert "what" not in found.terms and "does" not in found.terms  # question words


def test_british_spellings_are_looked_up_in_american_too() -> None:
    found = bridge("Which mass organisations run study activities?", corpus())
    assert found.terms["mass organisations"] == ["人民团体"]
    assert "organisations" not in found.missed
    # only where a stem is left: "four" is not a British "for" (为了)
    assert "four" not in bridge("What are the four tasks?", corpus()).terms


def test_a_translation_jieba_splits_is_still_in_the_corpus() -> None:
    # jieba reads 县委副书记 as 县委 + 副 + 书记, so 副书记 is no search token of the corpus
    assert tok.tokens("县委副书记") == ["县委", "副", "书记"]
    found = bridge("What did the deputy secretary say?", corpus())
    assert found.terms["deputy secretary"] == ["副书记"]
    # but a word that is one token of its own and only text here straddles two words
    from embeddings.bridge import passages_text

    city = passages_text(("推动城市长远发展。",), tok)
    assert "市长" in city.text and city.count("市长") == 0
    assert "mayor" not in bridge("What did the mayor say?", city).terms


def test_pinyin_readings_of_a_word() -> None:
    from embeddings.bridge import _dictionary

    syllables = _dictionary()[1]
    assert ["xi", "an"] in segment_pinyin("Xian", syllables)
    assert ["xian"] in segment_pinyin("Xian", syllables)
    assert segment_pinyin("Party", syllables) == []  # r, t, y: no pinyin


def test_only_questions_without_chinese_are_bridged() -> None:
    tok = default_tokenizer()
    near = ["市政协主席杨真平出席并讲话。"]
    assert is_foreign("Who chaired the meeting?") and not is_foreign("谁主持会议？")
    chinese = lexical_query("市政协主席是谁？", tok, near)
    assert not chinese.bridged and chinese.tokens(tok) == tok.bm25_tokens("市政协主席是谁？")
    english = lexical_query("Which CPPCC chairman is Yang Zhenping?", tok, near)
    assert english.bridged and {("杨真平",), ("政协",), ("主席",)} <= set(english.groups)
    tokens = english.tokens(tok)
    assert {"杨真平", "政协", "主席"} <= set(tokens)
    assert "which" not in tokens and "is" not in tokens
    # what the dense side reads besides the question (searcher._with_words)
    assert chinese.words() == ""
    assert set(english.words().split()) >= {"杨真平", "政协", "主席"}


def test_a_word_with_many_translations_counts_once() -> None:
    """Each English word is one concept: a passage holding three translations of `weak` does
    not outrank one holding `weak` and `village` once each."""
    tok = default_tokenizer()
    texts = ["薄弱环节，软弱涣散，能力弱小。", "推动薄弱村提升。", "今天天气很好。"]
    backend = _Backend(texts)
    query = LexicalQuery([("薄弱", "软弱", "弱小"), ("村",)], bridged=True)
    flat = backend.lexical_search(query.tokens(tok), 3, None)
    grouped = lexical_search(query, tok, backend, 3)
    assert flat[0][0] == 0  # summed, the three translations win
    assert grouped[0][0] == 1  # one concept each: the passage holding both concepts wins


def test_content_words_without_a_term_in_the_corpus_are_kept_as_missed() -> None:
    found = bridge("What is the capital of Australia?", corpus())
    assert "australia" in found.missed and "capital" not in found.missed
    assert "what" not in found.missed  # a question word, not content


def test_translations_and_names_come_from_the_question_s_neighbourhood() -> None:
    question = "Which CPPCC chairman is Yang Zhenping?"
    near = lexical_query(question, tok, ["市政协主席杨真平出席并讲话。"])
    assert {("杨真平",), ("政协",), ("主席",)} <= set(near.groups)
    # passages about something else (the rest of a large corpus) lend the question nothing
    far = lexical_query(question, tok, ["永州深入实施村集体经济消薄攻坚行动。"])
    assert far.bridged and not any(far.groups)


def test_a_name_is_spelled_whatever_reading_its_characters_have() -> None:
    from embeddings.bridge import passages_text

    texts = ("耒阳市长说，耒阳要发展。", "杨真平和杨振平")
    corpus = passages_text(texts, tok)
    assert corpus.spell(["lei", "yang"]) == {"耒阳": 2}
    assert corpus.spell(["yang", "zhen", "ping"]) == {"杨真平": 1, "杨振平": 1}
    assert corpus.spell(["zhang", "san"]) == {}
    # overlapping readings are all found: 阳阳 reads yang yang twice in 阳阳阳
    assert passages_text(("阳阳阳",), tok).spell(["yang", "yang"]) == {"阳阳": 2}


def test_the_top_passages_of_an_english_question_are_read_once() -> None:
    from embeddings.bridge import passages_text

    texts = ("永州深入实施村集体经济消薄攻坚行动。", "耒阳打造五大产业。")
    first = passages_text(texts, tok)
    assert passages_text(texts, tok) is first  # the same passages: not read again
    assert first.tokens["永州"] == 1 and first.spell(["lei", "yang"])["耒阳"] == 1


def test_a_question_typed_in_full_width_letters_is_bridged_too() -> None:
    question = "Ｗｈｉｃｈ ｆｉｖｅ ｉｎｄｕｓｔｒｉｅｓ ｄｏｅｓ Ｌｅｉｙａｎｇ ｂｕｉｌｄ？"
    assert is_foreign(question)
    found = bridge(question, corpus())
    assert found.names == {"Leiyang": "耒阳"} and "industries" in found.terms


def test_a_translation_the_corpus_says_without_its_suffix_is_found_by_its_stem() -> None:
    # CC-CEDICT gives investor → 投资者, 投资人; the text says 投资 (an agent or abstract
    # suffix dropped, two characters left)
    near = ["加快引进一批外资项目，扩大有效投资。"]
    found = bridge("Which investors does Leiyang attract?", CorpusText(near, tok))
    assert found.terms.get("investors") == ["投资"]
    # a translation the corpus has as it is keeps its suffix
    whole = bridge("Which investors does Leiyang attract?", CorpusText(["投资者纷纷到来。"], tok))
    assert "投资者" in whole.terms["investors"]
