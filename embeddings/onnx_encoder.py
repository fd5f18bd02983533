"""An int8 ONNX Runtime copy of a sentence-transformers model, served without PyTorch.

Measured on 2 shared cores (benchmarks/results/encoders.md): the same retrieval quality
(CMRC2018 dense hit@1 .964 against PyTorch's .959; cosine .997 to its vectors), a fraction
of the CPU time per query, 0.6x per passage, and a start that imports neither torch nor
sentence-transformers.

`ensure_onnx_model` builds the copy once, at build time (it is the only place torch is
imported): `torch.onnx.export` of the whole sentence-transformers pipeline, then
`onnxruntime.quantization.quantize_dynamic` (int8 weights, activations quantised per call).
Optimum is avoided on purpose: it pins transformers low and downgrades sentence-transformers.
Pooling and L2 normalisation are inside the graph: the ONNX file alone then defines the
vector (its hash is the model's identity), the session returns (n, dim) instead of
(n, tokens, dim), and any pooling the source model configures is exported as it runs
rather than re-implemented in numpy.

The copy is written into a temporary sibling directory and renamed into place, with its
marker (which source files it was built from) written last, so a crash never leaves a
half-written copy that looks usable; a changed source model is exported again.

`OnnxEncoder` has the public surface of `embeddings.encoders.Encoder`; it tokenizes with
the `tokenizers` library from tokenizer.json directly (transformers may not know the
tokenizer class the converted model's tokenizer_config.json names).

Over 300 lines on purpose: build time (export, quantise, verify, install atomically) and
serve time stay together because the encoder trusts exactly the files and marker the build
writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.durable import file_lock, refresh_json
from embeddings.encoders import _FAMILY_PROMPTS, CachedEncoder, EmbeddingCache, _pick

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
CONFIG_FILE = "onnx_encoder.json"
TOKENIZER_FILE = "tokenizer.json"
MARKER = ".complete"
# Bump when the exported graph or the quantisation changes: existing copies are rebuilt.
EXPORT_VERSION = 1
OPSET = 17
# Ignored when keying the cache: they do not define the model's output (nor do the *.tmp
# files a marker refresh writes for a moment).
_NOT_MODEL = {MARKER, "README.md"}


class OnnxExportError(RuntimeError):
    """The source model cannot be exported (not a sentence-transformers model, or no torch)."""


def onnx_model_dir(model_dir: Path) -> Path:
    """Where the int8 copy of `model_dir` lives by default: a sibling directory."""
    model_dir = Path(model_dir)
    return model_dir.with_name(f"{model_dir.name}-onnx-int8")


# --------------------------------------------------------------------------- build time


def source_key(model_dir: Path) -> list[list[Any]]:
    """Every file of the source model with its size and mtime: cheap to compare on each start."""
    model_dir = Path(model_dir)
    files = sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file() and p.name not in _NOT_MODEL and not p.name.endswith(".tmp")
    )
    return [
        [p.relative_to(model_dir).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files
    ]


def _content_hash(model_dir: Path, key: list[list[Any]]) -> str:
    """The content of the files `key` lists, for when only their mtimes changed (a copy)."""
    digest = hashlib.blake2b(digest_size=16)
    for rel, _, _ in key:
        digest.update(rel.encode() + b"\x00")
        _hash_file(model_dir / rel, digest)
    return digest.hexdigest()


def _hash_file(path: Path, digest: Any) -> None:
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def _file_record(path: Path) -> list[Any]:
    """Size, mtime and content digest of a file, so a start can trust the digest cheaply."""
    digest = hashlib.blake2b(digest_size=16)
    _hash_file(path, digest)
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, digest.hexdigest()]


def file_digest(path: Path, recorded: list[Any] | None = None) -> str:
    """The content digest of `path`: the one `recorded` at export while the file's size and
    mtime are unchanged (no reading 120 MB on every start), else computed now."""
    st = path.stat()
    if isinstance(recorded, list) and recorded[:2] == [st.st_size, st.st_mtime_ns]:
        return str(recorded[2])
    return str(_file_record(path)[2])


def recorded_digests(model_dir: Path, names: tuple[str, ...]) -> list[str]:
    """`file_digest` of each named file of an exported copy. A file whose content matches
    the marker's digest under a new mtime (a copied DATA_DIR) gets that mtime recorded, so
    only the first start after the copy reads it."""
    marker = _read_json(model_dir / MARKER) or {}
    files = marker.get("files")
    recorded: dict[str, Any] = files if isinstance(files, dict) else {}
    digests: list[str] = []
    fresh: dict[str, list[Any]] = {}
    for name in names:
        record = recorded.get(name)
        if not (isinstance(record, list) and len(record) == 3):
            record = None
        before = (model_dir / name).stat()
        digests.append(file_digest(model_dir / name, record))
        after = (model_dir / name).stat()
        now = [after.st_size, after.st_mtime_ns]
        # recorded only when the file did not change while it was read
        unchanged = [before.st_size, before.st_mtime_ns] == now
        if record is not None and record[2] == digests[-1] and record[:2] != now and unchanged:
            fresh[name] = [*now, digests[-1]]
    if fresh:
        new = {**marker, "files": {**recorded, **fresh}}
        lock = model_dir.parent / f".{model_dir.name}.lock"
        refresh_json(model_dir / MARKER, marker, new, lock)
    return digests


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_current(model_dir: Path, out_dir: Path, key: list[list[Any]]) -> bool:
    marker = _read_json(out_dir / MARKER)
    if marker is None or marker.get("export_version") != EXPORT_VERSION:
        return False
    old = marker.get("source_key")
    if old == key:
        return True
    if not isinstance(old, list) or [x[:2] for x in old] != [x[:2] for x in key]:
        return False
    # same files and sizes, other mtimes (a copy, a re-conversion): compare the content
    if marker.get("source_hash") != _content_hash(model_dir, key):
        return False
    # the same content under new mtimes: record them, so the next start does not hash again
    new = {**marker, "source_key": key}
    refresh_json(out_dir / MARKER, marker, new, out_dir.parent / f".{out_dir.name}.lock")
    return True


def _cores() -> int:
    """The CPUs this process may run on (a container's or taskset's, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def is_exported(model_dir: Path, out_dir: Path) -> bool:
    """Whether `out_dir` holds a current int8 copy of `model_dir` (nothing to export). A
    source copied with its bytes unchanged is current, and its new mtimes are recorded."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "modules.json").is_file():
        return False
    return _is_current(model_dir, out_dir, source_key(model_dir))


def ensure_onnx_model(model_dir: Path, out_dir: Path) -> Path:
    """`out_dir` holding the int8 ONNX copy of the sentence-transformers model at `model_dir`,
    exporting it first when missing or built from other source files. Returns `out_dir`.

    Needs torch, sentence-transformers and onnx only when it exports.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "modules.json").is_file():
        raise OnnxExportError(f"{model_dir} is not a sentence-transformers model directory")
    key = source_key(model_dir)
    if _is_current(model_dir, out_dir, key):
        logger.debug("%s is up to date", out_dir)
        return out_dir
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / f".{out_dir.name}.lock"):
        if _is_current(model_dir, out_dir, key):  # another process exported while we waited
            return out_dir
        for stale in parent.glob(f".{out_dir.name}.tmp-*"):  # left by a killed export
            shutil.rmtree(stale, ignore_errors=True)
        logger.info("exporting %s to int8 ONNX in %s", model_dir, out_dir)
        t0 = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
        try:
            config = export_onnx(model_dir, tmp)
            marker = {
                "export_version": EXPORT_VERSION,
                "source": str(model_dir.resolve()),
                "source_key": key,
                "source_hash": _content_hash(model_dir, key),
                **{k: config[k] for k in ("dim", "pooling", "max_seq_length")},
            }
            _finish_tree(tmp)
            marker["files"] = {
                name: _file_record(tmp / name) for name in (ONNX_FILE, TOKENIZER_FILE)
            }
            _write_durable(tmp / MARKER, marker)  # last: the copy is complete from here on
            _replace_dir(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("exported %s in %.1fs", out_dir, time.perf_counter() - t0)
    return out_dir


def export_onnx(model_dir: Path, out: Path) -> dict[str, Any]:
    """Export, quantise and describe the model at `model_dir` into the empty directory `out`.

    Returns the configuration written to `out/onnx_encoder.json`.
    """
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise OnnxExportError(
            f"exporting to ONNX needs torch, sentence-transformers and onnx ({exc}); "
            "pip install onnx onnxruntime"
        ) from exc

    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    tokenizer_json = model_dir / TOKENIZER_FILE
    if not tokenizer_json.is_file():
        raise OnnxExportError(f"{model_dir} has no {TOKENIZER_FILE} (a fast tokenizer is needed)")
    pooling = _pooling_description(st)
    prompts = dict(st.prompts or {})
    max_seq_length = int(st.max_seq_length)

    class SentenceEmbedding(torch.nn.Module):
        """The whole pipeline (transformer, pooling, normalisation) as one traceable module."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            pooled = self.model(features)["sentence_embedding"]
            # idempotent when the model normalises already; Encoder always normalises
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    # Traced on a padded batch, so the attention-mask path is the one recorded (an unpadded
    # sample may let transformers skip the mask, and padded batches would then attend to pads).
    sample = st.tokenizer(
        ["query: 短句", "passage: 这是一个比较长的句子，用来在导出时包含填充。"],
        padding=True,
        return_tensors="pt",
    )
    if bool(sample["attention_mask"].all()):
        raise OnnxExportError("the export sample needs padding; the tokenizer did not pad")
    fp32 = out / "model-fp32.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            SentenceEmbedding(st).eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            dynamo=False,  # the torch.export-based exporter needs onnxscript, not installed
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
        )
    # Per-channel weight scales: cosine to fp32 .997 on the seeds, against .987 per tensor,
    # at the same size and speed. Activations are quantised per call over the whole batch,
    # so a vector depends a little on its batch mates (cosine >= .997 to the text alone).
    with _quiet_root_logger():  # the quantiser logs every skipped tensor on the root logger
        quantize_dynamic(
            str(fp32), str(out / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True
        )
    _verify(st, fp32, out / ONNX_FILE)
    fp32.unlink()
    shutil.copy2(tokenizer_json, out / TOKENIZER_FILE)
    with contextlib.suppress(FileNotFoundError):  # the source's prompts, for reference
        shutil.copy2(
            model_dir / "config_sentence_transformers.json",
            out / "config_sentence_transformers.json",
        )
    pad_id = st.tokenizer.pad_token_id
    config = {
        "dim": int(_dimension(st)),
        "max_seq_length": max_seq_length,
        "pooling": pooling,
        "normalize": True,
        "prompts": prompts,
        "pad_token_id": int(pad_id if pad_id is not None else 0),
        "quantization": "dynamic int8 (QInt8 weights per channel; activations per call)",
        "inputs": ["input_ids", "attention_mask"],
    }
    _write_durable(out / CONFIG_FILE, config)
    return config


def _verify(st: Any, fp32: Path, int8: Path) -> None:
    """Check the exported graphs on a batch of other lengths than the traced one: the float
    graph must reproduce sentence-transformers, the int8 one stay within quantisation noise."""
    import onnxruntime as ort

    texts = ["query: 耒阳着力打造哪五大产业？", "passage: 加快建设“五好”园区。" * 12, "x"]
    expected = st.encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    feed = st.tokenizer(texts, padding=True, return_tensors="np")
    feed = {k: feed[k].astype(np.int64) for k in ("input_ids", "attention_mask")}

    def run(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(["sentence_embedding"], feed)[0], dtype=np.float32)

    if float(np.abs(run(fp32) - expected).max()) > 1e-4:
        raise OnnxExportError(f"the exported graph does not reproduce {st}")
    if float((run(int8) * expected).sum(axis=1).min()) < 0.98:
        raise OnnxExportError("int8 quantisation moved a test vector by more than cosine 0.98")


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Drop onnxruntime.quantization's notes below ERROR, logged straight to the root logger."""

    def keep(record: logging.LogRecord) -> bool:
        quantizer = "onnxruntime" in record.pathname and "quantization" in record.pathname
        return not quantizer or record.levelno >= logging.ERROR

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _pooling_description(st: Any) -> str:
    """Every module after the transformer, with its configuration: what maps tokens to a vector."""
    parts = []
    for module in list(st)[1:]:
        get_config = getattr(module, "get_config_dict", None)
        config = get_config() if get_config else {}
        parts.append(f"{type(module).__name__}{json.dumps(config, sort_keys=True, default=str)}")
    return " > ".join(parts) + " > l2"


def _dimension(st: Any) -> int:
    getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(getter())


def _write_durable(path: Path, obj: object) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _finish_tree(root: Path) -> None:
    """Usual permissions (mkdtemp makes 0700), then every file flushed to disk."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _replace_dir(tmp: Path, target: Path) -> None:
    """Rename the finished `tmp` into `target`'s place, fsyncing the directories."""
    _fsync_dir(tmp)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.tmp-old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- serve time


class OnnxEncoder(CachedEncoder):
    """`Encoder`'s surface over an ONNX Runtime session and a `tokenizers` tokenizer.

    `model_path` is a directory `ensure_onnx_model` wrote. Neither torch nor
    sentence-transformers is imported. `threads` sets ONNX Runtime's intra-op threads per
    call (0: one per physical core); operators run one after another (inter-op 1) because a
    BERT graph is a chain with nothing to run side by side. The session is safe to run from
    several threads at once, so no lock is taken (Encoder needs one for torch), and
    passage batches run `parallel` at a time (0: one per core).

    One thread per call is the default because it measured best on 2 cores: a 14-token
    query took 6.3 ms on one thread and 8.3 ms (11 ms of CPU) on two, since splitting
    matrices that small costs more than it saves; and 256 passages embedded at 36 per
    second as two one-thread batches side by side, against 23 as one two-thread batch
    at a time. Concurrent requests then use the cores by running side by side.
    """

    ready = True  # loaded in the constructor, like Encoder

    def __init__(
        self,
        model: str,
        *,
        model_path: str | Path,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        threads: int = 1,
        parallel: int = 0,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_path)
        config = _read_json(path / CONFIG_FILE)
        if config is None or not (path / MARKER).is_file():
            raise FileNotFoundError(
                f"{path} is not a complete ONNX model directory; build it with "
                "embeddings.onnx_encoder.ensure_onnx_model"
            )
        if batch_size < 1 or threads < 0 or parallel < 0:
            raise ValueError("batch_size must be at least 1, threads and parallel at least 0")
        self.name = model
        self.dim = int(config["dim"])
        self.batch_size = batch_size
        self.threads = threads
        self.parallel = parallel or _cores()
        self._max_seq_length = int(config["max_seq_length"])
        self._pad_id = int(config["pad_token_id"])
        self._pooling = str(config["pooling"])
        prompts = dict(config.get("prompts") or {})
        family = next((v for k, v in _FAMILY_PROMPTS.items() if k in model.lower()), {})
        self.query_prompt = _pick(query_prompt, prompts.get("query"), family.get("query"))
        self.passage_prompt = _pick(
            passage_prompt,
            prompts.get("passage", prompts.get("document")),
            family.get("passage"),
        )

        self._tokenizer_path = path / TOKENIZER_FILE
        # One tokenizer (this one takes ~300 MB), untruncated for tokenize_count; `_ids`
        # truncates as the library would. Padded per batch, after sorting by length.
        self._tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._tail = _closing_specials(self._tokenizer)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No spin-waiting between operators: on 2 cores shared with the HTTP server and other
        # processes, spinning threads took CPU from them and doubled the CPU time per query
        # (measured under load: 10 ms per query instead of 19, and lower latency too).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        onnx_file = path / ONNX_FILE
        self._session = ort.InferenceSession(
            str(onnx_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.fingerprint = self._fingerprint(path)
        self._cache = (
            EmbeddingCache(cache_dir / f"{self.fingerprint}.sqlite") if cache_dir else None
        )

    def _fingerprint(self, model_dir: Path) -> str:
        """What defines the output: the graph and weights (pooling and normalisation are in
        the graph), the tokenizer, the prompts and the truncation length. The files' digests
        come from the export's marker while their size and mtime match it."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(f"{self.name}|{self.query_prompt}|{self.passage_prompt}".encode())
        digest.update(f"|{self._pooling}|{self._max_seq_length}|onnx".encode())
        for file_hash in recorded_digests(model_dir, (ONNX_FILE, TOKENIZER_FILE)):
            digest.update(f"|{file_hash}".encode())
        return digest.hexdigest()[:12]

    def wait(self, timeout: float | None = None) -> OnnxEncoder:
        return self

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    def _embed(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        return self._run([prompt + t for t in texts], progress)

    def _run(self, texts: list[str], progress: bool) -> np.ndarray:
        """Tokenize all, then run batches of similar length (so little time goes on padding),
        `parallel` batches at a time."""
        ids = self._ids(texts)
        lengths = np.array([len(x) for x in ids])
        order = np.argsort(-lengths, kind="stable")  # longest first: the peak comes first
        batches: list[np.ndarray] = []
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])
            batches.append(order[start : start + _batch_rows(self.batch_size, width)])
            start += len(batches[-1])

        def run(rows: np.ndarray) -> np.ndarray:
            width = int(lengths[rows[0]])
            batch = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                batch[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            (vectors,) = self._session.run(
                ["sentence_embedding"], {"input_ids": batch, "attention_mask": mask}
            )
            return np.asarray(vectors, dtype=np.float32)

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="Passages", unit="passage")
        workers = min(self.parallel, len(batches))
        # the session runs calls side by side; each batch holds the same texts either way
        pool = ThreadPoolExecutor(workers, "onnx-batch") if workers > 1 else None
        try:
            results = pool.map(run, batches) if pool else map(run, batches)
            for rows, vectors in zip(batches, results, strict=True):
                out[rows] = vectors
                if bar is not None:
                    bar.update(len(rows))
        finally:
            if pool is not None:  # after an error or Ctrl-C the queued batches do not run
                pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
        return out

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids with the special tokens, cut to max_seq_length keeping the closing ones
        (what `tokenizers`' own right truncation gives)."""
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        limit = self._max_seq_length
        keep = limit - self._tail
        return [
            e.ids if len(e.ids) <= limit else e.ids[:keep] + e.ids[len(e.ids) - self._tail :]
            for e in encode(texts)
        ]

    def tokenize_count(self, text: str) -> int:
        """Tokens in `text` with the special tokens, untruncated (like Encoder's)."""
        return len(self._tokenizer.encode(text).ids)


# Attention holds batch x heads x tokens^2 scores: a batch of 32 passages of 512 tokens needs
# ~1 GB at once, which ONNX Runtime's arena then keeps. Long passages go in fewer rows so a
# batch never holds more than 32 passages of 256 tokens would; short ones are not affected.
_ATTENTION_BUDGET = 32 * 256 * 256


def _batch_rows(batch_size: int, width: int) -> int:
    return max(1, min(batch_size, _ATTENTION_BUDGET // max(width * width, 1)))


def _closing_specials(tokenizer: Any) -> int:
    """How many special tokens the tokenizer puts after a text (</s> here: 1)."""
    mask = tokenizer.encode("a").special_tokens_mask
    return next((i for i, m in enumerate(reversed(mask)) if not m), 0)
