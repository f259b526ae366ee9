"""The account listing: ``GET /api/public/alluserroles?limit=&offset=`` ("Get User Roles Details").

The page documents every user of the account with ``username`` (the email), ``orgUserId``,
``userId``, ``canCreateBot``, ``isDeveloper``, bot roles (with role *and* bot names) and admin
roles, paged with ``total`` and ``availableMore``.  It is the only call that sees the whole account
(export, strays) and the one place that says which email an ``orgUserId`` belongs to when usersInfo
does not echo it.  It needs the app's *Role Management* scope, not User Management.

What the page does not say is assumed and handled: the largest ``limit`` the server honours (we
advance ``offset`` by the users a page really carried, so a server that caps pages lower is read
completely), and whether ``availableMore`` is always present (we stop on ``availableMore: false``,
an empty page, or ``offset >= total``, whichever comes first).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.kore.errors import CallFailed, RequestRefused, ServerFailed
from bulkprov.kore.replies import _parse_json, whole_failure
from bulkprov.model import match_key

DEFAULT_PAGE_SIZE = 200
MAX_PAGES = 100_000  # a server that always says "more" must not keep us paging forever


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

    def email_of_org(self) -> dict[str, str]:
        """orgUserId (match key) -> the user's email, for lookups whose replies omit orgUserId."""
        out: dict[str, str] = {}
        for user in self.users:
            info = user["userInfo"]
            if info.get("orgUserId") and info.get("emailId"):
                out.setdefault(match_key(str(info["orgUserId"])), str(info["emailId"]))
        return out


Slot = Callable[[], AbstractAsyncContextManager[Any]]


async def pages(client: Any, *, page_size: int = DEFAULT_PAGE_SIZE, slot: Slot | None = None
                ) -> AsyncIterator[ListPage]:
    """Every page of the listing, in order; each request goes through ``slot`` (the rate limiter)."""
    offset = 0
    for _page in range(MAX_PAGES):
        async with (slot or nullcontext)():
            page = await client.list_users(limit=page_size, offset=offset)
        yield page
        offset += len(page.users)
        if not page.users or page.more is False or (page.total is not None and offset >= page.total):
            return


async def list_account(client: Any, *, page_size: int = DEFAULT_PAGE_SIZE, slot: Slot | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> AccountListing:
    """The whole account, paged; ``progress(listed, total)`` after each page."""
    listing = AccountListing()
    seen: set[str] = set()
    async for page in pages(client, page_size=page_size, slot=slot):
        listing.requests += 1
        listing.total = page.total if page.total is not None else listing.total
        for entry in page.users:
            user = listed_as_user(entry)
            key = match_key(user["userInfo"]["emailId"] or user["userInfo"].get("userId", ""))
            if key and key not in seen:  # a user shifted between pages by a concurrent change: once
                seen.add(key)
                listing.users.append(user)
        if progress is not None:
            progress(len(listing.users), listing.total)
    return listing
