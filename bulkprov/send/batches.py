"""Cutting valid rows into requests: grouped by what one request can carry, sized, described.

A request carries one operation, one ``sendEmail`` value (add) and one kind of key (removals and
lookups name users by email *or* by orgUserId); :func:`plan_batches` groups rows so, then cuts
batches of ``batch_size``.  :func:`describe_plan` is the plan printed before sending (and by
``--dry-run``): rows per operation, requests, the ETA the rate budget allows, activation emails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bulkprov.errors import N_
from bulkprov.i18n import gettext as _
from bulkprov.model import Action, CheckedRow
from bulkprov.send.limiter import format_rate, schedule_floor
from bulkprov.units import format_duration


@dataclass
class Batch:
    id: str
    op: Action                    # add | update | remove | lookup
    rows: list[CheckedRow]
    send_email: bool = True
    by_org_id: bool = False       # remove/lookup keyed by orgUserId



def key_args(rows: list[CheckedRow]) -> dict[str, list[str]]:
    """How the API is told which users: by email, or by orgUserId when a row has no email
    (``plan_batches`` never mixes the two in a remove or lookup batch)."""
    if rows and not rows[0].email:
        return {"org_user_ids": [r.org_user_id for r in rows]}
    return {"email_ids": [r.email for r in rows]}


def group_of(row: CheckedRow, send_email: bool) -> tuple[str, bool, bool]:
    """What one request can carry together: the operation, ``sendEmail`` (add), the kind of key."""
    send = send_email if row.send_email is None else row.send_email
    by_org = row.action in (Action.REMOVE, Action.LOOKUP) and not row.email
    return (row.action, send if row.action == Action.ADD else True, by_org)


def plan_batches(rows: list[CheckedRow], batch_size: int, send_email: bool, first: int = 1) -> list[Batch]:
    """Group rows by what one request can carry (operation, sendEmail, key kind) and cut batches, numbered
    from ``first`` (a job sent chunk by chunk numbers its batches across chunks)."""
    groups: dict[tuple[str, bool, bool], list[CheckedRow]] = {}
    for row in rows:
        groups.setdefault(group_of(row, send_email), []).append(row)
    batches: list[Batch] = []
    for (op, send, by_org), members in groups.items():
        for i in range(0, len(members), batch_size):
            batches.append(Batch(f"B{first + len(batches):04d}", Action(op), members[i:i + batch_size], send, by_org))
    return batches


class SendChunks:
    """A job's rows cut into chunks of about ``size`` rows to send one after the other, without a batch cut
    short at a chunk's edge: each group's rows wait for a whole batch, and the rest go in the last chunk.
    So a job sent chunk by chunk makes exactly the requests it would make sent whole (:class:`PlanTally`)."""

    def __init__(self, batch_size: int, send_email: bool, size: int) -> None:
        self.batch_size, self.send_email, self.size = batch_size, send_email, size
        self._waiting: dict[tuple[str, bool, bool], list[CheckedRow]] = {}

    def cut(self, rows: list[CheckedRow]) -> Iterator[list[CheckedRow]]:
        """Take ``rows`` in; yield every chunk that is ready."""
        for row in rows:
            self._waiting.setdefault(group_of(row, self.send_email), []).append(row)
        whole = sum(len(m) - len(m) % self.batch_size for m in self._waiting.values())
        if whole >= self.size:
            chunk: list[CheckedRow] = []
            for members in self._waiting.values():
                cut = len(members) - len(members) % self.batch_size
                chunk.extend(members[:cut])
                del members[:cut]
            yield chunk

    def rest(self) -> list[CheckedRow]:
        """The rows still waiting (fewer than a batch per group), after the last ``cut``."""
        out = [row for members in self._waiting.values() for row in members]
        self._waiting.clear()
        return out


class PlanTally:
    """The plan of a job counted a chunk at a time (the rows themselves are not kept)."""

    def __init__(self, batch_size: int, send_email: bool) -> None:
        self.batch_size, self.send_email = batch_size, send_email
        self.groups: dict[tuple[str, bool, bool], int] = {}

    def add(self, rows: Iterable[CheckedRow]) -> None:
        for row in rows:
            key = group_of(row, self.send_email)
            self.groups[key] = self.groups.get(key, 0) + 1

    @property
    def rows(self) -> int:
        return sum(self.groups.values())

    @property
    def requests(self) -> int:
        return sum(-(-n // self.batch_size) for n in self.groups.values())

    def describe(self, concurrency: int, windows: list[tuple[int, float]]) -> list[str]:
        per_op: dict[Action, int] = {}
        for (op, _send, _by_org), n in self.groups.items():
            per_op[Action(op)] = per_op.get(Action(op), 0) + n
        requests = self.requests
        emails = sum(n for (op, send, _by_org), n in self.groups.items() if op == Action.ADD and send)
        return plan_lines(per_op, requests, emails, self.batch_size, concurrency, windows)


# What a plan line says per operation (msgids of the bulkprov gettext domain).
TO_DO = {Action.ADD: N_("{count} to add"), Action.UPDATE: N_("{count} to update"),
         Action.REMOVE: N_("{count} to remove"), Action.LOOKUP: N_("{count} to lookup"), Action.SYNC: N_("{count} to sync")}


def describe_plan(batches: list[Batch], batch_size: int, concurrency: int,
                  windows: list[tuple[int, float]]) -> list[str]:
    """The plan printed before sending: rows per operation, requests, ETA, activation emails."""
    per_op: dict[Action, int] = {}
    for b in batches:
        per_op[b.op] = per_op.get(b.op, 0) + len(b.rows)
    emails = sum(len(b.rows) for b in batches if b.op == Action.ADD and b.send_email)
    return plan_lines(per_op, len(batches), emails, batch_size, concurrency, windows)


def plan_lines(per_op: dict[Action, int], requests: int, emails: int, batch_size: int, concurrency: int,
               windows: list[tuple[int, float]]) -> list[str]:
    if not requests:
        return [_("nothing to send")]
    eta = estimate_seconds(requests, windows)
    lines = [
        ", ".join(_(TO_DO.get(op, "{count} to " + op)).format(count=f"{n:,}") for op, n in per_op.items()),
        _("{users} users in {requests} requests (batch size {size}, concurrency {concurrency}) ≈ {eta} at {rate}").format(
            users=f"{sum(per_op.values()):,}", requests=f"{requests:,}", size=batch_size, concurrency=concurrency,
            eta=format_duration(eta), rate=format_rate(windows)),
    ]
    if Action.ADD in per_op:
        lines.append(_("activation emails that will be sent: {count}").format(count=f"{emails:,}"))
    return lines


def split_batch(batch: Batch, size: int) -> list[Batch]:
    return [Batch(f"{batch.id}.{i // size + 1}", batch.op, batch.rows[i:i + size], batch.send_email, batch.by_org_id)
            for i in range(0, len(batch.rows), size)]


def estimate_seconds(requests: int, windows: list[tuple[int, float]], latency: float = 0.2) -> float:
    """ETA from the rate budget: the windows' floor plus one round trip."""
    return schedule_floor(requests, windows) + latency
