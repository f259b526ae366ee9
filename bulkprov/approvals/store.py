"""Requests in ``RECORDS_DIR/approvals/<id>.json`` (owner-only, one folder for every account and front end),
decided under an ``flock``.

A request: who asked (and from where), what (command, input file and its SHA-256, the account's host and
client id), why it needs approval (the guards it trips), the plan's summary (counts, the users to be
removed, the per-field changes) and its fingerprint; who could approve it when it was made (the account's
approvers then: a profile acting as the policy cannot be swapped at decision time); then its state —
``pending``, ``approved``, ``rejected``, ``used`` (an approved request a run has consumed) or ``expired``
— with who decided, when, and the comment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.errors import ApprovalRefused

DEFAULT_EXPIRY_HOURS = 24.0
STATES = ("pending", "approved", "rejected", "used", "expired")


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


@dataclass
class Request:
    id: str
    created: str
    expires: str
    requester: str
    where: str
    source: str                        # page | cli
    command: str
    input_name: str
    input_sha256: str
    host: str
    fingerprint: str
    reasons: list[str]
    summary: dict[str, Any] = field(default_factory=dict)
    state: str = "pending"
    decided_by: str = ""
    decided_at: str = ""
    comment: str = ""
    upload_id: str = ""                # the page's upload, when the request came from the page
    email: str = "yes"
    used_by: str = ""
    client_id: str = ""                # the account: host and client id
    encoding: str = ""                 # a text file's encoding, as the run decoded it
    approvers: list[str] = field(default_factory=list)  # who could approve when it was made (the CLI's names)

    @property
    def expired(self) -> bool:
        return self.state in ("pending", "approved") and _now() >= dt.datetime.fromisoformat(self.expires)


class ApprovalStore:
    """The requests kept in ``root/approvals`` (the records directory, :func:`bulkprov.approvals.policy.records_dir`)."""

    def __init__(self, root: str | Path, expiry_hours: float = DEFAULT_EXPIRY_HOURS) -> None:
        self.dir = Path(root) / "approvals"
        self.expiry = dt.timedelta(hours=expiry_hours)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _path(self, request_id: str) -> Path:
        return self.dir / f"{request_id}.json"

    def _write(self, request: Request) -> None:
        temp = self.dir / f".{request.id}.tmp"
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            json.dump(asdict(request), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self._path(request.id))

    def _read(self, path: Path) -> Request | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            request = Request(**data)
        except (FileNotFoundError, IsADirectoryError, ValueError, TypeError):  # none, or a damaged file
            return None  # (a directory this person may not read is said as such, not as "no request")
        if request.expired:
            request.state = "expired"
        return request

    def get(self, request_id: str) -> Request:
        if not request_id.isalnum() or len(request_id) > 40:
            raise ApprovalRefused("not-found", request_id=request_id)
        request = self._read(self._path(request_id))
        if request is None:
            raise ApprovalRefused("not-found", request_id=request_id)
        return request

    def all(self) -> list[Request]:
        if not self.dir.is_dir():
            return []
        found = [r for p in self.dir.glob("*.json") if (r := self._read(p)) is not None]
        return sorted(found, key=lambda r: r.created, reverse=True)

    def open(self, **fields: Any) -> tuple[Request, bool]:
        """The pending request for this fingerprint (made now if there is none); True when new."""
        with self._locked():
            for request in self.all():
                if request.state == "pending" and request.fingerprint == fields["fingerprint"]:
                    return request, False
            now = _now()
            request = Request(id=f"{now:%Y%m%d}{secrets.token_hex(4)}", created=now.isoformat(timespec="seconds"),
                              expires=(now + self.expiry).isoformat(timespec="seconds"), **fields)
            self._write(request)
            return request, True

    def decide(self, request_id: str, person: str, approve: bool, comment: str, may_approve: bool) -> Request:
        """Approve or reject: never by the requester, only by an approver, only while pending."""
        with self._locked():
            request = self.get(request_id)
            if not may_approve:
                raise ApprovalRefused("not-approver", person=person)
            if person.casefold() == request.requester.casefold():
                raise ApprovalRefused("own", person=person, request_id=request_id)
            if request.state == "expired":
                raise ApprovalRefused("expired", request_id=request_id, expires=request.expires)
            if request.state != "pending":
                raise ApprovalRefused("decided", request_id=request_id, state=request.state)
            if not approve and not comment.strip():
                raise ApprovalRefused("comment")
            request.state = "approved" if approve else "rejected"
            request.decided_by, request.comment = person, comment.strip()[:2000]
            request.decided_at = _now().isoformat(timespec="seconds")
            self._write(request)
            return request

    def take_approved(self, fingerprint: str, used_by: str) -> Request | None:
        """Consume the approved, unexpired request for exactly this plan (one approval, one run)."""
        with self._locked():
            for request in self.all():
                if request.state == "approved" and request.fingerprint == fingerprint:
                    request.state, request.used_by = "used", used_by
                    self._write(request)
                    return request
        return None

    def rejected_for(self, fingerprint: str) -> Request | None:
        """A rejected request for exactly this plan: no override may run it."""
        return next((r for r in self.all() if r.state == "rejected" and r.fingerprint == fingerprint), None)

    def prune(self, before: dt.datetime) -> int:
        """Remove decided, used or expired requests made before ``before`` (they list users: personal data)."""
        gone = 0
        with self._locked():
            for request in self.all():
                if request.state != "pending" and dt.datetime.fromisoformat(request.created) < before:
                    self._path(request.id).unlink(missing_ok=True)
                    gone += 1
        return gone
