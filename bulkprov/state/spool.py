"""The checked rows of a sending run or a sync, on disk instead of in memory (#30: sending in constant memory).

The sending commands check the whole file before anything is sent (the one gate judges it whole), then
send it in bounded chunks; sync plans from it too (:mod:`bulkprov.sync.rows`).  Between the two, the checked rows wait here: an unnamed temporary file in the
state directory (``O_TMPFILE`` where the system has it: owner-only, and gone with the process even after
``kill -9``), written a chunk at a time and read back in the same order as often as a stage needs.  Only
each chunk's offset stays in memory.

A chunk is ``marshal``-ed tuples of plain values, not pickled objects: decoding is ~5 µs a row instead of
~17 (measured on the realistic roster; the garbage collector, not the format, was most of pickle's cost).
An invalid row's errors, which are objects, are pickled inside its tuple (few rows have any).
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from bulkprov.model import Action, CheckedRow, RowRef, UserKey
from bulkprov.state.ledger import private_dir

_ACTIONS = {a.value: a for a in Action}


class RowFields(NamedTuple):
    """What a pass that only reads a row needs of it (the approval's digest), without making its objects."""

    row: int
    action: str
    email: str
    org_user_id: str
    user: dict
    send_email: bool | None

    @property
    def key(self) -> UserKey:
        return UserKey(self.email, self.org_user_id)

    @property
    def ref(self) -> RowRef:
        return RowRef(self.row, _ACTIONS[self.action], self.key)


def _encode(row: CheckedRow) -> tuple:
    errors = pickle.dumps(row.errors, protocol=pickle.HIGHEST_PROTOCOL) if row.errors else b""
    return (row.ref.row, row.ref.action.value, row.ref.key.email, row.ref.key.org_user_id, row.user,
            row.send_email, errors, row.notes, row.names)


def _decode(item: tuple) -> CheckedRow:
    number, action, email, org, user, send_email, errors, notes, names = item
    return CheckedRow(RowRef(number, _ACTIONS[action], UserKey(email, org)), user, send_email,
                      pickle.loads(errors) if errors else [], notes, names)  # noqa: S301 - our own bytes


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Decoding a chunk makes thousands of containers at once; a collection in the middle finds nothing
    to free (they are all alive) and costs more than the decoding."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class RowSpool:
    """Checked rows in input order, appended a chunk at a time, read back as often as needed."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is not None:
            private_dir(folder)  # the state directory: owner-only, as the ledger makes it
        # TemporaryFile: mode 0600, unlinked at once (O_TMPFILE on Linux: it never has a name).
        self._file = tempfile.TemporaryFile(dir=folder, prefix=".bulkprov-rows-")  # noqa: SIM115 - closed by close()
        self._chunks: list[tuple[int, int, int]] = []  # (offset, length, rows)
        self._end = 0
        self._count = 0

    def add(self, rows: Iterable[CheckedRow]) -> None:
        """Append one chunk (rows in input order, after every row added before)."""
        items = [_encode(r) for r in rows]
        if not items:
            return
        try:
            blob = b"m" + marshal.dumps(items)
        except ValueError:  # a value marshal does not know (a str subclass...): pickle keeps it as it is
            blob = b"p" + pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(self._end)
        self._file.write(blob)
        self._chunks.append((self._end, len(blob), len(items)))
        self._end += len(blob)
        self._count += len(items)

    def __len__(self) -> int:
        return self._count

    def chunks(self) -> Iterator[list[CheckedRow]]:
        """The rows, a chunk at a time, in the order they were added."""
        for items in self._items():
            with _collector_paused():
                rows = [_decode(item) for item in items]
            yield rows

    def fields(self) -> Iterator[RowFields]:
        """The rows' plain fields, in order: three times as fast as the rows themselves, for a pass that only
        reads them."""
        for chunk in self.field_chunks():
            yield from chunk

    def field_chunks(self) -> Iterator[list[RowFields]]:
        """:meth:`fields` a chunk at a time."""
        for items in self._items():
            with _collector_paused():
                chunk = [RowFields(*item[:6]) for item in items]
            yield chunk

    @property
    def light(self) -> LightRows:
        """The rows as :class:`RowFields`, as often as they are read (the gate reads them once or twice)."""
        return LightRows(self)

    def _items(self) -> Iterator[list[tuple]]:
        if self._chunks:
            self._file.flush()
        for offset, length, _rows in self._chunks:
            self._file.seek(offset)
            blob = self._file.read(length)
            with _collector_paused():
                items = marshal.loads(blob[1:]) if blob[:1] == b"m" else pickle.loads(blob[1:])  # noqa: S301
            yield items

    def __iter__(self) -> Iterator[CheckedRow]:
        for chunk in self.chunks():
            yield from chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LightRows:
    """A spool's rows as plain fields, re-iterable and sized (:attr:`RowSpool.light`)."""

    def __init__(self, spool: RowSpool) -> None:
        self.spool = spool

    def __iter__(self) -> Iterator[RowFields]:
        return self.spool.fields()

    def __len__(self) -> int:
        return len(self.spool)
