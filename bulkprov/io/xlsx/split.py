"""A big narrow xlsx sheet handed to calamine in pieces while our own pass is still reading it.

python-calamine parses a sheet in one call that lets go of the GIL but hands over no row before
the last is parsed; on the 100k-row bench file that call was half of ``validate``, and everything
after it waited.  Our pass over the sheet's XML (:func:`bulkprov.io.xlsx.scan.scan_sheet`) inflates
and checks it part by part anyway, so it feeds a :class:`PieceCutter`: once the parts so far are
verified narrow (every cell plainly in columns A-Z, rows below 1,000,000 -- what bounds calamine's
grid), they are cut after a ``</row>``, wrapped in a small stored workbook (in memory) with the
original's workbook, styles and shared strings, and parsed in a thread.  So calamine parses while
our pass reads on, and each piece's rows are read while the next is parsed (:class:`PieceSheet`).

Safety first: a part that is not narrow, or has CDATA, a comment or a processing instruction in
its cells (where ``</row>`` could be text), stops the cutting and the sheet is parsed whole, as is a
sheet whose pieces calamine refuses (the whole parse then says why).  Row numbers stay Excel's:
every cell carries its reference, so a piece's rows sit where they sat in the whole sheet.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import typing
import weakref
import zipfile
from collections.abc import Sequence

from bulkprov.io.shared.base import LoaderLimits
from bulkprov.io.xlsx.scan import NARROW_COLUMNS, NARROW_ROWS

FIRST_PIECE_BYTES = 2 << 20
"""The first piece is small, so that calamine starts early."""
MAX_PIECE_BYTES = 16 << 20
"""Pieces double up to this size: fewer workbooks to open, while the parse stays ahead."""
CUT_MIN_BYTES = 8 << 20
"""A sheet of less XML than this is parsed whole, overlapped with our pass (see ``load_sheet``)."""
COPIED_MAX_BYTES = 1 << 20
"""Other parts of the workbook go into each piece's workbook when smaller than this (or needed)."""
WAITING_MAX_BYTES = 128 << 20
"""Pieces waiting for calamine hold at most this much XML: our pass is faster than calamine, and
on a huge sheet it waits rather than hold the sheet twice."""
STRINGS_SHARE_MAX = 0.25
"""Each piece's workbook parses the shared strings again: a sheet whose shared strings are bigger
than this share of its XML is parsed whole (measured: the extra parses eat the overlap)."""

_MARKUP_OPENERS = (b"!", b"?")  # <![CDATA[, <!-- and <? -- looked for by their rare second byte (memchr)
_OPENERS_LOOKED_AT = 10_000
_SHEET_DATA, _SHEET_DATA_END, _ROW_END = b"<sheetData>", b"</sheetData>", b"</row>"
_TAIL = b"</sheetData></worksheet>"  # what follows sheetData holds no values
_OWN_FDS = "/proc/self/fd"
_OPENED_ANYWAY = ("sharedstrings.xml", "styles.xml", "workbook.xml")  # read by calamine at open


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def worth_cutting(zf: zipfile.ZipFile, member: str, limits: LoaderLimits) -> bool:
    """Whether the sheet is big enough to parse in pieces, its shared strings small enough to parse
    once per piece, there is a core to parse them on, and the limits are no tighter than narrowness
    guarantees (a sheet in pieces has no end before its last piece is parsed, so a tighter limit
    could not be checked before its rows are read)."""
    size = zf.getinfo(member).file_size
    return (size >= CUT_MIN_BYTES and shared_strings_size(zf) <= size * STRINGS_SHARE_MAX and cores() >= 2
            and limits.max_rows >= NARROW_ROWS and limits.max_columns >= NARROW_COLUMNS)


def shared_strings_size(zf: zipfile.ZipFile) -> int:
    return max((i.file_size for i in zf.infolist() if _named(i.filename, "sharedstrings.xml")), default=0)


class PieceCutter:
    """Takes the sheet's XML part by part as our pass reads it, and has calamine parse each piece."""

    def __init__(self, zf: zipfile.ZipFile, member: str, skip: Sequence[str], sheet: str) -> None:
        self.zf, self.member, self.skip, self.sheet = zf, member, skip, sheet
        self.head: bytes | None = None  # the XML up to and including <sheetData>
        self.buffer: list[bytes] = []
        self.size = 0
        self.others: list[tuple[str, bytes]] | None = None
        self.futures: list[concurrent.futures.Future[object]] = []
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.cutting = True
        # Every piece's workbook opens the shared strings again: with many of them, fewer pieces.
        strings = shared_strings_size(zf)
        self.waiting: list[tuple[concurrent.futures.Future[object], int]] = []
        self.target = max(FIRST_PIECE_BYTES, int(strings / STRINGS_SHARE_MAX / 2))
        self.most = max(MAX_PIECE_BYTES, self.target)

    def feed(self, part: bytes, narrow: bool) -> None:
        """The next part of the XML; ``narrow``: its cells are all plainly within A-Z, 1-999,999."""
        if not self.cutting:
            return
        if not narrow:
            return self.abandon()
        if self.head is None:
            whole = b"".join([*self.buffer, part])
            at = whole.find(_SHEET_DATA)
            if at < 0:  # the head goes on (a long <cols>, say): wait for <sheetData>
                self.buffer = [whole]
                return
            at += len(_SHEET_DATA)
            self.head, part, self.buffer = whole[:at], whole[at:], []
        # The pass cuts its parts at tag boundaries, so "<!" or "<?" never straddles two parts.
        if any(_markup_opens(part, byte) for byte in _MARKUP_OPENERS):
            return self.abandon()
        self.buffer.append(part)
        self.size += len(part)
        if self.size >= self.target:
            self._cut()

    def _cut(self) -> None:
        data = b"".join(self.buffer)
        at = data.rfind(_ROW_END)
        if at < 0:
            self.buffer = [data]
            return
        at += len(_ROW_END)
        rest = data[at:]
        self.buffer, self.size = [rest], len(rest)
        self._submit(memoryview(data)[:at])
        self.target = min(self.target * 2, self.most)

    def finish(self) -> PieceSheet | None:
        """The pieces, the last one cut at ``</sheetData>``; None: parse the sheet whole."""
        if not self.cutting or self.head is None:
            self.abandon()
            return None
        data = b"".join(self.buffer)
        self.buffer = []
        end = data.rfind(_SHEET_DATA_END)
        if end < 0:
            self.abandon()
            return None
        if data[:end].strip():
            self._submit(memoryview(data)[:end])
        if self.pool is not None:
            self.pool.shutdown(wait=False)  # the pieces are parsed in order; nobody waits for the thread
        return PieceSheet(self.futures, self.sheet) if self.futures else None

    def abandon(self) -> None:
        """Stop cutting: the sheet will be parsed whole (pieces not yet parsed never will be)."""
        self.cutting = False
        self.buffer = []
        _cancel(self.futures)
        if self.pool is not None:
            self.pool.shutdown(wait=False)

    def _submit(self, body: memoryview) -> None:
        if self.others is None:
            self.others = [(i.filename, self.zf.read(i)) for i in self.zf.infolist()
                           if i.filename != self.member and i.filename not in self.skip
                           and (i.file_size <= COPIED_MAX_BYTES or _named(i.filename, *_OPENED_ANYWAY))]
        self._wait_for_room(len(body))
        book = piece_workbook(self.others, self.member, (self.head or b"", body, _TAIL))
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bulkprov-piece")
        future = self.pool.submit(_parse, book, self.sheet)
        self.futures.append(future)
        self.waiting.append((future, len(body)))

    def _wait_for_room(self, size: int) -> None:
        """Hold our pass until the pieces waiting for calamine leave room for ``size`` more bytes."""
        self.waiting = [(f, n) for f, n in self.waiting if not f.done()]
        while self.waiting and sum(n for _, n in self.waiting) + size > WAITING_MAX_BYTES:
            self.waiting.pop(0)[0].exception()  # waits; a failure is the reader's to report


def _markup_opens(xml: bytes, byte: bytes) -> bool:
    """Whether ``<`` + ``byte`` occurs in ``xml`` (or ``byte`` too often to look at each).

    A two-byte search tests every byte (``<`` is everywhere in XML); one byte is a memchr."""
    at = xml.find(byte)
    for _ in range(_OPENERS_LOOKED_AT):
        if at < 0:
            return False
        if at > 0 and xml[at - 1] == 0x3C:  # "<"
            return True
        at = xml.find(byte, at + 1)
    return at >= 0


def piece_workbook(others: list[tuple[str, bytes]], member: str, sheet: Sequence[bytes | memoryview]) -> typing.BinaryIO:
    """A stored (not deflated) workbook of ``others`` and the sheet's XML from ``sheet``'s pieces."""
    book = _memory_file()
    try:
        with zipfile.ZipFile(book, "w", zipfile.ZIP_STORED) as out:
            for name, data in others:
                out.writestr(name, data)
            with out.open(member, "w") as xml:
                for chunk in sheet:
                    xml.write(chunk)
        book.seek(0)
    except BaseException:
        book.close()
        raise
    return book


def _named(name: str, *basenames: str) -> bool:
    """Whether a workbook part (under ``xl/``) is one of ``basenames``, in any case."""
    lower = name.lower()
    return lower.startswith("xl/") and lower.rsplit("/", 1)[-1] in basenames


def _memory_file() -> typing.BinaryIO:
    """A file in memory that calamine can open by path (Linux: ``memfd_create``, never on a disk,
    gone with the process); elsewhere a BytesIO, which calamine copies more slowly."""
    if not os.path.isdir(_OWN_FDS):
        return io.BytesIO()
    try:
        return open(os.memfd_create("bulkprov-piece", os.MFD_CLOEXEC), "w+b")  # noqa: SIM115 -- closed after its parse
    except (AttributeError, OSError):
        return io.BytesIO()


def _parse(book: typing.BinaryIO, sheet: str) -> object:
    from python_calamine import CalamineWorkbook

    try:
        if isinstance(book, io.BytesIO):
            workbook = CalamineWorkbook.from_filelike(book)
        else:  # by path: calamine reads the file itself, several times faster than through a file object
            workbook = CalamineWorkbook.from_path(f"{_OWN_FDS}/{book.fileno()}")
        try:
            return workbook.get_sheet_by_name(sheet)
        finally:
            workbook.close()
    finally:
        book.close()  # the piece is parsed: let its bytes go at once


def _cancel(futures: list[concurrent.futures.Future[object]]) -> None:
    for future in futures:
        future.cancel()


class PieceSheet:
    """The pieces of one sheet, parsed in order in one thread while the caller reads the first ones."""

    def __init__(self, futures: list[concurrent.futures.Future[object]], sheet: str) -> None:
        self.futures, self.name = futures, sheet
        weakref.finalize(self, _cancel, futures)  # dropped unread (an error before the rows): parse no more

    def cancel(self) -> None:
        """Parse no more pieces (the reader stopped early)."""
        _cancel(self.futures)

    def __len__(self) -> int:
        return len(self.futures)

    def piece(self, k: int) -> object:
        """calamine's sheet of piece ``k`` (waits for it; raises what calamine raised)."""
        return self.futures[k].result()

    def release(self, k: int) -> None:
        """Piece ``k`` is read: let its cells go."""
        done: concurrent.futures.Future[object] = concurrent.futures.Future()
        done.set_result(None)
        self.futures[k] = done

    @property
    def start(self) -> tuple[int, int] | None:
        return next((s for k in range(len(self)) if (s := getattr(self.piece(k), "start", None))), None)
