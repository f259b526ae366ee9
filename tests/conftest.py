"""Shared fixtures: an emulator on loopback, roster files, and reading result workbooks back."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from bulkprov.emulator import EmulatorConfig, EmulatorThread
from bulkprov.kore.auth import Credentials

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs"  # the guide's pages (mkdocs.yml); the README is the front page


def guide(page: str) -> str:
    """One page of the guide (``docs/PAGE``), as text."""
    return (GUIDE / page).read_text(encoding="utf-8")


def documented() -> str:
    """What "documented" means: the README and every page of the guide, as one text."""
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted(GUIDE.glob("*.md"))])


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


@dataclass(frozen=True)
class Program:
    """A program outside the Python environment that some tests need (``make test`` cannot install it).

    Missing, its tests skip with a reason naming the Debian package; missing while ``require`` is set in
    the environment (``.ci/run`` sets it after installing the package), they fail: CI must never pass
    with them silently skipped.  Every such need is declared here and taken through its fixture
    (``tests/test_layout.py`` fails on a test module that launches one without it).
    """

    key: str
    candidates: tuple[str, ...]  # absolute paths, or names looked up on PATH
    package: str  # the Debian package that provides it
    require: str  # the environment variable that makes its absence a failure
    enables: str  # what the tests it enables prove

    def find(self) -> str | None:
        for candidate in self.candidates:
            found = shutil.which(candidate)
            if found:
                return found
        return None


def _has_cjk_fonts() -> str | None:
    """fontconfig's first font for Korean and for Japanese, or None (screenshots show boxes without)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    for lang in ("ko", "ja"):
        listed = subprocess.run([fc_list, f":lang={lang}", "file"], capture_output=True, text=True, timeout=60)
        if not listed.stdout.strip():
            return None
    return fc_list


PROGRAMS = {
    "chromium": Program("chromium", ("/usr/bin/chromium",), "chromium", "BULKPROV_REQUIRE_BROWSER",
                        "the page driven in a real browser (tests/web/test_web_browser*.py, "
                        "tests/web/test_web_four_eyes.py)"),
    "soffice": Program("soffice", ("soffice", "libreoffice"), "libreoffice-calc-nogui", "BULKPROV_REQUIRE_LIBREOFFICE",
                       "LibreOffice reading our workbooks and showing the cells we read (tests/io/test_xlsxstream.py, "
                       "tests/io/test_fidelity.py)"),
    "cjk-fonts": Program("cjk-fonts", (), "fonts-noto-cjk", "BULKPROV_REQUIRE_CJK_FONTS",
                         "the guide's Korean and Japanese screenshots (make screenshots; tests/test_guide.py)"),
}
# Debian's chromium in a container: no sandbox, no GPU, nothing fetched from the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need(key: str) -> str:
    """The path of a needed program; skips the test when it is missing, fails when it is required."""
    program = PROGRAMS[key]
    found = _has_cjk_fonts() if key == "cjk-fonts" else program.find()
    if found:
        return found
    what = f"{key} is missing (Debian package {program.package}; it enables {program.enables})"
    if os.environ.get(program.require) == "1":
        pytest.fail(f"{program.require}=1 but {what}", pytrace=False)
    pytest.skip(f"{what}: apt-get install {program.package}")


@pytest.fixture
def chromium_path() -> str:
    """Debian's chromium, for Playwright's ``executable_path`` (no ``playwright install``)."""
    return need("chromium")


@pytest.fixture
def soffice_path() -> str:
    """LibreOffice's ``soffice``, run headless."""
    return need("soffice")


@pytest.fixture
def cjk_fonts() -> str:
    """Korean and Japanese fonts, for screenshots a person reads."""
    return need("cjk-fonts")


# The test's own places for the account's records and policy (the records fixture): kept by bare_env.
SANDBOX_VARIABLES = ("BULKPROV_RECORDS_DIR", "BULKPROV_POLICY_DIR")


def bare_env(**extra: str) -> dict[str, str]:
    """This process's environment without bulkprov's and Kore.ai's variables (a machine's own, for a process
    the test starts) -- but with the test's own records and policy places: a test must never write the
    machine's /var/lib/bulkprov or read its /etc/bulkprov/policy.d."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "BULKPROV_")) or k in SANDBOX_VARIABLES}
    env.update(extra)
    return env


MACHINE_PLACES = (Path("/var/lib/bulkprov"), Path("/etc/bulkprov"))


@pytest.fixture(autouse=True, scope="session")
def machine_places_untouched() -> Iterator[None]:
    """The suite never creates the machine's own records or policy places (a test that starts bulkprov with
    them unmoved would fill the real /var/lib/bulkprov, and a non-root run after it would fail)."""
    before = {p: p.exists() for p in MACHINE_PLACES}
    yield
    made = [str(p) for p, existed in before.items() if not existed and p.exists()]
    assert not made, f"the test suite created {made}: start bulkprov with tests.conftest.bare_env()"


@pytest.fixture(autouse=True)
def records(tmp_path_factory, monkeypatch) -> Path:
    """Each test's own records directory (audit trails, approval requests) and policy folder (absent unless a
    test writes one): the fixed places /var/lib/bulkprov and /etc/bulkprov/policy.d are moved for root, and
    for anyone on a machine where they do not exist (tests that need the fixed places skip otherwise)."""
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
