"""Before the first request: is there room to record the run and write its results?

A run that cannot record what it sends must not send: the state directory and the result file's
folder are checked for writability and free space before anything leaves (exit 2, nothing sent).
The estimate is generous on purpose (about 1 KB of ledger per row still to record and 0.5 KB of results
per row of the run, plus one margin per disk); a disk that fills up anyway during the run stops it
cleanly (exit 3, see the dispatcher).  A resumed run records only the rows its interrupted run left: it
needs room for those, not for the whole run again (the disk just filled up; the user freed what they could).
"""

from __future__ import annotations

import os
from pathlib import Path

from bulkprov.errors import OutputUnwritable, StateDirUnusable
from bulkprov.state.ledger import private_dir
from bulkprov.units import human_size

LEDGER_BYTES_PER_ROW = 1024
RESULT_BYTES_PER_ROW = 512
MARGIN = 1 << 20


def _free(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    return stats.f_bavail * stats.f_frsize


def check_room(state_dir: Path, results: Path, rows: int, *, to_record: int | None = None) -> None:
    """Refuse to start when the state directory or the results' folder is clearly too small.

    ``rows``: the run's rows (the result file holds them all); ``to_record``: the rows the ledger has yet
    to record (all of them, unless a run is resumed)."""
    try:
        private_dir(state_dir)
        probe = state_dir / ".bulkprov-write-test"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise StateDirUnusable(state_dir=str(state_dir), reason=exc.strerror or str(exc)) from None
    same_disk = os.stat(state_dir).st_dev == os.stat(_existing(results.parent)).st_dev
    ledger_need = (rows if to_record is None else to_record) * LEDGER_BYTES_PER_ROW + MARGIN
    result_need = rows * RESULT_BYTES_PER_ROW + MARGIN
    need = ledger_need + (result_need - MARGIN if same_disk else 0)  # one margin for one disk
    free = _free(state_dir)
    if free < need:
        raise StateDirUnusable("space", state_dir=str(state_dir), free=human_size(free), rows=rows,
                               needed=human_size(need))
    if not same_disk:
        free = _free(results.parent)
        if free < result_need:
            raise OutputUnwritable("space", target=str(results), free=human_size(free), needed=human_size(result_need))


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
