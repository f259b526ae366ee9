"""Stopping cleanly: Ctrl-C / SIGTERM and the run-time limit set one event the dispatcher watches.

Either way the dispatcher stops sending, waits for the calls in flight, and every row still gets a
result; a second Ctrl-C is the user insisting (KeyboardInterrupt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass

from bulkprov.errors import Interrupted
from bulkprov.i18n import gettext as _

log = logging.getLogger("bulkprov")


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C / SIGTERM set ``stop``: the dispatcher stops sending, in-flight calls finish, results
    are written.  A second Ctrl-C is the user insisting: it raises KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    installed = []

    def on_signal(sig: int) -> None:
        if stop.is_set() and sig == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning(_("stop requested (%s): finishing requests in flight, then writing results"),
                    signal.Signals(sig).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@dataclass
class RuntimeLimit:
    """The run-time limit: stops the run exactly like SIGTERM when the time is up."""

    seconds: float | None
    fired: bool = False
    _handle: asyncio.TimerHandle | None = None

    def start(self, stop: asyncio.Event) -> RuntimeLimit:
        if self.seconds:
            def fire() -> None:
                self.fired = True
                log.warning(_("run-time limit of %s s reached: stopping cleanly"), self.seconds)
                stop.set()

            self._handle = asyncio.get_running_loop().call_later(self.seconds, fire)
        return self

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def stopped(self, report, stop: asyncio.Event):
        """Mark ``report`` as interrupted when the stop event (a signal or this limit) ended it."""
        self.cancel()
        if stop.is_set() and not report.aborted:
            error = Interrupted("max-runtime", seconds=self.seconds) if self.fired else Interrupted()
            report.aborted, report.stop_error = error.message, error
        return report
