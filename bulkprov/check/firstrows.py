"""Where each user key was first seen, for a million rows in tens of megabytes.

Duplicate detection needs, per normalised key (:func:`bulkprov.model.match_key`), the row where it
first appeared -- nothing else.  A ``dict`` of key → row costs ~100 bytes a key in Python objects
(two dicts of a million entries are ~200 MB); here a key is its 64-bit hash, kept in flat arrays:

* ``_home``: an open table of 2**23 int32 slots (32 MB once used, mapped lazily): the slot
  ``hash & mask`` holds the first row of the first key that landed there (0: empty);
* ``_hash_of``: the hash of each row's key, by row number (8 bytes a row), to tell a repeat of the
  same key from another key that landed on the same slot;
* ``_overflow``: a dict of hash → row for the keys whose slot was taken (a few percent of them).

The first :data:`SMALL` keys are kept in a plain dict (fastest); past that they move to the table.
Two keys with the same 64-bit hash would pass for one: about one chance in 30 million for a file of
a million rows.  :meth:`check_new` and :meth:`record` take a chunk of keys at C speed (``operator.itemgetter``
reads, ``map`` writes) when none of them was seen before; :meth:`first` is the one-key path.
"""

from __future__ import annotations

import mmap
from array import array
from itertools import compress
from operator import eq, itemgetter, not_
from typing import NamedTuple

SLOT_BITS = 23  # 8 M slots: at most an eighth full for Excel's 1,048,576 rows (few keys overflow)
SMALL = 1 << 18  # keys kept in a plain dict (~25 MB) before the flat table takes over


class NewKeys(NamedTuple):
    """A chunk's keys found new by :meth:`FirstRows.check_new`, with where they go."""

    hashes: list[int]
    slots: list[int]
    homes: tuple[int, ...]  # what their slots hold now (0: free)


class FirstRows:
    """Key hash → first row, compact (see the module docstring).

    The first :data:`SMALL` keys live in a plain dict (the fastest for a file of ordinary size);
    past that they move to the flat table."""

    __slots__ = ("_small", "_home", "_mask", "_hash_of", "_overflow", "_slot_bits")

    def __init__(self, slot_bits: int = SLOT_BITS) -> None:
        self._small: dict[int, int] | None = {}
        self._slot_bits = slot_bits
        self._mask = (1 << slot_bits) - 1
        self._hash_of = array("q")
        self._overflow: dict[int, int] = {}
        self._home: memoryview | None = None

    def first(self, key: str, row: int) -> int:
        """The first row of ``key``; ``row`` when it is new (and now recorded)."""
        h = hash(key)
        if self._small is not None:
            found = self._small.setdefault(h, row)
            if len(self._small) > SMALL:
                self._go_compact()
            return found
        home = self._home
        assert home is not None
        slot = h & self._mask
        found = home[slot]
        if not found:
            home[slot] = row
            self._remember([row], [h])
            return row
        if self._hash_of[found] == h:
            return found
        return self._overflow.setdefault(h, row)

    def check_new(self, keys: list[str]) -> NewKeys | None:
        """The chunk's keys (none blank) ready to :meth:`record`, when none was seen before and none
        repeats within the chunk; None otherwise.  Reads only (C speed)."""
        hashes = list(map(hash, keys))
        if len(set(hashes)) != len(hashes):
            return None
        if self._small is not None:
            return NewKeys(hashes, [], ()) if self._small.keys().isdisjoint(hashes) else None
        return self._placed(hashes, check=True)

    def record(self, new: NewKeys, rows: list[int]) -> None:
        """Record keys :meth:`check_new` found new, with their rows (increasing)."""
        if not new.hashes:
            return
        if self._small is not None:
            self._small.update(zip(new.hashes, rows, strict=True))
            if len(self._small) > SMALL:
                self._go_compact()
            return
        assert self._home is not None
        hashes, slots, homes = new.hashes, new.slots, new.homes
        self._remember(rows, hashes)
        # Keys whose slot is taken overflow; each free slot goes to the chunk's first key landing on
        # it (the dict keeps the last of the reversed pairs), and the others overflow too.
        overflow = self._overflow
        overflow.update(zip(compress(hashes, homes), compress(rows, homes), strict=True))
        empty = list(map(not_, homes))
        free_slots, free_rows = list(compress(slots, empty)), list(compress(rows, empty))
        winners = dict(zip(reversed(free_slots), reversed(free_rows), strict=True))
        list(map(self._home.__setitem__, winners.keys(), winners.values()))
        if len(winners) != len(free_slots):
            chosen = set(winners.values())
            overflow.update((h, r) for h, r in zip(compress(hashes, empty), free_rows, strict=True) if r not in chosen)

    def _placed(self, hashes: list[int], *, check: bool) -> NewKeys | None:
        assert self._home is not None
        slots = list(map(self._mask.__and__, hashes))
        homes = itemgetter(*slots)(self._home) if len(slots) > 1 else (self._home[slots[0]],)
        if check and any(homes):
            # A taken slot holds another key's first row, or this key's: compare the hashes.
            taken = list(compress(hashes, homes))
            stored = [self._hash_of[r] for r in filter(None, homes)]
            if any(map(eq, stored, taken)) or not self._overflow.keys().isdisjoint(taken):
                return None
        return NewKeys(hashes, slots, homes)

    def _go_compact(self) -> None:
        """Move the dict's keys (in row order) into the flat table."""
        small, self._small = self._small or {}, None
        # An anonymous mapping: its zero pages take no memory until a slot on them is written.
        self._home = memoryview(mmap.mmap(-1, 4 << self._slot_bits)).cast("i")
        hashes, rows = list(small.keys()), list(small.values())
        for start in range(0, len(hashes), 1 << 16):
            part = hashes[start:start + (1 << 16)]
            placed = self._placed(part, check=False)
            assert placed is not None
            self.record(placed, rows[start:start + (1 << 16)])

    def _remember(self, rows: list[int], hashes: list[int]) -> None:
        """The hash of each row's key, by row number."""
        need = rows[-1] + 1 - len(self._hash_of)
        if need > 0:
            self._hash_of.frombytes(bytes(8 * max(need, 1 << 16)))
        if rows[-1] - rows[0] + 1 == len(rows):  # no blank rows between: one slice
            self._hash_of[rows[0]:rows[-1] + 1] = array("q", hashes)
        else:
            list(map(self._hash_of.__setitem__, rows, hashes))
