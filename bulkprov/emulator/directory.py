"""The emulator's rate windows, per-user refusals and its role/bot/group directory."""

from __future__ import annotations

import bisect
from typing import Any

from bulkprov.emulator.config import EmulatorConfig
from bulkprov.schema import BOT_ID_RE, DIALOG_ID_RE, GROUP_ID_RE, ROLE_ID_RE

# --------------------------------------------------------------------------------------------
# Rate windows
# --------------------------------------------------------------------------------------------

class _SlidingWindows:
    """Rolling windows over one log of booked request times (monotonic seconds, sorted)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def wait(self, windows: list[tuple[int, float]], now: float) -> float:
        """Seconds until a request arriving at ``now`` fits every window (0.0: it fits now)."""
        worst = 0.0
        for limit, span in windows:
            first = bisect.bisect_right(self.stamps, now - span)  # a stamp exactly span old has expired
            count = len(self.stamps) - first
            if count >= limit:
                # The request fits once enough of the oldest stamps leave the window.
                worst = max(worst, self.stamps[first + count - limit] + span - now)
        return worst

    def book(self, windows: list[tuple[int, float]], at: float) -> None:
        if not windows:
            return
        bisect.insort(self.stamps, at)
        horizon = at - max(span for _, span in windows)
        del self.stamps[: bisect.bisect_right(self.stamps, horizon)]


# --------------------------------------------------------------------------------------------
# Per-user refusals and the role/bot/group directory
# --------------------------------------------------------------------------------------------

class _Refusal(Exception):
    """One user refused; becomes a ``failedUserDetails`` entry."""

    def __init__(self, code: str, message: str | None = None, status: int = 400, name: str = "BadRequest"):
        super().__init__(code)
        self.code, self.message, self.status, self.name = code, message or code, status, name

    def reason(self) -> dict[str, Any]:
        return {"statusCode": self.status, "errors": [{"msg": self.code, "code": self.status}],
                "message": self.message, "name": self.name}


def _exists() -> _Refusal:
    return _Refusal("USER_ALREADY_EXISTS", "User already exists", 409, "Conflict")


def _not_found() -> _Refusal:
    return _Refusal("USER_NOT_FOUND", "User not found", 404, "NotFound")


class _Directory:
    """Case-insensitive lookups of the configured roles, bots, dialogs and groups."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.roles = {k.lower(): (k, v) for k, v in config.roles.items()}
        self.bots = {k.lower(): (k, v) for k, v in config.bots.items()}
        self.groups = {k.lower(): (k, v) for k, v in config.groups.items()}
        self.dialogs = {k.lower(): {d.lower() for d in v} for k, v in config.dialogs.items()}

    def _bot(self, bot_id: Any) -> str:
        if not isinstance(bot_id, str) or not BOT_ID_RE.match(bot_id) or bot_id.lower() not in self.bots:
            raise _Refusal("INVALID_BOT_ID")
        return self.bots[bot_id.lower()][0]

    def role(self, entry: Any) -> tuple[str, dict[str, str]]:
        """``("bt"|"admin", stored role)`` for a request's ``{"roleId", "botId"?}``."""
        role_id = entry.get("roleId") if isinstance(entry, dict) else None
        if not isinstance(role_id, str) or not ROLE_ID_RE.match(role_id) or role_id.lower() not in self.roles:
            raise _Refusal("INVALID_ROLE_ID")
        rid, name = self.roles[role_id.lower()]
        if entry.get("botId") in (None, ""):
            return "admin", {"roleId": rid, "roleName": name}
        bot = self._bot(entry["botId"])
        return "bt", {"roleId": rid, "botId": bot, "roleName": name, "botName": self.bots[bot.lower()][1]}

    def group(self, entry: Any) -> dict[str, str]:
        gid = entry.get("groupId") if isinstance(entry, dict) else entry
        if not isinstance(gid, str) or not GROUP_ID_RE.match(gid) or gid.lower() not in self.groups:
            raise _Refusal("INVALID_GROUP_ID")
        canonical, name = self.groups[gid.lower()]
        return {"groupId": canonical, "groupName": name}

    def task(self, entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise _Refusal("INVALID_BOT_ID")
        bot = self._bot(entry.get("botId"))
        dialogs = entry.get("dialogs") or []
        known = self.dialogs.get(bot.lower())  # a bot without a dialog list accepts any dg- id
        for d in dialogs if isinstance(dialogs, list) else [None]:
            if not isinstance(d, str) or not DIALOG_ID_RE.match(d) or (known and d.lower() not in known):
                raise _Refusal("INVALID_DIALOG_ID")
        return {"botId": bot, "dialogs": list(dialogs)}


def _echo(email: Any) -> Any:
    """The server echoes addresses in lower case (SPEC: "may echo emails in another case")."""
    return email.lower() if isinstance(email, str) else email


def _user_failure(info: Any, refusal: _Refusal) -> dict[str, Any]:
    """An add/update ``failedUserDetails`` entry."""
    info = info if isinstance(info, dict) else {}
    out: dict[str, Any] = {"emailId": _echo(info["emailId"])} if "emailId" in info else {}
    for key in ("orgUserId", "firstName"):
        if key in info:
            out[key] = info[key]
    out.update(status="failure", reason=refusal.reason())
    return {"userInfo": out}


def _flag(user: dict[str, Any], key: str, default: bool | None) -> bool | None:
    value = user.get(key, default)
    if value is not None and not isinstance(value, bool):
        raise _Refusal("INVALID_PARAMETERS", f"{key} must be true or false")
    return value


def _dedupe(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _as_add_payload(user: dict[str, Any]) -> dict[str, Any]:
    """A seed user as an add payload: a bare userInfo dict, an add payload, or a usersInfo object."""
    if "userInfo" not in user:
        return {"userInfo": user}
    payload = dict(user)
    roles = payload.get("roles")
    if isinstance(roles, dict):  # usersInfo shape {"btRoles", "adminRoles"}
        payload["roles"] = [*roles.get("btRoles", []), *roles.get("adminRoles", [])]
    return payload


