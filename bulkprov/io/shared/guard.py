"""The guard every read of an input file goes through: damaged data becomes ``corrupt-file``.

A damaged workbook can make any of our own passes fail in its own way: a zip directory whose
offsets point outside the file (``OSError: Invalid argument``), a member whose deflate stream is
broken (``zlib.error``), a version field no zip reader knows (``NotImplementedError``), truncated
XML (``ExpatError``), an OLE2 sector chain that loops (``ValueError``).  :func:`damaged` turns every
such *data* error into one :class:`~bulkprov.errors.CorruptFile` naming the file and the part, so a
user sees one line and exit 2, never a traceback.  *Program* errors (``TypeError``,
``AttributeError``, ``NameError``...) are not data errors and are left alone: a bug must surface as
a bug, not hide behind "your file is damaged".

:func:`open_regular` is the one way io opens an input file: without blocking (a FIFO swapped in for
the file after :func:`~bulkprov.io.shared.sniff.identify` checked it must not hang the run) and refusing
anything that is not a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import struct
import xml.etree.ElementTree as ET
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bulkprov.errors import BulkprovError, CorruptFile, FileNotFound
from bulkprov.i18n import gettext as _

# What reading damaged data raises (ValueError covers UnicodeDecodeError; OSError a seek outside the file).
DATA_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
    IndexError, struct.error, NotImplementedError, RuntimeError, OverflowError, ET.ParseError,
    xml.parsers.expat.ExpatError, RecursionError,
)


def reason_of(exc: BaseException) -> str:
    """The first line of an exception's text, short enough for a one-line message."""
    if isinstance(exc, OSError) and exc.errno == errno.EINVAL:
        return _("an offset points outside the file")  # a seek to where a damaged directory says a part is
    text = str(exc).strip()
    if isinstance(exc, KeyError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text.splitlines()[0][:120]


@contextlib.contextmanager
def damaged(path: Path, part: str, sheet: str | None = None) -> Iterator[None]:
    """Any data error inside the block is a ``corrupt-file`` naming ``sheet``, else ``part`` (a zip member).

    Our own typed errors pass through unchanged.
    """
    try:
        yield
    except BulkprovError:
        raise
    except DATA_ERRORS as exc:
        if sheet is not None:
            raise CorruptFile("damaged-sheet", path=path, sheet=sheet, reason=reason_of(exc)) from None
        raise CorruptFile("damaged-part", path=path, part=part, reason=reason_of(exc)) from None


def open_regular(path: Path) -> BinaryIO:
    """Open an input file for reading, refusing (never waiting on) anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFound("special", path=path, kind=_("not a regular file"))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_zip(path: Path, fh: BinaryIO) -> zipfile.ZipFile:
    """The zip archive in ``fh``; a directory that cannot be read is a ``corrupt-file``."""
    try:
        return zipfile.ZipFile(fh)
    except DATA_ERRORS:
        raise CorruptFile("zip", path=path) from None


class NotASmallFile(OSError):
    """A settings or secret file that is a directory, a device or a socket, or is too big to be one."""


def read_small(path: Path, limit: int = 1 << 20) -> bytes:
    """The bytes of a small settings file (config, .env, a secret), without ever hanging.

    A pipe is allowed -- ``KORE_CLIENT_SECRET_FILE=<(vault read ...)`` hands us one -- but opened
    without blocking, so a FIFO nobody writes reads as empty instead of waiting forever; a device
    (``/dev/zero``), directory or socket is refused, and so is anything over ``limit`` bytes.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        os.close(fd)
        raise NotASmallFile(errno.EINVAL, _("not a regular file"))
    with os.fdopen(fd, "rb") as fh:
        if stat.S_ISFIFO(mode) and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a writer that is there is waited for; none means EOF at once
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise NotASmallFile(errno.EFBIG, f"over {limit // 1024:,} KB")
    return data


def why_unreadable(exc: OSError) -> str:
    """Why a small file could not be read, in a few words (never its content)."""
    return exc.strerror or type(exc).__name__


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in 1 MB blocks (hashlib lets go of the GIL while it hashes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
