"""Progress: a bar on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from bulkprov.logs import JsonFormatter, ProgressPrinter, set_run_id
from tests.conftest import ManualClock


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal():
    stream = Tty()
    printer = ProgressPrinter(stream=stream)
    printer({"done": 50, "failed": 2, "total": 200, "eta": 75.0, "requests": 5, "final": False})
    printer({"done": 200, "failed": 2, "total": 200, "eta": 0.0, "requests": 20, "final": True})
    out = stream.getvalue()
    assert "50/200" in out and "failed 2" in out and "ETA 1m15s" in out
    assert out.endswith("\n") and "#" * 24 in out and "5 requests" in out


@pytest.mark.parametrize("origin", [0.0, 5.0, 10_000_000.0])
def test_periodic_log_lines_when_not_a_terminal(caplog, origin):
    """The first report is logged whatever the clock's origin (a machine just booted has monotonic
    time near zero); later ones wait for ``interval``."""
    clock = ManualClock(origin)
    printer = ProgressPrinter(stream=io.StringIO(), interval=3600, clock=clock)
    with caplog.at_level(logging.INFO, logger="bulkprov.progress"):
        printer({"done": 1, "failed": 0, "total": 9, "eta": 8.0, "requests": 1, "final": False})
        clock.now += 10
        printer({"done": 2, "failed": 0, "total": 9, "eta": 7.0, "requests": 2, "final": False})  # too soon
        printer({"done": 9, "failed": 1, "total": 9, "eta": 0.0, "requests": 9, "final": True})
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["progress: 1/9 done, 0 not successful, 1 requests, ETA 8s",
                     "progress: 9/9 done, 1 not successful, 9 requests, done"]


def test_json_lines_carry_the_run_id():
    set_run_id("20261123-abc")
    record = logging.LogRecord("bulkprov", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    line = JsonFormatter().format(record)
    assert '"run_id": "20261123-abc"' in line and '"message": "hello x"' in line
    set_run_id("")


def test_a_line_again_after_the_interval(caplog):
    clock = ManualClock(0.0)
    printer = ProgressPrinter(stream=io.StringIO(), interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="bulkprov.progress"):
        for done in range(1, 5):
            printer({"done": done, "failed": 0, "total": 9, "eta": 1.0, "requests": done, "final": False})
            clock.now += 31
    assert [r.getMessage().split(" done")[0] for r in caplog.records] == ["progress: 1/9", "progress: 3/9"]


def test_the_last_line_is_said_once_and_a_wait_says_why(caplog):
    clock = ManualClock(100.0)
    printer = ProgressPrinter(stream=io.StringIO(), interval=0, clock=clock)
    with caplog.at_level(logging.INFO, logger="bulkprov.progress"):
        printer({"done": 3, "failed": 0, "total": 9, "eta": 5.0, "requests": 1, "final": False,
                 "waiting": "waiting for the account's rate window (another client is using it)"})
        printer({"done": 9, "failed": 0, "total": 9, "eta": 0.0, "requests": 3, "final": False})
        printer({"done": 9, "failed": 0, "total": 9, "eta": 0.0, "requests": 3, "final": True})
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].endswith("waiting for the account's rate window (another client is using it)")
    assert lines[1:] == ["progress: 9/9 done, 0 not successful, 3 requests, done"], "not twice"


def test_the_bar_shows_the_rate_of_rows():
    stream = Tty()
    ProgressPrinter(stream=stream)({"done": 600, "failed": 0, "total": 1000, "eta": 20.0, "requests": 6,
                                    "elapsed": 30.0, "final": False})
    assert "600/1,000" in stream.getvalue() and "20 rows/s" in stream.getvalue() and "ETA 20s" in stream.getvalue()
