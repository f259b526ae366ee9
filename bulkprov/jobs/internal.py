"""An internal error (a bug): still a result for every row, its traceback kept in a file, its own exit code."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from bulkprov.errors import InternalError
from bulkprov.i18n import gettext as _
from bulkprov.state.ledger import private_dir


def write_traceback(state_dir: Path, exc: BaseException) -> Path | None:
    """The details of an internal error, for the person who reports it (owner-only; no secrets:
    tokens are redacted, and tracebacks carry code lines, not variables)."""
    from bulkprov.kore.errors import redact  # lazy: validate needs no network stack

    try:
        private_dir(state_dir)
        folder = state_dir / "internal-errors"
        folder.mkdir(mode=0o700, exist_ok=True)
        import datetime as dt

        path = folder / f"{dt.datetime.now():%Y%m%d-%H%M%S-%f}.txt"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact(text))
        return path
    except OSError:
        return None


def internal_error(state_dir: Path, exc: BaseException):
    """The :class:`~bulkprov.errors.InternalError` for a bug, its traceback kept in a file."""
    details = write_traceback(state_dir, exc)
    return InternalError(kind=type(exc).__name__, details=str(details) if details else _("(no file could be written)"))
