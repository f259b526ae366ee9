"""Names beside ids: role, bot and group names in workbooks that carry ids (lookup, export, undo).

The ``roles``, ``groups`` and ``botTasks`` cells keep their ids (so the workbook stays an input
file); the names go in columns of their own (:data:`bulkprov.schema.NAME_COLUMNS`), entry for entry
in the same order, which the loader reads back silently.  Names come from what the server said:
usersInfo's ``roleName``/``botName``/``groupName`` and the account listing's ``roleName``/``botName``.
An id whose name was never seen is shown as the id.

An export (#28) turns that round (:func:`export_cells`): names in the list cells, so another account
resolves them by name, and the ids beside them -- except where a name cannot say which (the account holds
it twice, or it holds a list separator): there the cell keeps the id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bulkprov import schema
from bulkprov.bodies import user_to_cells
from bulkprov.check.names import fold
from bulkprov.kore.directory import Directory

ROLE_NAMES, GROUP_NAMES, BOT_NAMES = schema.NAME_COLUMNS
ROLE_IDS, GROUP_IDS, TASK_IDS = schema.ID_COLUMNS
USERS_SHEET_HEADERS = (*schema.USER_SHEET_COLUMNS, *schema.NAME_COLUMNS)
EXPORT_HEADERS = (*schema.USER_SHEET_COLUMNS, *schema.ID_COLUMNS)
SEPARATORS = (";", "@", ":", ",", "\n")  # a name holding one would split (or join) a list cell's entries


class Names:
    """What each role, bot and group id is called, learnt from user objects (case-insensitive ids)."""

    def __init__(self, users: Iterable[dict[str, Any]] = ()) -> None:
        self.roles: dict[str, str] = {}
        self.bots: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.twins: dict[str, set[str]] = {"role": set(), "bot": set(), "group": set()}
        """Names (folded) the account holds more than once, per kind: only an id says which."""
        for user in users:
            self.learn(user)

    def add_directory(self, directory: Directory) -> Names:
        """Every role, bot and group of the account's directory, and which names it holds twice."""
        for kind, table, entries in (("role", self.roles, directory.roles), ("bot", self.bots, directory.bots),
                                     ("group", self.groups, directory.groups)):
            seen: dict[str, str] = {}
            for entry in entries:
                if entry.id:
                    _keep(table, entry.id, entry.name)
                key = fold(entry.name)
                if key in seen and seen[key] != entry.key:
                    self.twins[kind].add(key)
                seen.setdefault(key, entry.key)
        return self

    def safe(self, kind: str, name: str) -> bool:
        """A name a list cell can carry: one entry of its kind on the account, no separator in it."""
        return bool(name) and fold(name) not in self.twins[kind] and not any(s in name for s in SEPARATORS)

    def table(self, kind: str) -> dict[str, str]:
        return {"role": self.roles, "bot": self.bots, "group": self.groups}[kind]

    def written(self, kind: str, ident: str) -> str:
        """How an export writes an id in a list cell: its name, else (no name, a twin, a separator) the id."""
        name = self.table(kind).get(ident.strip().casefold(), "")
        return name if self.safe(kind, name) else ident.strip()

    def learn(self, user: dict[str, Any]) -> Names:
        roles = user.get("roles")
        if isinstance(roles, dict):
            for role in [*(roles.get("btRoles") or []), *(roles.get("adminRoles") or [])]:
                _keep(self.roles, role.get("roleId"), role.get("roleName"))
                _keep(self.bots, role.get("botId"), role.get("botName"))
        for group in user.get("groups") or []:
            if isinstance(group, dict):
                _keep(self.groups, group.get("groupId"), group.get("groupName"))
        return self

    def role(self, text: str) -> str:
        """A ``roles`` cell entry (``ROLE`` or ``ROLE@BOT``, perhaps with a +/- sign) with names."""
        sign, body = _sign(text)
        role, _, bot = body.partition("@")
        named = _name(self.roles, role)
        return sign + (f"{named}@{_name(self.bots, bot)}" if bot else named)

    def group(self, text: str) -> str:
        sign, body = _sign(text)
        return sign + _name(self.groups, body)

    def bot_task(self, text: str) -> str:
        """A ``botTasks`` entry (``BOT:DIALOGS`` or ``-BOT``) as its bot's name."""
        sign, body = _sign(text)
        return sign + _name(self.bots, body.partition(":")[0])

    def cells(self, cells: dict[str, str]) -> dict[str, str]:
        """The name columns for a row's ``roles``, ``groups`` and ``botTasks`` cells."""
        return {ROLE_NAMES: _each(cells.get("roles", ""), self.role),
                GROUP_NAMES: _each(cells.get("groups", ""), self.group),
                BOT_NAMES: _each(cells.get("botTasks", ""), self.bot_task)}


def export_cells(user: dict[str, Any], names: Names) -> dict[str, str]:
    """A user object as an export's Users-sheet cells: names in the list cells (ids where a name cannot say
    which), the ids beside them in :data:`bulkprov.schema.ID_COLUMNS`."""
    cells = user_to_cells(user)
    names.learn(user)
    return {**cells,
            "roles": _each(cells.get("roles", ""), lambda t: _role_written(names, t)),
            "groups": _each(cells.get("groups", ""), lambda t: names.written("group", t)),
            "botTasks": _each(cells.get("botTasks", ""), lambda t: _task_written(names, t)),
            ROLE_IDS: cells.get("roles", ""), GROUP_IDS: cells.get("groups", ""), TASK_IDS: cells.get("botTasks", "")}


def _role_written(names: Names, text: str) -> str:
    role, at, bot = text.partition("@")
    return names.written("role", role) + (f"@{names.written('bot', bot)}" if at else "")


def _task_written(names: Names, text: str) -> str:
    bot, colon, dialogs = text.partition(":")
    return names.written("bot", bot) + (f":{dialogs}" if colon else "")


def user_cells(user: dict[str, Any], names: Names | None = None) -> dict[str, str]:
    """A user object as Users-sheet cells, ids and names (the inverse of the validator, plus names)."""
    cells = user_to_cells(user)
    return {**cells, **(names or Names()).learn(user).cells(cells)}


def _keep(table: dict[str, str], ident: Any, name: Any) -> None:
    if isinstance(ident, str) and ident and isinstance(name, str) and name.strip():
        table.setdefault(ident.casefold(), name.strip())


def _name(table: dict[str, str], ident: str) -> str:
    return table.get(ident.strip().casefold(), ident.strip())


def _sign(text: str) -> tuple[str, str]:
    text = text.strip()
    if text[:1] in (schema.ADD_PREFIX, schema.REMOVE_PREFIX):
        return text[0], text[1:].strip()
    return "", text


def _each(cell: str, name) -> str:
    if not cell:
        return ""  # most rows (every undo row of an add) name no role, group or bot
    return "; ".join(name(part) for part in (p.strip() for p in schema.LIST_SPLIT_RE.split(cell)) if part)
