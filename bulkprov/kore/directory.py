"""The account's directory: its roles, bots and groups, read through three documented listings.

``GET /api/public/roles?roleType=bot|admin&limit=N``, ``GET /api/public/groups?offset=M&limit=N`` and
``GET /api/public/bots?offset=M&limit=N`` (Kore.ai's Get Roles, Get Groups and Get Bots pages;
``../shared/kore-docs/directory-apis.md``), each at most 50 a page, with ``total`` and
``availableMore``, and the Admin API scope Role Management.

**Secrets are dropped when a reply is read.**  The bots reply carries each bot's app credentials
(``jwtApps[].clientSecret``): :func:`classify_page` removes every credential-looking key from the
parsed body before anything else looks at it, and keeps only the few fields of each entry bulkprov
uses (:class:`Entry`), so no secret reaches a log line, an error message, the cache or a workbook.

What the pages leave open, and how it is handled (the README's API facts):

* whether ``offset`` counts records or pages (the groups page says "page number", one version of the
  bots page says page number, another the first record): the first request asks ``offset=0``, the
  second ``offset=1``.  If that second page repeats entries of the first, the server counts records,
  and later requests ask for the number of entries read so far; otherwise it counts pages.  A page
  that brings nothing new ends the read (once more in the other reading when pages were assumed);
* the roles call documents no ``offset``: more than 50 roles of one type are asked for with
  ``offset`` like the others, and a server that ignores it repeats its page, which ends the read;
* a page shorter than ``limit`` is not the end while ``total`` says more: the next page is asked;
* admin roles in the sample carry no ``_id``: they are kept by name (``Entry.id`` empty) and mapped to
  ids from the ``roleId``/``roleName`` pairs users hold (:meth:`Directory.learn_admin_ids`).

**A read is complete or says it is not** (:attr:`ListingRead.complete`): the entries read against
``total``, a repeated page, a page refused after the first.  A listing that does not add up is read
once more (someone may have created a group meanwhile).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.kore.errors import CallFailed, RequestRefused, ServerFailed
from bulkprov.kore.replies import _parse_json, whole_failure

ROLES_PATH = "/api/public/roles"
GROUPS_PATH = "/api/public/groups"
BOTS_PATH = "/api/public/bots"
PATHS = {"roles": ROLES_PATH, "groups": GROUPS_PATH, "bots": BOTS_PATH}
KINDS = ("roles", "bots", "groups")
ROLE_TYPES = ("bot", "admin")
PAGE_LIMIT = 50  # the documented maximum of every one of the three calls
MAX_PAGES = 1000  # a server that always says "more" must not keep us paging forever
MAX_READS = 2  # a listing that does not add up is read once more

# Keys whose values are credentials: removed from a reply, at any depth, before it is read.
SECRET_KEYS = frozenset(k.casefold() for k in ("jwtApps", "clientSecret", "client_secret", "secret", "secretKey",
                                                "apiKey", "api_key", "password", "token", "accessToken",
                                                "refreshToken", "privateKey", "credentials"))


def without_secrets(value: Any) -> Any:
    """``value`` with every credential-looking key removed, at any depth (a new object; lists kept)."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items()
                if not (isinstance(k, str) and k.casefold() in SECRET_KEYS)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


@dataclass(frozen=True)
class Entry:
    """One role, bot or group as bulkprov keeps it: never more than these fields."""

    id: str
    """The id Add/Update Users takes (``roleId``, ``botId``, a group id); "" for an admin role the reply
    gives without ``_id`` and no user's roles map."""
    name: str
    description: str = ""
    type: str = ""
    """Roles: ``bot`` or ``admin``; bots: their ``status`` (published...); groups: ""."""
    members: int | None = None
    """Groups: ``userCount`` (else the members listed)."""

    @property
    def key(self) -> str:
        """How two entries of one listing are told apart: the id, else (an admin role) the name."""
        return self.id.casefold() if self.id else f"{self.type}:{self.name.casefold()}"


@dataclass(frozen=True)
class DirectoryPage:
    """One page of one of the three listings, already without secrets."""

    status: int
    entries: tuple[Entry, ...]
    total: int | None = None
    more: bool | None = None
    unreadable: int = 0
    """Entries of the reply with no name (not kept: a name is what the directory is for)."""


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _entry(kind: str, item: Any, role_type: str) -> Entry | None:
    """An entry of a reply as an :class:`Entry`, or None when it names nothing."""
    if not isinstance(item, dict):
        return None
    ident = _text(item.get("_id")) or _text(item.get("id"))
    if kind == "roles":
        name = _text(item.get("role")) or _text(item.get("name"))
        kind_of = _text(item.get("roleType")).lower() or role_type
        entry = Entry(ident, name, _text(item.get("rDesc")), kind_of if kind_of in ROLE_TYPES else role_type)
    elif kind == "groups":
        users = item.get("users")
        members = _count(item.get("userCount"))
        if members is None and isinstance(users, list):
            members = len(users)
        entry = Entry(ident, _text(item.get("gN")) or _text(item.get("name")), _text(item.get("gDesc")), "", members)
    else:
        entry = Entry(ident, _text(item.get("name")), _text(item.get("description")), _text(item.get("status")))
    return entry if entry.name else None


def classify_page(kind: str, status: int, headers: Mapping[str, str] | None, text: str,
                  role_type: str = "") -> DirectoryPage | CallFailed:
    """One HTTP reply of a listing as a page, or the typed failure (as for the other calls).

    The body is parsed and its secrets removed first; messages are made from that body only."""
    body, is_json = _parse_json(text)
    if is_json:
        body = without_secrets(body)
        text = json.dumps(body, ensure_ascii=False)
    whole = whole_failure(status, headers, text, body, is_json)
    if whole is not None:
        return whole
    items = body.get(kind) if isinstance(body, dict) else None
    if not isinstance(items, list):
        if status >= 400:
            return RequestRefused(f"HTTP {status}: " + _refused(kind), status=status)
        return ServerFailed(f"HTTP {status}: " + _unexpected(kind), status=status)
    entries = [e for e in (_entry(kind, item, role_type) for item in items) if e is not None]
    total, more = _count(body.get("total")), body.get("availableMore")
    return DirectoryPage(status, tuple(entries), total, more if isinstance(more, bool) else None,
                         len(items) - len(entries))


def _refused(kind: str) -> str:
    return {"roles": _("the account's roles were refused"), "bots": _("the account's bots were refused"),
            "groups": _("the account's groups were refused")}[kind]


def _unexpected(kind: str) -> str:
    return {"roles": _("unexpected reply to the roles call (no roles list)"),
            "bots": _("unexpected reply to the bots call (no bots list)"),
            "groups": _("unexpected reply to the groups call (no groups list)")}[kind]


# -- reading one listing, paged ------------------------------------------------------------------------

Fetch = Callable[[int, int], Awaitable[DirectoryPage]]
"""``fetch(offset, limit)``: one page of one listing (paced and retried by the caller)."""

GAPS = ("", "short", "changed", "repeated", "refused-page", "too-many-pages")


@dataclass
class ListingRead:
    """One listing read whole (roles of one type, bots or groups) -- or as far as it could be."""

    name: str
    """``roles/bot``, ``roles/admin``, ``bots`` or ``groups``."""
    entries: list[Entry] = field(default_factory=list)
    total: int | None = None
    requests: int = 0
    offset_counts: str = ""
    """What ``offset`` turned out to count: ``pages``, ``records``, or "" (one page was enough)."""
    gap: str = ""
    """Why the read is not complete: ``short`` (fewer than ``total``), ``repeated`` (a page brought
    nothing new), ``refused-page`` (a later page was refused), ``changed`` (more than ``total``: the account
    changed while it was read), ``too-many-pages``; "" when complete."""
    unreadable: int = 0

    @property
    def complete(self) -> bool:
        return not self.gap


async def read_listing(name: str, fetch: Fetch, *, limit: int = PAGE_LIMIT) -> ListingRead:
    """Every page of one listing; a listing that does not add up is read once more (module docstring)."""
    first = await _read_once(name, fetch, limit)
    if first.gap not in ("short", "changed"):  # complete, or a read again would end the same way
        return first
    second = await _read_once(name, fetch, limit)
    second.requests += first.requests
    return second


async def _read_once(name: str, fetch: Fetch, limit: int) -> ListingRead:
    read = ListingRead(name)
    seen: dict[str, Entry] = {}
    offset, mode, switched = 0, "", False
    while True:
        if read.requests >= MAX_PAGES:
            read.gap = "too-many-pages"
            break
        try:
            page = await fetch(offset, limit)
        except RequestRefused:
            if read.requests == 0:
                raise  # the listing itself is refused: the caller says what that means
            if mode != "records" and not switched:  # a page number past the server's maximum?
                mode, switched, offset = "records", True, len(seen)
                continue
            read.gap = "refused-page"
            break
        read.requests += 1
        read.unreadable += page.unreadable
        if page.total is not None:
            read.total = page.total
        new = [e for e in page.entries if e.key not in seen]
        if read.requests == 2 and not mode and page.entries:
            mode = "records" if len(new) < len(page.entries) else "pages"  # the second page decides
        seen.update((e.key, e) for e in new)
        if _last(page, read.total, len(seen) + read.unreadable):
            break
        if not new:  # a repeated page: the server ignores offset, or counts it otherwise than assumed
            if mode != "records" and not switched and read.requests > 1:
                mode, switched, offset = "records", True, len(seen)
                continue
            read.gap = "repeated"
            break
        offset = len(seen) if mode == "records" else offset + 1
    read.entries = list(seen.values())
    read.offset_counts = mode
    if not read.gap and read.total is not None and len(read.entries) + read.unreadable != read.total:
        read.gap = "short" if len(read.entries) + read.unreadable < read.total else "changed"
    return read


def _last(page: DirectoryPage, total: int | None, held: int) -> bool:
    """The read is over: an empty page, every entry of ``total`` held, or "no more" with no total.
    ("availableMore: false" short of the total is a contradiction: the next page says which is true.)"""
    if not page.entries and not page.unreadable:
        return True
    if total is not None:
        return held >= total
    return page.more is not True


# -- the whole directory ---------------------------------------------------------------------------------


@dataclass
class Directory:
    """The account's roles, bots and groups, with where and when they were read and how completely."""

    host: str
    read_at: str = ""
    """When it was read (ISO 8601, with the offset)."""
    roles: list[Entry] = field(default_factory=list)
    bots: list[Entry] = field(default_factory=list)
    groups: list[Entry] = field(default_factory=list)
    reads: list[ListingRead] = field(default_factory=list)
    """One per listing read, without their entries (kept above)."""
    admin_ids_from: str = ""
    """Where admin roles without ``_id`` took their ids from (``listing`` when users' roles were read)."""

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.reads)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.reads)

    def of(self, kind: str) -> list[Entry]:
        return {"roles": self.roles, "bots": self.bots, "groups": self.groups}[kind]

    def incomplete(self) -> list[ListingRead]:
        return [r for r in self.reads if not r.complete]

    def unmapped_admin_roles(self) -> list[Entry]:
        return [r for r in self.roles if r.type == "admin" and not r.id]

    def learn_admin_ids(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Ids for admin roles the roles reply gave without ``_id``, from ``(roleId, roleName)`` pairs users
        hold (usersInfo's or the listing's ``adminRoles``): a name held with one id only.  Returns how
        many were mapped."""
        ids: dict[str, set[str]] = {}
        for role_id, role_name in pairs:
            if role_id and role_name:
                ids.setdefault(" ".join(role_name.split()).casefold(), set()).add(role_id)
        mapped = 0
        for i, role in enumerate(self.roles):
            found = ids.get(role.name.casefold(), set())
            if role.type == "admin" and not role.id and len(found) == 1:
                self.roles[i] = Entry(next(iter(found)), role.name, role.description, role.type, role.members)
                mapped += 1
        return mapped

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "read_at": self.read_at, "admin_ids_from": self.admin_ids_from,
                **{kind: [asdict(e) for e in self.of(kind)] for kind in KINDS},
                "reads": [{k: v for k, v in asdict(r).items() if k != "entries"} for r in self.reads]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Directory:
        """A directory as :meth:`as_json` wrote it (a ValueError for anything else)."""
        try:
            kept = cls(str(data["host"]), str(data.get("read_at", "")), admin_ids_from=str(data.get("admin_ids_from", "")))
            for kind in KINDS:
                kept.of(kind).extend(Entry(**_fields(e, Entry)) for e in data.get(kind, []))
            kept.reads = [ListingRead(**_fields(r, ListingRead)) for r in data.get("reads", [])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a directory: {exc}") from None
        return kept


def _fields(data: Any, cls: type) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("an object is expected")
    known = set(cls.__dataclass_fields__)
    return {k: v for k, v in data.items() if k in known}


async def read_directory(pager: Any, host: str, *, limit: int = PAGE_LIMIT,
                         progress: Callable[[ListingRead], None] | None = None) -> Directory:
    """The account's roles (both types), bots and groups, each listing paged and checked (module docstring).

    ``pager.directory_page(kind, limit=, offset=, role_type=)`` gives one page (the client's call, paced and
    retried by the caller).  A refusal of a listing's first page is raised
    (:class:`~bulkprov.kore.errors.CallFailed`)."""
    directory = Directory(host, dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    listings: list[tuple[str, str, str]] = [("roles/bot", "roles", "bot"), ("roles/admin", "roles", "admin"),
                                            ("bots", "bots", ""), ("groups", "groups", "")]
    for name, kind, role_type in listings:
        def fetch(offset: int, size: int, kind: str = kind, role_type: str = role_type) -> Awaitable[DirectoryPage]:
            # the roles call documents no offset: the first page is asked for as the page shows it
            asked = None if kind == "roles" and offset == 0 else offset
            return pager.directory_page(kind, limit=size, offset=asked, role_type=role_type)

        read = await read_listing(name, fetch, limit=limit)
        if progress is not None:
            progress(read)
        directory.of(kind).extend(read.entries)
        read.entries = []
        directory.reads.append(read)
    return directory
