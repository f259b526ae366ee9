"""The page's audit records: every record written in order by one thread of its own, never blocking the event
loop; sign-in events of someone not signed in coalesced per source (:class:`Coalescer`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from aiohttp import web

from bulkprov.web.config import WebConfig
from bulkprov.web.frame import address
from bulkprov.web.keys import CONFIG, SESSION
from bulkprov.web.security import Session

AUDIT_WRITER: web.AppKey[Any] = web.AppKey("audit_writer")


def _trail_of(config: WebConfig) -> Any:
    """Where the page's records go: its account's trail (a folder of its own when it has no account)."""
    return config.job.account if config.job.account is not None else config.state_dir


async def write_record(app: web.Application, event: str, who: str, where: str, **what: Any) -> None:
    """Append one record, in the page's own audit thread (in order, never blocking the event loop)."""
    from bulkprov.approvals.flow import audit

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(app[AUDIT_WRITER], functools.partial(
        audit, _trail_of(app[CONFIG]), event, who, where, **what))


async def record(request: web.Request, event: str, who: str | None = None, **what: Any) -> None:
    """One record of the audit trail (:mod:`bulkprov.approvals.audit`): who, from where, what.  Written (and
    fsynced) by one thread of its own, in order, so a burst of records never blocks the event loop."""
    session: Session | None = request.get(SESSION)
    person = who if who is not None else (session.user if session is not None and session.user else "?")
    await write_record(request.app, event, person, address(request), **what)


class Coalescer:
    """Events nobody has proved who they are (a refused sign-in, a provider's error, a wrong password) are
    throttled per source: the first of a window is written at once, the others counted and written as one
    record with their count when the window ends.  At most ``burst`` sources a window get a record at once;
    beyond them every source shares one bucket, so no anonymous client — nor a crowd — floods the trail."""

    def __init__(self, window: float = 60.0, burst: int = 30, sources: int = 1000,
                 clock: Any = time.monotonic) -> None:
        self.window, self.burst, self.sources, self.clock = window, burst, sources, clock
        self._buckets: dict[tuple[str, str], dict[str, Any]] = {}
        self._opened: list[float] = []  # when recent windows opened (for the burst limit)

    def note(self, where: str, kind: str, what: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        """(write this event now?, the records of windows that ended: ``{"where", "what"}``)."""
        now = self.clock()
        due = self.due(now)
        self._opened = [t for t in self._opened if now - t < self.window]
        key = (where, kind)
        if key not in self._buckets and len(self._opened) >= self.burst:
            key = ("*", kind)  # a crowd of sources: one shared bucket
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.sources:
                due.extend(self._flush(next(iter(self._buckets))))
            self._buckets[key] = {"opened": now, "count": 0, "what": what, "sources": {where}}
            self._opened.append(now)
            return key[0] != "*", due
        bucket["count"] += 1
        bucket["what"] = what
        if len(bucket["sources"]) < 1000:
            bucket["sources"].add(where)
        return False, due

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        """The records of every window that has ended (all of them when ``now`` is None: shutting down)."""
        out: list[dict[str, Any]] = []
        for key in [k for k, b in self._buckets.items() if now is None or now - b["opened"] >= self.window]:
            out.extend(self._flush(key))
        return out

    def _flush(self, key: tuple[str, str]) -> list[dict[str, Any]]:
        bucket = self._buckets.pop(key)
        shared = key[0] == "*"
        count = bucket["count"] + (1 if shared else 0)  # a shared bucket's first event was not written
        if not count:
            return []
        what = {**bucket["what"], "count": count}
        if shared:
            what["sources"] = len(bucket["sources"])
        return [{"where": key[0], "what": what}]


COALESCER: web.AppKey[Coalescer] = web.AppKey("coalescer")


async def record_anonymous(request: web.Request, who: str, **what: Any) -> None:
    """A sign-in event of someone not signed in: through the :class:`Coalescer` (see there)."""
    now, due = request.app[COALESCER].note(address(request), str(what.get("outcome", "")), what)
    if now:
        await write_record(request.app, "login", who, address(request), **what, count=1)
    await write_due(request.app, due)


async def write_due(app: web.Application, due: list[dict[str, Any]]) -> None:
    for item in due:
        await write_record(app, "login", "?", item["where"], **item["what"])
