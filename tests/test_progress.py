"""Progress: a bar on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import io
import logging

from bulkprov.logs import JsonFormatter, ProgressPrinter, set_run_id


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
    assert out.endswith("\n") and "#" * 30 in out


def test_periodic_log_lines_when_not_a_terminal(caplog):
    printer = ProgressPrinter(stream=io.StringIO(), interval=3600)
    with caplog.at_level(logging.INFO, logger="bulkprov.progress"):
        printer({"done": 1, "failed": 0, "total": 9, "eta": 8.0, "requests": 1, "final": False})
        printer({"done": 2, "failed": 0, "total": 9, "eta": 7.0, "requests": 2, "final": False})  # too soon
        printer({"done": 9, "failed": 1, "total": 9, "eta": 0.0, "requests": 9, "final": True})
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["progress: 1/9 done, 0 not successful, 1 requests, ETA 8s",
                     "progress: 9/9 done, 1 not successful, 9 requests, ETA 0s"]


def test_json_lines_carry_the_run_id():
    set_run_id("20261123-abc")
    record = logging.LogRecord("bulkprov", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    line = JsonFormatter().format(record)
    assert '"run_id": "20261123-abc"' in line and '"message": "hello x"' in line
    set_run_id("")
