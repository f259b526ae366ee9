"""Odd replies: what a real server may answer on a bad day, one switch each (``odd`` in the config).

The vendor's pages show a success sentence and a failure list; a real server behind a proxy, in a
degraded state or of another version may answer otherwise.  Each switch below makes the emulator
answer one such way, so every promise bulkprov makes is tested against it (the conformance table,
``tests/e2e/test_conformance_table.py``).  Several switches may be on at once; ``odd_pattern`` (a regular
expression over emails) narrows ``info-omit`` to some users.

``bulkprov mock-server --odd NAME`` (repeatable) turns one on; so does ``{"odd": [NAME]}`` in a seed
file or ``POST /_admin/config``.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

# name -> what the emulator then does (the README's list is this table)
ODD_REPLIES: dict[str, str] = {
    "write-empty": "add/update/remove: HTTP 200 `{}`, and nothing is done",
    "write-status-error": "add/update/remove: HTTP 200 `{\"status\": \"error\", \"message\": \"Internal error\"}`, "
                          "nothing done",
    "write-error": "add/update/remove: HTTP 200 `{\"error\": \"Something went wrong\"}`, nothing done",
    "write-failed-string": "add/update/remove: HTTP 200 `{\"failedUserDetails\": \"all users failed\"}`, "
                           "nothing done",
    "write-queued": "add/update/remove: HTTP 202 `{\"msg\": \"Request queued\"}`, nothing done (yet)",
    "write-other-msg": "add/update/remove: the work is done, then HTTP 200 `{\"msg\": \"OK\"}`",
    "write-html": "add/update/remove: the work is done, then HTTP 200 with an HTML page",
    "write-empty-body": "add/update/remove: the work is done, then HTTP 200 with an empty body",
    "write-stranger": "add/update/remove: HTTP 200 with a failure naming a user that was not sent, nothing done",
    "write-400-partial": "add/update/remove: every user but the first is done, then HTTP 400 with a failure "
                         "naming only the first",
    "info-omit": "usersInfo leaves out the users `odd_pattern` matches (every user when unset), found or not",
    "info-wrong-user": "usersInfo by orgUserIds answers each id with another user of the account",
    "list-skip-one": "the listing leaves out the account's second user on every read (`total` counts it)",
    "list-stop-early": "the listing's first page says `availableMore: false` whatever `total` says",
    "list-doubled": "the listing gives every entry twice (a page holds half the users it seems to)",
    "list-removed-between": "another admin removes the account's first user while the second page is read (once)",
    "list-added-between": "another admin adds a user at the front while the second page is read (once)",
    "directory-short-pages": "the roles, groups and bots calls give at most 20 a page, whatever `limit` asks",
    "directory-repeat-page": "the groups and bots calls ignore `offset`: every page is the first one",
    "directory-skip-one": "the roles, groups and bots calls leave out the second entry of every listing (`total` "
                          "counts it)",
    "directory-forbidden": "the roles, groups and bots calls answer HTTP 403 (an app without the Role Management "
                           "scope, in another shape than the listing's 401)",
}

WRITE_OPS = ("add", "update", "remove")
STRANGER = "someone.else@elsewhere.example"
_NOTHING_DONE = {
    "write-empty": (200, {}),
    "write-status-error": (200, {"status": "error", "message": "Internal error"}),
    "write-error": (200, {"error": "Something went wrong"}),
    "write-failed-string": (200, {"failedUserDetails": "all users failed"}),
    "write-queued": (202, {"msg": "Request queued"}),
    "write-stranger": (200, {"failedUserDetails": [{"emailId": STRANGER, "reason": {
        "statusCode": 400, "message": "Unauthorized to perform this activity", "name": "BadRequest"}}]}),
}
_AFTER_WORK = {
    "write-other-msg": (200, {"msg": "OK"}),
    "write-html": (200, "<html><head><title>Gateway</title></head><body>Done</body></html>"),
    "write-empty-body": (200, ""),
}


def check(names: list[str]) -> None:
    unknown = sorted(set(names) - set(ODD_REPLIES))
    if unknown:
        raise ValueError(f"unknown odd reply {', '.join(unknown)}; known: {', '.join(ODD_REPLIES)}")


def write_instead(odd: list[str], op: str) -> tuple[int, Any] | None:
    """The reply a write gets without anything being done, when a switch says so."""
    if op not in WRITE_OPS:
        return None
    for name in odd:
        if name in _NOTHING_DONE:
            status, body = _NOTHING_DONE[name]
            return status, copy.deepcopy(body)
    return None


def write_after(odd: list[str], op: str) -> tuple[int, Any] | None:
    """The reply a write gets after the work was done, when a switch says so (text for a non-JSON body)."""
    if op not in WRITE_OPS:
        return None
    for name in odd:
        if name in _AFTER_WORK:
            return _AFTER_WORK[name]
    return None


def partial_failure(first: Any) -> dict[str, Any]:
    """``write-400-partial``: the failure naming only the first user sent."""
    info = first.get("userInfo") if isinstance(first, dict) else None
    ident = (info.get("emailId") or info.get("orgUserId")) if isinstance(info, dict) else first
    return {"failedUserDetails": [{"emailId": ident, "reason": {
        "statusCode": 400, "message": "Unauthorized to perform this activity", "name": "BadRequest"}}]}


def new_user(n: int) -> dict[str, Any]:
    """``list-added-between``: the user another admin adds."""
    return {"userInfo": {"emailId": f"added.meanwhile{n}@elsewhere.example", "userId": f"u-{uuid.uuid4()}",
                         "firstName": "Added", "lastName": "Meanwhile"},
            "roles": {"btRoles": [], "adminRoles": []}, "assignBotTasks": [], "groups": [],
            "canCreateBot": False, "isDeveloper": False}
