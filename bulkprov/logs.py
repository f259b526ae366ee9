"""Logging and progress: text or JSON lines, a live bar on a terminal, periodic lines otherwise.

Every JSON line carries the run id so a scheduler's log store can group a run's lines.  Nothing
here ever receives a secret: the client never logs headers, and credentials render as ``***``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from bulkprov.i18n import gettext as _

# The run id of the invocation at hand: a context variable, so two runs of the page in two threads
# (each started in a copy of its context) never print each other's id.
_RUN_ID: contextvars.ContextVar[str] = contextvars.ContextVar("bulkprov_run_id", default="")


def set_run_id(run_id: str) -> None:
    _RUN_ID.set(run_id)


def current_run_id() -> str:
    return _RUN_ID.get()


def new_run_id() -> str:
    """A fresh run id: sortable by time, unique enough for one state directory."""
    import uuid

    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def json_line(level: str, logger: str, message: str, **data: Any) -> str:
    """One JSON line as the log handler writes it: what the command line prints in JSON mode too."""
    line = {"time": dt.datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z"), "level": level,
            "logger": logger, "run_id": _RUN_ID.get(), "message": message}
    line.update(data)
    return json.dumps(line, ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname.lower(),
                "logger": record.name, "run_id": _RUN_ID.get(), "message": record.getMessage()}
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            data.update(extra)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("bulkprov")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class ProgressPrinter:
    """Draws a progress bar on a terminal; otherwise logs a line every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic, bar: bool = True) -> None:
        self.stream = stream or sys.stderr
        # bar=False (JSON logs): every line is a JSON object, so no bar even on a terminal
        self.tty = bar and enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.interval = interval
        self._clock = clock
        # None, not 0.0: monotonic clocks count from an arbitrary origin (boot, on Linux), so on a
        # machine up for less than ``interval`` a 0.0 start would swallow the first report.
        self._last: float | None = None
        self._said = ""

    def __call__(self, p: dict[str, Any]) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if self.tty:
            self._bar(p)
            return
        if not (p.get("final") or self._last is None or now - self._last >= self.interval):
            return
        message = _line(p)
        if message == self._said:
            return  # the final report after a last batch says nothing new: say it once
        self._last, self._said = now, message
        logging.getLogger("bulkprov.progress").info(
            message, extra={"data": {k: v for k, v in p.items() if k != "final"}})

    def _bar(self, p: dict[str, Any]) -> None:
        total = max(1, p["total"])
        width = 24
        filled = int(width * p["done"] / total)
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {_line(p, bar=True)}\x1b[K"
        self.stream.write(line)
        if p.get("final"):
            self.stream.write("\n")
        self.stream.flush()


def _line(p: dict[str, Any], bar: bool = False) -> str:
    """rows done of total, failed, requests, rows per second, then the ETA or why the run waits."""
    elapsed = p.get("elapsed") or 0.0
    speed = _(", {rate} rows/s").format(rate=f"{p['done'] / elapsed:,.0f}") if elapsed > 1 and p["done"] else ""
    if p.get("waiting"):
        status = _(p["waiting"])
    elif p["done"] >= p["total"]:
        status = _("done")
    else:
        status = _("ETA {eta}").format(eta=_eta(p.get("eta")))
    line = _("{done}/{total}, failed {failed}, {requests} requests{speed}, {status}") if bar else \
        _("progress: {done}/{total} done, {failed} not successful, {requests} requests{speed}, {status}")
    return line.format(done=f"{p['done']:,}", total=f"{p['total']:,}", failed=f"{p['failed']:,}",
                       requests=f"{p['requests']:,}", speed=speed, status=status)


def _eta(seconds: float | None) -> str:
    from bulkprov.units import clock_duration

    return "?" if seconds is None else clock_duration(seconds)
