"""A job's rows sent chunk by chunk through one dispatcher, so that sending holds no more than a chunk (#30).

The rows come from the spool the run checked them into (:mod:`bulkprov.state.spool`); each outcome is in
the ledger as it happens (the hooks), so a chunk's results leave memory once it is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.kore import KoreClient
from bulkprov.model import CheckedRow
from bulkprov.send.batches import SendChunks
from bulkprov.send.dispatcher import Dispatcher, DispatchHooks, DispatchReport
from bulkprov.send.limiter import RateLimiter
from bulkprov.send.options import SendOptions

log = logging.getLogger("bulkprov.dispatch")

SEND_CHUNK = 5_000  # rows a job sends at a time from its spool: ~15 MB of rows in memory (measured, #30)


async def dispatch_chunks(chunks: Iterable[list[CheckedRow]], settings: SendOptions, credentials: Any, *,
                          plan: list[str], total: int, hooks: DispatchHooks,
                          progress: Callable[[dict[str, Any]], None] | None = None,
                          stop: asyncio.Event | None = None, uncertain: set[int] | None = None,
                          snapshot: bool = False, limiter: RateLimiter | None = None,
                          chunk_rows: int | None = None) -> DispatchReport:
    """Send a job's rows chunk by chunk through one dispatcher (one client, limiter, breaker and progress).

    The hooks (the ledger) record every outcome as it happens, so each chunk's results leave memory once
    it is done; the report keeps what the job needs at the end (why it stopped, notes, the requests made,
    a lookup's users).  Rows of chunks never sent (a stop, an abort) stay pending in the ledger.  ``plan``
    is the job's plan, said once (:class:`~bulkprov.send.batches.PlanTally`)."""
    async with KoreClient(settings.host, credentials, timeout=settings.timeout,
                          concurrency_hint=settings.concurrency) as client:
        dispatcher = Dispatcher.of(client, settings, progress=progress, stop=stop, hooks=hooks, uncertain=uncertain,
                                   snapshot=snapshot, limiter=limiter, announce=False, total=total)
        for line in plan:
            log.info(_("plan: %s"), line)
        cutter = SendChunks(settings.batch_size, settings.send_email, chunk_rows or SEND_CHUNK)
        going = True
        for rows in chunks:
            for chunk in cutter.cut(rows):
                going = going and await _send_chunk(dispatcher, chunk)
            if not going:
                break
        if going:
            await _send_chunk(dispatcher, cutter.rest())
        dispatcher.emit_progress(final=True)
        return dispatcher.report


async def _send_chunk(dispatcher: Dispatcher, chunk: list[CheckedRow]) -> bool:
    """One chunk, then its rows leave memory; False once the job stopped (the rest is not sent)."""
    if chunk:
        await dispatcher.run(chunk, last=False)
        dispatcher.forget(chunk)
    return not (dispatcher.report.aborted or dispatcher.stop.is_set())
