"""The emulator's accounts: users in memory, and what add, update, remove and usersInfo do to them.

Users are keyed case-insensitively by ``emailId`` (and indexed by ``orgUserId``).  Per-user refusals
(invalid email, user already exists, unknown role, bot, dialog or group, user not found, a refused
removal) come back in ``failedUserDetails``; a user absent from it succeeded.  With
``replies="documented"`` every reply takes the shape of Kore.ai's pages
(:mod:`bulkprov.emulator.documented`).  :class:`Accounts` is the state half of
:class:`bulkprov.emulator.server.Emulator` (the request pipeline and faults are the other half).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from bulkprov.emulator import documented
from bulkprov.emulator.config import SUCCESS_MSG
from bulkprov.emulator.directory import (
    _dedupe,
    _echo,
    _exists,
    _flag,
    _not_found,
    _Refusal,
    _user_failure,
)
from bulkprov.schema import EMAIL_RE, USER_INFO_FIELDS


class Accounts:
    """Users of one emulated account (mixed into the Emulator, which owns the state it reads)."""


    def _apply(self, op: str, body: dict[str, Any], items: list[Any]) -> tuple[int, Any]:
        self.counts[f"{op}_calls"] += 1
        if op == "info":
            return self._lookup(body, items)
        failures: list[dict[str, Any]] = []
        for item in items:
            failure = self._apply_one(op, body, item)
            if failure is not None:
                failures.append(failure)
        self.counts["failed_users"] += len(failures)
        if not failures:
            return 200, {"msg": SUCCESS_MSG[op]}
        return (400 if len(failures) == len(items) else 200), {"failedUserDetails": failures}

    def _apply_one(self, op: str, body: dict[str, Any], item: Any) -> dict[str, Any] | None:
        if op == "remove":
            return self._remove_one(item, by_org="deleteEmailIds" not in body)
        info = item.get("userInfo") if isinstance(item, dict) else None
        if op == "add":
            if isinstance(info, dict) and isinstance(info.get("emailId"), str):
                self.create_attempts_per_email[info["emailId"].casefold()] += 1
            stored, refusal = self._add_one(item, send_email=body.get("sendEmail", True))
            if stored is not None:
                key = stored["userInfo"]["emailId"].casefold()
                self.counts["created"] += 1
                self.created_per_email[key] += 1
        else:
            refusal = self._update_one(item)
            self.counts["updated"] += refusal is None
            if refusal is None and isinstance(info, dict):
                key = self._find(info.get("emailId"), info.get("orgUserId"))
                self.updated_per_email[key or "?"] += 1
        if refusal is None:
            return None
        if self.config.documented:  # named by emailId only, as the add page shows
            return documented.write_failure(self._email_for(info), info if isinstance(info, dict) else {},
                                            refusal.code, self._said(refusal))
        return _user_failure(info, refusal)

    def _email_for(self, info: Any) -> Any:
        """The emailId a documented failure names: the user's own, else whatever identified it."""
        if not isinstance(info, dict):
            return None
        key = self._find(info.get("emailId"), info.get("orgUserId"))
        if key is not None:
            return self.users[key]["userInfo"]["emailId"]
        return _echo(info.get("emailId")) or info.get("orgUserId")

    def _not_found_text(self) -> str:
        return self.config.not_found_reason or documented.DEFAULT_NOT_FOUND[self.config.replies]

    def _said(self, refusal: _Refusal) -> str:
        return self._not_found_text() if refusal.code == "USER_NOT_FOUND" else refusal.message

    def _add_one(self, user: Any, send_email: bool) -> tuple[dict[str, Any] | None, _Refusal | None]:
        try:
            stored = self._build_user(user, send_email)
        except _Refusal as refusal:
            return None, refusal
        key = stored["userInfo"]["emailId"].casefold()
        self.users[key] = stored
        if stored["userInfo"].get("orgUserId"):
            self._by_org[stored["userInfo"]["orgUserId"]] = key
        return stored, None

    def _build_user(self, user: Any, send_email: bool) -> dict[str, Any]:
        """The stored (usersInfo-shaped) object for an add payload, or raise the user's refusal."""
        info = user.get("userInfo") if isinstance(user, dict) else None
        if not isinstance(info, dict):
            raise _Refusal("INVALID_PARAMETERS", "userInfo is required")
        email = info.get("emailId")
        if email in (None, ""):
            raise _Refusal("EMAIL_REQUIRED", "emailId is required")
        if not isinstance(email, str) or not EMAIL_RE.fullmatch(email):
            raise _Refusal("INVALID_EMAIL")
        if email.casefold() in self.users:
            raise _exists()
        org = info.get("orgUserId")
        if org and org in self._by_org:
            raise _Refusal("ORG_USER_ID_ALREADY_EXISTS", "orgUserId already exists", 409, "Conflict")
        bt_roles, admin_roles = self._roles(user.get("roles") or [])
        stored_info = {"emailId": email.lower(), "userId": f"u-{uuid.uuid4()}"}
        stored_info.update({k: info[k] for k in USER_INFO_FIELDS if k in info and k != "emailId"})  # others ignored
        stored_info["activationStatus"] = info.get("activationStatus") or ("invited" if send_email else "active")
        return {
            "userInfo": stored_info,
            "roles": {"btRoles": bt_roles, "adminRoles": admin_roles},
            "assignBotTasks": self._tasks(user.get("assignBotTasks") or []),
            "groups": self._groups(user.get("groups") or []),
            "canCreateBot": _flag(user, "canCreateBot", True),  # the documented server default
            "isDeveloper": _flag(user, "isDeveloper", True),
            "activationEmailSent": send_email,
        }

    def _roles(self, entries: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        if not isinstance(entries, list):
            raise _Refusal("INVALID_ROLE_ID")
        bt: list[dict[str, str]] = []
        admin: list[dict[str, str]] = []
        for entry in entries:
            kind, role = self._directory.role(entry)
            (bt if kind == "bt" else admin).append(role)
        return _dedupe(bt), _dedupe(admin)

    def _groups(self, entries: Any) -> list[dict[str, str]]:
        if not isinstance(entries, list):
            raise _Refusal("INVALID_GROUP_ID")
        return _dedupe([self._directory.group(g) for g in entries])

    def _tasks(self, entries: Any) -> list[dict[str, Any]]:
        if not isinstance(entries, list):
            raise _Refusal("INVALID_BOT_ID")
        return [self._directory.task(t) for t in entries]

    def _find(self, email: Any = None, org: Any = None) -> str | None:
        """The users-dict key of the user with this email (or, without one, this orgUserId)."""
        if isinstance(email, str) and email:
            return email.casefold() if email.casefold() in self.users else None
        if isinstance(org, str) and org:
            return self._by_org.get(org)
        return None

    def _update_one(self, user: Any) -> _Refusal | None:
        """Validate every change first, then apply them all: a refused user is left untouched."""
        info = user.get("userInfo") if isinstance(user, dict) else None
        if not isinstance(info, dict):
            return _Refusal("INVALID_PARAMETERS", "userInfo is required")
        key = self._find(info.get("emailId"), info.get("orgUserId"))
        if key is None:
            return _not_found()
        try:
            changed = self._updated_copy(self.users[key], user, info)
        except _Refusal as refusal:
            return refusal
        old_org = self.users[key]["userInfo"].get("orgUserId")
        if old_org and self._by_org.get(old_org) == key:
            del self._by_org[old_org]
        if changed["userInfo"].get("orgUserId"):
            self._by_org[changed["userInfo"]["orgUserId"]] = key
        self.users[key] = changed
        return None

    def _updated_copy(self, current: dict[str, Any], user: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(current)
        org = info.get("orgUserId")
        if org and info.get("emailId") and self._by_org.get(org) not in (None, self._find(info["emailId"])):
            raise _Refusal("ORG_USER_ID_ALREADY_EXISTS", "orgUserId already exists", 409, "Conflict")
        new["userInfo"].update({k: info[k] for k in USER_INFO_FIELDS if k in info and k != "emailId"})
        if "groups" in user:
            new["groups"] = self._changed_groups(new["groups"], user["groups"])
        if "roles" in user:
            new["roles"] = self._changed_roles(new["roles"], user["roles"])
        if "assignBotTasks" in user:
            new["assignBotTasks"] = self._tasks(user["assignBotTasks"] or [])
        for flag in ("canCreateBot", "isDeveloper"):
            if user.get(flag) is not None:
                new[flag] = _flag(user, flag, None)
        return new

    def _changed_groups(self, current: list[dict[str, str]], change: Any) -> list[dict[str, str]]:
        if isinstance(change, list):  # lenient: a plain list replaces the groups
            return self._groups(change)
        if not isinstance(change, dict):
            raise _Refusal("INVALID_GROUP_ID")
        drop = {g["groupId"] for g in self._groups(change.get("removeFrom") or [])}
        kept = [g for g in current if g["groupId"] not in drop]
        return _dedupe(kept + self._groups(change.get("addTo") or []))

    def _changed_roles(self, current: dict[str, list[dict[str, str]]], change: Any) -> dict[str, Any]:
        if isinstance(change, list):  # lenient: a plain list replaces the roles
            bt, admin = self._roles(change)
            return {"btRoles": bt, "adminRoles": admin}
        if not isinstance(change, dict):
            raise _Refusal("INVALID_ROLE_ID")
        drop_bt, drop_admin = self._roles(change.get("removeFrom") or [])
        add_bt, add_admin = self._roles(change.get("addTo") or [])
        bt = [r for r in current["btRoles"] if r not in drop_bt]
        admin = [r for r in current["adminRoles"] if r not in drop_admin]
        return {"btRoles": _dedupe(bt + add_bt), "adminRoles": _dedupe(admin + add_admin)}

    def _remove_one(self, ident: Any, by_org: bool) -> dict[str, Any] | None:
        key = self._find(org=ident) if by_org else self._find(email=ident)
        echoed = ident if by_org else _echo(ident)
        label = "orgUserId" if by_org else "emailId"
        if key is None:
            if self.config.documented:
                return documented.remove_failure(echoed, self._not_found_text())
            return {label: echoed, "reason": {"statusCode": 404, "message": self._not_found_text(), "name": "NotFound"}}
        email = self.users[key]["userInfo"]["emailId"]
        pattern = self.config.refuse_remove_pattern
        if pattern and re.search(pattern, email):
            if self.config.documented:  # the remove page's failure: named by emailId, whatever was sent
                return documented.remove_failure(email, documented.UNAUTHORIZED)
            return {label: echoed, "reason": documented.reason_object(documented.UNAUTHORIZED)}
        self._drop(key)
        self.counts["removed"] += 1
        return None

    def _drop(self, key: str) -> None:
        gone = self.users.pop(key)
        org = gone["userInfo"].get("orgUserId")
        if org and self._by_org.get(org) == key:
            del self._by_org[org]

    def _lookup(self, body: dict[str, Any], items: list[Any]) -> tuple[int, Any]:
        """usersInfo.  Full replies: found users in full; a missing one's reason is a string for an
        email lookup and an object for an orgUserId lookup, so clients must read both forms.
        Documented replies: see :mod:`bulkprov.emulator.documented`."""
        by_org = "emailIds" not in body
        reason = self._not_found_text()
        out: list[dict[str, Any]] = []
        for ident in items:
            key = self._find(org=ident) if by_org else self._find(email=ident)
            if self._omitted(ident, key):
                continue
            if by_org and key is not None and "info-wrong-user" in self.config.odd:
                key = self._another_user(key, items)
            if self.config.documented:
                out.append(documented.info_found(self.users[key], self._directory.bots) if key is not None
                           else documented.info_missing(ident if by_org else _echo(ident), reason))
            elif key is not None:
                found = copy.deepcopy(self.users[key])
                fields = self.config.users_info_fields
                if fields is not None:  # a server that returns fewer fields than it stores
                    found["userInfo"] = {k: v for k, v in found["userInfo"].items() if k in fields}
                out.append(found)
            elif by_org:
                out.append({"userInfo": {"orgUserId": ident, "status": "failure",
                                         "reason": {"message": reason, "statusCode": 404}}})
            else:
                out.append({"userInfo": {"emailId": _echo(ident), "status": "failure", "reason": reason}})
        return documented.info_reply(out) if self.config.documented else (200, out)

    def _omitted(self, ident: Any, key: str | None) -> bool:
        """``info-omit``: is this user left out of the usersInfo reply?"""
        if "info-omit" not in self.config.odd:
            return False
        pattern = self.config.odd_pattern
        email = self.users[key]["userInfo"]["emailId"] if key is not None else str(ident)
        return pattern is None or re.search(pattern, email) is not None

    def _another_user(self, key: str, asked: list[Any]) -> str:
        """``info-wrong-user``: a user of the account that is neither this one nor one asked about."""
        asked_keys = {self._by_org.get(i) for i in asked if isinstance(i, str)}
        for other in self.users:
            if other != key and other not in asked_keys:
                return other
        return key

    def _listing(self, query: Any) -> dict[str, Any]:
        """``alluserroles``: one page of every user (``limit`` capped at ``page_limit``; assumed default 50).
        The ``list-*`` odd switches change what a page holds (:mod:`bulkprov.emulator.odd`)."""
        limit = max(1, min(_int(query.get("limit"), 50), self.config.page_limit))
        offset = _int(query.get("offset"), 0)
        odd = self.config.odd
        if offset > 0:
            self._meanwhile(odd)
        users = list(self.users.values())
        total = len(users)
        if "list-doubled" in odd:
            half = max(1, limit // 2)
            page = [u for u in users[offset:offset + half] for _twice in (0, 1)]
            more = offset + half < total
        else:
            page = [u for i, u in enumerate(users[offset:offset + limit], offset)
                    if not ("list-skip-one" in odd and i == 1)]
            more = offset + limit < total
        if "list-stop-early" in odd and offset == 0:
            more = False
        return {"total": total, "availableMore": more,
                "users": [documented.listing_entry(u, self._directory.bots, self.config.account_id) for u in page]}

    def _meanwhile(self, odd: list[str]) -> None:
        """What another admin does while a later page is read (once per reset)."""
        if "list-removed-between" in odd and "removed" not in self._odd_done and self.users:
            self._odd_done.add("removed")
            self._drop(next(iter(self.users)))
        if "list-added-between" in odd and "added" not in self._odd_done:
            self._odd_done.add("added")
            from bulkprov.emulator.odd import new_user

            user = new_user(len(self.users))
            self.users = {user["userInfo"]["emailId"]: user, **self.users}


def _int(value: Any, default: int) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default

