"""The directory of the account a run talks to: kept, read within the run's rate budget, refreshed once.

:class:`AccountDirectory` answers "what roles, bots and groups does this account have" for one run:

* from the state directory's copy (:mod:`bulkprov.directory.cache`) while it is younger than the
  setting ``directory_max_age_hours`` (a day by default), unless a refresh is asked for;
* else read from the account (:func:`bulkprov.kore.directory.read_directory`), every request through the
  run's :class:`~bulkprov.send.limiter.RateLimiter` and retried like any read, then kept;
* admin roles the roles reply gives without ``_id`` take their ids from the ``adminRoles`` pairs the
  account's users hold: pages of the account listing are read until every admin role is mapped, at
  most :data:`ADMIN_MAP_PAGES` of them (an admin role no user holds stays unmapped);
* **one refresh per run on an unknown name** (:meth:`AccountDirectory.lookup`): a role created this
  morning is found, and a hundred rows with the same typo cost one read, not a hundred;
* a refused scope (the app lacks Role Management) or an unreachable host is the caller's choice:
  :meth:`AccountDirectory.get` raises it (``bulkprov directory`` stops, exit 3);
  :meth:`AccountDirectory.get_or_fallback` gives None and the sentence that says names now come from
  the lookup sheets only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.check.names import NameBook, Resolution, Sheet
from bulkprov.directory import cache
from bulkprov.errors import AuthRefused, GuardStopped, RunStopped, Unreachable, warning
from bulkprov.i18n import gettext as _
from bulkprov.kore import AuthFailed, CallFailed, ServerFailed
from bulkprov.kore.auth import TOKEN_LIFETIME
from bulkprov.kore.directory import Directory, DirectoryPage, ListingRead, read_directory
from bulkprov.kore.listing import listed_as_user, pages
from bulkprov.send.limiter import RateLimiter
from bulkprov.send.retry import read_with_retry

log = logging.getLogger("bulkprov.directory")

DEFAULT_MAX_AGE_HOURS = 24.0
ADMIN_MAP_PAGES = 10  # listing pages (200 users each) read at most to map admin roles to ids
LISTING_PAGE = 200


@dataclass
class Budget:
    """How a run reads: its limiter, attempts and rate-wait cap (the same policy as every other read)."""

    limiter: RateLimiter
    max_attempts: int = 6
    rate_wait_cap: float | None = None
    requests: int = 0


@dataclass
class AccountDirectory:
    """One account's directory for one run (module docstring)."""

    client: Any
    """A :class:`~bulkprov.kore.client.KoreClient` of the account."""
    budget: Budget
    app: str = ""
    """The app (client id) the run signs in with: with the host, it names the account's kept copy."""
    state_dir: Path | None = None
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS
    refresh: bool = False
    """Read the account even when the kept copy is young (the person asked for it)."""
    progress: Callable[[ListingRead], None] | None = None
    directory: Directory | None = None
    source: str = ""
    """``kept`` (the state directory's copy) or ``read`` (from the account, this run)."""
    refreshed: bool = False
    _unavailable: str = field(default="", repr=False)

    @property
    def host(self) -> str:
        return self.client.base_url

    # -- getting it -----------------------------------------------------------------------------------------

    async def get(self) -> Directory:
        """The directory: kept while young, else read (and kept).  Raises the run code of a refusal."""
        if self.directory is not None:
            return self.directory
        if not self.refresh and self.state_dir is not None:
            kept = cache.load(self.state_dir, self.host, self.app)
            age = cache.age_seconds(kept) if kept is not None else None
            if kept is not None and age is not None and age < self.max_age_hours * 3600:
                log.info(_("the account's directory kept %s ago: %d roles, %d bots, %d groups"),
                         _hours(age), len(kept.roles), len(kept.bots), len(kept.groups))
                for gap in gap_lines(kept):
                    log.warning(gap)
                self.directory, self.source = kept, "kept"
                return kept
        return await self._read()

    async def get_or_fallback(self) -> tuple[Directory | None, str]:
        """The directory, or None and why names now come from the lookup sheets only (said once)."""
        if self._unavailable:
            return None, self._unavailable
        try:
            return await self.get(), ""
        except RunStopped as exc:
            self._unavailable = warning("directory-unavailable", said=exc.message).message
            log.warning(self._unavailable)
            return None, self._unavailable

    async def refresh_once(self) -> bool:
        """Read the account again, once per run (a name it did not know may be new); False if done already
        or the directory was read this run anyway."""
        if self.refreshed or (self.source == "read" and self.directory is not None):
            return False
        self.refreshed = True
        log.info(_("a name is not in the account's directory: reading the directory again, once"))
        await self._read()
        return True

    async def lookup(self, kind: str, text: str, *, role_type: str = "", sheets: dict[str, list[Sheet]] | None = None,
                     held: list[tuple[str, str]] | None = None) -> Resolution:
        """:meth:`NameBook.resolve` against the directory, read again once when the name is not found."""
        directory, _said = await self.get_or_fallback()
        resolution = self._book(directory, sheets, held).resolve(kind, text, role_type=role_type)
        if resolution.refreshable and directory is not None and await self.refresh_once():
            resolution = self._book(self.directory, sheets, held).resolve(kind, text, role_type=role_type)
        return resolution

    def _book(self, directory: Directory | None, sheets: dict[str, list[Sheet]] | None,
              held: list[tuple[str, str]] | None) -> NameBook:
        return NameBook(directory, sheets or {}, held or [], target=self.host)

    # -- reading it -----------------------------------------------------------------------------------------

    async def _read(self) -> Directory:
        try:
            directory = await read_directory(self, self.host, progress=self.progress)
            if directory.unmapped_admin_roles():
                await self._map_admin_roles(directory)
        except CallFailed as exc:
            raise self._stopped(exc) from None
        self.directory, self.source = directory, "read"
        for gap in gap_lines(directory):
            log.warning(gap)
        if self.state_dir is not None:
            cache.save(self.state_dir, self.host, self.app, directory)
        return directory

    async def directory_page(self, kind: str, *, limit: int, offset: int | None, role_type: str = "") -> DirectoryPage:
        """The client's call, paced and retried (``read_directory`` pages through this)."""
        return await self._retrying(lambda: self.client.directory_page(kind, limit=limit, offset=offset,
                                                                         role_type=role_type))

    async def list_users(self, *, limit: int, offset: int = 0):
        return await self._retrying(lambda: self.client.list_users(limit=limit, offset=offset))

    async def _map_admin_roles(self, directory: Directory) -> None:
        """Admin role ids from the pairs the account's users hold, page by page until all are mapped."""
        read = 0
        async for page in pages(self, page_size=LISTING_PAGE):
            read += 1
            pairs = [(str(r.get("roleId", "")), str(r.get("roleName", "")))
                     for entry in page.users for r in listed_as_user(entry)["roles"]["adminRoles"] if isinstance(r, dict)]
            if directory.learn_admin_ids(pairs):
                directory.admin_ids_from = "listing"
            if not directory.unmapped_admin_roles() or read >= ADMIN_MAP_PAGES:
                break

    async def _retrying(self, call):
        def counted() -> None:
            self.budget.requests += 1

        return await read_with_retry(call, limiter=self.budget.limiter, windows=self.budget.limiter.windows,
                                     max_attempts=self.budget.max_attempts, rate_wait_cap=self.budget.rate_wait_cap,
                                     counted=counted)

    def _stopped(self, exc: CallFailed) -> RunStopped:
        if isinstance(exc, AuthFailed):  # the listings need the Role Management scope
            return AuthRefused("directory", status=exc.status, said=exc.message, lifetime=TOKEN_LIFETIME)
        if isinstance(exc, ServerFailed) and not exc.sent:
            return Unreachable(host=self.host, said=exc.message)
        return GuardStopped("account-unreadable", reason=exc.message)


def gap_lines(directory: Directory) -> list[str]:
    """One sentence per listing that was not read whole, and per admin role without an id."""
    lines = []
    for read in directory.incomplete():
        lines.append(warning("directory-incomplete", read.gap or "short", listing=listing_name(read.name),
                             count=len(directory_entries(directory, read.name)), total=read.total or 0).message)
    unmapped = directory.unmapped_admin_roles()
    if unmapped:
        lines.append(warning("directory-incomplete", "admin-ids", count=len(unmapped),
                             names=", ".join(f"'{r.name}'" for r in unmapped)).message)
    return lines


def directory_entries(directory: Directory, listing: str) -> list:
    kind, _sep, role_type = listing.partition("/")
    return [e for e in directory.of(kind) if not role_type or e.type == role_type]


def listing_name(name: str) -> str:
    """A listing (``roles/bot``...) as a person reads it."""
    return {"roles/bot": _("bot roles"), "roles/admin": _("admin roles"), "bots": _("bots"),
            "groups": _("groups")}.get(name, name)


def _hours(seconds: float) -> str:
    from bulkprov.units import format_duration

    return format_duration(seconds)
