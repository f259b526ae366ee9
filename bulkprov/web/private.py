"""Private by default: the state directory is the server's alone.

Uploaded rosters, results, the ledger (every row's email) and the audit trail are HR data.  The
server runs under ``umask 077`` (every file it creates is 0600, every directory 0700), and at start
it tightens whatever in the state directory is looser — files left by an older version or created
under another umask — and logs how many it changed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("bulkprov.web")

PRIVATE_UMASK = 0o077


def make_private(state_dir: Path) -> int:
    """``umask 077`` for this process; create ``state_dir`` 0700; tighten anything looser in it.
    Returns how many paths were tightened."""
    os.umask(PRIVATE_UMASK)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = 0
    for path in [state_dir, *state_dir.rglob("*")]:
        changed += _tighten(path)
    if changed:
        log.warning("state directory %s: %d files or folders were readable by other accounts; now owner-only",
                    state_dir, changed)
    return changed


def _tighten(path: Path) -> int:
    try:
        info = path.lstat()
    except OSError:
        return 0
    if stat.S_ISLNK(info.st_mode):
        return 0  # never follow a link out of the state directory
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if not loose:
        return 0
    try:
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
    except OSError as exc:
        log.warning("cannot make %s owner-only (%s): other accounts may read it", path, exc.strerror)
        return 0
    return 1
