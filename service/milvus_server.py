"""milvus-lite as a child process, so `BACKEND=milvus make serve` needs nothing else started.

With BACKEND=milvus and no MILVUS_URI, the service runs `milvus-lite server` on a free
loopback port with its data in DATA_DIR/milvus, waits until it answers, and stops it (SIGINT:
it drains requests and closes its store) when the last engine using it closes, at exit, and
on Linux also when the thread that started it dies, so a killed service leaves no server
behind. milvus-lite locks its data directory, so one process per directory runs it; engines
of one process share it (`acquire`/`release`). Several worker processes need one server
started before them (`serving`), with MILVUS_URI handed to the workers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from service.settings import Settings

logger = logging.getLogger(__name__)

INSTALL = ".venv/bin/pip install milvus-lite pymilvus"
_PR_SET_PDEATHSIG = 1


class MilvusServerError(RuntimeError):
    """milvus-lite could not be started; the message says why and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _stop_with_parent() -> None:
    """In the child, before exec: SIGINT when the thread that started it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


class MilvusLiteServer:
    """One `milvus-lite server` process on a loopback port, its data in `data_dir`."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.log_path = self.data_dir.parent / "milvus-lite.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> MilvusLiteServer:
        """Start it and wait until it accepts gRPC calls; MilvusServerError when it cannot."""
        try:
            import milvus_lite  # noqa: F401
        except ImportError as exc:
            raise MilvusServerError(
                f"BACKEND=milvus without MILVUS_URI runs milvus-lite, which is not installed: "
                f"{INSTALL}"
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):  # a free port can be taken before the child binds it
            if not fixed:
                self.port = free_port(self.host)
            if self._spawn(timeout):
                logger.info("milvus-lite serving %s from %s", self.uri, self.data_dir)
                return self
        raise MilvusServerError(
            f"milvus-lite did not start on {self.uri} with data in {self.data_dir}: "
            f"{self._log_tail()} (another process may hold {self.data_dir}/LOCK: stop it, or "
            "point MILVUS_URI at the server it runs)"
        )

    def _spawn(self, timeout: float) -> bool:
        cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir)]
        cmd += ["--host", self.host, "--port", str(self.port)]
        main = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # Not in the terminal's process group: Ctrl-C stops the service, which then
                # stops milvus-lite after its last request, not both at once.
                start_new_session=True,
                # Only the main thread lives as long as the process: tie the child to it.
                preexec_fn=_stop_with_parent if main and sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.1)
        self.stop()
        return False

    def _answers(self) -> bool:
        import grpc

        channel = grpc.insecure_channel(f"{self.host}:{self.port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=0.5)
            return True
        except grpc.FutureTimeoutError:
            return False
        finally:
            channel.close()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no output"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT (it flushes and closes its store), then SIGKILL if it does not exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("milvus-lite did not stop within %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests: nothing acknowledged may be lost)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> MilvusLiteServer:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Shared:
    """The servers this process runs, one per data directory, counted by the engines using them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[Path, tuple[MilvusLiteServer, int]] = {}
        atexit.register(self.stop_all)

    def acquire(self, data_dir: Path) -> MilvusLiteServer:
        key = Path(data_dir).resolve()
        with self._lock:
            server, users = self._servers.get(key, (None, 0))
            if server is None or not server.running:
                server, users = MilvusLiteServer(key).start(), 0
            self._servers[key] = (server, users + 1)
            return server

    def release(self, server: MilvusLiteServer) -> None:
        with self._lock:
            key = server.data_dir
            _, users = self._servers.get(key, (server, 1))
            if users > 1:
                self._servers[key] = (server, users - 1)
                return
            self._servers.pop(key, None)
        server.stop()

    def stop_all(self) -> None:
        with self._lock:
            servers = [s for s, _ in self._servers.values()]
            self._servers.clear()
        for server in servers:
            server.stop()


_shared = _Shared()
acquire = _shared.acquire
release = _shared.release


def data_dir_for(settings: Settings) -> Path:
    return settings.data_dir / "milvus"


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Settings]:
    """`settings` with a MILVUS_URI: as given, or a milvus-lite started here for the duration
    (for `uvicorn --workers N`: start it in the parent and export MILVUS_URI to the workers)."""
    if settings.backend != "milvus" or settings.milvus_uri:
        yield settings
        return
    server = acquire(data_dir_for(settings))
    try:
        yield settings.model_copy(update={"milvus_uri": server.uri})
    finally:
        release(server)
