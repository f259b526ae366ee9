"""Where each user key was first seen, for a million rows in tens of megabytes.

Duplicate detection needs, per normalised key (:func:`bulkprov.model.match_key`), the row where it
first appeared -- nothing else.  A ``dict`` of key → row costs ~100 bytes a key in Python objects
(two dicts of a million entries are ~200 MB); here a key is its 64-bit hash, kept in flat arrays:

* ``_home``: an open table of 2**22 int32 slots (16 MB once full, mapped lazily): the slot
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
from operator import itemgetter
from typing import NamedTuple

SLOT_BITS = 22  # 4 M slots: at most a quarter full for Excel's 1,048,576 rows
SMALL = 1 << 17  # keys kept in a plain dict before the flat table takes over


class NewKeys(NamedTuple):
    """A chunk's keys found new by :meth:`FirstRows.check_new`, with where they go."""

    hashes: list[int]
    slots: list[int]
    homes: tuple[int, ...]
    taken: list[int]


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
            return NewKeys(hashes, [], (), []) if self._small.keys().isdisjoint(hashes) else None
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
        hashes, slots, homes, taken = new.hashes, new.slots, new.homes, list(new.taken)
        assert self._home is not None
        self._remember(rows, hashes)
        # Each free slot goes to the first key of the chunk that lands on it; the other keys overflow.
        free = [p for p, found in enumerate(homes) if not found]
        winners = dict(zip(reversed([slots[p] for p in free]), reversed(free), strict=True))
        list(map(self._home.__setitem__, winners.keys(), map(rows.__getitem__, winners.values())))
        if len(winners) != len(free):
            chosen = set(winners.values())
            taken += [p for p in free if p not in chosen]
        self._overflow.update((hashes[p], rows[p]) for p in taken)

    def _placed(self, hashes: list[int], *, check: bool) -> NewKeys | None:
        assert self._home is not None
        slots = list(map(self._mask.__and__, hashes))
        homes = itemgetter(*slots)(self._home) if len(slots) > 1 else (self._home[slots[0]],)
        taken = [p for p, found in enumerate(homes) if found]
        hash_of, overflow = self._hash_of, self._overflow
        if check and any(hash_of[homes[p]] == hashes[p] or hashes[p] in overflow for p in taken):
            return None
        return NewKeys(hashes, slots, homes, taken)

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
            self._hash_of.frombytes(bytes(8 * max(need, 4096)))
        list(map(self._hash_of.__setitem__, rows, hashes))
