"""Test-only fault points: crash or fail at a named moment of a run, to prove the run survives it.

``BULKPROV_FAULT=POINT[:N][:ACTION]`` makes the N-th time (default 1st) a run passes ``POINT`` do
``ACTION``: ``kill`` (SIGKILL itself, like a power cut; the default), ``term`` (SIGTERM), ``enospc`` (an
``OSError`` "No space left on device") or ``internal`` (a ``RuntimeError``, a bug).  The points:

=================  ==============================================================================
``sending``        a request's rows are committed ``in_flight``; the request has not left
``replied``        the reply arrived; nothing of it is reconciled or committed yet
``results``        the result workbook is half written
``undo``           the undo file is half written
``finish``         the result workbook is written; the ledger is about to record the run's end
``dispatch``       the dispatcher is about to start (for the internal-error path)
=================  ==============================================================================

Without the variable this costs one dictionary lookup per call.  It is read once, at import.
"""

from __future__ import annotations

import errno
import os
import signal

_SPEC = os.environ.get("BULKPROV_FAULT", "")
_POINT, _, _REST = _SPEC.partition(":")
_COUNT_TEXT, _, _ACTION = _REST.partition(":") if _REST[:1].isdigit() else ("1", "", _REST)
_hits = {"n": 0}


def fault_point(name: str) -> None:
    if not _SPEC or name != _POINT:
        return
    _hits["n"] += 1
    if _hits["n"] != int(_COUNT_TEXT or 1):
        return
    action = _ACTION or "kill"
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    elif action == "internal":
        raise RuntimeError(f"injected internal error at {name}")
