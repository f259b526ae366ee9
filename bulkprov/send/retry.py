"""The retry policy every request shares: what is retried, how long to wait, when to give up.

* 5xx, non-JSON replies, timeouts and dropped connections: exponential backoff with jitter, up to
  ``max_attempts`` (a Retry-After, when sent, is honoured).
* Rate refusals: no backoff of their own -- the caller pauses the shared limiter (:func:`rate_pause`:
  Retry-After, else the shortest window with jitter), so every worker waits for the account's window;
  they do not use up ``max_attempts`` and are retried until ``rate_wait_cap`` seconds have passed.

The dispatcher (writes) and the export (reads) both use it, so a refusal means the same everywhere.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_base, wait_random_exponential

from bulkprov.kore import OutcomeUnknown, RateRefused, ServerFailed
from bulkprov.send.limiter import RateLimiter, Windows

T = TypeVar("T")


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, RateRefused | ServerFailed | OutcomeUnknown)


class Wait(wait_base):
    """Backoff for server errors; none for rate refusals (the limiter's pause holds every worker)."""

    def __init__(self, backoff_max: float = 30.0) -> None:
        self.fallback = wait_random_exponential(multiplier=0.5, max=backoff_max)

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RateRefused):
            return 0.0
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.fallback(retry_state)


@dataclass
class Tally:
    """One request's attempts: rate refusals are counted apart (they are bounded by time, not number)."""

    other: int = 0
    first_rate_refusal: float | None = None


def stop_after(max_attempts: int, rate_wait_cap: float, tally: Tally,
               clock: Callable[[], float] = time.monotonic) -> Callable[[RetryCallState], bool]:
    """Stop retrying after ``max_attempts`` non-rate failures, or once rate refusals have gone on for
    longer than the wall-clock cap."""
    def stop(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateRefused):
            now = clock()
            if tally.first_rate_refusal is None:  # not `or`: a clock just after boot can read 0.0
                tally.first_rate_refusal = now
            return now - tally.first_rate_refusal >= rate_wait_cap
        tally.other += 1
        return tally.other >= max_attempts
    return stop


def default_cap(windows: Windows) -> float:
    """How long rate refusals may go on by default: the longest window (an hour for the documented budget)."""
    return max((w for _, w in windows), default=3600.0)


def rate_pause(exc: RateRefused, windows: Windows) -> float:
    """How long every worker waits after a rate refusal: Retry-After, else the shortest window, jittered."""
    if exc.retry_after is not None:
        return exc.retry_after
    if windows:
        return windows[0][1] * random.uniform(1.0, 1.1)
    return random.uniform(1.0, 2.0)


async def read_with_retry(call: Callable[[], Awaitable[T]], *, limiter: RateLimiter, windows: Windows,
                          max_attempts: int, rate_wait_cap: float | None = None,
                          counted: Callable[[], Any] | None = None) -> T:
    """One read (safe to repeat), paced by the limiter and retried by the shared policy."""
    tally = Tally()
    cap = default_cap(windows) if rate_wait_cap is None else rate_wait_cap
    retrying = AsyncRetrying(stop=stop_after(max_attempts, cap, tally), retry=retry_if_exception(retryable),
                             wait=Wait(), reraise=True)
    async for attempt in retrying:
        with attempt:
            try:
                async with limiter.slot():
                    if counted is not None:
                        counted()
                    return await call()
            except RateRefused as exc:
                limiter.pause(rate_pause(exc, windows))
                raise
    raise AssertionError("unreachable: tenacity re-raises the last failure")
