"""The account listing: ``GET /api/public/alluserroles?limit=&offset=`` ("Get User Roles Details").

The page documents every user of the account with ``username`` (the email), ``orgUserId``,
``userId``, ``canCreateBot``, ``isDeveloper``, bot roles (with role *and* bot names) and admin
roles, paged with ``total`` and ``availableMore``.  It is the only call that sees the whole account
(export, strays) and the one place that says which email an ``orgUserId`` belongs to when usersInfo
does not echo it.  It needs the app's *Role Management* scope, not User Management.

What the page does not say is assumed and handled: the largest ``limit`` the server honours (we
advance ``offset`` by the distinct users a page really carried, never by more than ``limit``, so a
server that caps pages lower is read completely and one that repeats entries is not skipped past),
and whether ``availableMore`` is always present (we stop on an empty page or ``offset >= total``;
on ``availableMore: false`` only when there is no ``total`` -- a page saying "no more" short of the
total is a contradiction, and the next page settles it).

**A read is complete or says it is not** (:func:`list_account`): when the distinct users read differ
from ``total``, or ``total`` changed between pages (someone added or removed a user meanwhile), the
whole listing is read again -- at most twice more -- until a read adds up or two reads agree on
``total`` and on the set of users.  :attr:`AccountListing.complete` says whether the last read adds
up; the caller decides what an incomplete account means (export exits 1 and says how many are missing).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.keys import match_key
from bulkprov.kore.errors import CallFailed, RequestRefused, ServerFailed
from bulkprov.kore.replies import _parse_json, whole_failure

log = logging.getLogger("bulkprov.listing")

DEFAULT_PAGE_SIZE = 200
MAX_PAGES = 100_000  # a server that always says "more" must not keep us paging forever
MAX_READS = 3  # a listing that does not add up is read again, at most twice more


@dataclass
class ListPage:
    """One page of the account listing."""

    status: int
    users: list[dict[str, Any]]
    total: int | None = None
    more: bool | None = None
    body: Any = None


def classify_listing(status: int, headers: Mapping[str, str] | None, text: str) -> ListPage | CallFailed:
    """One HTTP reply of ``alluserroles`` as a page, or the typed failure (as for the other calls)."""
    body, is_json = _parse_json(text)
    whole = whole_failure(status, headers, text, body, is_json)
    if whole is not None:
        return whole
    users = body.get("users") if isinstance(body, dict) else None
    if not isinstance(users, list):
        if status >= 400:
            return RequestRefused(f"HTTP {status}: " + _("the account listing was refused"), status=status)
        return ServerFailed(f"HTTP {status}: " + _("unexpected account listing reply (no users list)"),
                            status=status)
    total = body.get("total")
    more = body.get("availableMore")
    return ListPage(status, [u for u in users if isinstance(u, dict)],
                    total if isinstance(total, int) and not isinstance(total, bool) else None,
                    more if isinstance(more, bool) else None, body)


def listed_as_user(entry: dict[str, Any]) -> dict[str, Any]:
    """A listing entry in the usersInfo shape the rest of bulkprov reads (userInfo, roles, flags)."""
    info: dict[str, Any] = {"emailId": entry.get("username") or entry.get("emailId") or ""}
    for name in ("orgUserId", "userId"):
        if entry.get(name):
            info[name] = entry[name]
    user: dict[str, Any] = {"userInfo": info,
                            "roles": {"btRoles": list(entry.get("btRoles") or []),
                                      "adminRoles": list(entry.get("adminRoles") or [])}}
    for flag in ("canCreateBot", "isDeveloper"):
        if isinstance(entry.get(flag), bool):
            user[flag] = entry[flag]
    return user


@dataclass
class AccountListing:
    """Every user of the account, as the listing gave them (usersInfo-shaped)."""

    users: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    requests: int = 0
    complete: bool = True
    """The last read adds up: as many distinct users as ``total``, and ``total`` never changed while read."""
    reads: int = 1
    unsure: list[str] = field(default_factory=list)
    """Emails an earlier read held that the last one does not (removed meanwhile, or left out by it)."""

    @property
    def missing(self) -> int:
        """Users the account says it has that the read does not hold."""
        return max(0, self.total - len(self.users)) if self.total is not None else 0

    def user_of(self, email: str = "", org_user_id: str = "") -> dict[str, Any] | None:
        """The listed user with this email (else this orgUserId), or None."""
        if not hasattr(self, "_index"):
            self._index: dict[str, dict[str, Any]] = {}
            for user in self.users:
                info = user["userInfo"]
                for key in ("emailId", "orgUserId"):
                    if info.get(key):
                        self._index.setdefault(f"{key}:{match_key(str(info[key]))}", user)
        for key, value in (("emailId", email), ("orgUserId", org_user_id)):
            if value and f"{key}:{match_key(value)}" in self._index:
                return self._index[f"{key}:{match_key(value)}"]
        return None

    def email_of_org(self) -> dict[str, str]:
        """orgUserId (match key) -> the user's email, for lookups whose replies omit orgUserId."""
        out: dict[str, str] = {}
        for user in self.users:
            info = user["userInfo"]
            if info.get("orgUserId") and info.get("emailId"):
                out.setdefault(match_key(str(info["orgUserId"])), str(info["emailId"]))
        return out


def merge_user(listed: dict[str, Any], detail: dict[str, Any] | None) -> dict[str, Any]:
    """usersInfo's details, with what only the listing says (orgUserId, Builder flags, roles) filled in:
    the one merge for export, before-images and sync's view of the account."""
    if detail is None:
        return listed
    user = dict(detail)
    info = dict(detail.get("userInfo") or {})
    for name, value in listed["userInfo"].items():
        if value and not info.get(name):
            info[name] = value
    user["userInfo"] = info
    for name in ("canCreateBot", "isDeveloper"):
        if not isinstance(user.get(name), bool) and name in listed:
            user[name] = listed[name]
    roles = user.get("roles")
    if not isinstance(roles, dict) or not (roles.get("btRoles") or roles.get("adminRoles")):
        user["roles"] = listed["roles"]
    return user


Slot = Callable[[], AbstractAsyncContextManager[Any]]


async def pages(client: Any, *, page_size: int = DEFAULT_PAGE_SIZE, slot: Slot | None = None
                ) -> AsyncIterator[ListPage]:
    """Every page of the listing, in order; each request goes through ``slot`` (the rate limiter).
    ``offset`` advances by the distinct users a page held, never by more than ``page_size``."""
    offset = 0
    for _page in range(MAX_PAGES):
        async with (slot or nullcontext)():
            page = await client.list_users(limit=page_size, offset=offset)
        yield page
        distinct = len({_key(listed_as_user(entry)) for entry in page.users})
        offset += min(page_size, distinct)
        # "availableMore: false" short of the total is a contradiction: the next page says which is true
        if not page.users or (page.total is not None and offset >= page.total) or (
                page.more is False and page.total is None):
            return


def _key(user: dict[str, Any]) -> str:
    return match_key(user["userInfo"]["emailId"] or user["userInfo"].get("userId", ""))


async def _read_once(client: Any, page_size: int, slot: Slot | None,
                     progress: Callable[[int, int | None], None] | None) -> tuple[AccountListing, bool]:
    """One read of the whole listing; and whether ``total`` stayed the same on every page."""
    listing = AccountListing()
    seen: set[str] = set()
    totals: set[int] = set()
    async for page in pages(client, page_size=page_size, slot=slot):
        listing.requests += 1
        if page.total is not None:
            totals.add(page.total)
            listing.total = page.total
        for entry in page.users:
            user = listed_as_user(entry)
            key = _key(user)
            if key and key not in seen:  # a user shifted between pages, or repeated: once
                seen.add(key)
                listing.users.append(user)
        if progress is not None:
            progress(len(listing.users), listing.total)
    return listing, len(totals) <= 1


def _adds_up(listing: AccountListing, steady: bool) -> bool:
    return steady and (listing.total is None or listing.total == len(listing.users))


def _agree(a: AccountListing, b: AccountListing) -> bool:
    return a.total == b.total and {_key(u) for u in a.users} == {_key(u) for u in b.users}


async def list_account(client: Any, *, page_size: int = DEFAULT_PAGE_SIZE, slot: Slot | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> AccountListing:
    """The whole account, paged; ``progress(listed, total)`` after each page.  A read that does not add
    up is repeated (see the module docstring); the last read is returned, ``complete`` or not."""
    reads: list[AccountListing] = []
    while True:
        listing, steady = await _read_once(client, page_size, slot, progress)
        reads.append(listing)
        listing.complete = _adds_up(listing, steady)
        if listing.complete or len(reads) >= MAX_READS or (len(reads) > 1 and _agree(reads[-2], listing)):
            break
        if steady:
            log.warning(_("the account listing did not add up (%d users read, the account says %s): reading it "
                          "again"), len(listing.users), listing.total)
        else:
            log.warning(_("the account changed while its listing was read (the total of users changed): reading "
                          "it again"))
    last = reads[-1]
    last.requests = sum(r.requests for r in reads)
    last.reads = len(reads)
    held = {_key(u) for u in last.users}
    earlier = {_key(u): u["userInfo"]["emailId"] for r in reads[:-1] for u in r.users}
    last.unsure = sorted(email for key, email in earlier.items() if key not in held)
    return last
