"""Reader-writer lock: readers share, a writer is alone, a waiting writer is not starved."""

from __future__ import annotations

import threading
import time

from embeddings.rwlock import RWLock


def test_readers_share_and_writers_exclude() -> None:
    lock = RWLock()
    inside: list[str] = []
    seen: list[tuple[str, ...]] = []
    guard = threading.Lock()

    def enter(kind: str) -> None:
        ctx = lock.read() if kind == "r" else lock.write()
        with ctx:
            with guard:
                inside.append(kind)
                seen.append(tuple(inside))
            time.sleep(0.01)
            with guard:
                inside.remove(kind)

    threads = [threading.Thread(target=enter, args=("rw"[i % 3 == 0],)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert any(s.count("r") > 1 for s in seen)  # readers overlapped
    assert all("w" not in s or s == ("w",) for s in seen)  # a writer was always alone


def test_a_waiting_writer_is_not_starved_by_a_stream_of_readers() -> None:
    lock = RWLock()
    stop = threading.Event()
    wrote = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            with lock.read():
                time.sleep(0.005)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    time.sleep(0.05)

    def writer() -> None:
        with lock.write():
            wrote.set()

    threading.Thread(target=writer).start()
    assert wrote.wait(2.0)
    stop.set()
    for t in readers:
        t.join()
