"""A real `python -m service serve` process on 127.0.0.1, for crash, SIGTERM and soak runs.

Shared by `benchmarks/crash.py`, `benchmarks/soak.py` and their short versions in the test
suite. The model is not converted again: `scratch_data_dir` makes a throwaway DATA_DIR whose
`models` is a symlink to an existing converted model, so the embedding cache of the unique
texts these runs write stays in the throwaway directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scratch_data_dir(where: Path, models_from: Path) -> Path:
    """A DATA_DIR under `where` that borrows the converted models of `models_from` (a DATA_DIR).

    Its embedding cache starts as a copy of `models_from`'s (SQLite's backup API: safe while
    another process writes it), so the seeds are not embedded again.
    """
    data = where / "data"
    data.mkdir(parents=True, exist_ok=True)
    link = data / "models"
    if not link.exists():
        link.symlink_to((models_from / "models").resolve(), target_is_directory=True)
    cache = data / "cache" / "embeddings"
    cache.mkdir(parents=True, exist_ok=True)
    for db in sorted((models_from / "cache" / "embeddings").glob("*.sqlite")):
        if not (cache / db.name).exists():
            src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            dst = sqlite3.connect(cache / db.name)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
    return data


def seeds_dir(where: Path, names: list[str]) -> Path:
    """A seeds directory under `where` holding copies of the named files of `seeds/`."""
    seeds = where / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(ROOT / "seeds" / name, seeds / name)
    return seeds


@dataclass
class Started:
    """Seconds from spawning the process to `/health` 200, and to `model_ready`."""

    health: float
    model: float | None


class ServerProcess:
    """One server process at a time over the same index directory; restartable."""

    def __init__(
        self,
        data_dir: Path,
        index_dir: Path,
        seeds: Path,
        log: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "INDEX_DIR": str(index_dir),
            "SEEDS_DIR": str(seeds),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0
        self.starts = 0

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the server is already running")
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "serve"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.spawned = time.perf_counter()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """`/health` once it answers 200; None before. A 503 (the model failed to load, or
        is not the one the index was built with) will not pass: it raises."""
        try:
            r = httpx.get(self.url + "/health", timeout=timeout)
        except httpx.HTTPError:
            return None
        if r.status_code == 503:
            raise RuntimeError(f"/health answers 503: {r.text[:500]}; see {self.log}")
        return r.json() if r.status_code == 200 else None

    def wait_ready(self, *, model: bool = True, timeout: float = 180.0) -> Started:
        """Poll `/health` until it answers 200 (and, with `model`, says the model is ready)."""
        health_at: float | None = None
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not self.alive():
                raise RuntimeError(f"the server exited ({self.returncode()}); see {self.log}")
            h = self.health()
            now = time.perf_counter() - self.spawned
            if h is not None:
                if health_at is None:
                    health_at = now
                if h.get("model_ready") or not model:
                    return Started(health_at, now if h.get("model_ready") else None)
            time.sleep(0.05 if health_at is None else 0.25)
        raise TimeoutError(
            f"the server at {self.url} was not ready in {timeout:.0f}s; see {self.log}"
        )

    def wait_model(self, started: Started, timeout: float = 180.0) -> Started:
        """`started` completed with the moment the model became ready."""
        if started.model is not None:
            return started
        ready = self.wait_ready(model=True, timeout=timeout)
        return Started(started.health, ready.model)

    def kill(self) -> None:
        """SIGKILL the process (only this one: it leads its own session) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 120.0) -> int | None:
        """SIGTERM and wait for the exit; SIGKILL after `timeout`. The exit status, or None.

        uvicorn re-raises SIGTERM after its graceful shutdown, so a clean exit is -SIGTERM.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.terminate(timeout=30)
