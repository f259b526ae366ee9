"""The account's directory listings: ``GET /api/public/roles``, ``/groups`` and ``/bots``.

Served from the emulator's own roles, bots and groups (:func:`bulkprov.emulator.config.demo_seed` by
default), in the shapes of the vendor's pages (``../shared/kore-docs/directory-apis.md``):

* roles: ``roleType`` required (``bot`` or ``admin``; anything else is a 400), ``limit`` at most 50,
  **no offset** (the page documents none: it is ignored, so more than 50 roles of one type repeat
  their first page); ``{"total", "availableMore", "roles": [{roleType, _id, role, rDesc,
  permissions}]}`` -- with ``replies="documented"`` admin roles carry no ``_id``, as the sample shows;
* groups and bots: ``offset`` and ``limit`` (at most 50); what ``offset`` counts is the setting
  ``directory_offset``: ``pages`` (the groups page's "page number", the default) or ``records``;
  a group lists its members (``users``: the account's users in it) and ``userCount``;
  a bot carries ``jwtApps`` with a ``clientSecret`` that starts with ``bot_app_secret`` (tests plant a
  canary there and look for it everywhere bulkprov writes).

The three need the Role Management scope: ``role_management_scope=False`` refuses them (401, as the
listing), and the ``directory-*`` odd switches (:mod:`bulkprov.emulator.odd`) give short pages, a
repeated page, an entry left out, or a 403.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from bulkprov.emulator.config import API_BOTS, API_GROUPS, API_ROLES

DIRECTORY_OPS = {API_ROLES: "roles", API_GROUPS: "groups", API_BOTS: "bots"}
MAX_LIMIT = 50  # documented for all three
SHORT_PAGE = 20  # directory-short-pages: what a page holds at most
FORBIDDEN_BODY = {"errors": [{"msg": "You are not authorized to perform this operation", "code": 403}]}
_ACCOUNT_ORG = "o-3a4b5c6d-7e8f-5a9b-8c0d-1e2f3a4b5c6d"


def _int(value: Any, default: int) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


class Listings:
    """The directory half of :class:`bulkprov.emulator.server.Emulator` (it owns the state read here)."""

    def _directory_listing(self, op: str, query: Any) -> tuple[int, dict[str, Any]]:
        """``(status, body)`` of one page of ``roles``, ``groups`` or ``bots``."""
        odd = self.config.odd
        limit = max(1, min(_int(query.get("limit"), MAX_LIMIT), MAX_LIMIT))
        if "directory-short-pages" in odd:
            limit = min(limit, SHORT_PAGE)
        if op == "roles":
            role_type = query.get("roleType")
            if role_type not in ("bot", "admin"):
                return 400, {"errors": [{"msg": "roleType must be bot or admin", "code": 400}]}
            items = [self._role_item(rid, name, role_type) for rid, name in self.config.roles.items()
                     if self.config.role_types.get(rid, "bot") == role_type]
            start = 0  # no documented offset: ignored
        else:
            items = self._group_items() if op == "groups" else self._bot_items()
            offset = _int(query.get("offset"), 0)
            start = offset if self.config.directory_offset == "records" else offset * limit
            if "directory-repeat-page" in odd:
                start = 0
        total = len(items)
        page = items[start:start + limit]
        if "directory-skip-one" in odd:
            page = [item for i, item in enumerate(page, start) if i != 1]
        return 200, {"total": total, "availableMore": start + limit < total, op: page}

    def _role_item(self, role_id: str, name: str, role_type: str) -> dict[str, Any]:
        item: dict[str, Any] = {"roleType": role_type}
        if role_type == "bot" or not self.config.documented:  # the sample's admin role has no _id
            item["_id"] = role_id
        # the sample's permissions are "{...}": documented, the emulator shows no key it could not vouch for
        permissions = {} if self.config.documented else {"BOT_BUILDER" if role_type == "bot" else "USER_MANAGEMENT":
                                                          ["VIEW"]}
        item.update(role=name, rDesc=self.config.descriptions.get(role_id, ""), permissions=permissions)
        return item

    def _group_items(self) -> list[dict[str, Any]]:
        members: dict[str, list[dict[str, Any]]] = {gid.lower(): [] for gid in self.config.groups}
        for user in self.users.values():
            for group in user.get("groups") or []:
                members.setdefault(str(group.get("groupId", "")).lower(), []).append(user)
        out = []
        for gid, name in self.config.groups.items():
            users = [_member(u) for u in members.get(gid.lower(), [])]
            out.append({"_id": gid, "gN": name, "gDesc": self.config.descriptions.get(gid, ""), "groups": [],
                        "users": users, "userCount": len(users)})
        return out

    def _bot_items(self) -> list[dict[str, Any]]:
        out = []
        for bid, name in self.config.bots.items():
            bot: dict[str, Any] = {"_id": bid, "name": name, "purpose": "customer", "status": "published",
                                   "defaultLanguage": "en", "accountId": self.config.account_id,
                                   "createdBy": "u-" + str(uuid.uuid5(uuid.NAMESPACE_URL, name))}
            if not self.config.documented:  # the sample shows no description; bulkprov reads one if there
                bot["description"] = self.config.descriptions.get(bid, "")
            bot["jwtApps"] = [{"clientId": "cs-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"app/{bid}")),
                               "clientSecret": self._bot_secret(bid)}]
            out.append(bot)
        return out

    def _bot_secret(self, bot_id: str) -> str:
        return f"{self.config.bot_app_secret}-{hashlib.sha256(bot_id.encode()).hexdigest()[:16]}"


def _member(user: dict[str, Any]) -> dict[str, Any]:
    """A group's member as the Get Groups sample shows one."""
    info = user["userInfo"]
    return {"_id": info.get("userId", ""), "emailId": info.get("emailId", ""), "firstName": info.get("firstName", ""),
            "lastName": info.get("lastName", ""), "activationStatus": info.get("activationStatus", "active"),
            "jTitle": "", "orgId": _ACCOUNT_ORG}
