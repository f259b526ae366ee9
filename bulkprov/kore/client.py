"""The Kore.ai admin user-management API, one HTTP call at a time.

:class:`KoreClient` makes exactly one request per method call and reports exactly what happened; it
never retries, sleeps or splits batches -- that is the dispatcher's job, and it can only do it well
if every call ends in one of two precise shapes:

* :class:`~bulkprov.kore.replies.CallResult` -- the server answered about the users: a
  :class:`~bulkprov.kore.replies.UserOutcome` for every user the reply settles (users named in
  ``failedUserDetails`` failed with the server's reason; the others succeeded only in the documented
  words, :mod:`bulkprov.kore.writes`); the users it does not settle are listed in ``unconfirmed``
  (with ``unknown`` quoting a reply that is not a documented shape); failure entries that match no
  requested user are kept in ``unmatched``, never dropped.
* :class:`~bulkprov.kore.listing.ListPage` -- one page of the account listing (``alluserroles``).
* a :class:`~bulkprov.kore.errors.CallFailed` subclass -- the call as a whole failed (see
  :mod:`bulkprov.kore.errors` for the kinds and what the dispatcher does with each).

Security: ``https://`` is required except for loopback hosts (the emulator); redirects are never
followed; every request carries a fresh token; no message or log line contains a token or a
secret (anything that looks like a JWT is redacted from server messages too).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from bulkprov import __version__
from bulkprov.keys import match_key
from bulkprov.kore.auth import Credentials
from bulkprov.kore.directory import PATHS, DirectoryPage, classify_page
from bulkprov.kore.errors import CallFailed
from bulkprov.kore.hosts import is_loopback, normalize_host
from bulkprov.kore.listing import ListPage, classify_listing
from bulkprov.kore.replies import CallResult, Requested, classify, classify_exception
from bulkprov.kore.transport import AiohttpTransport, Reply, Transport

log = logging.getLogger("bulkprov.client")

USERS_PATH = "/api/public/users"
USERS_INFO_PATH = "/api/public/usersInfo"
LIST_PATH = "/api/public/alluserroles"
DEFAULT_USER_AGENT = f"bulkprov/{__version__}"


def _key_of(user: Any, *, add: bool) -> tuple[str, ...]:
    info = user.get("userInfo") if isinstance(user, dict) else None
    if not isinstance(info, dict):
        raise ValueError("each user must be an API user object with a userInfo object")
    email_id = info.get("emailId") or ""
    org_id = info.get("orgUserId") or ""
    if add:
        if not email_id:
            raise ValueError("every user to add needs userInfo.emailId")
        return (email_id,)
    if not (email_id or org_id):
        raise ValueError("every user to update needs userInfo.emailId or userInfo.orgUserId")
    return tuple(i for i in (email_id, org_id) if i)


def _check_unique(keys: Sequence[Sequence[str]]) -> None:
    """A programming error, not a user's: the validator already refuses duplicate keys."""
    if not keys:
        raise ValueError("a call needs at least one user")
    seen: set[str] = set()
    for ids in keys:
        key = match_key(ids[0])
        if key in seen:
            raise ValueError("the same user appears twice in one call")
        seen.add(key)


def _one_list(email_ids: list[str] | None, org_user_ids: list[str] | None) -> tuple[str, list[str]]:
    if bool(email_ids) == bool(org_user_ids):
        raise ValueError("pass a non-empty email_ids or org_user_ids, not both")
    return ("email", list(email_ids)) if email_ids else ("org", list(org_user_ids or []))


class KoreClient:
    """One Kore.ai account's user-management API; one method call = one HTTP request.

    ``transport`` is the seam: pass one to replace the network (tests do; see
    :class:`bulkprov.kore.transport.Transport`).
    """

    def __init__(
        self,
        host: str,
        credentials: Credentials,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        concurrency_hint: int = 8,
        transport: Transport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.base_url = normalize_host(host)
        self._credentials = credentials
        self.timeout = float(timeout)
        self._owns_transport = transport is None
        loopback = is_loopback(urlsplit(self.base_url).hostname or "")
        # headroom for usersInfo checks beside the sending workers
        self.transport: Transport = transport or AiohttpTransport(
            pool=max(1, int(concurrency_hint)) + 2, connect_timeout=connect_timeout, trust_env=not loopback)
        self._user_agent = user_agent

    def __repr__(self) -> str:
        return f"KoreClient({self.base_url!r}, {self._credentials!r})"

    async def __aenter__(self) -> KoreClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_transport:
            await self.transport.close()

    # -- the calls ------------------------------------------------------------------------

    async def add_users(self, users: list[dict], *, send_email: bool) -> CallResult:
        """``POST /api/public/users``; outcomes keyed by ``userInfo.emailId``."""
        keys = [_key_of(u, add=True) for u in users]
        _check_unique(keys)
        body = {"users": users, "sendEmail": bool(send_email)}
        return await self._call("POST", USERS_PATH, body, op="add", requested=keys)

    async def update_users(self, users: list[dict]) -> CallResult:
        """``PUT /api/public/users``; outcomes keyed by ``userInfo.emailId`` or ``orgUserId``."""
        keys = [_key_of(u, add=False) for u in users]
        _check_unique(keys)
        return await self._call("PUT", USERS_PATH, {"users": users}, op="update", requested=keys)

    async def remove_users(
        self, *, email_ids: list[str] | None = None, org_user_ids: list[str] | None = None
    ) -> CallResult:
        """``DELETE /api/public/users`` by ``deleteEmailIds`` or ``orgUserIds``."""
        kind, ids = _one_list(email_ids, org_user_ids)
        _check_unique([(i,) for i in ids])
        body = {"deleteEmailIds": ids} if kind == "email" else {"orgUserIds": ids}
        return await self._call("DELETE", USERS_PATH, body, op="remove", requested=ids, by_org=kind == "org")

    async def users_info(
        self, *, email_ids: list[str] | None = None, org_user_ids: list[str] | None = None
    ) -> CallResult:
        """``POST /api/public/usersInfo``: found -> ok with ``detail``; missing -> ``not-found``."""
        kind, ids = _one_list(email_ids, org_user_ids)
        _check_unique([(i,) for i in ids])
        body = {"emailIds": ids} if kind == "email" else {"orgUserIds": ids}
        return await self._call("POST", USERS_INFO_PATH, body, op="usersInfo", requested=ids, by_org=kind == "org")

    async def list_users(self, *, limit: int, offset: int = 0) -> ListPage:
        """``GET /api/public/alluserroles?limit=&offset=``: one page of every user of the account
        (needs the app's Role Management scope)."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        path = f"{LIST_PATH}?{urlencode({'limit': int(limit), 'offset': int(offset)})}"
        reply = await self._exchange("GET", path, None, users=int(limit))
        page = classify_listing(reply.status, reply.headers, reply.text)
        if isinstance(page, CallFailed):
            log.debug("GET %s -> HTTP %d: %s [%s]", path, reply.status, page.message, page.kind)
            raise page
        return page

    async def directory_page(self, kind: str, *, limit: int, offset: int | None = None,
                             role_type: str = "") -> DirectoryPage:
        """One page of the account's ``roles`` (of ``role_type`` bot or admin), ``bots`` or ``groups``
        (Role Management scope); the bots' app secrets are dropped as the reply is read."""
        if kind not in PATHS or limit < 1 or (offset is not None and offset < 0) or (
                kind == "roles") != bool(role_type):
            raise ValueError("a roles page needs its role_type; limit at least 1, offset at least 0")
        query: dict[str, int | str] = {"roleType": role_type} if role_type else {}
        query["limit"] = int(limit)
        if offset is not None:
            query["offset"] = int(offset)
        path = f"{PATHS[kind]}?{urlencode(query)}"
        reply = await self._exchange("GET", path, None, users=0)
        page = classify_page(kind, reply.status, reply.headers, reply.text, role_type)
        del reply  # the bots reply carries app secrets: nothing keeps it
        if isinstance(page, CallFailed):
            log.debug("GET %s -> HTTP %s: %s [%s]", path, page.status, page.message, page.kind)
            raise page
        return page

    # -- plumbing -------------------------------------------------------------------------

    async def _exchange(self, method: str, path: str, body: dict | None, *, users: int) -> Reply:
        """One request; transport exceptions become typed failures."""
        started = time.monotonic()
        data = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": self._user_agent,
                   "auth": self._credentials.token()}
        try:
            return await self.transport.exchange(method, self.base_url + path, data, headers, self.timeout)
        except Exception as exc:
            failure = classify_exception(exc, timeout=self.timeout)
            if failure is None:
                raise
            log.debug("%s %s (%d users) failed after %.2f s: %s [%s]", method, path, users,
                      time.monotonic() - started, failure.message, failure.kind)
            raise failure from exc

    async def _call(self, method: str, path: str, body: dict | None, *, op: str, requested: Requested,
                    by_org: bool = False) -> CallResult:
        started = time.monotonic()
        reply = await self._exchange(method, path, body, users=len(requested))
        outcome = classify(reply.status, reply.headers, reply.text, op=op, requested=requested, by_org=by_org)
        elapsed = time.monotonic() - started
        if isinstance(outcome, CallFailed):
            log.debug("%s %s (%d users) -> HTTP %d in %.2f s: %s [%s]", method, path, len(requested),
                      reply.status, elapsed, outcome.message, outcome.kind)
            raise outcome
        log.debug("%s %s (%d users) -> HTTP %d in %.2f s, %d refused, %d unmatched, %d unconfirmed", method,
                  path, len(requested), reply.status, elapsed, len(outcome.failures), len(outcome.unmatched),
                  len(outcome.unconfirmed))
        return outcome
