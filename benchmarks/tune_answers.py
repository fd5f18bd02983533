"""Choose the answer extractor's weights and threshold by measurement on tuning data only.

Scores every weight setting by the share of questions whose answer contains an answer string
(embeddings.evaluation.answer_is_correct), averaged over the seed dev set and the tuning
halves of CMRC2018 dev and DRCD dev (with their answer spans). Each set counts once, so the
public sets do not outweigh the seeds' own genre, and the 55 seed questions no longer choose
alone (they had chosen weights that fitted them and not the held-out set). Then it picks
the thresholds that keep the dev answers, answer the public questions (all answerable) and
refuse off-topic questions (which have no answer in the corpus). The held-out set is only
reported, with the defaults in embeddings/answers.py, never chosen on.

    .venv/bin/python benchmarks/tune_answers.py [--top 10] [--public N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from common import public_half, public_sets, seed_questions, squad_answers  # noqa: I001

from embeddings.answers import AnswerConfig, Candidate, choose
from embeddings.evaluation import Question, answer_is_correct
from service.evaluation import squad_engine
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
    # Near the corpus: its places, with facts it does not hold (the hard ones to refuse).
    "湘潭市有多少常住人口？",
    "临汾市的面积是多少平方公里？",
    "永州有哪些著名的旅游景点？",
    "耒陽的特色小吃有哪些？",
    "湘潭大学是哪一年建校的？",
    "臨汾冬天的平均氣溫是多少？",
    "九华的房价是多少？",
    "永州到长沙的高铁要多久？",
    "How many people live in Linfen?",
    "What is the famous dish of Yongzhou?",
    # Far from it.
    "怎样才能提高英语口语？",
    "血压高应该吃什么？",
    "比特幣的價格為什麼波動？",
    "如何给猫剪指甲？",
    "太阳系有几颗行星？",
    "How do I reset my router password?",
    "What year did the Berlin Wall fall?",
    "《红楼梦》的作者是谁？",
    "機器學習和深度學習有什麼區別？",
    "怎么腌制四川泡菜？",
]
GRID = {
    "weight_terms": (0.0, 0.25, 0.5, 0.75),
    "weight_focus": (0.0, 0.1, 0.2, 0.3, 0.4),
    "weight_expects": (0.0, 0.1, 0.2, 0.3),
    "rank_decay": (0.0, 0.1, 0.15, 0.2, 0.3),
    "restates": (0.0, 0.25),
}
DEFAULTS = AnswerConfig()


def prepare(engine, questions: list[str], k: int = 5) -> list[list[Candidate]]:
    hits = engine.search_many(questions, k, "hybrid")
    return [engine.searcher.answer_candidates(q, h) for q, h in zip(questions, hits, strict=True)]


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def accuracy(questions: list[Question], cands, config: AnswerConfig) -> tuple[float, float]:
    correct = answered = 0
    for q, cs in zip(questions, cands, strict=True):
        best, _ = choose(cs, has_chinese(q.question), config)
        answered += best is not None
        correct += answer_is_correct(best.text if best else None, q.answers)
    return correct / len(questions), answered / len(questions)


def refused(texts: list[str], cands, config: AnswerConfig) -> float:
    return sum(
        choose(cs, has_chinese(t), config)[0] is None for t, cs in zip(texts, cands, strict=True)
    ) / len(texts)


def distance(cfg: AnswerConfig) -> float:
    """How far a setting's weights move from the current defaults (ties go to the smaller
    move); the thresholds are chosen afterwards and left out."""
    return sum(abs(getattr(cfg, name) - getattr(DEFAULTS, name)) for name in GRID)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=10, help="weight settings to print")
    ap.add_argument("--public", type=int, default=None, help="tuning questions per public set")
    args = ap.parse_args()
    settings = Settings()
    encoder = build_encoder(settings)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(settings, Path(tmp) / "index", encoder)
        dev = seed_questions("seeds (dev)")
        holdout = seed_questions("seeds (held-out)")
        dev_c = prepare(engine, [q.question for q in dev])
        hold_c = prepare(engine, [q.question for q in holdout])
        off_c = prepare(engine, OFF_TOPIC)
        engine.close()
    # The public sets' tuning halves: thousands of questions against the seed set's 55, so
    # a weight chosen here is less likely to fit the dev questions' accidents.
    tuning = {"seeds (dev)": (dev, dev_c)}
    for name, path in public_sets().items():
        answers = squad_answers(path)
        qs = [replace(q, answers=answers[q.id]) for q in public_half(path, "tune")[: args.public]]
        public = squad_engine(path, settings, encoder)
        tuning[f"{name} (tuning half)"] = (qs, prepare(public, [q.question for q in qs]))
        public.close()
    open_ = replace(DEFAULTS, threshold=float("-inf"), threshold_bridged=float("-inf"))
    results = []
    for values in itertools.product(*GRID.values()):
        cfg = replace(open_, **dict(zip(GRID, values, strict=True)))
        accs = [accuracy(qs, cs, cfg)[0] for qs, cs in tuning.values()]
        results.append((sum(accs) / len(accs), -distance(cfg), cfg, accs))
    results.sort(key=lambda r: (-r[0], -r[1]))
    print(
        "top weight settings, mean answer accuracy over " + ", ".join(tuning) + " (no threshold):"
    )
    for acc, _, cfg, accs in results[: args.top]:
        each = " ".join(f"{a:.3f}" for a in accs)
        print(f"  {acc:.3f} ({each})  " + " ".join(f"{k}={getattr(cfg, k)}" for k in GRID))
    now = [r for r in results if r[1] == 0]  # no distance from the defaults
    if now:  # the defaults may lie off the grid
        print(f"  the defaults: {now[0][0]:.3f} (" + " ".join(f"{a:.3f}" for a in now[0][3]) + ")")
    for name in GRID:
        if 0.0 in GRID[name]:
            without = max(r[0] for r in results if getattr(r[2], name) == 0)
            print(f"  best with {name}=0: {without:.3f}")
    best = results[0][2]
    print(
        "\nthresholds (dev accuracy and answered; public tuning halves answered; off-topic refused):"
    )
    public = [v for k, v in tuning.items() if k != "seeds (dev)"]
    for th in (0.9, 0.95, 1.0, 1.05, 1.1):
        for th_en in (0.82, 0.84, 0.85, 0.86):
            cfg = replace(best, threshold=th, threshold_bridged=th_en)
            acc, ans = accuracy(dev, dev_c, cfg)
            pub = sum(accuracy(qs, cs, cfg)[1] for qs, cs in public) / len(public)
            print(
                f"  zh {th:.2f} en {th_en:.2f}: dev {acc:.3f} answered {ans:.3f}  "
                f"public answered {pub:.3f}  off-topic refused {refused(OFF_TOPIC, off_c, cfg):.2f}"
            )
    print(f"\nwith the defaults {DEFAULTS}:")
    dacc, dans = accuracy(dev, dev_c, DEFAULTS)
    acc, ans = accuracy(holdout, hold_c, DEFAULTS)
    print(
        f"  dev {dacc:.3f} (answered {dans:.3f}); held-out {acc:.3f} (answered {ans:.3f}); "
        f"off-topic refused {refused(OFF_TOPIC, off_c, DEFAULTS):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
