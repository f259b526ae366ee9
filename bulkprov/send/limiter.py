"""A client-side rate limiter that honours several rolling windows at once.

Kore.ai counts requests per account in two rolling windows, 60 per minute and 1,800 per hour,
and refuses the request that would exceed either.  A token bucket (aiolimiter's leaky bucket)
models one steady rate; it cannot express "60 in any minute *and* 1,800 in any hour" without
either bursting past the hour or crawling under the minute.  This limiter keeps a log of its own
requests instead (a sliding log) and admits a request only when, for every window ``(N, W)``,
fewer than ``N`` of its requests could be counted by the server in the last ``W`` seconds.

Why the log records *completion* time: the server stamps a request when it receives it, some
time after we send it, and transit times vary.  A slot is counted from the moment it is taken
until ``W`` seconds after its reply arrived — the reply proves the server's stamp is no later.
So the limiter can never be early by network jitter, and it is late by at most one round trip
per window, which is what keeps a paced run within a few percent of the analytical floor with
zero refusals.  A refusal still happens when someone else spends the same account's budget;
:meth:`RateLimiter.pause` then holds every caller back for the server's Retry-After.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from contextlib import asynccontextmanager

from bulkprov.i18n import gettext

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "m": 60.0, "minute": 60.0,
          "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_WINDOW_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]*)\s*$", re.IGNORECASE)

Windows = list[tuple[int, float]]


def parse_rate(text: str) -> Windows:
    """``"60/min,1800/h"`` → ``[(60, 60.0), (1800, 3600.0)]``; ``"10/2,30/10"`` uses seconds.

    ``none`` or an empty string means no client-side limit.
    """
    from bulkprov.errors import BadRate

    if not text or text.strip().lower() in ("none", "off", "unlimited"):
        return []
    windows: Windows = []
    for part in text.split(","):
        match = _WINDOW_RE.match(part)
        unit = match.group(3).lower() if match else ""
        if not match or (unit and unit not in _UNITS) or (not match.group(2) and not unit):
            raise BadRate(part=part.strip())
        count = int(match.group(1))
        seconds = float(match.group(2) or 1) * (_UNITS[unit] if unit else 1.0)
        if count < 1 or seconds <= 0:
            raise BadRate("zero", part=part.strip())
        windows.append((count, seconds))
    return sorted(windows, key=lambda w: w[1])


def format_rate(windows: Windows) -> str:
    def one(n: int, w: float) -> str:
        for unit, size in (("h", 3600.0), ("min", 60.0)):
            if w == size:
                return f"{n}/{unit}"
        return f"{n}/{w:g}s"

    return ", ".join(one(n, w) for n, w in windows) or gettext("unlimited")  # for people: plan lines


def schedule_floor(requests: int, windows: Windows) -> float:
    """Earliest time the last of ``requests`` can start if every window is used to the full.

    The analytical floor a perfect client reaches (ignoring round trips), used for the ETA and
    by the benchmarks to measure the limiter's efficiency.
    """
    if requests <= 0 or not windows:
        return 0.0
    starts: list[float] = []
    for i in range(requests):
        t = 0.0
        for n, w in windows:
            if i >= n:
                t = max(t, starts[i - n] + w)
        starts.append(t)
    return starts[-1]


class RateLimiter:
    """Sliding-log limiter over several windows; ``async with limiter.slot(): send()``."""

    def __init__(self, windows: Windows, *, clock=time.monotonic) -> None:
        self.windows = sorted(windows, key=lambda w: w[1])
        self._clock = clock
        self._longest = max((w for _, w in self.windows), default=0.0)
        self._done: deque[float] = deque()  # completion times of finished requests, ascending order kept
        self._in_flight = 0
        self._paused_until = 0.0
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self):
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        async with self._lock:  # one waiter decides at a time: first come, first served
            while True:
                delay = self._wait_needed()
                if delay <= 0:
                    self._in_flight += 1
                    return
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=delay)
                except TimeoutError:
                    pass

    def release(self) -> None:
        """The request's reply arrived (or it failed): its slot counts from now."""
        self._in_flight -= 1
        now = self._clock()
        if self._done and now < self._done[-1]:
            now = self._done[-1]  # keep ascending; a clock never goes back but be safe
        self._done.append(now)
        self._changed.set()

    def recent(self) -> list[float]:
        """Ages in seconds of the completions that still count in some window (for the ledger)."""
        now = self._clock()
        return [now - t for t in self._done if t > now - self._longest]

    def seed(self, ages: list[float]) -> None:
        """Count requests an earlier run made on the same account (ages in seconds): back-to-back
        runs share one budget, and the second must not start as if the windows were empty."""
        now = self._clock()
        merged = sorted([*self._done, *(now - a for a in ages if 0 <= a < self._longest)])
        self._done = deque(merged)

    def pause(self, seconds: float) -> None:
        """Hold every caller back (the server refused us: someone else spends this budget too)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
        self._changed.set()

    def _wait_needed(self) -> float:
        now = self._clock()
        wait = self._paused_until - now  # the server's pause holds with or without client-side windows
        while self._done and self._done[0] <= now - self._longest:
            self._done.popleft()
        for n, w in self.windows:
            recent = self._in_flight + _count_after(self._done, now - w)
            if recent < n:
                continue
            # Need (recent - n + 1) of the counted slots to age out; in-flight ones only age after release.
            need = recent - n + 1
            completed = len(self._done) - _index_after(self._done, now - w)
            if need > completed:
                wait = max(wait, w)  # wake on a release (the event) at the latest
                continue
            oldest_needed = self._done[_index_after(self._done, now - w) + need - 1]
            wait = max(wait, oldest_needed + w - now)
        return max(0.0, wait)


def _index_after(times: deque[float], cutoff: float) -> int:
    """Index of the first entry > cutoff in an ascending deque (binary search)."""
    lo, hi = 0, len(times)
    while lo < hi:
        mid = (lo + hi) // 2
        if times[mid] > cutoff:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _count_after(times: deque[float], cutoff: float) -> int:
    return len(times) - _index_after(times, cutoff)
