"""The roster's rows as sync's plan reads them: from the spool they were checked into, never all held (#30).

A first sync of a million users is a million adds.  A ``PlanItem`` per add (and the checked row it holds,
~3.5 KB with its user object) was what kept a first sync from running in bounded memory; the plan now keeps
one byte per valid row (:class:`AddRows`: is it an add?) and reads the adds back from the spool whenever a
stage needs them -- the plan workbook's Add sheet, the ledger's rows, the sending.  The rows sync holds
because it cannot apply them without guessing (:func:`~bulkprov.sync.plan.hold_ambiguous_rows`) join the
invalid ones (:class:`InvalidRows`), in row order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any, Protocol

from bulkprov.model import CheckedRow

BUILDERS_KEPT = 10_000  # the approval request's list of who would get Builder access (the counts are whole)


class Rows(Protocol):
    """Checked rows in input order, counted, as often as they are read."""

    def __iter__(self) -> Iterator[CheckedRow]: ...

    def __len__(self) -> int: ...


class RowSource(Rows, Protocol):
    """:class:`Rows` a chunk at a time too, and as plain fields (a spool of checked rows)."""

    def chunks(self) -> Iterator[list[CheckedRow]]: ...

    def fields(self) -> Iterator[Any]: ...


def grants_builder(user: dict[str, Any]) -> bool:
    return bool(user.get("canCreateBot") or user.get("isDeveloper"))


class AddRows:
    """The plan's adds: the valid roster rows whose user the account does not have, one byte each (their
    place among the valid rows), read back from ``source`` in row order -- with the counts the plan's
    summary, its guards and the approval request need, made as the plan was built."""

    def __init__(self, source: RowSource) -> None:
        self.source = source
        self.marks = bytearray()  # one per valid row, in order: 1 = an add
        self.count = 0
        self.emails = 0           # activation emails the adds would send
        self.builders = 0         # adds granted Builder access
        self.builder_keys: list[str] = []  # who, the first BUILDERS_KEPT of them

    def note(self, row: CheckedRow | None, send_email: bool) -> None:
        """The next valid row, in order: an add (``row``) or not (None)."""
        if row is None:
            self.marks.append(0)
            return
        self.marks.append(1)
        self.count += 1
        if send_email if row.send_email is None else row.send_email:
            self.emails += 1
        if grants_builder(row.user):
            self.builders += 1
            if len(self.builder_keys) < BUILDERS_KEPT:
                self.builder_keys.append(row.email or row.org_user_id)

    def __len__(self) -> int:
        return self.count

    def chunks(self) -> Iterator[list[CheckedRow]]:
        """The adds as checked rows, a chunk of the source at a time (a chunk may be empty)."""
        if not self.count:
            return
        n = 0
        for chunk in self.source.chunks():
            marks = self.marks[n:n + len(chunk)]
            n += len(chunk)
            yield [row for row, mark in zip(chunk, marks, strict=True) if mark]

    def __iter__(self) -> Iterator[CheckedRow]:
        for chunk in self.chunks():
            yield from chunk

    def fields(self) -> Iterator[Any]:
        """The adds' plain fields (row, action, email, orgUserId...): no objects made."""
        if not self.count:
            return
        for mark, fields in zip(self.marks, self.source.fields(), strict=True):
            if mark:
                yield fields


class InvalidRows:
    """The rows sync will not apply, in row order: those the checks refused (``source``) and those the plan
    holds (``held``, valid rows given errors by :func:`~bulkprov.sync.plan.hold_ambiguous_rows`)."""

    def __init__(self, source: Rows, held: dict[int, CheckedRow] | None = None) -> None:
        self.source = source
        self.held = held if held is not None else {}

    def __iter__(self) -> Iterator[CheckedRow]:
        if not self.held:
            return iter(self.source)
        held = (self.held[n] for n in sorted(self.held))
        return heapq.merge(self.source, held, key=lambda r: r.row)

    def __len__(self) -> int:
        return len(self.source) + len(self.held)

    def __bool__(self) -> bool:
        return len(self) > 0
