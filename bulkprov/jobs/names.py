"""The account's names for a run's checks: role, bot and group names resolved against the account written to.

The validator sits below ``directory/`` and never reads an account itself: it is handed a
:class:`~bulkprov.kore.directory.Directory` and resolves names with the pure rules of
:mod:`bulkprov.check.names`.  Reading is this module's, in two steps around the checks:

* **the first name**: ids need no directory (they are sent as written), so nothing is read until a row
  writes a name.  Such rows are noted by the validator; after each chunk of rows the target account's
  directory is taken from the state directory's copy while it is young,
  else read within the run's rate budget (:class:`~bulkprov.directory.account.AccountDirectory`), and the
  noted rows are checked again against it;
* **one refresh**: a name the directory does not know notes its row again; the directory is read again
  **once** (when the copy was an earlier run's) and the row checked again -- a role created this morning
  is found, and a hundred rows with the same typo cost one read.

With no credentials or no host (``validate`` offline) there is no directory: names come from the lookup
sheets.  When the directory cannot be read (a refused Role Management scope, an unreachable host) the
run goes on with the lookup sheets made for this account (or unstamped), says so once, and names that
only another host's sheet knows are ``directory-unavailable``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.check.validator import Validator
from bulkprov.i18n import gettext as _
from bulkprov.io import RawRow
from bulkprov.jobs.settings import JobSettings, state_dir_for
from bulkprov.kore.directory import Directory
from bulkprov.model import CheckedRow

log = logging.getLogger("bulkprov.directory")


@dataclass
class AccountNames:
    """Where a run's names come from: the target's directory (None: offline, unreadable, or not needed yet),
    read when the first row writes a name, and refreshed at most once."""

    account: Any = None
    """bulkprov.directory.account.AccountDirectory, when there is an account to ask (None: offline)."""
    directory: Directory | None = None
    source: str = "offline"
    """``offline`` (no account to ask), ``ids`` (an account, but no name written: nothing read), ``account``
    (its directory) or ``unavailable`` (it could not be read)."""
    _unavailable: str = field(default="", repr=False)  # why it could not be read, as said once

    def __post_init__(self) -> None:
        if self.account is not None:
            self.source = "ids"

    @property
    def deferred(self) -> bool:
        """The account is there to ask, and has not been asked yet."""
        return self.source == "ids"

    @property
    def said(self) -> str:
        """The one line that says where names came from (the Summary's)."""
        if self.source == "offline":
            return _("the file's lookup sheets only (no account asked)")
        if self.source == "ids":
            return _("no names written, only ids: the account's directory was not needed")
        if self.source == "unavailable":
            return self._unavailable
        directory = self.directory
        assert directory is not None
        return _("the account's directory at {host} ({roles} roles, {bots} bots, {groups} groups; {source})").format(
            host=self.account.host, roles=len(directory.roles), bots=len(directory.bots),
            groups=len(directory.groups),
            source=_("kept from an earlier run") if self.account.source == "kept" else _("read now"))

    async def load(self) -> Directory | None:
        """The directory, read (or taken from the state directory) now; None when it cannot be read."""
        if self.account is None or not self.deferred:
            return self.directory
        self.directory, self._unavailable = await self.account.get_or_fallback()
        self.source = "account" if self.directory is not None else "unavailable"
        if self.directory is not None:
            log.info(_("role, bot and group names: %s"), self.said)
        return self.directory

    async def refresh(self) -> Directory | None:
        """The directory read again, once per run; None when there is nothing to read again (offline, unreadable,
        refreshed already, or read moments ago by this run)."""
        if self.account is None or self.directory is None:
            return None
        if not await self.account.refresh_once():
            return None
        self.directory = self.account.directory
        return self.directory

    async def check_again(self, validator: Validator, rows: Iterable[RawRow]) -> dict[int, CheckedRow]:
        """The rows the validator noted, checked again (row number -> the new check): a row that wrote a name
        before the directory was read, once it is read; a name the directory did not know, after one refresh."""
        noted = [raw for raw in rows if raw.row in validator.refreshable]
        validator.refreshable.clear()
        if not noted:
            return {}
        again: dict[int, CheckedRow] = {}
        if validator.deferred:
            validator.use_directory(await self.load())
            again = {raw.row: validator.check(raw) for raw in noted}
            noted = [raw for raw in noted if raw.row in validator.refreshable]
            validator.refreshable.clear()
            if not noted:
                return again
        directory = await self.refresh()
        if directory is None:
            return again
        validator.use_directory(directory)
        again.update({raw.row: validator.check(raw) for raw in noted})
        validator.refreshable.clear()
        return again


@contextlib.asynccontextmanager
async def account_names(path: Path, settings: JobSettings, credentials: Any) -> AsyncIterator[AccountNames]:
    """The target account's names for the checks of ``path`` (module docstring): nothing is read until a row
    writes a name; the account's client stays open until the checks are done, for the one refresh."""
    if credentials is None or not settings.host:
        yield AccountNames()
        return
    from bulkprov.directory.account import AccountDirectory, Budget
    from bulkprov.kore import KoreClient

    state_dir = state_dir_for(path, settings)
    with rate_budget(settings, state_dir) as limiter:
        async with KoreClient(settings.host, credentials, timeout=settings.timeout,
                              concurrency_hint=settings.concurrency) as client:
            budget = Budget(limiter, settings.max_attempts, settings.rate_wait_cap)
            yield AccountNames(AccountDirectory(client, budget, app=app_of(settings, credentials), state_dir=state_dir,
                                                max_age_hours=settings.directory_max_age_hours,
                                                refresh=settings.refresh_directory))


@contextlib.contextmanager
def rate_budget(settings: JobSettings, state_dir: Path):
    """The run's rate budget, shared through the ledger when the state directory has one (a check alone never
    creates a ledger)."""
    from bulkprov.send.limiter import RateLimiter, parse_rate

    if not settings.use_ledger or not (state_dir / "ledger.sqlite3").is_file():
        yield RateLimiter(parse_rate(settings.rate))
        return
    from bulkprov.jobs.runs import shared_budget
    from bulkprov.state.ledger import Ledger

    with contextlib.closing(Ledger(state_dir)) as ledger, shared_budget(ledger, settings) as limiter:
        yield limiter



def app_of(settings: JobSettings, credentials: Any) -> str:
    """The app (client id) a run signs in with: with the host, it names the account's kept directory."""
    account = settings.account
    if account is not None:
        return str(account.client_id)
    return str(getattr(credentials, "app_id", None) or credentials.fingerprint())
