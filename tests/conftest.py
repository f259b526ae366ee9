"""Shared fixtures: an emulator on loopback, roster files, and reading result workbooks back."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from bulkprov.emulator import EmulatorConfig, EmulatorThread
from bulkprov.kore.auth import Credentials

ROOT = Path(__file__).resolve().parent.parent


class ManualClock:
    """A monotonic clock the test moves by hand (``clock.now = 2.5``); it starts at ``now``, 0.0 by
    default, like a machine that has just booted."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

# bulkprov speaks the locale's language (LC_ALL, LC_MESSAGES, LANG): the suite expects English unless a
# test asks for Korean or Japanese, whatever the machine's locale.
for _name in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


@pytest.fixture(autouse=True)
def records(tmp_path_factory, monkeypatch) -> Path:
    """Each test's own records directory (audit trails, approval requests) and policy folder (absent unless a
    test writes one): the fixed places /var/lib/bulkprov and /etc/bulkprov/policy.d are moved only for root,
    which the test machine is (tests that need it skip otherwise)."""
    folder = tmp_path_factory.mktemp("records")
    monkeypatch.setenv("BULKPROV_RECORDS_DIR", str(folder / "var"))
    monkeypatch.setenv("BULKPROV_POLICY_DIR", str(folder / "policy.d"))
    return folder / "var"


@pytest.fixture
def make_emulator() -> Iterator:
    """Start emulators in background threads; all are stopped after the test."""
    started: list[EmulatorThread] = []

    def start(**config) -> EmulatorThread:
        config.setdefault("rate_windows", [])
        emu = EmulatorThread(EmulatorConfig(**config)).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def creds() -> Credentials:
    config = EmulatorConfig()
    return Credentials(client_id=config.client_id, client_secret=config.client_secret)


def write_roster(path: Path, n: int, *, invalid: dict[int, dict[str, str]] | None = None,
                 extra: dict[int, dict[str, str]] | None = None, domain: str = "acme-corp.com") -> list[str]:
    """A CSV roster of ``n`` users; returns the emails of the rows (row i → Excel row i + 2)."""
    headers = ["Email", "First Name", "Last Name", "Department", "Employee ID"]
    emails = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers + ["groups", "roles", "canCreateBot"])
        writer.writeheader()
        for i in range(n):
            row = {"Email": f"user{i:05d}@{domain}", "First Name": f"First{i}", "Last Name": f"Last{i}",
                   "Department": ["Sales", "Support", "HR"][i % 3], "Employee ID": f"E{i:06d}"}
            row.update((extra or {}).get(i, {}))
            row.update((invalid or {}).get(i, {}))
            emails.append(row["Email"])
            writer.writerow(row)
    return emails


def read_sheet(path: Path, sheet: str) -> list[dict[str, str | None]]:
    """A sheet of a result workbook as dicts, opened with openpyxl (a second library)."""
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    headers = [str(h) for h in rows[0]]
    # read-only openpyxl sizes rows by the sheet's <dimension>; a streamed sheet has none (it is
    # optional), so trailing blank cells are padded here as Excel and LibreOffice show them.
    return [dict(zip(headers, (*r, *(None,) * (len(headers) - len(r))), strict=False)) for r in rows[1:]]


def results_by_row(path: Path) -> dict[int, dict]:
    return {int(r["row"]): r for r in read_sheet(path, "Results")}
