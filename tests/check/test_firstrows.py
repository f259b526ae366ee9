"""The compact duplicate bookkeeping gives the same first rows as a plain dict, in both of its modes."""

from __future__ import annotations

import random

import pytest

from bulkprov.check import firstrows
from bulkprov.check.firstrows import FirstRows


@pytest.mark.parametrize("slot_bits", [3, 8, 22], ids=["crowded-table", "small-table", "default-table"])
def test_first_rows_match_a_dict(monkeypatch, slot_bits):
    monkeypatch.setattr(firstrows, "SMALL", 50)  # move to the flat table early, mid-file
    rng = random.Random(slot_bits)
    seen, reference, row = FirstRows(slot_bits), {}, 2
    for _ in range(400):
        keys = [f"user{rng.randint(0, 3000)}@acme.com" for _ in range(rng.randint(1, 40))]
        rows = list(range(row, row + len(keys)))
        row += len(keys)
        if rng.random() < 0.6:  # the chunk path: all new, or nothing recorded
            new = seen.check_new(keys)
            all_new = len(set(keys)) == len(keys) and not any(k in reference for k in keys)
            assert (new is not None) == all_new
            if new is not None:
                seen.record(new, rows)
                reference.update(zip(keys, rows, strict=True))
                continue
        for key, r in zip(keys, rows, strict=True):  # the one-key path
            assert seen.first(key, r) == reference.setdefault(key, r)
    assert seen._small is None, "the test reached the flat table"
    assert all(seen.first(k, 10**9) == r for k, r in reference.items())
