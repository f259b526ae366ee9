"""The state-directory lock: an exclusive ``flock`` that names its holder.

Released by the kernel when the holder dies, even by kill -9; the lock file names its holder (pid,
host, start time) so a second run can say who holds it, and a lock file left by a dead process is
taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from bulkprov.errors import StateLocked

LOCK_NAME = "lock"


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class StateLock:
    """An exclusive ``flock`` on ``STATE_DIR/lock`` that names its holder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> StateLock:
        from bulkprov.state.ledger import private_dir

        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StateLocked(state_dir=str(self.path.parent), pid=holder.get("pid", "?"),
                              host=holder.get("host", "?"), started=holder.get("started", "?")) from None
        previous = _read_holder(fd)
        if previous.get("pid"):
            self.took_over = previous  # a holder that died without unlocking: the kernel released it
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now_iso()}).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(state_dir: Path) -> dict[str, Any]:
    """Who holds the lock now, read without taking it (taking it, even for a moment, could refuse a
    run starting at that instant): ``{}`` when nobody does."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def is_alive(process: dict[str, Any]) -> bool:
    """Whether the process a lock file or a run names still runs (on another machine: assumed so)."""
    pid = process.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if process.get("host") not in (None, socket.gethostname()):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


