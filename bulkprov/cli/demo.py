"""``bulkprov demo``: the whole job end to end with no Kore.ai account.

Starts the embedded emulator on a free loopback port (seeded with the sample roles, bots and
groups, a few faults switched on, its rate windows scaled down), then runs the sample roster
through validate → add → lookup → remove with the same library calls the CLI makes, and prints
each step's summary and where its result workbook is.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from bulkprov.emulator import EmulatorConfig, EmulatorThread, demo_seed
from bulkprov.errors import N_, FileNotFound
from bulkprov.i18n import gettext as _
from bulkprov.jobs import JobSettings, run_job
from bulkprov.kore.auth import Credentials
from bulkprov.logs import configure_logging

# What each step shows, and why a non-zero exit there is expected: the sample is broken on purpose.
STEPS = [
    ("validate", "roster.xlsx", N_("The sample roster has 8 rows broken on purpose (each says what is wrong in its "
     "note column): exit 1 means 'some rows are invalid', as intended.")),
    ("add", "roster.xlsx", N_("The same 8 rows are invalid and are not sent; the 142 valid users are created, some "
     "of them 'confirmed' because the emulator drops connections on purpose. Exit 1 again because of the 8.")),
    ("lookup", "roster.xlsx", N_("Lookup checks rows differently from add: 6 of the broken rows are fine as lookups "
     "but name users that were never created (failed, not-found); 2 stay invalid. The Users sheet is an input "
     "file.")),
    ("remove", "leavers.csv", N_("The leavers file names 11 users and one who was never hired: 11 removed, 1 "
     "not-found (exit 1). The undo file beside the results brings the 11 back.")),
]

# Scaled so ~150 users finish in well under a minute while the limiter and retries still work.
DEMO_RATE = "8/1,60/10"
# The sample roster grants Builder access to 11 users, over the default guard of 10: the demo passes it on
# purpose (an override, recorded in the audit trail like any other).
BUILDERS = 11
DEMO_FAULTS = {"fail_5xx": 0.08, "commit_then_drop": 0.05, "latency": 0.02}


def sample_data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_data"


def demo_config() -> EmulatorConfig:
    config = EmulatorConfig.from_seed(demo_seed()) if hasattr(EmulatorConfig, "from_seed") else EmulatorConfig()
    config.rate_windows = [(8, 1.0), (60, 10.0)]
    for name, value in DEMO_FAULTS.items():
        setattr(config, name, value)
    config.seed = 7
    return config


def run_demo(out: Path, data: Path | None = None, stream=None) -> int:
    stream = stream or sys.stdout
    data = data or sample_data_dir()
    for needed in (data / "roster.xlsx", data / "leavers.csv"):
        if not needed.is_file():
            raise FileNotFound(path=needed)
    out.mkdir(parents=True, exist_ok=True)
    configure_logging("text", logging.WARNING)
    config = demo_config()
    # A fresh ledger per demo: the emulator starts empty each time, so nothing may be skipped.
    with EmulatorThread(config) as emu, tempfile.TemporaryDirectory(prefix="bulkprov-demo-") as state:
        faults = ", ".join(f"{name} {share:.0%}" for name, share in DEMO_FAULTS.items())
        print(_("emulator listening on {url} (faults on purpose: {faults}; rate {rate})").format(
            url=emu.url, faults=faults, rate=DEMO_RATE), file=stream)
        creds = Credentials(client_id=config.client_id, client_secret=config.client_secret)
        for command, path, expected in STEPS:
            settings = JobSettings(command=command, host=emu.url, rate=DEMO_RATE, batch_size=10, concurrency=4,
                                   timeout=5.0, output=out / f"{Path(path).stem}.{command}-results.xlsx",
                                   state_dir=Path(state), allow_builder=BUILDERS)
            source = data / path
            outcome = run_job(source, settings, credentials=None if command == "validate" else creds)
            totals = ", ".join(f"{n} {s}" for s, n in sorted(outcome.summary.status_totals().items()))
            print(f"\n{command} {source.name}: {totals} (exit {outcome.exit_code})\n  {_(expected)}\n  "
                  + _("results: {path}").format(path=outcome.results_path), file=stream)
            if outcome.exit_code in (2, 3):
                return outcome.exit_code
        users = len(emu.state()["users"])
        print(_("the emulator now holds {users} users; open the workbooks in {out}/ to see every row's outcome")
              .format(users=users, out=out), file=stream)
    return 0
