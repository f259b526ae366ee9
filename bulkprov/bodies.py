"""The API's user bodies: one home for how a row's lists become a request, and a user becomes cells again.

A user object has three list fields, each written in a cell of its own (``schema.LIST_ON_UPDATE`` says
what a cell means):

* ``groups`` (ids) and ``roles`` (``{"roleId"}`` or ``{"roleId", "botId"}``): a list on add; on update
  a change ``{"addTo": [...], "removeFrom": [...]}`` the API applies itself;
* ``assignBotTasks`` (``{"botId", "dialogs"}``): a list on add; on update the API takes the whole list
  (assumed: the Update Users page does not say), so the row's change is kept as
  ``{"addTo": [tasks], "removeFrom": [bot ids]}`` and :func:`resolve_update` applies it to the user's
  tasks as usersInfo returned them just before the update.

What is done with a body, each once: :func:`put_lists` (build, from a row's signed cell entries),
:func:`list_change` (sync's diff as an update change), :func:`resolve_update` (resolve), :func:`update_applied`
(applied?), :func:`undo_lists` (inverse: the cells that change a user back), :func:`user_to_cells` (to cells:
``lookup``'s output is an input file for ``add``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bulkprov.schema import BOOL_COLUMNS, REMOVE_PREFIX, USER_INFO_FIELDS

ADD_TO, REMOVE_FROM = "addTo", "removeFrom"
LIST_FIELDS = {"groups": "groups", "roles": "roles", "botTasks": "assignBotTasks"}  # cell column -> body field

Signed = list[tuple[str, Any]]  # a cell's entries, each with its sign ("", "+" or "-") and its parsed value


# -- build ------------------------------------------------------------------------------------------------


def put_lists(user: dict[str, Any], adding: bool, groups: Signed, roles: Signed, tasks: Signed) -> None:
    """A row's list cells into its body: on add the entries without ``-``; on update the change."""
    if adding:
        if groups:
            user["groups"] = [g for sign, g in groups if sign != REMOVE_PREFIX]
        if roles:
            user["roles"] = [r for sign, r in roles if sign != REMOVE_PREFIX]
        if tasks:
            user["assignBotTasks"] = merge_tasks([t for sign, t in tasks if sign != REMOVE_PREFIX])
        return
    if groups:
        user["groups"] = _add_remove(groups)
    if roles:
        user["roles"] = _add_remove(roles)
    if tasks:
        user["assignBotTasks"] = {
            ADD_TO: merge_tasks([t for sign, t in tasks if sign != REMOVE_PREFIX]),
            REMOVE_FROM: list(dict.fromkeys(t["botId"] for sign, t in tasks if sign == REMOVE_PREFIX)),
        }


def _add_remove(items: Signed) -> dict[str, list[Any]]:
    return {ADD_TO: [v for s, v in items if s != REMOVE_PREFIX], REMOVE_FROM: [v for s, v in items if s == REMOVE_PREFIX]}


def merge_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per bot, dialogs in first-seen order (a bot may appear on several lines)."""
    merged: dict[str, list[str]] = {}
    for task in tasks:
        dialogs = merged.setdefault(task["botId"], [])
        dialogs.extend(d for d in task["dialogs"] if d not in dialogs)
    return [{"botId": b, "dialogs": d} for b, d in merged.items()]


def list_change(column: str, adding: Iterable[str], removing: Iterable[str]) -> dict[str, list[Any]]:
    """An update change of ``groups`` or ``roles`` from cell entries (sync's diff): ids, or ``ROLE[@BOT]``."""
    parse: Callable[[str], Any] = parse_role if column == "roles" else str
    return {ADD_TO: [parse(t) for t in adding], REMOVE_FROM: [parse(t) for t in removing]}


def parse_role(text: str) -> dict[str, str]:
    """A ``roles`` cell entry as the API's role: ``ROLE`` (admin role) or ``ROLE@BOT`` (bot role)."""
    role, _at, bot = text.partition("@")
    return {"roleId": role, "botId": bot} if bot else {"roleId": role}


def change_entries(value: Any) -> list[Any]:
    """Every entry a list field names: an add's list, or both sides of an update's change."""
    if isinstance(value, dict):
        return [*(value.get(ADD_TO) or []), *(value.get(REMOVE_FROM) or [])]
    return list(value) if isinstance(value, list) else []


# -- resolve and applied? ---------------------------------------------------------------------------------


def resolve_update(user: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The update body for ``user``, with a bot-task change applied to the tasks the user has now
    (removals first, then additions: ``-BOT; BOT:DIALOG`` replaces a bot's tasks)."""
    change = user.get("assignBotTasks")
    if not isinstance(change, dict):
        return user
    current = [t for t in (before or {}).get("assignBotTasks") or [] if isinstance(t, dict) and t.get("botId")]
    dropped = {b.casefold() for b in change.get(REMOVE_FROM) or []}
    kept = [{"botId": t["botId"], "dialogs": list(t.get("dialogs") or [])} for t in current
            if str(t["botId"]).casefold() not in dropped]
    out = dict(user)
    out["assignBotTasks"] = merge_tasks(kept + list(change.get(ADD_TO) or []))
    return out


def update_applied(update: dict[str, Any], user: dict[str, Any]) -> bool:
    """Does the user (a usersInfo object) already show every change ``update`` makes?"""
    info = user.get("userInfo") or {}
    for name, value in (update.get("userInfo") or {}).items():
        if name in ("emailId", "orgUserId"):
            continue
        if name not in info or str(info[name]) != str(value):
            return False
    change = update.get("groups")
    if isinstance(change, dict) and not _shows(change, set(group_ids(user.get("groups"))), str):
        return False
    change = update.get("roles")
    if isinstance(change, dict) and not _shows(change, set(role_texts(user.get("roles"))), role_text):
        return False
    for name in ("canCreateBot", "isDeveloper"):
        if name in update and (name not in user or bool(user[name]) != bool(update[name])):
            return False
    return "assignBotTasks" not in update  # a task change cannot be confirmed from here: send it again


def _shows(change: dict[str, Any], have: set[str], text: Callable[[Any], str]) -> bool:
    return ({text(x) for x in change.get(ADD_TO) or []} <= have
            and not {text(x) for x in change.get(REMOVE_FROM) or []} & have)


# -- inverse ----------------------------------------------------------------------------------------------


def undo_lists(update: dict[str, Any], before: dict[str, Any]) -> dict[str, str]:
    """The list cells of an ``update`` row that changes the user back to ``before`` (usersInfo's shape)."""
    cells = {"groups": _flip(update.get("groups"), set(group_ids(before.get("groups"))), str),
             "roles": _flip(update.get("roles"), set(role_texts(before.get("roles"))), role_text)}
    if "assignBotTasks" in update:
        cells["botTasks"] = _undo_tasks(update["assignBotTasks"], before)
    return cells


def _flip(change: Any, old: set[str], text: Callable[[Any], str]) -> str:
    """Entries that undo an addTo/removeFrom change, given what the user had before."""
    if not isinstance(change, dict):
        return ""
    entries = [f"-{text(x)}" for x in change.get(ADD_TO) or [] if text(x) not in old]
    entries += [f"+{text(x)}" for x in change.get(REMOVE_FROM) or [] if text(x) in old]
    return "; ".join(entries)


def _undo_tasks(change: Any, before: dict[str, Any]) -> str:
    """Per bot the change touched: ``-BOT`` (drop what the run left), then ``BOT:dialogs`` as before."""
    if isinstance(change, dict):
        bots = [t["botId"] for t in change.get(ADD_TO) or []] + list(change.get(REMOVE_FROM) or [])
    else:
        bots = [t["botId"] for t in change or []]
    previous = {str(t.get("botId")).casefold(): t for t in before.get("assignBotTasks") or [] if isinstance(t, dict)}
    entries: list[str] = []
    for bot in dict.fromkeys(bots):
        entries.append(f"{REMOVE_PREFIX}{bot}")
        old = previous.get(str(bot).casefold())
        if old and old.get("dialogs"):
            entries.append(f"{old['botId']}:{','.join(old['dialogs'])}")
    return "; ".join(entries)


# -- to cells ---------------------------------------------------------------------------------------------


def user_to_cells(user: dict) -> dict[str, str]:
    """An API user object (usersInfo shape) as template cells: the inverse of the validator.

    ``lookup`` writes these, so its output is an input file for ``add``.
    """
    info = user.get("userInfo") or {}
    cells = {name: _cell(info.get(name)) for name in USER_INFO_FIELDS}
    cells["groups"] = "; ".join(group_ids(user.get("groups")))
    cells["roles"] = "; ".join(role_texts(user.get("roles")))
    cells["botTasks"] = "; ".join(task_texts(user.get("assignBotTasks")))
    for name in BOOL_COLUMNS:
        if name in user:
            cells[name] = "TRUE" if user[name] else "FALSE"
    return cells


def group_ids(groups: Any) -> list[str]:
    """A user's groups as ``groups`` cell entries (usersInfo gives ``{"groupId"}``, an add body ids)."""
    return [g.get("groupId", "") if isinstance(g, dict) else str(g) for g in groups or []]


def role_text(role: dict[str, str]) -> str:
    """A role as a ``roles`` cell entry: ``ROLE`` (admin role) or ``ROLE@BOT`` (bot role)."""
    return f"{role['roleId']}@{role['botId']}" if role.get("botId") else role["roleId"]


def role_texts(roles: object) -> list[str]:
    """The usersInfo ``roles`` object (``adminRoles`` + ``btRoles``) as ``roles`` cell entries."""
    if not isinstance(roles, dict):
        return []
    return [role_text(r) for kind in ("adminRoles", "btRoles") for r in roles.get(kind) or [] if r.get("roleId")]


def task_texts(tasks: Any) -> list[str]:
    """Bot tasks as ``botTasks`` cell entries: ``BOT:DIALOG,DIALOG``."""
    return [f"{t.get('botId')}:{','.join(t.get('dialogs') or [])}" for t in tasks or []]


def _cell(value: object) -> str:
    return "" if value is None else str(value)
