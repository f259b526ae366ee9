"""The multi-window limiter: parsing, the analytical floor, and pacing on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from bulkprov.errors import InputError
from bulkprov.send.limiter import RateLimiter, format_rate, parse_rate, schedule_floor
from tests.conftest import ManualClock


def test_parse_rate_units_and_seconds():
    assert parse_rate("60/min,1800/h") == [(60, 60.0), (1800, 3600.0)]
    assert parse_rate("10/2, 30/10") == [(10, 2.0), (30, 10.0)]
    assert parse_rate("5/s") == [(5, 1.0)]
    assert parse_rate("none") == []
    assert format_rate(parse_rate("60/min,1800/h")) == "60/min, 1800/h"


@pytest.mark.parametrize("bad", ["sixty/min", "60/fortnight", "0/min", "60", "60/0"])
def test_parse_rate_refuses_nonsense_with_a_clear_message(bad):
    with pytest.raises(InputError) as err:
        parse_rate(bad)
    assert err.value.code == "bad-rate"
    assert "rate budget" in err.value.message and "--" not in err.value.message  # the CLI names the flag


def test_schedule_floor_uses_every_window():
    # 10 per 2 s alone: request 30 starts at 4 s (three full windows: 0, 2, 4).
    assert schedule_floor(30, [(10, 2.0)]) == pytest.approx(4.0)
    # Adding 15 per 10 s: 10 at 0 s, 5 at 2 s, then 10 at 10 s and 5 at 12 s.
    assert schedule_floor(30, [(10, 2.0), (15, 10.0)]) == pytest.approx(12.0)
    assert schedule_floor(31, [(10, 2.0), (15, 10.0)]) == pytest.approx(20.0)
    assert schedule_floor(0, [(1, 1.0)]) == 0.0


async def test_limiter_never_exceeds_any_window_and_reaches_the_floor():
    """Drive many concurrent acquirers with real sleeps scaled small; check the sliding counts."""
    windows = [(5, 0.2), (12, 0.6)]
    limiter = RateLimiter(windows)
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    async def one():
        async with limiter.slot():
            stamps.append(loop.time())

    start = loop.time()
    await asyncio.gather(*(one() for _ in range(30)))
    elapsed = loop.time() - start
    for n, w in windows:
        for i in range(len(stamps) - n):
            assert stamps[i + n] - stamps[i] >= w - 1e-3, f"window {n}/{w} exceeded at {i}"
    floor = schedule_floor(30, windows)
    assert floor <= elapsed <= floor * 1.25 + 0.05


async def test_in_flight_requests_count_until_their_reply():
    limiter = RateLimiter([(2, 0.1)])
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.25)
    assert not third.done(), "two requests still in flight fill a 2-per-window budget"
    limiter.release()
    await asyncio.wait_for(third, 0.5)


async def test_pause_holds_everyone_back():
    limiter = RateLimiter([(100, 1.0)])
    limiter.pause(0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await limiter.acquire()
    assert loop.time() - start >= 0.19


async def test_seeded_requests_of_an_earlier_run_count():
    limiter = RateLimiter([(2, 0.3)])
    limiter.seed([0.05, 0.1, 99.0])  # two recent requests; the 99 s old one has left every window
    assert len(limiter.recent()) == 2
    loop = asyncio.get_running_loop()
    start = loop.time()
    await limiter.acquire()
    assert loop.time() - start >= 0.15, "the window was full: wait until the older seeded request ages out"


async def test_limiter_on_a_clock_that_starts_at_zero():
    """A machine just booted: monotonic time near zero must not look like "long ago" or "paused"."""
    clock = ManualClock()
    limiter = RateLimiter([(2, 10.0)], clock=clock)
    limiter.seed([1.0, 50.0])  # one request 1 s ago counts; the older left the window
    assert limiter._wait_needed() == 0.0
    await limiter.acquire()
    limiter.release()
    assert limiter._wait_needed() == pytest.approx(9.0), "two in the last 10 s: wait for the seeded one"
    clock.now = 9.5
    assert limiter._wait_needed() == 0.0


async def test_a_servers_pause_holds_without_client_side_windows():
    """``--rate none`` removes the client's windows, never the server's Retry-After (#27)."""
    clock = ManualClock()
    limiter = RateLimiter([], clock=clock)
    assert limiter._wait_needed() == 0.0
    limiter.pause(20.0)
    assert limiter._wait_needed() == pytest.approx(20.0)
    clock.now = 20.0
    assert limiter._wait_needed() == 0.0
