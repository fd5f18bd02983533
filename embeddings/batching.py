"""Micro-batching of concurrent query encodings: N callers, one encoder call.

FastAPI runs sync routes in a thread pool, so under load several threads each ask for one
query vector at the same moment. Encoding them one by one pays the per-call overhead
(tokenizer call, session launch, thread-pool wake-up) N times, and a one-row matrix product
leaves ONNX Runtime's intra-op threads partly idle while the N calls contend for the same
cores. Encoding the N queries as one batch pays the overhead once and hands the threads
matrices big enough to keep every core busy.

The first caller of a batch waits at most `max_wait_ms` (or until `max_batch` queries are
queued), then one worker thread encodes the whole batch and hands each caller its rows.
An alone caller therefore pays at most `max_wait_ms` extra. With a dynamically quantised
encoder a vector depends slightly on its batch mates (cosine >= .997 to the text encoded
alone); with a float encoder the rows equal single encodings within float tolerance.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

EncodeFn = Callable[[Sequence[str]], np.ndarray]


class BatcherClosedError(RuntimeError):
    """The batcher was closed; nothing more is encoded through it."""


@dataclass
class _Request:
    texts: Sequence[str]
    arrived: float
    future: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class BatchStats:
    """How batching went: encoder calls made and queries they encoded."""

    calls: int = 0
    queries: int = 0
    largest: int = 0


class QueryBatcher:
    """Encodes the queries of concurrent callers together in one call of `encode`.

    `encode` maps a list of texts to an (n, dim) array, as `Encoder.encode_queries` does.
    Callers block in `encode_queries` until their rows are ready; an exception raised by
    `encode` is raised in every caller of that batch. `close()` answers what is queued,
    then stops the worker; later calls raise `BatcherClosedError`.
    """

    def __init__(self, encode: EncodeFn, *, max_batch: int = 32, max_wait_ms: float = 2.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: deque[_Request] = deque()
        self._queued = 0  # texts in the queue
        self._closed = False
        self._cond = threading.Condition()
        self._worker = threading.Thread(target=self._run, name="query-batcher", daemon=True)
        self._worker.start()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of `texts`, encoded together with whatever other threads ask meanwhile."""
        request = _Request(list(texts), time.monotonic())
        if not request.texts:
            return self._encode([])
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the query batcher is closed")
            self._queue.append(request)
            self._queued += len(request.texts)
            self._cond.notify()
        return request.future.result()

    __call__ = encode_queries

    def close(self, timeout: float | None = None) -> None:
        """Stop taking queries, answer the queued ones, and wait for the worker to end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._worker:
            self._worker.join(timeout)

    def __enter__(self) -> QueryBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_batch(self) -> list[_Request] | None:
        """Wait for a first request, then until it is `max_wait` old or the batch is full."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + self.max_wait
            while self._queued < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [self._queue.popleft()]  # always at least one, even if larger than max_batch
            size = len(batch[0].texts)
            while self._queue and size + len(self._queue[0].texts) <= self.max_batch:
                request = self._queue.popleft()
                batch.append(request)
                size += len(request.texts)
            self._queued -= size
            return batch

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._answer(batch)
        finally:  # the worker only ends on close(), or on an error outside `encode`
            with self._cond:
                self._closed = True
                left, self._queue = list(self._queue), deque()
            for request in left:
                request.future.set_exception(BatcherClosedError("the query batcher stopped"))

    def _answer(self, batch: list[_Request]) -> None:
        texts = [t for request in batch for t in request.texts]
        self.stats.calls += 1
        self.stats.queries += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        try:
            vectors = self._encode(texts)
            if len(vectors) != len(texts):
                raise RuntimeError(f"encode returned {len(vectors)} rows for {len(texts)} texts")
        except BaseException as exc:  # every caller of the batch sees the failure
            for request in batch:
                request.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # SystemExit and the like end the worker; `_run` fails what is queued
            return
        start = 0
        for request in batch:
            end = start + len(request.texts)
            request.future.set_result(vectors[start:end])
            start = end
