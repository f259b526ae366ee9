"""Names to ids: what a role, bot or group name in a roster means on the account being written to.

A pure function of what is known -- the target account's directory (:class:`~bulkprov.kore.directory.
Directory`), lookup sheets (name -> id, each with the host it was made for, or none), and the
``(roleId, roleName)`` pairs the account's users hold -- so every rule is tested without a network:

* **Names compare after NFKC and case-folding, runs of spaces as one** (:func:`fold`): ``영업 1팀``,
  ``ＳＵＰＰＯＲＴ  agents`` and ``サポート担当`` are found as the account writes them.
* **The account being written to is the truth**: with its directory, a name resolves to the id the
  directory gives it.  A lookup sheet made for this account, or with no stamp, is used where no
  directory can be read, and otherwise only where its id exists on the account (a nickname HR keeps);
  where it disagrees with the account the row says so, never applies it silently.  A sheet from
  another host **never supplies ids**: its names count, and with no directory they cannot be resolved
  (``directory-unavailable``).
* **A name the account holds twice, or one holding a list separator** (``;``, ``@``, ``:``) matches
  only by id; the problem lists the candidates with their ids.
* **An unknown name** lists the account's nearest names (did-you-mean); against an incomplete
  directory it says so (``incomplete``) -- the caller refreshes the directory once before either
  becomes an error (:mod:`bulkprov.directory.account`).
* **Admin roles** the roles reply gives without ``_id`` take their ids from the pairs users hold
  (usersInfo's or the listing's ``adminRoles``); an admin role no user holds is ``unmappable``.
* An id written as an id is taken as written; with a complete directory of the account, an id the
  account does not have is ``not-on-account`` (unless it may be an admin role the directory could not
  map).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bulkprov import schema
from bulkprov.kore.directory import Directory, Entry
from bulkprov.kore.refusals import short_id

__all__ = ["NameBook", "Resolution", "Sheet", "fold", "resolve_role", "same_host", "sheets_from", "short_id"]

KINDS = ("role", "bot", "group")
SEPARATORS = (";", "@", ":")
ID_PATTERNS = {"role": schema.ROLE_ID_RE, "bot": schema.BOT_ID_RE, "group": schema.GROUP_ID_RE}
SHEETS = {"role": "Roles", "bot": "Bots", "group": "Groups"}
PROBLEMS = ("", "unknown", "incomplete", "ambiguous", "separator", "unmappable", "wrong-type", "not-on-account",
            "disagrees", "directory-unavailable")
SUGGESTIONS = 3


def fold(name: str) -> str:
    """How two names compare: NFKC (full-width forms, compatibility characters), case-folded, trimmed,
    runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def same_host(a: str | None, b: str | None) -> bool:
    """Two host stamps name the same host (normalised; a stamp that is no host matches nothing)."""
    if not a or not b:
        return False
    from bulkprov.errors import BulkprovError
    from bulkprov.kore.hosts import normalize_host

    try:
        return normalize_host(a).casefold() == normalize_host(b).casefold()
    except BulkprovError:
        return False


@dataclass(frozen=True)
class Sheet:
    """A lookup sheet's names for one kind (folded name -> id), and the host it was made for (None: no stamp)."""

    names: Mapping[str, str]
    host: str | None = None


@dataclass(frozen=True)
class Resolution:
    """What one name or id in a cell means on the account."""

    kind: str
    written: str
    """The text as the cell holds it (shown as typed in messages)."""
    id: str = ""
    name: str = ""
    """The account's name for it (the directory's spelling), else the name as written."""
    problem: str = ""
    """"" when resolved; else one of :data:`PROBLEMS`."""
    candidates: tuple[Entry, ...] = ()
    """``ambiguous``/``separator``: the entries it could mean; ``unknown``/``incomplete``: the nearest names;
    ``disagrees``: the account's entry; ``wrong-type``: the role of the other type."""
    source: str = ""
    """``id`` (written as an id), ``directory``, ``sheet``; "" when unresolved."""
    sheet_id: str = ""
    """``disagrees``/``not-on-account`` from a sheet: the id the sheet gives."""
    sheet_host: str = ""
    """``directory-unavailable``: the host the only sheet naming it was made for."""

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def refreshable(self) -> bool:
        """A fresh read of the directory might resolve it (a role created this morning)."""
        return self.problem in ("unknown", "incomplete", "not-on-account", "unmappable")


@dataclass
class NameBook:
    """Everything known about the account's names, and the rules that apply to them (module docstring).

    ``directory``: the target account's, or None (offline, a refused scope).  ``sheets``: per kind
    (``role``, ``bot``, ``group``) the lookup sheets in the order they count (the file's own, then
    ``--lookups``).  ``held``: ``(roleId, roleName)`` pairs of admin roles users hold.  ``target``: the
    host written to, which sheet stamps are compared with.
    """

    directory: Directory | None = None
    sheets: Mapping[str, list[Sheet]] = field(default_factory=dict)
    held: Iterable[tuple[str, str]] = ()
    target: str | None = None

    def __post_init__(self) -> None:
        self._by_name: dict[str, dict[str, list[Entry]]] = {k: {} for k in KINDS}
        self._by_id: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        if self.directory is not None:
            held = list(self.held)
            if held and self.directory.unmapped_admin_roles():
                self.directory = Directory.from_json(self.directory.as_json())  # not the caller's object
                self.directory.learn_admin_ids(held)
            for kind, entries in (("role", self.directory.roles), ("bot", self.directory.bots),
                                  ("group", self.directory.groups)):
                for entry in entries:
                    self._by_name[kind].setdefault(fold(entry.name), []).append(entry)
                    if entry.id:
                        self._by_id[kind][entry.id.casefold()] = entry

    # -- the one question -----------------------------------------------------------------------------------

    def resolve(self, kind: str, text: str, *, role_type: str = "") -> Resolution:
        """What ``text`` (a name or an id of a ``kind``; for roles of ``role_type`` ``bot`` in ``ROLE@BOT``
        or ``admin`` alone) means on the account."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        written = text.strip()
        plain = unicodedata.normalize("NFKC", written) if not written.isascii() else written
        if ID_PATTERNS[kind].match(plain):
            return self._by_id_written(kind, written, plain, role_type)
        if self.directory is None:
            return self._offline(kind, written)
        return self._online(kind, written, role_type)

    def entry(self, kind: str, ident: str) -> Entry | None:
        """The account's entry with this id (None: not in the directory, or no directory)."""
        return self._by_id[kind].get(ident.casefold())

    # -- the cases ------------------------------------------------------------------------------------------

    def _by_id_written(self, kind: str, written: str, ident: str, role_type: str) -> Resolution:
        found = self.entry(kind, ident)
        if found is not None:
            return Resolution(kind, written, found.id, found.name, source="id")
        if self._knows_every_id(kind, role_type):
            return Resolution(kind, written, name=written, problem="not-on-account", sheet_id=ident)
        return Resolution(kind, written, ident, self._sheet_name(kind, ident) or written, source="id")

    def _knows_every_id(self, kind: str, role_type: str) -> bool:
        """With this directory, an id it does not hold is not on the account."""
        if not self._listings_complete(kind, role_type):
            return False
        assert self.directory is not None
        # an admin role id may be one of the admin roles the directory could not map
        return not (kind == "role" and role_type != "bot" and self.directory.unmapped_admin_roles())

    def _offline(self, kind: str, written: str) -> Resolution:
        """No directory: a sheet for this account (or unstamped) supplies ids; another host's never does."""
        key = fold(written)
        foreign = ""
        for sheet in self._sheets(kind):
            ident = sheet.names.get(key)
            if ident is None:
                continue
            if self._foreign(sheet):
                foreign = foreign or str(sheet.host)
                continue
            return Resolution(kind, written, ident, written, source="sheet")
        if foreign:
            return Resolution(kind, written, name=written, problem="directory-unavailable", sheet_host=foreign)
        return Resolution(kind, written, name=written, problem="unknown")

    def _online(self, kind: str, written: str, role_type: str) -> Resolution:
        key = fold(written)
        matches = self._matches(kind, key, role_type)
        sheet_id, sheet_foreign = self._sheet_id(kind, key)
        if len(matches) > 1:
            return Resolution(kind, written, name=written, problem="ambiguous", candidates=tuple(matches))
        if len(matches) == 1:
            entry = matches[0]
            if sheet_id and not sheet_foreign and entry.id and sheet_id.casefold() != entry.id.casefold():
                return Resolution(kind, written, name=entry.name, problem="disagrees", candidates=(entry,),
                                  sheet_id=sheet_id)
            if not entry.id:
                return Resolution(kind, written, name=entry.name, problem="unmappable", candidates=(entry,))
            return Resolution(kind, written, entry.id, entry.name, source="directory")
        if kind == "role" and role_type:
            other = self._matches(kind, key, "admin" if role_type == "bot" else "bot")
            if other:
                return Resolution(kind, written, name=written, problem="wrong-type", candidates=tuple(other))
        if sheet_id and not sheet_foreign:  # a nickname of the sheet: only an id the account has
            on_account = self.entry(kind, sheet_id)
            if on_account is not None:
                return Resolution(kind, written, on_account.id, on_account.name, source="sheet")
            if self._knows_every_id(kind, role_type):
                return Resolution(kind, written, name=written, problem="not-on-account", sheet_id=sheet_id)
        separated = self._separated(kind, key)
        if separated:
            return Resolution(kind, written, name=written, problem="separator", candidates=tuple(separated))
        complete = self._listings_complete(kind, role_type)
        return Resolution(kind, written, name=written, problem="unknown" if complete else "incomplete",
                          candidates=tuple(self.nearest(kind, written, role_type)))

    def _listings_complete(self, kind: str, role_type: str) -> bool:
        """Every listing this kind (and role type) comes from was read whole."""
        if self.directory is None:
            return False
        names = {"role": ("roles/bot", "roles/admin") if not role_type else (f"roles/{role_type}",),
                 "bot": ("bots",), "group": ("groups",)}[kind]
        reads = [r for r in self.directory.reads if r.name in names]
        return bool(reads) and all(r.complete for r in reads)

    def _matches(self, kind: str, key: str, role_type: str) -> list[Entry]:
        found = self._by_name[kind].get(key, [])
        if kind == "role" and role_type:
            found = [e for e in found if e.type == role_type]
        return found

    def _separated(self, kind: str, key: str) -> list[Entry]:
        """Entries whose name holds a separator and contains the text: written by name, the cell would split."""
        out = []
        for name, entries in self._by_name[kind].items():
            if any(s in name for s in SEPARATORS) and key and key in name:
                out.extend(entries)
        return out

    def nearest(self, kind: str, text: str, role_type: str = "") -> list[Entry]:
        """Up to three of the account's names closest to ``text`` (did-you-mean)."""
        names = [n for n, entries in self._by_name[kind].items()
                 if not (kind == "role" and role_type) or any(e.type == role_type for e in entries)]
        key = fold(text)
        close = difflib.get_close_matches(key, names, n=SUGGESTIONS, cutoff=0.6)
        close += [n for n in names if key and (key in n or n in key) and n not in close]
        return [self._by_name[kind][n][0] for n in close[:SUGGESTIONS]]

    # -- sheets ---------------------------------------------------------------------------------------------

    def _sheets(self, kind: str) -> list[Sheet]:
        return list(self.sheets.get(kind, []))

    def _foreign(self, sheet: Sheet) -> bool:
        """Made for another host than the one written to (an unstamped sheet is nobody's: it counts; with no
        target -- an offline check that names no host -- there is nothing to compare a stamp with)."""
        return sheet.host is not None and self.target is not None and not same_host(sheet.host, self.target)

    def _sheet_id(self, kind: str, key: str) -> tuple[str, bool]:
        """The first sheet's id for a name (this account's or unstamped sheets before another host's), and
        whether that sheet is another host's."""
        sheets = sorted(self._sheets(kind), key=self._foreign)
        for sheet in sheets:
            ident = sheet.names.get(key)
            if ident:
                return ident, self._foreign(sheet)
        return "", False

    def _sheet_name(self, kind: str, ident: str) -> str:
        for sheet in self._sheets(kind):
            for name, value in sheet.names.items():
                if value.casefold() == ident.casefold():
                    return name
        return ""


def sheets_from(*tables: Mapping[str, Mapping[str, str]]) -> dict[str, list[Sheet]]:
    """Lookup tables as the loader gives them (sheet name -> name -> id, with the ``hosts`` their rows name:
    :class:`bulkprov.io.shared.base.Lookup`), in the order they count, as :class:`Sheet` s per kind -- one per host
    a sheet's rows name, so a sheet copied from two accounts is judged row by row."""
    out: dict[str, list[Sheet]] = {kind: [] for kind in KINDS}
    for table in tables:
        for kind in KINDS:
            names = table.get(SHEETS[kind]) or {}
            hosts: Mapping[str, str] = getattr(names, "hosts", {})
            by_host: dict[str | None, dict[str, str]] = {}
            for name, ident in names.items():
                by_host.setdefault(hosts.get(name) or None, {})[fold(name)] = ident
            out[kind] += [Sheet(group, host) for host, group in by_host.items()]
    return out


def resolve_role(book: NameBook, text: str) -> tuple[Resolution, Resolution | None]:
    """A ``roles`` cell entry: ``ROLE`` (an admin role) or ``ROLE@BOT`` (a bot role of a bot)."""
    role_text, at, bot_text = text.partition("@")
    if not at:
        return book.resolve("role", role_text, role_type="admin"), None
    return book.resolve("role", role_text, role_type="bot"), book.resolve("bot", bot_text)
