"""Turning a row's intent into the exact request body, where that needs the user's current state.

On update, a botTasks cell *changes* a user's tasks (``schema.LIST_ON_UPDATE``), but the API takes the
whole ``assignBotTasks`` list (assumed: the Update Users page does not say).  The validator records
the change as ``{"addTo": [...], "removeFrom": [bot ids]}``; :func:`resolve_update` applies it to the
user's tasks as usersInfo returned them just before the update (removals first, then additions), so
``-BOT; BOT:DIALOG`` replaces a bot's tasks.
"""

from __future__ import annotations

from typing import Any

from bulkprov.check.validator import TASKS_ADD, TASKS_REMOVE, merge_tasks


def resolve_update(user: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The update body for ``user``, with a bot-task change applied to the tasks the user has now."""
    change = user.get("assignBotTasks")
    if not isinstance(change, dict):
        return user
    current = [t for t in (before or {}).get("assignBotTasks") or [] if isinstance(t, dict) and t.get("botId")]
    dropped = {b.casefold() for b in change.get(TASKS_REMOVE) or []}
    kept = [{"botId": t["botId"], "dialogs": list(t.get("dialogs") or [])} for t in current
            if str(t["botId"]).casefold() not in dropped]
    out = dict(user)
    out["assignBotTasks"] = merge_tasks(kept + list(change.get(TASKS_ADD) or []))
    return out
