"""The audit trail: append-only, hash-chained records of who did what, when and from where.

``STATE_DIR/audit.jsonl`` holds one JSON object per line::

    {"seq": 7, "time": "...", "who": "alice", "where": "203.0.113.7", "event": "approval",
     "what": {"request": "...", "fingerprint": "..."}, "prev": "<hash of record 6>", "hash": "<this one>"}

``hash`` is SHA-256 over the record without its ``hash`` field (canonical JSON), and ``prev`` is the
previous record's ``hash``, so changing, removing or reordering any record breaks the chain from there
on: :func:`verify` names the first record that does not hold.  Appends take an ``flock`` on the file,
so the page and the command line can write to one trail.  Events: ``login``, ``upload``,
``validation``, ``plan``, ``request``, ``approval``, ``rejection``, ``run``, ``download``.
Records carry file hashes, fingerprints and counts — never a secret, never a password.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bulkprov.i18n import gettext as _

AUDIT_NAME = "audit.jsonl"
GENESIS = "0" * 64
EVENTS = ("login", "upload", "validation", "plan", "request", "approval", "rejection", "run", "download")


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Broken:
    """The first record that does not hold, and why."""

    line: int
    seq: Any
    reason: str


class AuditTrail:
    """One trail in a state directory."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / AUDIT_NAME

    def append(self, event: str, who: str, where: str, **what: Any) -> dict[str, Any]:
        """Add a record at the end of the chain (atomic against other writers: ``flock``)."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = self._tail(fd)
            record = {"seq": seq + 1, "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "who": who, "where": where, "event": event, "what": what, "prev": prev}
            record["hash"] = _digest(record)
            os.write(fd, (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return record

    @staticmethod
    def _tail(fd: int) -> tuple[int, str]:
        """(seq, hash) of the last record; reads backwards only as far as the last line."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        start = max(0, size - 65536)
        tail = os.pread(fd, size - start, start).rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            last = json.loads(tail)
            return int(last["seq"]), str(last["hash"])
        except (ValueError, KeyError, TypeError):
            return 0, "broken"  # the next verify names the damage; appending still works

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> tuple[int, Broken | None]:
        """(records checked, the first broken one or None)."""
        prev, count = GENESIS, 0
        if not self.path.is_file():
            return 0, None
        with open(self.path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    return count, Broken(number, "?", _("not a JSON record"))
                seq = record.get("seq")
                if record.get("prev") != prev:
                    return count, Broken(number, seq, _("does not follow the record before it (removed, reordered "
                                                        "or inserted records)"))
                if record.get("hash") != _digest(record):
                    return count, Broken(number, seq, _("its content was changed after it was written"))
                if seq != count + 1:
                    return count, Broken(number, seq, _("sequence number {seq}, expected {expected}").format(
                        seq=seq, expected=count + 1))
                prev, count = record["hash"], count + 1
        return count, None

    def export(self, out: TextIO, fmt: str = "jsonl") -> int:
        """Write every record as JSON lines or CSV (``what`` as JSON in one column)."""
        count = 0
        writer = None
        for record in self.records():
            if fmt == "csv":
                if writer is None:
                    writer = csv.writer(out)
                    writer.writerow(["seq", "time", "who", "where", "event", "what", "prev", "hash"])
                writer.writerow([record.get("seq"), record.get("time"), _cell(record.get("who")),
                                 _cell(record.get("where")), record.get("event"),
                                 _cell(json.dumps(record.get("what"), ensure_ascii=False, sort_keys=True)),
                                 record.get("prev"), record.get("hash")])
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count

    def latest(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest records first (for the page)."""
        import collections

        return list(reversed(collections.deque(self.records(), maxlen=limit)))


def _cell(value: Any) -> str:
    """A CSV cell Excel will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def file_hash(path: Path) -> str:
    from bulkprov.jobs.settings import file_sha256

    return file_sha256(path)
