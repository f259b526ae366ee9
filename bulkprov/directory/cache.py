"""The account's directory kept in the state directory: one file per account, owner-only, with its age.

``STATE_DIR/directory/<account>.json`` (the account: its host and app, hashed into the name) holds the
roles, bots and groups as :class:`~bulkprov.kore.directory.Directory` keeps them -- names, ids,
descriptions, member counts, how completely each listing was read, when -- and never a secret (the
bots' app credentials are dropped when the reply is read).  Written atomically (temporary file and
rename), the folder 0700 and the file 0600 whatever the umask.  A file that cannot be read, or that
belongs to another account, is as good as none: the directory is read again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from bulkprov.i18n import gettext as _
from bulkprov.kore.directory import Directory

log = logging.getLogger("bulkprov.directory")

FOLDER = "directory"
VERSION = 1


def cache_path(state_dir: Path, host: str, app: str) -> Path:
    """Where one account's directory is kept (the account: the host and the app, hashed)."""
    digest = hashlib.sha256(f"{host.casefold()}\n{app}".encode()).hexdigest()[:24]
    return Path(state_dir) / FOLDER / f"{digest}.json"


def load(state_dir: Path, host: str, app: str) -> Directory | None:
    """The kept directory of this account, or None (none kept, unreadable, or another account's)."""
    path = cache_path(state_dir, host, app)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("app") != app \
                or str(data.get("host", "")).casefold() != host.casefold():
            raise ValueError("another account's, or another version's")
        return Directory.from_json(data["directory"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(_("the kept directory of the account cannot be used (%s): it is read again"), exc)
        return None


def save(state_dir: Path, host: str, app: str, directory: Directory) -> Path:
    """Keep the directory for this account (atomically, owner-only)."""
    path = cache_path(state_dir, host, app)
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with contextlib.suppress(OSError):
        os.chmod(folder.parent, os.stat(folder.parent).st_mode & 0o700)  # the state directory holds HR data
    text = json.dumps({"version": VERSION, "host": host, "app": app, "directory": directory.as_json()},
                      ensure_ascii=False, indent=1)
    fd, temp = tempfile.mkstemp(prefix=".directory-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def age_seconds(directory: Directory, now: dt.datetime | None = None) -> float | None:
    """How old a directory is (None when it says nothing readable about when it was read)."""
    try:
        read = dt.datetime.fromisoformat(directory.read_at)
    except (TypeError, ValueError):
        return None
    if read.tzinfo is None:
        return None
    now = now or dt.datetime.now().astimezone()
    return max(0.0, (now - read).total_seconds())
