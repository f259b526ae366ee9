"""Roles on the page, checked on the server for every route: viewer < operator < approver.

* ``viewer`` sees the runs and downloads their results;
* ``operator`` also uploads, checks and runs (a run that needs approval becomes a request);
* ``approver`` also approves or rejects requests — never their own — and reads the audit trail.

A local user's role comes from the profile (``web_roles``; operator when not listed); a single
sign-on user's from the groups claim (``oidc_roles``: group → role, the highest wins; no mapped
group means no access).  Pages show only what the role allows, and the server refuses the rest.
"""

from __future__ import annotations

import re
from typing import Any

ROLES = ("viewer", "operator", "approver")

# (method, path pattern) -> the least role; anything not listed needs only a session.
RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/upload$"), "operator"),
    ("GET", re.compile(r"^/$"), "operator"),
    ("GET", re.compile(r"^/uploads/"), "operator"),
    ("POST", re.compile(r"^/uploads/[^/]+/run$"), "operator"),
    ("GET", re.compile(r"^/template\."), "operator"),
    ("POST", re.compile(r"^/requests/[^/]+/(approve|reject)$"), "approver"),
    ("GET", re.compile(r"^/audit"), "approver"),
]


def rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def allows(role: str, needed: str) -> bool:
    return rank(role) >= rank(needed)


def needed_role(method: str, path: str) -> str:
    for rule_method, pattern, role in RULES:
        if (method == rule_method or (rule_method == "GET" and method == "HEAD")) and pattern.match(path):
            return role
    return "viewer"


def role_from_groups(groups: list[str], mapping: dict[str, str]) -> str | None:
    """The highest role any of the person's groups maps to, or None (no access)."""
    found = [mapping[g] for g in groups if g in mapping and mapping[g] in ROLES]
    return max(found, key=rank) if found else None


def current_role(session: Any, config: Any, now: float) -> str:
    """A signed-in person's role as it is *now*: a local user's from the profile and policy read again (gone
    from ``web_users``: none); a single sign-on person's from groups the provider confirmed within
    ``config.role_refresh`` seconds (older: viewer, until a silent refresh confirms them again)."""
    users, local, groups = config.current()
    if session.method == "oidc":
        if session.refreshed is None or now - session.refreshed > config.role_refresh:
            return "viewer" if session.role else ""
        return role_from_groups(session.groups, groups) or ""
    if session.method == "token":
        return local.get(session.user, "operator")
    if session.user not in users:
        return ""
    return local.get(session.user, "operator")
