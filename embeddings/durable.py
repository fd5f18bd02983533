"""Crash-safe file replacement: write a temporary file, fsync it, rename, fsync the directory.

After a crash at any moment the target is either the old file or the new one, never a
mixture, and a leftover temporary file is ignored (and overwritten) by the next write.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed write (disk full) leaves no temporary file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def refresh_json(path: Path, seen: dict[str, Any], new: dict[str, Any], lock: Path) -> None:
    """Best effort: replace the JSON note at `path` (a marker's recorded mtimes), if it still
    holds `seen`, with `new`, keeping its permissions. Only under `lock` and only if it is
    free: a build holding it may be swapping the directory, and a marker it writes must
    never be overwritten with an older one. A failed write only costs the next start a check."""
    try:
        held = try_exclusive(lock)
    except OSError:  # a read-only data directory
        return
    if held is None:
        return
    try:
        if json.loads(path.read_text(encoding="utf-8")) != seen:
            return
        mode = path.stat().st_mode & 0o777
        write_atomic(path, (json.dumps(new, ensure_ascii=False, indent=2) + "\n").encode())
        os.chmod(path, mode)
    except (OSError, ValueError):
        pass
    finally:
        held.close()


def replace_dir_atomic(tmp: Path, path: Path) -> None:
    """Put the finished directory `tmp` in place of `path` (fsynced files assumed)."""
    fsync_dir(tmp)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock, so two processes never build the same model copy at once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still protects readers
        yield
        return
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def try_exclusive(path: Path) -> IO[str] | None:
    """Take an exclusive inter-process lock without waiting: the open lock file, or None when
    another holder has it. The kernel drops it when the holder dies, kill -9 included."""
    f = path.open("a")
    try:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # not POSIX: no lock, as before
        return f
    except BlockingIOError:
        f.close()
        return None
    return f
