"""``bulkprov directory`` and ``template --from-account``: the account's roles, bots and groups, read and kept.

Both read through one :class:`~bulkprov.directory.account.AccountDirectory` with the run's rate budget
(shared with earlier runs through the ledger of the state directory, as export's is) and keep what they
read in the state directory for the runs after them.  ``directory`` always reads the account (it is the
command that shows it as it is); ``template --from-account`` takes the kept copy while it is younger
than ``directory_max_age_hours``, unless asked to read it again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.directory.account import AccountDirectory, Budget, gap_lines, listing_name
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import check_new, check_writable
from bulkprov.jobs.export import _budget as rate_budget
from bulkprov.jobs.names import app_of
from bulkprov.jobs.settings import JobSettings
from bulkprov.kore import KoreClient
from bulkprov.kore.directory import Directory, ListingRead
from bulkprov.outputs.directory import directory_format, write_directory

log = logging.getLogger("bulkprov.directory")


@dataclass
class DirectoryOutcome:
    path: Path | None
    directory: Directory
    source: str                      # "read" (this run) or "kept" (the state directory's copy)
    requests: int
    gaps: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when a listing was not read whole (the file says what is missing); an admin role without an id is
        the API's limit, said but not a failure."""
        return 0 if self.directory.complete else 1


def read_account_directory(settings: JobSettings, credentials: Any, *, refresh: bool) -> DirectoryOutcome:
    """The account's directory (synchronously): kept while young unless ``refresh``, else read and kept."""
    return asyncio.run(_read(settings, credentials, refresh=refresh))


async def _read(settings: JobSettings, credentials: Any, *, refresh: bool) -> DirectoryOutcome:
    with rate_budget(settings) as limiter:
        async with KoreClient(settings.host or "", credentials, timeout=settings.timeout,
                              concurrency_hint=settings.concurrency) as client:
            budget = Budget(limiter, settings.max_attempts, settings.rate_wait_cap)
            account = AccountDirectory(client, budget, app=app_of(settings, credentials), state_dir=settings.state_dir,
                                       max_age_hours=settings.directory_max_age_hours, refresh=refresh,
                                       progress=_listed)
            directory = await account.get()
    return DirectoryOutcome(None, directory, account.source, budget.requests, gap_lines(directory))


def write_account_directory(settings: JobSettings, credentials: Any) -> DirectoryOutcome:
    """``bulkprov directory``: read the account's directory now, keep it, write it to ``settings.output``."""
    path = Path(settings.output or "account-directory.xlsx")
    directory_format(path)  # a name in no format is refused before anything is read
    if settings.output:
        check_new(path, replace=settings.replace_output)
    check_writable(path)
    outcome = read_account_directory(settings, credentials, refresh=True)
    outcome.path = write_directory(path, outcome.directory, outcome.gaps)
    log.info(_("directory: %d roles, %d bots, %d groups, %d requests: %s"), len(outcome.directory.roles),
             len(outcome.directory.bots), len(outcome.directory.groups), outcome.requests, path)
    return outcome


def _listed(read: ListingRead) -> None:
    log.info(_("the account's %s: %d read in %d requests (the account says %s)"), listing_name(read.name),
             len(read.entries), read.requests, read.total if read.total is not None else "?")
