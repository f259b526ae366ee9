"""Strays: users of the account that the roster does not mention (the report Entra and Adobe's UST give).

With ``report_strays`` (or ``remove_strays``) plan and sync read the whole account through the
listing (``alluserroles``, paged, within the same rate budget) and list every user no roster row
names -- by email or by orgUserId, valid row or not: a row that failed validation still *mentions*
its user.  They go in the plan workbook's ``Strays`` sheet.  Only with ``remove_strays`` are they
removed, as ordinary removals of the plan: counted by the same delete guard (on a first sync the
limit is 0, so an explicit approval is needed), never a protected user, in the fingerprint an
approved plan is checked against, with their usersInfo details fetched first and merged with the
listing's (orgUserId, flags, roles) for the undo file -- a stray whose details cannot be fetched is not
removed.

Reading the listing needs the app's Role Management scope.  When it is refused, a plan that only
reports strays says so in a warning and goes on; a sync that would remove them stops with nothing
changed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bulkprov.errors import N_, OUTCOME_CODES, GuardStopped
from bulkprov.i18n import gettext as _
from bulkprov.model import NOT_ATTEMPTED_CODE, SYNTHETIC_ROW_BASE, Action, CheckedRow, match_key
from bulkprov.sync import plan as planning
from bulkprov.sync.options import SyncOptions

log = logging.getLogger("bulkprov.sync")
STRAY_NOTE = N_("not in the roster (stray)")
PROTECTED_NOTE = N_("protected user: not removed (stray)")

if TYPE_CHECKING:  # the network stack is imported where the account is read, not by a validate
    from bulkprov.kore.listing import AccountListing


@dataclass
class Account:
    """The account as listed, or why it could not be."""

    listing: AccountListing | None = None
    problem: str = ""

    @property
    def requests(self) -> int:
        return self.listing.requests if self.listing is not None else 0


def wanted(settings: SyncOptions) -> bool:
    return settings.report_strays or settings.remove_strays


async def read_account(settings: SyncOptions, credentials: Any, limiter: Any) -> Account | None:
    """The whole account when strays are asked for (None otherwise), paced by the job's limiter.
    A refused listing stops a sync that would remove strays; otherwise it is reported."""
    from bulkprov.kore import CallFailed, KoreClient
    from bulkprov.kore.listing import list_account

    if not wanted(settings):
        return None
    try:
        async with KoreClient(settings.host, credentials, timeout=settings.timeout) as client:
            return Account(await list_account(client, slot=limiter.slot if limiter is not None else None))
    except CallFailed as exc:
        if settings.remove_strays:
            raise GuardStopped("account-unreadable",
                               reason=_("the account listing: {said}").format(said=exc.message)) from None
        log.warning(_("strays not listed: %s"), exc.message)
        return Account(problem=_("the account could not be listed ({said}); listing it needs the app's Role "
                                 "Management scope").format(said=exc.message))


async def account_size(settings: SyncOptions, credentials: Any, limiter: Any) -> tuple[int, int | None]:
    """How many users the account holds (one page of one user: the listing's ``total``), and the
    requests made; None when the listing is refused or says no total (it needs the Role Management scope)."""
    from bulkprov.kore import CallFailed, KoreClient

    try:
        async with KoreClient(settings.host, credentials, timeout=settings.timeout) as client:
            async with (limiter.slot() if limiter is not None else contextlib.nullcontext()):
                page = await client.list_users(limit=1)
    except CallFailed as exc:
        log.debug(_("the account's size is not known: %s"), exc.message)
        return 1, None
    return 1, page.total


def find(rows: Iterable[Any], plan: planning.Plan, listing: AccountListing) -> list[dict[str, Any]]:
    """Listed users that no roster row (valid or not: ``rows``, their plain fields suffice) and no planned
    change mentions."""
    mentioned: set[str] = set()
    for row in itertools.chain(rows, (i.row for i in plan.items)):
        key = row.key
        mentioned.update(k for k in (key.email_id, key.org_id) if k)
    out = []
    for user in listing.users:
        info = user["userInfo"]
        keys = {match_key(str(info.get(k) or "")) for k in ("emailId", "orgUserId")} - {""}
        if keys and not keys & mentioned:
            out.append(user)
    return out


def add_to_plan(plan: planning.Plan, rows: Iterable[Any], account: Account | None, settings: SyncOptions) -> None:
    """Record the strays in the plan; with ``remove_strays`` plan their removal under the guards.  ``rows``:
    every roster row, valid or not (read only when the account was listed)."""
    if account is None:
        return
    plan.strays, plan.strays_problem = [], account.problem
    if account.listing is None:
        return
    plan.strays = find(rows, plan, account.listing)
    if not account.listing.complete:  # the report says so rather than look complete
        plan.strays_problem = _("the account listing did not add up ({count} of {total} users read after {reads} "
                                "reads): strays may be missing").format(count=len(account.listing.users),
                                                                        total=account.listing.total,
                                                                        reads=account.listing.reads)
    next_row = max([SYNTHETIC_ROW_BASE, *(i.row.row for i in plan.items)])
    for user in plan.strays if settings.remove_strays else []:
        info = user["userInfo"]
        email = str(info.get("emailId") or "")
        next_row += 1
        row = CheckedRow.make(next_row, Action.REMOVE, email, str(info.get("orgUserId") or ""))
        if planning.is_protected(email, settings.protected, row.org_user_id):  # by email or orgUserId
            plan.items.append(planning.PlanItem("unchanged", row, notes=[_(PROTECTED_NOTE)]))
            continue
        plan.current[row.key.id] = user
        plan.items.append(planning.PlanItem("remove", row, notes=[_(STRAY_NOTE)]))
    plan.guards = planning.guard_violations(plan, settings)
    plan.fingerprint = planning.fingerprint(plan)


def strays_sheet(plan: planning.Plan) -> tuple[list[str], list[list[Any]]]:
    """The plan workbook's Strays sheet: who, their access (by name), and what the sync does with them."""
    from bulkprov.outputs.names import Names, user_cells

    stray, protected = _(STRAY_NOTE), _(PROTECTED_NOTE)
    fate = {i.row.key.email_id or i.row.key.org_id: (_("removed by the sync") if i.action == "remove"
                                                     else i.held or _("protected: not removed"))
            for i in plan.items if stray in i.notes or protected in i.notes}
    names = Names(plan.strays or [])
    rows = []
    for user in plan.strays or []:
        cells = user_cells(user, names)
        key = match_key(cells["emailId"] or cells["orgUserId"])
        rows.append([cells["emailId"], cells["orgUserId"], cells["roleNames"], cells.get("canCreateBot", ""),
                     cells.get("isDeveloper", ""), fate.get(key, _("reported only"))])
    if plan.strays_problem:
        rows.append(["", "", "", "", "", plan.strays_problem])
    return ["emailId", "orgUserId", "roles", "canCreateBot", "isDeveloper", _("this sync")], rows


async def fetch_details(plan: planning.Plan, settings: SyncOptions, credentials: Any, limiter: Any) -> int:
    """usersInfo for the strays to be removed (the listing lacks names, groups, tasks), merged with
    what the listing gave (orgUserId, flags, roles): the undo file can then add them back exactly.  A
    stray whose details could not be fetched is not removed (its row says why, and the sync exits 1).
    Returns the requests made."""
    from bulkprov.kore.listing import merge_user
    from bulkprov.send.dispatcher import dispatch_rows

    items = [i for i in plan.items if i.action == "remove" and _(STRAY_NOTE) in i.notes]
    if not items:
        return 0
    rows = [CheckedRow.make(i.row.row, Action.LOOKUP, i.row.email, i.row.org_user_id) for i in items]
    report = await dispatch_rows(rows, settings, credentials, limiter=limiter)
    for item in items:
        key, user = item.row.key.id, report.users.get(item.row.row)
        if user is not None:
            plan.current[key] = merge_user(plan.current[key], user)
            continue
        result = report.results.get(item.row.row)
        said = result.reason if result is not None and result.reason else report.aborted or "?"
        log.warning(_("stray %s is not removed: its details could not be fetched (%s)"), item.row.key, said)
        item.action, item.held = "unchanged", OUTCOME_CODES[NOT_ATTEMPTED_CODE].render("stray-details", said=said)
        plan.current.pop(key, None)
    plan.guards = planning.guard_violations(plan, settings)
    plan.fingerprint = planning.fingerprint(plan)
    return report.requests
