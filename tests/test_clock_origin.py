"""Every timer that compares against ``time.monotonic()`` on a clock that starts at zero.

A monotonic clock counts from boot on Linux, so on a machine (or container) started a moment ago it
reads near zero.  Code that seeds "last time" with ``0.0`` or tests a stamp with ``or`` then treats
the first event as recent, or never as seen.  Each test here drives one timer with its own clock set
to start at 0.0 (issue: the first progress line lost on a fresh machine).
"""

from __future__ import annotations

from types import SimpleNamespace

from bulkprov.kore import RateRefused
from bulkprov.send.retry import Tally, stop_after
from bulkprov.web.security import SessionStore
from bulkprov.web.throttle import LoginThrottle
from tests.conftest import ManualClock


def test_a_session_made_at_time_zero_lives_for_its_idle_time_and_no_longer():
    clock = ManualClock()
    store = SessionStore(idle=60.0, clock=clock)
    session = store.create("hr@example.com")
    cookie = store.cookie(session)
    clock.now = 59.0
    assert store.lookup(cookie) is session, "seen at 0.0, looked up 59 s later: still alive"
    clock.now = 59.0 + 61.0
    assert store.lookup(cookie) is None, "idle for more than 60 s: gone"


def test_login_back_off_holds_on_a_clock_that_starts_at_zero():
    clock = ManualClock()
    throttle = LoginThrottle(address_free=100, user_free=2, base=2.0, window=900.0, clock=clock)
    for _ in range(2):
        ticket = throttle.begin("10.0.0.1", "hr")
        throttle.finish(ticket, ok=False)
    assert throttle.begin("10.0.0.1", "hr") == 2.0, "two failures at 0.0 are recent, not 'long ago'"
    clock.now = 1.9
    assert isinstance(throttle.begin("10.0.0.1", "hr"), float)
    clock.now = 2.0
    assert not isinstance(throttle.begin("10.0.0.1", "hr"), float)


def _refused() -> SimpleNamespace:
    failed = SimpleNamespace(exception=lambda: RateRefused("refused", retry_after=None))
    return SimpleNamespace(outcome=failed)


def test_the_rate_refusal_cap_counts_from_a_first_refusal_at_zero():
    clock = ManualClock()
    tally = Tally()
    stop = stop_after(max_attempts=3, rate_wait_cap=10.0, tally=tally, clock=clock)
    assert stop(_refused()) is False
    assert tally.first_rate_refusal == 0.0
    clock.now = 5.0
    assert stop(_refused()) is False, "5 s of refusals: keep waiting"
    clock.now = 10.0
    assert stop(_refused()) is True, "10 s since the first refusal at 0.0: the cap is reached"
