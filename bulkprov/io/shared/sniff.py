"""What a file is, decided by its content, never by its name (one sniffer for the loader and the page).

The first bytes decide: ``PK`` is a zip (xlsx/xlsm or ods, told apart by their members), ``D0 CF 11
E0`` an OLE2 compound file (a real .xls, or a password-protected xlsx: see :mod:`bulkprov.io.xls.ole`),
anything else is text.  A workbook with a .csv name (or a CSV with an .xlsx name) is read for what
it is, with a warning.  Only regular files are opened: a FIFO or a device would hang or never end.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import zipfile
from pathlib import Path

from bulkprov.errors import (
    N_,
    CorruptFile,
    EncryptedFile,
    FileEmpty,
    FileNotFound,
    FileTooLarge,
    FileUnreadable,
    InputWarning,
    UnsupportedFormat,
    warning,
)
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import (
    OLE_MAGIC,
    SUPPORTED,
    TEXT_EXTENSIONS,
    WORKBOOK_EXTENSIONS,
    ZIP_MAGIC,
    LoaderLimits,
    human_size,
)
from bulkprov.io.shared.guard import damaged, open_regular, open_zip

LEGACY_CODECS = ("cp949", "cp932", "gbk", "cp1252")
CONTROL_RE = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f]")
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"

_SPECIAL = ((stat.S_ISFIFO, N_("a named pipe")), (stat.S_ISCHR, N_("a character device")),
            (stat.S_ISBLK, N_("a block device")), (stat.S_ISSOCK, N_("a socket")))


def identify(path: Path, limits: LoaderLimits) -> tuple[str, bytes]:
    """("zip" | "ole" | "text", first bytes) after the existence, file-type and size checks."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise FileNotFound("folder", path=path)
        for test, kind in _SPECIAL:
            if test(mode):
                raise FileNotFound("special", path=path, kind=_(kind))
        with open_regular(path) as fh:  # never blocks: a FIFO swapped in after the check is refused
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8192)
    except FileNotFoundError:
        raise FileNotFound(path=path) from None
    except PermissionError:
        raise FileUnreadable("denied", path=path) from None
    except OSError as exc:
        raise FileUnreadable(path=path, reason=exc.strerror or str(exc)) from None
    if size == 0:
        raise FileEmpty(path=path)
    if size > limits.max_bytes:
        raise FileTooLarge(path=path, size=human_size(size), limit=human_size(limits.max_bytes))
    if head.startswith(ZIP_MAGIC):
        return "zip", head
    if head.startswith(OLE_MAGIC):
        return "ole", head
    return "text", head


def reconcile_extension(path: Path, kind: str, head: bytes, warnings: list[InputWarning]) -> str:
    """Check the content against the file name; explain misnamed or unsupported files."""
    ext = path.suffix.lower()
    if ext in TEXT_EXTENSIONS:
        if kind != "text":
            warnings.append(warning("misnamed-file", "workbook", ext=ext))
        return kind
    if ext in WORKBOOK_EXTENSIONS:
        if kind == "text":
            return _text_named_as_workbook(path, ext, head, warnings)
        return kind
    if kind == "text" or ext in (".xlsb", ".numbers"):
        raise UnsupportedFormat(path=path, supported=SUPPORTED, ext=ext or _("no extension"))
    return kind


def refuse_markup(path: Path, ext: str, head: bytes) -> None:
    """Web pages and XML exports saved under a workbook name are not workbooks."""
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if low.startswith((b"<!doctype html", b"<html", b"<table")) or b"<html" in low[:1024]:
        raise CorruptFile("html", path=path, ext=ext)
    if low.startswith(b"<?xml"):
        raise CorruptFile("xml", path=path, ext=ext)


def _text_named_as_workbook(path: Path, ext: str, head: bytes, warnings: list[InputWarning]) -> str:
    """A workbook name on non-workbook content: web pages and XML exports are refused, text is read."""
    refuse_markup(path, ext, head)
    if looks_like_text(head):
        warnings.append(warning("misnamed-file", "text", ext=ext))
        return "text"
    raise CorruptFile("not-workbook", path=path, ext=ext)


def looks_like_text(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if CONTROL_RE.search(head):
        return False
    cut = head.rfind(b"\n") + 1 or len(head)
    sample = head[:cut]
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return any(decodes(sample, codec) for codec in LEGACY_CODECS)


def decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def zip_kind(path: Path, zf: zipfile.ZipFile) -> str:
    """``xlsx`` or ``ods`` from a zip's members; typed errors for everything else."""
    with damaged(path, _("zip directory")):
        names = set(zf.namelist())
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        raise UnsupportedFormat("xlsb", path=path)
    if "content.xml" in names and "mimetype" in names:
        with damaged(path, "mimetype"):
            info = zf.getinfo("mimetype")
            mimetype = zf.read("mimetype")[:100] if info.file_size < 1024 else b""
        if b"spreadsheet" not in mimetype:
            raise CorruptFile("odf-other", path=path)
        with damaged(path, "META-INF/manifest.xml"):
            manifest = zf.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
        if b"encryption-data" in manifest:
            raise EncryptedFile("ods", path=path)
        return "ods"
    what = _("a Word document") if "word/document.xml" in names else _("a zip archive")
    raise CorruptFile("archive", path=path, what=what)


def upload_extension(path: Path) -> str:
    """The extension an upload is stored under (``xlsx``, ``xls``, ``ods`` or ``csv``), from its content.

    The same decisions the loader makes; a file the loader would refuse is refused here already.
    """
    from bulkprov.io.xls.ole import classify_ole

    kind, head = identify(path, LoaderLimits(max_bytes=1 << 62))
    if kind == "zip":
        with open_regular(path) as fh:
            with open_zip(path, fh) as zf:
                return zip_kind(path, zf)
    if kind == "ole":
        return classify_ole(path)
    refuse_markup(path, ".xlsx", head)
    if looks_like_text(head):
        return "csv"
    raise CorruptFile("upload", path=path)
