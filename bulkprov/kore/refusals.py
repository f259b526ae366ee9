"""A server's refusal of a role, bot or group, in words: which one, by name and id.

The server says ``INVALID_ROLE_ID`` (the emulator), "Invalid roleId" or "Group not found" -- no page
documents the words, and none names the role.  :func:`in_words` reads which kind the words are about and
names the row's own entries of that kind, with the names the row wrote them by ("role 'Bot Tester'
(5c9d…0f12) does not exist on this account"), keeping the server's words after it.  When the words quote
one of the row's ids, that one is named; otherwise every entry of that kind the row sends (one of them
is refused).  Words about anything else, or a row with no entry of that kind, are left as the server
said them (None).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bulkprov.bodies import change_entries
from bulkprov.errors import OUTCOME_CODES

_REFUSAL = re.compile(r"invalid|not found|not exist|doesn t exist|unknown|no such|not available")
_KINDS = (("role", re.compile(r"\broles?\b")), ("group", re.compile(r"\bgroups?\b")), ("bot", re.compile(r"\bbots?\b")))


def short_id(ident: str) -> str:
    """An id as a person reads it in a sentence: ``5c9d…0f12`` (long ids), else whole."""
    return ident if len(ident) <= 12 else f"{ident[:4]}…{ident[-4:]}"


def refused_kind(message: str) -> str:
    """``role``, ``group`` or ``bot`` when the server's words refuse one of those; "" otherwise."""
    text = re.sub(r"[_\-'’]", " ", message).casefold()
    text = re.sub(r"\b(role|group|bot)(ids?)\b", r"\1 \2", text)  # roleId -> role id
    if not _REFUSAL.search(text) or re.search(r"\bdialog|\btask", text):
        return ""
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return ""


def _entries(user: Mapping[str, Any], kind: str) -> list[str]:
    """The ids of a kind a user object sends (an add's lists, an update's ``addTo`` and ``removeFrom``)."""
    listed = change_entries
    out: list[str] = []
    if kind == "group":
        out = [g for g in listed(user.get("groups")) if isinstance(g, str)]
    elif kind == "role":
        out = [r["roleId"] for r in listed(user.get("roles")) if isinstance(r, dict) and r.get("roleId")]
    else:
        out = [r["botId"] for r in listed(user.get("roles")) if isinstance(r, dict) and r.get("botId")]
        out += [t["botId"] for t in listed(user.get("assignBotTasks")) if isinstance(t, dict) and t.get("botId")]
    return list(dict.fromkeys(out))


def in_words(message: str, user: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    """The row's refused role, bot or group by name and id (module docstring); None to keep the server's words.

    ``names``: the names the row wrote its ids by (id, case-folded -> the name as typed)."""
    kind = refused_kind(message or "")
    if not kind:
        return None
    ids = _entries(user, kind)
    quoted = [i for i in ids if i.casefold() in (message or "").casefold()]
    ids = quoted or ids
    if not ids:
        return None

    def which(ident: str) -> str:
        name = names.get(ident.casefold())
        return f"'{name}' ({short_id(ident)})" if name else short_id(ident)

    variant = kind if len(ids) == 1 else f"{kind}s"
    return OUTCOME_CODES["server-refused"].render(variant, which=", ".join(which(i) for i in ids), said=message)
