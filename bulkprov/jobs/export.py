"""``export``: every user of the account as a workbook that is itself a valid input file.

The account listing (``alluserroles``, paged) says who is there, with orgUserIds, Builder flags and
roles by name; usersInfo by email (in chunks) adds what the listing lacks (names, groups, bot
tasks).  Every request goes through one :class:`~bulkprov.send.limiter.RateLimiter` with the run's
rate budget (seeded from the ledger when a state directory is given), and is retried like a
dispatcher's batch (rate refusals honour Retry-After, 5xx and lost replies back off: both calls only
read).  The workbook's ``Users`` sheet has the template's columns with the ids, and the names beside
them in columns of their own (:mod:`bulkprov.outputs.names`); ``Roles``, ``Bots`` and ``Groups``
sheets list every name seen with its id, so HR can write names in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov import schema
from bulkprov.check.names import fold
from bulkprov.errors import AuthRefused, GuardStopped, RunStopped, Unreachable
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import AtomicFile, check_new, check_writable, new_workbook, write_sheet
from bulkprov.jobs.settings import JobSettings, ProgressFn
from bulkprov.kore import AuthFailed, CallFailed, KoreClient, ServerFailed
from bulkprov.kore.auth import TOKEN_LIFETIME
from bulkprov.kore.directory import Directory, read_directory
from bulkprov.kore.listing import DEFAULT_PAGE_SIZE, AccountListing, list_account, listed_as_user, merge_user
from bulkprov.model import match_key
from bulkprov.outputs.names import EXPORT_HEADERS, Names, export_cells
from bulkprov.send.batches import estimate_seconds
from bulkprov.send.limiter import RateLimiter, format_rate, parse_rate
from bulkprov.send.retry import read_with_retry
from bulkprov.units import format_duration

log = logging.getLogger("bulkprov.export")

INFO_CHUNK = 100


@dataclass
class ExportOutcome:
    path: Path
    users: int
    requests: int
    warnings: list[str] = field(default_factory=list)
    missing: int = 0                                            # users the account says it has, not read
    without_details: list[str] = field(default_factory=list)    # emails usersInfo gave no details for

    @property
    def exit_code(self) -> int:
        """1 when the export holds fewer users than the account says, or users without details."""
        return 1 if self.missing or self.without_details else 0


def default_export_path(host: str | None, when: dt.datetime) -> Path:
    return Path(f"account-export-{when:%Y%m%d-%H%M%S}.xlsx")


def export_account(settings: JobSettings, credentials: Any, progress: ProgressFn | None = None) -> ExportOutcome:
    """Write every user of the account to ``settings.output`` (synchronously)."""
    return asyncio.run(export_account_async(settings, credentials, progress))


async def export_account_async(settings: JobSettings, credentials: Any,
                               progress: ProgressFn | None = None) -> ExportOutcome:
    path = Path(settings.output or default_export_path(settings.host, dt.datetime.now()))
    if settings.output:
        check_new(path, replace=settings.replace_output)
    check_writable(path)
    with _budget(settings) as limiter:
        async with KoreClient(settings.host or "", credentials, timeout=settings.timeout,
                              concurrency_hint=settings.concurrency) as client:
            reader = _Reader(client, limiter, settings, progress)
            users = await reader.read()
            directory = await reader.directory(credentials)
    gaps = Gaps(reader.listing, reader.without_details)
    names = Names([*reader.listed, *users])
    if directory is not None:
        names.add_directory(directory)
    write_export(path, users, settings.host or "", reader.requests, names=names, gaps=gaps)
    log.info(_("export: %d users, %d requests: %s"), len(users), reader.requests, path)
    return ExportOutcome(path, len(users), reader.requests, gaps.lines(), gaps.missing, reader.without_details)


@dataclass
class Gaps:
    """What an export could not read: users the listing did not give, users usersInfo did not detail."""

    listing: AccountListing | None = None
    without_details: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.listing.missing if self.listing is not None else 0

    def lines(self) -> list[str]:
        """One line per gap, for the console and the About sheet (empty for a complete export)."""
        out = []
        if self.listing is not None and self.missing:
            out.append(_("the export is incomplete: the account says it has {total} users and {count} could be "
                         "read ({missing} missing) after {reads} reads of the listing").format(
                total=self.listing.total, count=len(self.listing.users), missing=self.missing,
                reads=self.listing.reads))
        if self.listing is not None and self.listing.unsure:
            out.append(_("{count} users were in an earlier read of the listing but not in the last (removed "
                         "meanwhile, or left out): {emails}").format(count=len(self.listing.unsure),
                                                                     emails=_some(self.listing.unsure)))
        if self.without_details:
            out.append(_("{count} users have no details (usersInfo did not return them: their names, groups and bot "
                         "tasks are blank in the Users sheet; do not use this file as a roster before exporting "
                         "again): {emails}").format(count=len(self.without_details),
                                                    emails=_some(self.without_details)))
        return out


def _some(emails: list[str], limit: int = 10) -> str:
    shown = ", ".join(emails[:limit])
    return shown if len(emails) <= limit else _("{shown} and {more} more").format(shown=shown,
                                                                                 more=len(emails) - limit)


@contextlib.contextmanager
def _budget(settings: JobSettings) -> Iterator[RateLimiter]:
    """The run's rate budget; shared with earlier runs through the ledger when a state directory is given."""
    if settings.state_dir is None or not settings.use_ledger:
        yield RateLimiter(parse_rate(settings.rate))
        return
    from bulkprov.jobs.runs import shared_budget
    from bulkprov.state.ledger import Ledger

    with contextlib.closing(Ledger(settings.state_dir)) as ledger, shared_budget(ledger, settings) as limiter:
        yield limiter


class _Reader:
    """Reads the account: listing pages, then usersInfo by email; every request retried and paced."""

    def __init__(self, client: KoreClient, limiter: RateLimiter, settings: JobSettings,
                 progress: ProgressFn | None) -> None:
        self.client, self.limiter, self.settings, self.progress = client, limiter, settings, progress
        self.requests = 0
        self.listed: list[dict[str, Any]] = []  # as the listing gave them (it names roles and bots)
        self.listing: AccountListing | None = None
        self.without_details: list[str] = []
        self._planned = False

    async def read(self) -> list[dict[str, Any]]:
        try:
            listing = await list_account(self, page_size=DEFAULT_PAGE_SIZE, progress=self._listed)
        except CallFailed as exc:
            raise self._stopped(exc, listing=True) from None
        self.listing, self.listed = listing, listing.users
        try:
            details = await self._details([u["userInfo"]["emailId"] for u in listing.users])
        except CallFailed as exc:
            raise self._stopped(exc, listing=False) from None
        self.without_details = [u["userInfo"]["emailId"] for u in listing.users
                                if match_key(u["userInfo"]["emailId"]) not in details]
        return [merge_user(u, details.get(match_key(u["userInfo"]["emailId"]))) for u in listing.users]

    async def directory(self, credentials: Any) -> Directory | None:
        """The account's roles, bots and groups (the same scope as the listing), admin roles mapped from the pairs
        its users hold, and kept in the state directory; None (said once) when they cannot be read -- the export
        then names what its users hold, and writes ids for names it cannot vouch for."""
        try:
            directory = await read_directory(self, self.client.base_url)
        except CallFailed as exc:
            log.warning(_("the account's roles, bots and groups could not be read (%s): the export names only what "
                          "its users hold"), exc.message)
            return None
        directory.learn_admin_ids((str(r.get("roleId", "")), str(r.get("roleName", "")))
                                  for user in self.listed for r in listed_as_user(user)["roles"]["adminRoles"]
                                  if isinstance(r, dict))
        if self.settings.state_dir is not None:
            from bulkprov.directory import cache
            from bulkprov.jobs.names import app_of

            cache.save(self.settings.state_dir, self.client.base_url, app_of(self.settings, credentials), directory)
        return directory

    async def directory_page(self, kind: str, *, limit: int, offset: int | None, role_type: str = ""):
        """The client's call, paced and retried (``read_directory`` pages through this)."""
        return await self._retrying(lambda: self.client.directory_page(kind, limit=limit, offset=offset,
                                                                         role_type=role_type))

    async def list_users(self, *, limit: int, offset: int = 0):
        """The client's call, paced and retried (``list_account`` pages through this)."""
        return await self._retrying(lambda: self.client.list_users(limit=limit, offset=offset))

    def _stopped(self, exc: CallFailed, *, listing: bool) -> RunStopped:
        if isinstance(exc, AuthFailed) and listing:  # the listing needs a scope of its own
            return AuthRefused("listing", status=exc.status, said=exc.message, lifetime=TOKEN_LIFETIME)
        if isinstance(exc, AuthFailed):
            return AuthRefused(status=exc.status, said=exc.message, lifetime=TOKEN_LIFETIME)
        if isinstance(exc, ServerFailed) and not exc.sent:
            return Unreachable(host=self.client.base_url, said=exc.message)
        return GuardStopped("account-unreadable", reason=exc.message)

    def _listed(self, count: int, total: int | None) -> None:
        if total is not None and not self._planned:
            self._planned = True
            windows = parse_rate(self.settings.rate)
            requests = -(-total // DEFAULT_PAGE_SIZE) + -(-total // INFO_CHUNK)
            log.info(_("plan: %s users in about %d requests ≈ %s at %s"), f"{total:,}", requests,
                     format_duration(estimate_seconds(requests, windows)), format_rate(windows))
        log.info(_("listed %s of %s users"), f"{count:,}", f"{total:,}" if total is not None else "?")

    async def _details(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        chunks = [emails[i:i + INFO_CHUNK] for i in range(0, len(emails), INFO_CHUNK)]
        found: dict[str, dict[str, Any]] = {}
        done = 0
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(chunk: list[str]) -> None:
            nonlocal done
            async with gate:
                info = await self._retrying(lambda: self.client.users_info(email_ids=chunk))
            for key, outcome in info.outcomes.items():
                if outcome.ok and outcome.detail is not None:
                    found[key] = outcome.detail
            done += len(chunk)
            self._report(done, len(emails))

        await asyncio.gather(*(one(c) for c in chunks))
        self._report(len(emails), len(emails), final=True)
        return found

    async def _retrying(self, call):
        """One read, paced and retried by the shared policy (a read is safe to repeat)."""
        def counted() -> None:
            self.requests += 1

        return await read_with_retry(call, limiter=self.limiter, windows=self.limiter.windows,
                                     max_attempts=self.settings.max_attempts,
                                     rate_wait_cap=getattr(self.settings, "rate_wait_cap", None), counted=counted)

    def _report(self, done: int, total: int, final: bool = False) -> None:
        if self.progress is not None:
            self.progress({"done": done, "failed": 0, "total": total, "elapsed": 0.0, "eta": None,
                           "requests": self.requests, "final": final})


def write_export(path: Path, users: list[dict[str, Any]], host: str, requests: int,
                 names: Names | None = None, gaps: Gaps | None = None) -> Path:
    """The export workbook: Users (an input file), Roles/Bots/Groups (name -> id), About; and
    ``Incomplete`` naming the users it could not read whole, when there are any."""
    names = names or Names(users)
    gaps = gaps or Gaps()
    rows = []
    for user in users:
        cells = export_cells(user, names)
        rows.append([cells.get(h, "") for h in EXPORT_HEADERS])
    target = AtomicFile(path)
    wb = new_workbook(target.temp)
    try:
        write_sheet(wb, "Users", list(EXPORT_HEADERS), rows)
        for sheet, kind, id_col in (("Roles", "role", "roleId"), ("Bots", "bot", "botId"), ("Groups", "group", "groupId")):
            # every name the account gives one id, stamped with its host: a run on another host never takes its ids
            write_sheet(wb, sheet, ["name", id_col, "host"], [[name, ident, host] for ident, name in sorted(
                names.table(kind).items(), key=lambda item: item[1].casefold()) if fold(name) not in names.twins[kind]])
        not_carried = never_carried(users)
        about = [["host", host, _("the account these users, names and ids are of")],
                 ["exported", dt.datetime.now().astimezone().isoformat(timespec="seconds"), _("when")],
                 ["users", str(len(users)), _("users exported")], ["requests", str(requests), _("requests made")],
                 ["not-carried", ", ".join(not_carried),
                  _("fields no reply of the account carried: blank for every user here, and not carried to another "
                    "account")]]
        if gaps.listing is not None and gaps.listing.total is not None:
            about.append(["total", str(gaps.listing.total), _("users the account says it has")])
        about += [["", line, ""] for line in gaps.lines()]
        about.append(["", _("The Users sheet is an input file: role, bot and group names in roles, groups and "
                                "botTasks (an id where the account holds a name twice), their ids beside them. Added "
                                "to another account, the names are looked up there; the ids are this account's."), ""])
        write_sheet(wb, "About", ["item", "value", _("what it is")], about, width=40)
        without = set(gaps.without_details)
        incomplete = ([[email, "", _("in an earlier read of the listing, not in the last")]
                       for email in (gaps.listing.unsure if gaps.listing is not None else [])]
                      + [[u["userInfo"]["emailId"], u["userInfo"].get("orgUserId", ""),
                          _("usersInfo did not return its details: names, groups and bot tasks are blank")]
                         for u in users if u["userInfo"]["emailId"] in without])
        if incomplete:
            write_sheet(wb, "Incomplete", ["emailId", "orgUserId", _("what is missing")], incomplete, width=40)
        wb.close()
    except BaseException:
        target.discard()
        raise
    target.commit()
    return path


def never_carried(users: list[dict[str, Any]]) -> list[str]:
    """The userInfo fields no user's reply held at all (the documented usersInfo gives names and the email only):
    an export cannot carry them, so a migration says so."""
    held = {name for user in users for name in (user.get("userInfo") or {})}
    return [name for name in schema.USER_INFO_FIELDS if name not in held and name != "emailId"]


__all__ = ["ExportOutcome", "RunStopped", "export_account", "export_account_async", "write_export"]
