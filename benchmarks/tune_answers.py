"""Choose the answer extractor's weights and threshold by measurement on the dev seed set.

Scores every weight setting by the share of questions whose answer contains an answer
string, then picks the threshold that keeps those answers while refusing off-topic
questions (which have no answer in the corpus). Reports the held-out set with the choice.

    .venv/bin/python benchmarks/tune_answers.py
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace

from common import seed_questions  # noqa: I001

from embeddings.answers import AnswerConfig, choose
from embeddings.evaluation import answer_is_correct
from service.factory import build_encoder, open_engine
from service.settings import Settings

OFF_TOPIC = [
    "今天北京的天气怎么样？",
    "如何用烤箱烤面包？",
    "梅西在哪一年赢得世界杯？",
    "Python 的列表推导式怎么写？",
    "How do I bake sourdough bread?",
    "Who won the 2022 FIFA World Cup?",
    "量子计算机的原理是什么？",
    "iPhone 15 的电池容量是多少？",
    "长城有多长？",
    "What is the capital of Australia?",
]


def prepare(engine, questions, k=5):
    hits = engine.search_many([q.question for q in questions], k, "hybrid")
    return [
        engine.searcher.answer_candidates(q.question, h)
        for q, h in zip(questions, hits, strict=True)
    ]


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def accuracy(questions, cands, config):
    correct = answered = 0
    for q, cs in zip(questions, cands, strict=True):
        best, _ = choose(cs, has_chinese(q.question), config)
        answered += best is not None
        correct += answer_is_correct(best.text if best else None, q.answers)
    return correct / len(questions), answered / len(questions)


def refused(texts, cands, config):
    return sum(
        choose(cs, has_chinese(t), config)[0] is None for t, cs in zip(texts, cands, strict=True)
    ) / len(texts)


def main() -> int:
    settings = Settings()
    engine = open_engine(settings, encoder=build_encoder(settings))
    dev = seed_questions("seeds (dev)")
    holdout = seed_questions("seeds (held-out)")
    dev_c, hold_c = prepare(engine, dev), prepare(engine, holdout)
    off_hits = engine.search_many(OFF_TOPIC, 5, "hybrid")
    off_c = [
        engine.searcher.answer_candidates(t, h) for t, h in zip(OFF_TOPIC, off_hits, strict=True)
    ]
    open_ = AnswerConfig(threshold=float("-inf"), threshold_dense_only=float("-inf"))
    results = []
    for wt, wb, decay in itertools.product(
        (0.0, 0.25, 0.5, 1.0), (0.0, 0.2, 0.5), (0.0, 0.02, 0.05)
    ):
        cfg = replace(open_, weight_terms=wt, weight_bigrams=wb, rank_decay=decay)
        results.append((accuracy(dev, dev_c, cfg)[0], cfg))
    results.sort(key=lambda r: -r[0])
    print("top weight settings on dev (answer contains an answer string, no threshold):")
    for acc, cfg in results[:8]:
        print(
            f"  {acc:.3f}  terms={cfg.weight_terms} bigrams={cfg.weight_bigrams} decay={cfg.rank_decay}"
        )
    best = results[0][1]
    print("\nthresholds (dev accuracy, answered, off-topic refused):")
    for th in (0.8, 0.85, 0.9):
        for th_en in (0.7, 0.75, 0.78, 0.8, 0.84):
            cfg = replace(best, threshold=th, threshold_dense_only=th_en)
            acc, ans = accuracy(dev, dev_c, cfg)
            print(
                f"  zh {th:.2f} en {th_en:.2f}: dev {acc:.3f} answered {ans:.3f}  off-topic refused {refused(OFF_TOPIC, off_c, cfg):.2f}"
            )
    print(f"\nheld-out with the defaults {AnswerConfig()}:")
    acc, ans = accuracy(holdout, hold_c, AnswerConfig())
    dacc, dans = accuracy(dev, dev_c, AnswerConfig())
    print(
        f"  dev {dacc:.3f} (answered {dans:.3f}); held-out {acc:.3f} (answered {ans:.3f}); "
        f"off-topic refused {refused(OFF_TOPIC, off_c, AnswerConfig()):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
