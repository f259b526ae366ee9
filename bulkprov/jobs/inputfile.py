"""The input file as a run reads it: whole or not at all.

An HR export that is still being written must never be applied: a sync of a roster cut three rows
before its end removes the users past the cut and writes the cut row's half value.  So:

* :func:`wait_until_settled` waits until the file has been unchanged for the settle time before it
  is read (at most six times that; a file still changing then is refused, nothing sent);
* :class:`InputSnapshot` is the file's size, modification time and SHA-256 when the run opened it;
  :meth:`InputSnapshot.changed` tells whether the file on disk is still that file -- checked before
  the first request (a change: exit 2, nothing sent) and after the last (a change: exit 3, results
  written);
* :func:`refuse_bulkprov_output` refuses a workbook bulkprov wrote (results, undo, plan) as a roster:
  its Failures sheet, say, holds only the rows that failed, and a sync of it would remove everyone else.

Writing the export to a temporary name and renaming it when complete (atomic on one file system)
is what makes the first point certain; the README's nightly section shows how.
"""

from __future__ import annotations

import logging
import os
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bulkprov.errors import FileChanged, NotARoster
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.guard import file_sha256

log = logging.getLogger("bulkprov")

SETTLE_LIMIT = 6  # wait at most this many settle times for a file that keeps changing


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # the loader says what is wrong with a missing or unreadable file
    return st.st_size, st.st_mtime_ns


def wait_until_settled(path: Path, settle: float, *, clock: Callable[[], float] = time.monotonic,
                       wall: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once ``path`` has not changed for ``settle`` seconds (at once when its last change is
    older than that); raise ``file-changed`` when it is still changing after ``SETTLE_LIMIT`` × settle.

    Both the file's own modification time and what we observe count: a file written on a machine
    whose clock is ahead still settles after ``settle`` seconds of watching it unchanged."""
    if settle <= 0:
        return
    seen = _signature(path)
    if seen is None or wall() - seen[1] / 1e9 >= settle:
        return
    log.info(_("waiting until %s has not changed for %s s (it changed %.1f s ago)"), path.name, f"{settle:g}",
             max(0.0, wall() - seen[1] / 1e9))
    start = clock()
    stable_since = start
    step = min(0.5, settle / 5)
    while True:
        now = clock()
        if now - stable_since >= settle:
            return
        if now - start >= SETTLE_LIMIT * settle:
            raise FileChanged("still-written", path=path, seconds=f"{now - start:.0f}")
        sleep(step)
        current = _signature(path)
        if current != seen:
            seen, stable_since = current, clock()
        elif current is not None and wall() - current[1] / 1e9 >= settle:
            return


@dataclass(frozen=True)
class InputSnapshot:
    """The input file as the run read it: size and modification time (taken before hashing, so a write
    during the hash shows), SHA-256."""

    size: int
    mtime_ns: int
    sha256: str

    def changed(self, path: Path) -> bool:
        """Is the file on disk no longer the one read?  Another size is a change at once; otherwise the
        hash decides (a rewrite within the same mtime tick is caught, a ``touch`` of the same bytes is
        not a change).  A file moved away meanwhile says nothing about what was read: not a change."""
        now = _signature(path)
        if now is None:
            return False
        if now[0] != self.size:
            return True
        try:
            return file_sha256(path) != self.sha256
        except OSError:
            return False


def signature(path: Path) -> tuple[int, int] | None:
    """Size and mtime (ns) of ``path`` now, None when it cannot be read."""
    return _signature(path)


# -- a workbook bulkprov wrote is not a roster ---------------------------------------------------------

_SHEET_NAME = re.compile(r'<sheet\b[^>]*\bname="([^"]*)"')


def _sheet_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as book:
            head = book.read("xl/workbook.xml")[:65536].decode("utf-8", "replace")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        return []
    return _SHEET_NAME.findall(head)


def output_kind(path: Path) -> str | None:
    """``results``, ``undo`` or ``plan`` when ``path`` is a workbook (or result CSV) bulkprov wrote."""
    from bulkprov.outputs.results import RESULT_COLUMNS

    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                first = fh.readline(4096).strip()
        except OSError:
            return None
        return "results" if first == ",".join(RESULT_COLUMNS) else None
    if suffix not in (".xlsx", ".xlsm"):
        return None
    names = _sheet_names(path)
    if names[:1] == ["Summary"] and {"Results", "Failures"} <= set(names):
        return "results"
    if names == ["Users", "About"]:
        return "undo"
    if names[:1] == ["Summary"] and {"Add", "Update", "Remove"} <= set(names):
        return "plan"
    return None


def refuse_bulkprov_output(path: Path) -> None:
    """A roster is the HR export, never a file bulkprov wrote (exit 2, nothing read or sent)."""
    kind = output_kind(path)
    if kind == "results":
        raise NotARoster("results", path=path)
    if kind == "undo":
        raise NotARoster("undo", path=path)
    if kind == "plan":
        raise NotARoster("plan", path=path)
