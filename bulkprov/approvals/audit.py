"""The audit trail: append-only, hash-chained records of who did what, when and from where — and its head.

Each Kore.ai account has one trail, ``RECORDS_DIR/audit/<account>.jsonl`` (see
:mod:`bulkprov.approvals.policy`), one JSON object per line::

    {"seq": 7, "time": "...", "who": "alice", "where": "203.0.113.7", "event": "approval",
     "what": {"request": "...", "fingerprint": "..."}, "prev": "<hash of record 6>", "hash": "<this one>"}

``hash`` is SHA-256 over the record without its ``hash`` field (canonical JSON), and ``prev`` is the
previous record's ``hash``, so changing, removing or reordering any record breaks the chain from there on.
The chain alone cannot show that records were cut from its *end*, so its **head** — how many records and
the last hash — is kept in a file of its own (``<account>.head``, written atomically after each append),
sent with every webhook notification and printed by ``audit verify``; :meth:`AuditTrail.verify` compares
the two, and ``--expect COUNT:HASH`` compares with a head kept elsewhere.  No trail and no head proves
nothing: that is a finding too.

A damaged or torn line is named with its line number and skipped by readers (export, the page), never a
crash; the next append starts on a fresh line.  Appends and pruning take an ``flock`` on ``<account>.lock``,
so the page and the command line write one trail.  ``prune`` replaces the records before a date with one
``pruned`` record carrying their count and last hash, so the chain stays verifiable.
Records carry file hashes, fingerprints and counts — never a secret, never a password.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bulkprov.chars import printable
from bulkprov.i18n import gettext as _

AUDIT_NAME = "audit.jsonl"
GENESIS = "0" * 64
EVENTS = ("login", "upload", "validation", "plan", "request", "approval", "rejection", "run", "download",
          "override", "policy", "export", "prune", "pruned")


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class Broken:
    """A record (or line) that does not hold, and why."""

    line: int
    seq: Any
    reason: str


@dataclass
class Verdict:
    """What :meth:`AuditTrail.verify` found: the records that hold, the trail's own head, and every problem."""

    count: int = 0
    last_hash: str = GENESIS
    problems: list[Broken] = field(default_factory=list)
    head: tuple[int, str] | None = None

    @property
    def holds(self) -> bool:
        return not self.problems

    @property
    def broken(self) -> Broken | None:
        return self.problems[0] if self.problems else None


class AuditTrail:
    """One trail: ``path`` (a ``.jsonl`` file; given a folder, its ``audit.jsonl``), beside its head and lock."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path if path.suffix == ".jsonl" else path / AUDIT_NAME
        self.head_path = self.path.with_suffix(".head")
        self.lock_path = self.path.with_suffix(".lock")

    @classmethod
    def of(cls, account: Any) -> AuditTrail:
        """The trail of a Kore.ai account, at its fixed place."""
        from bulkprov.approvals.policy import records_dir

        return cls(records_dir() / "audit" / f"{account.key}.jsonl")

    # -- writing -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def writable(self) -> str:
        """Why the trail cannot be written ("" when it can): checked before anything is sent."""
        try:
            with self._locked():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        except OSError as exc:
            return exc.strerror or str(exc)
        return ""

    def append(self, event: str, who: str, where: str, **what: Any) -> dict[str, Any]:
        """Add a record at the end of the chain (atomic against other writers), then write the head."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        with self._locked():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                seq, prev = self._last(fd)
                record = {"seq": seq + 1, "time": _now(), "who": str(who), "where": where, "event": event,
                          "what": what, "prev": prev}
                record["hash"] = _digest(record)
                size = os.fstat(fd).st_size
                torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"  # a torn last line: start afresh
                line = ("\n" if torn else "") + json.dumps(record, ensure_ascii=False, default=str) + "\n"
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._write_head(record["seq"], record["hash"], self.head().get("policy", ""))
        return record

    def _last(self, fd: int) -> tuple[int, str]:
        """(seq, hash) the next record follows: the head's when there is one, else the last readable line's."""
        head = self.head()
        if isinstance(head.get("records"), int) and isinstance(head.get("hash"), str):
            return head["records"], head["hash"]
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        start = max(0, size - 262144)
        for line in reversed(os.pread(fd, size - start, start).splitlines()):
            try:
                last = json.loads(line)
                return int(last["seq"]), str(last["hash"])
            except (ValueError, KeyError, TypeError):
                continue
        return 0, GENESIS  # nothing readable near the end: verify names the damage

    def head(self) -> dict[str, Any]:
        """The head file (``{"records", "hash", "time", "policy"}``), or {} when there is none or it is unreadable."""
        try:
            data = json.loads(self.head_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_head(self, records: int, last_hash: str, policy: str) -> None:
        temp = self.head_path.with_name(f".{self.head_path.name}.tmp")
        body = json.dumps({"records": records, "hash": last_hash, "time": _now(), "policy": policy})
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self.head_path)
        with contextlib.suppress(OSError):
            directory = os.open(self.head_path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def note_policy(self, digest: str, who: str, where: str, **what: Any) -> bool:
        """A ``policy`` record when the account's policy is not the one the trail last saw; True if written."""
        if self.head().get("policy") == digest:
            return False
        record = self.append("policy", who, where, digest=digest, **what)
        with self._locked():
            self._write_head(record["seq"], record["hash"], digest)
        return True

    # -- reading ---------------------------------------------------------------------------------------------

    def lines(self) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        """(line number, the record or None when the line is damaged, the line's text) of every non-blank line."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or "hash" not in record:
                    record = None
                yield number, record, line.rstrip("\n")

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record; a damaged line as ``{"event": "damaged", "line": N, "text": …}`` (never a crash)."""
        for number, record, text in self.lines():
            yield record if record is not None else {"event": "damaged", "line": number, "text": text[:1000]}

    def verify(self, expect: tuple[int, str] | None = None) -> Verdict:
        """Check the chain, every line, the head, and (``expect``) a head kept elsewhere."""
        out = Verdict()
        prev = GENESIS
        hashes: dict[int, str] = {}
        exists = self.path.is_file()
        for number, record, _text in self.lines():
            if record is None:
                out.problems.append(Broken(number, "?", _("is damaged or torn (not a JSON record)")))
                continue
            seq = record.get("seq")
            if record.get("event") == "pruned" and out.count == 0 and isinstance(seq, int):
                # a checkpoint: the records before it were pruned; it carries their count and last hash
                if record.get("hash") != _digest(record):
                    out.problems.append(Broken(number, seq, _("its content was changed after it was written")))
                out.count, prev = seq, str((record.get("what") or {}).get("last_hash", ""))
                hashes[seq] = prev
                continue
            if record.get("prev") != prev:
                out.problems.append(Broken(number, seq, _("does not follow the record before it (removed, "
                                                          "reordered or inserted records)")))
            elif record.get("hash") != _digest(record):
                out.problems.append(Broken(number, seq, _("its content was changed after it was written")))
            elif seq != out.count + 1:
                out.problems.append(Broken(number, seq, _("sequence number {seq}, expected {expected}").format(
                    seq=seq, expected=out.count + 1)))
            prev = str(record.get("hash"))
            out.count = seq if isinstance(seq, int) else out.count + 1
            hashes[out.count] = prev
        out.last_hash = prev
        self._check_head(out, hashes, exists)
        if expect is not None:
            count, wanted = expect
            if count > out.count:
                out.problems.append(Broken(0, count, _("ends early: the head kept elsewhere says {count} records, it "
                                                       "holds {held}").format(count=count, held=out.count)))
            elif hashes.get(count, GENESIS if count == 0 else "") != wanted:
                out.problems.append(Broken(0, count, _("does not hold the record the head kept elsewhere names "
                                                       "(record {count}, hash {hash})").format(count=count,
                                                                                              hash=wanted[:16])))
        return out

    def _check_head(self, out: Verdict, hashes: dict[int, str], exists: bool) -> None:
        head = self.head()
        if not head:
            reason = (_("has no head file: nothing proves no records were cut from its end") if exists else
                      _("and its head are missing: nothing proves no records were lost"))
            out.problems.append(Broken(0, "-", reason))
            return
        records, last = head.get("records"), head.get("hash")
        if not isinstance(records, int) or not isinstance(last, str):
            out.problems.append(Broken(0, "-", _("has a damaged head file")))
            return
        out.head = (records, last)
        if records > out.count:
            out.problems.append(Broken(0, records, _("ends early: its head says {count} records (last hash {hash}), "
                                                     "it holds {held}; records were cut from its end").format(
                count=records, hash=last[:16], held=out.count)))
        elif hashes.get(records, GENESIS if records == 0 else "") != last:
            out.problems.append(Broken(0, records, _("does not hold the record its head names (record {count}, hash "
                                                     "{hash})").format(count=records, hash=last[:16])))

    def export(self, out: TextIO, fmt: str = "jsonl") -> int:
        """Write every record as JSON lines or CSV (``what`` as JSON in one column); damaged lines as such."""
        count = 0
        writer = None
        for record in self.records():
            if fmt == "csv":
                if writer is None:
                    writer = csv.writer(out)
                    writer.writerow(["seq", "time", "who", "where", "event", "what", "prev", "hash"])
                what = record.get("what") if record.get("event") != "damaged" else record.get("text")
                writer.writerow([record.get("seq", record.get("line")), record.get("time"),
                                 _cell(printable(record.get("who") or "")), _cell(printable(record.get("where") or "")),
                                 record.get("event"),
                                 _cell(json.dumps(what, ensure_ascii=False, sort_keys=True, default=str)),
                                 record.get("prev"), record.get("hash")])
            else:
                out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            count += 1
        return count

    def latest(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest records first (for the page)."""
        import collections

        return list(reversed(collections.deque(self.records(), maxlen=limit)))

    # -- retention --------------------------------------------------------------------------------------------

    def prune(self, before: dt.datetime, who: str, where: str) -> int:
        """Replace the records older than ``before`` by one ``pruned`` record (their count and last hash);
        returns how many went.  The chain after them, and the head, still verify."""
        with self._locked():
            kept: list[str] = []
            gone, last_seq, last_hash, first, last_time = 0, 0, GENESIS, "", ""
            for _number, record, text in self.lines():
                old = record is not None and _older(record.get("time"), before) and not kept
                if old:
                    pruned = record.get("event") == "pruned"
                    gone += int((record.get("what") or {}).get("records", 0)) if pruned else 1
                    last_seq = int(record["seq"])
                    last_hash = str((record.get("what") or {}).get("last_hash")) if pruned else str(record["hash"])
                    first = first or str((record.get("what") or {}).get("first") or record.get("time"))
                    last_time = str(record.get("time"))
                else:
                    kept.append(text)
            if not gone:
                return 0
            summary = {"seq": last_seq, "time": _now(), "who": who, "where": where, "event": "pruned",
                       "what": {"records": gone, "first": first, "last": last_time, "last_hash": last_hash},
                       "prev": GENESIS}
            summary["hash"] = _digest(summary)
            temp = self.path.with_name(f".{self.path.name}.tmp")
            with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
                fh.write(json.dumps(summary, ensure_ascii=False) + "\n")
                for text in kept:
                    fh.write(text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.path)
            if not kept:  # the summary is the whole trail now: the head names it
                head = self.head()
                self._write_head(last_seq, last_hash, head.get("policy", ""))
        return gone


def _older(when: Any, before: dt.datetime) -> bool:
    try:
        return dt.datetime.fromisoformat(str(when)) < before
    except ValueError:
        return False


def _cell(value: Any) -> str:
    """A CSV cell Excel will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def parse_expect(text: str) -> tuple[int, str] | None:
    """``COUNT:HASH`` as ``audit verify`` prints it; None when it is not one."""
    count, _sep, last = text.partition(":")
    if not count.isdigit() or len(last) != 64 or any(c not in "0123456789abcdef" for c in last):
        return None
    return int(count), last
