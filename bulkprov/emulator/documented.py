"""The reply shapes exactly as Kore.ai's pages print them (``replies="documented"``).

bulkprov's own emulator used to answer in the shapes bulkprov assumed (every stored field, the
``orgUserId`` echoed, failures named by the key that was sent), so the suite checked the client
against its own assumptions.  In documented mode the emulator answers as the vendor's samples do
(tests/fixtures/kore-docs/): usersInfo returns ``userInfo`` with ``emailId``, ``userId``,
``firstName`` and ``lastName`` only; a missing user is ``{"userInfo": {"emailId", "status":
"failure", "reason": "Invalid emailId"}}`` (one object on its own when it is the whole reply, as
the Korean page prints it); a refused removal names the user by ``emailId`` only, also when the
request named it by ``orgUserIds``; reasons are the full ``BadRequest`` objects of the pages.
"""

from __future__ import annotations

from typing import Any

from bulkprov.schema import EMAIL_RE

DOCUMENTED_INFO_FIELDS = ("emailId", "userId", "firstName", "lastName")
UNAUTHORIZED = "Unauthorized to perform this activity"  # the remove page's failure
DEFAULT_NOT_FOUND = {"documented": "Invalid emailId", "full": "User not found"}


def reason_object(msg: str, message: str | None = None, status: int = 400, name: str = "BadRequest") -> dict[str, Any]:
    """The reason object of the add and remove pages' failures (every key they print)."""
    return {"statusCode": status, "status": status, "customCode": status, "errors": [{"msg": msg, "code": status}],
            "_headers": {}, "message": message or msg, "name": name}


def info_found(stored: dict[str, Any], bots: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A found user as the Get Users Info page prints it (its keys, its order)."""
    info = stored["userInfo"]
    roles = stored.get("roles") or {}
    return {
        "canCreateBot": stored.get("canCreateBot"),
        "isDeveloper": stored.get("isDeveloper"),
        "userInfo": {k: info.get(k, "") for k in DOCUMENTED_INFO_FIELDS},
        "roles": {
            "btRoles": [{"roleId": r["roleId"], "roleName": r.get("roleName", ""), "groups": [],
                         "botId": r["botId"], "botName": bot_name(bots, r["botId"])} for r in roles.get("btRoles") or []],
            "adminRoles": [{"roleId": r["roleId"], "roleName": r.get("roleName", ""), "groups": []}
                           for r in roles.get("adminRoles") or []],
        },
        "assignBotTasks": [{"botId": t["botId"], "dialogs": list(t.get("dialogs") or []), "actions": [],
                            "alerts": [], "knowledgeTask": []} for t in stored.get("assignBotTasks") or []],
        "groups": [{"groupId": g["groupId"], "groupName": g.get("groupName", "")} for g in stored.get("groups") or []],
    }


def info_missing(ident: Any, reason: str) -> dict[str, Any]:
    """A user usersInfo did not find: the reason is a string, or the full object for a malformed
    address (the English page's failure case, ``a3q4``)."""
    malformed = not (isinstance(ident, str) and EMAIL_RE.fullmatch(ident))
    said: Any = reason_object(reason) if malformed else reason
    return {"userInfo": {"emailId": ident, "status": "failure", "reason": said}}


def info_reply(entries: list[dict[str, Any]]) -> tuple[int, Any]:
    """The usersInfo reply: an array; a lone failure is one object on its own (HTTP 400, assumed)."""
    failures = [e for e in entries if e.get("userInfo", {}).get("status") == "failure"]
    if len(entries) == 1 and failures:
        return 400, entries[0]
    return (400 if entries and len(failures) == len(entries) else 200), entries


def write_failure(email: Any, info: dict[str, Any], msg: str, message: str) -> dict[str, Any]:
    """An add/update failure as the add page prints it: emailId, firstName, status, reason."""
    out: dict[str, Any] = {"emailId": email}
    if "firstName" in info:
        out["firstName"] = info["firstName"]
    out.update(status="failure", reason=reason_object(msg, message))
    return {"userInfo": out}


def remove_failure(email: Any, message: str) -> dict[str, Any]:
    """A remove failure as the remove page prints it: named by emailId only."""
    return {"emailId": email, "reason": reason_object(message)}


def bot_name(bots: dict[str, tuple[str, str]], bot_id: Any) -> str:
    """The directory's name of a bot (``bots``: lower-cased id -> (id, name))."""
    return bots.get(str(bot_id).lower(), ("", ""))[1]


def listing_entry(stored: dict[str, Any], bots: dict[str, tuple[str, str]], account_id: str) -> dict[str, Any]:
    """One user of ``alluserroles`` as the Get User Roles Details page prints it."""
    info = stored["userInfo"]
    entry: dict[str, Any] = {"username": info["emailId"]}
    if info.get("orgUserId"):
        entry["orgUserId"] = info["orgUserId"]
    roles = stored.get("roles") or {}
    entry.update({
        "accountId": account_id, "isDeveloper": stored.get("isDeveloper"), "canCreateBot": stored.get("canCreateBot"),
        "userId": info.get("userId", ""),
        "btRoles": [{"roleId": r["roleId"], "roleName": r.get("roleName", ""), "groups": [], "botId": r["botId"],
                     "botName": bot_name(bots, r["botId"])} for r in roles.get("btRoles") or []],
        "adminRoles": [{"roleId": r["roleId"], "roleName": r.get("roleName", ""), "groups": []}
                       for r in roles.get("adminRoles") or []],
    })
    return entry
