"""Large uploads run as background jobs: one at a time, progress in passages embedded.

Jobs live in memory: a job that has not finished when the process stops was never
acknowledged, and its documents are either fully in the index or absent (the write is one
transaction at the end).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed"]
MAX_KEPT = 1000  # finished jobs remembered for GET /jobs/{id}


@dataclass
class Job:
    job_id: str
    state: State = "queued"
    done: int = 0
    total: int = 0
    report: Any = None
    error: str | None = None
    created: float = field(default_factory=time.time)


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")

    def submit(self, work: Callable[[Callable[[int, int], None]], Any], total: int) -> Job:
        """Run `work(progress)` in the background; its return value becomes the job's report."""
        job = Job(uuid.uuid4().hex[:16], total=total)
        with self._lock:
            self._jobs[job.job_id] = job
            finished = [j for j in self._jobs.values() if j.state in ("done", "failed")]
            for old in sorted(finished, key=lambda j: j.created)[
                : max(0, len(finished) - MAX_KEPT)
            ]:
                del self._jobs[old.job_id]

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def run() -> None:
            job.state = "running"
            try:
                job.report = work(progress)
                job.state = "done"
            except Exception as exc:  # reported through GET /jobs/{id}
                logger.exception("job %s failed", job.job_id)
                job.error = f"{type(exc).__name__}: {exc}"
                job.state = "failed"

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
