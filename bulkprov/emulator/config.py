"""What the emulator can be told: accounts, faults, rate windows, reply styles, and the demo seed."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_CLIENT_ID = "cs-demo-client"
DEMO_CLIENT_SECRET = "demo-secret-change-me"

API_USERS = "/api/public/users"
API_USERS_INFO = "/api/public/usersInfo"
API_LIST = "/api/public/alluserroles"
API_ROLES, API_GROUPS, API_BOTS = "/api/public/roles", "/api/public/groups", "/api/public/bots"
OFFSET_STYLES = ("pages", "records")

RATE_MESSAGE = "Rate limit for this API has been reached. Please try again after some time."
RATE_REFUSAL_STYLES = ("429-retry-after", "429", "400-message", "400-retry-after")
REPLY_STYLES = ("full", "documented")
AUTH_BODY = {"errors": [{"msg": "Invalid SDK credentials", "code": 4002}]}
RATE_BODY = {"errors": [{"msg": RATE_MESSAGE, "code": 429}]}
POISON_BODY = {"errors": [{"msg": "Invalid user data", "code": 400}]}
UNAVAILABLE_JSON = {"errors": [{"msg": "Service Unavailable", "code": 503}]}
UNAVAILABLE_HTML = "<html>503 Service Unavailable</html>"

SUCCESS_MSG = {
    "add": "Users are created Successfully",
    "update": "Users are updated Successfully",
    "remove": "Users are removed Successfully",
}


# --------------------------------------------------------------------------------------------
# Configuration and the demo seed
# --------------------------------------------------------------------------------------------

def _hex_id(name: str, length: int) -> str:
    """Deterministic hex id derived from a name, so demo ids never change between runs."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bulkprov-demo/{name}").hex[:length]


def _uuid_id(prefix: str, name: str) -> str:
    return f"{prefix}-{uuid.uuid5(uuid.NAMESPACE_URL, f'bulkprov-demo/{prefix}/{name}')}"


def demo_seed() -> dict[str, Any]:
    """A realistic, deterministic seed: admin and bot roles, 3 bots with dialogs, 5 groups.

    Names match the examples in :mod:`bulkprov.schema` ("Bot Tester@Support Bot", "Support Agents",
    the example dialog id) so the template's example row is valid against the demo server.
    """
    roles = [
        {"roleId": _hex_id(f"role/{name}", 24), "name": name, "type": kind, "description": description}
        for name, kind, description in (
            ("Master Admin", "admin", "Everything in the Bot Admin Console"),
            ("Bot Admin", "admin", "Manages bots and their deployment"),
            ("User Management Admin", "admin", "Manages users, groups and roles"),
            ("Bot Owner", "bot", "Owns a bot: every permission on it"),
            ("Bot Developer", "bot", "Builds and tests a bot"),
            ("Bot Tester", "bot", "Talks to a bot to test it"),
        )
    ]
    bots = []
    for name, dialogs in (
        ("Support Bot", ("Reset Password", "Track Order", "Talk to Agent")),
        ("HR Assistant", ("Leave Balance", "Payslip", "Benefits FAQ")),
        ("IT Helpdesk", ("Open Ticket", "VPN Help", "Software Request")),
    ):
        ids = [_uuid_id("dg", f"{name}/{d}") for d in dialogs]
        if name == "Support Bot":
            ids[0] = "dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"  # schema.py's example botTasks value
        bots.append({"botId": _uuid_id("st", name), "name": name, "dialogs": ids})
    groups = [{"groupId": "e-06b41cdd-7678-5394-b958-40ca5662f502", "name": "Support Agents",  # SPEC's id
               "description": "First-line support"}]
    groups += [{"groupId": _uuid_id("e", n), "name": n} for n in ("Sales", "HR", "IT Operations", "Managers")]
    return {"roles": roles, "bots": bots, "groups": groups, "users": []}


def _seed_directory(seed: dict[str, Any]) -> dict[str, Any]:
    """Turn seed-file lists into the EmulatorConfig dicts (roles/bots/groups/dialogs)."""
    out: dict[str, Any] = {}
    if "roles" in seed:
        out["roles"] = _named(seed["roles"], "roleId")
        if isinstance(seed["roles"], list):
            out["role_types"] = {str(r["roleId"]): str(r["type"]) for r in seed["roles"] if r.get("type")}
    described = {str(item.get(key)): str(item["description"]) for kind, key in (
        ("roles", "roleId"), ("groups", "groupId"), ("bots", "botId")) if isinstance(seed.get(kind), list)
        for item in seed[kind] if isinstance(item, dict) and item.get("description")}
    if described:
        out["descriptions"] = {**seed.get("descriptions", {}), **described}
    if "groups" in seed:
        out["groups"] = _named(seed["groups"], "groupId")
    if "bots" in seed:
        out["bots"] = _named(seed["bots"], "botId")
        if isinstance(seed["bots"], list):
            out["dialogs"] = {b["botId"]: [_dialog_id(d) for d in b.get("dialogs") or []] for b in seed["bots"]}
    return out


def _named(items: Any, id_key: str) -> dict[str, str]:
    """A seed list ``[{id_key, "name"}]`` (or an already-built ``{id: name}``) as ``{id: name}``."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    return {str(item[id_key]): str(item.get("name", item[id_key])) for item in items}


def _dialog_id(item: Any) -> str:
    # Seed files may list dialogs as bare ids or as {"dialogId", "name"} objects.
    return str(item.get("dialogId") or item.get("id")) if isinstance(item, dict) else str(item)


_DEMO = _seed_directory(demo_seed())


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told; also the keys a seed file may carry.

    The role/bot/group directory defaults to :func:`demo_seed`'s, so ids from ``demo_seed()`` work
    against a plain ``Emulator()``.
    """

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    # (max requests, window seconds), rolling, all enforced; [] = unlimited.
    rate_windows: list[tuple[int, float]] = field(default_factory=lambda: [(60, 60.0), (1800, 3600.0)])
    # "429-retry-after" (429 + integer Retry-After, rounded up, >= 1), "429" (no header), "400-message" (400),
    # "400-retry-after" (400 with the header).
    rate_refusal: str = "429-retry-after"
    rate_counts_refused: bool = False  # do rate-refused requests take a slot in the windows?
    rate_tolerance: float = 0.02  # seconds of arrival jitter forgiven (see the module docstring)
    max_users_per_request: int | None = None
    fail_5xx: float = 0.0  # probability of a 503 with nothing applied
    fail_rate: float = 0.0  # probability of an injected rate refusal
    latency: float = 0.0  # seconds slept before applying
    commit_then_drop: float = 0.0  # probability of applying a write, then closing without a reply
    enforce_jti: bool = False  # every token must carry a jti never seen before
    # usersInfo returns only these userInfo fields (None: all it stores); the API does not document which.
    users_info_fields: list[str] | None = None
    poison_pattern: str | None = None  # re.search over emailIds: the whole write request is refused
    seed: int | None = None  # RNG seed for the probabilities above
    # "full": every stored field, orgUserId echoed, failures named by the key sent (bulkprov's assumptions);
    # "documented": exactly the shapes of Kore.ai's pages (see bulkprov.emulator.documented).
    replies: str = "full"
    not_found_reason: str | None = None  # reason text for a missing user (None: the reply style's own)
    refuse_remove_pattern: str | None = None  # re.search over emails: removal refused ("Unauthorized ...")
    other_client_rate: float = 0.0  # requests per second another client spends in the same rate windows
    prefill: int = 0  # requests another client made just before a reset (they fill the windows)
    page_limit: int = 100  # the largest alluserroles page (assumed: the page documents no maximum)
    role_management_scope: bool = True  # False: the listing is refused (an app without Role Management)
    # Odd replies a real server may give on a bad day, one switch each (bulkprov.emulator.odd.ODD_REPLIES).
    odd: list[str] = field(default_factory=list)
    odd_pattern: str | None = None  # re.search over emails: the users "info-omit" leaves out (None: all)
    account_id: str = "a-0d1e2f3a-4b5c-6d7e-8f9a-0b1c2d3e4f5a"
    roles: dict[str, str] = field(default_factory=lambda: dict(_DEMO["roles"]))  # roleId -> name
    bots: dict[str, str] = field(default_factory=lambda: dict(_DEMO["bots"]))  # botId -> name
    groups: dict[str, str] = field(default_factory=lambda: dict(_DEMO["groups"]))  # groupId -> name
    # botId -> dialog ids; a bot without a list accepts any well-formed dg- id.
    dialogs: dict[str, list[str]] = field(default_factory=lambda: copy.deepcopy(_DEMO["dialogs"]))
    # The account's directory listings (roles, groups, bots; bulkprov.emulator.listings):
    role_types: dict[str, str] = field(default_factory=lambda: dict(_DEMO["role_types"]))  # roleId -> admin | bot
    descriptions: dict[str, str] = field(default_factory=lambda: dict(_DEMO["descriptions"]))  # id -> description
    directory_offset: str = "pages"  # what offset counts in the groups and bots calls (the pages disagree)
    bot_app_secret: str = "emulated-app-secret"  # each bot's jwtApps[].clientSecret starts with it (a canary)
    # Pre-existing users: bare userInfo dicts, add payloads or usersInfo objects (loaded on reset).
    users: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rate_windows = [(int(n), float(s)) for n, s in self.rate_windows]
        for limit, span in self.rate_windows:
            if limit < 1 or span <= 0:
                raise ValueError(f"rate window ({limit}, {span}) must allow at least 1 request over > 0 s")
        if self.rate_refusal not in RATE_REFUSAL_STYLES:
            raise ValueError(f"rate_refusal must be one of {', '.join(RATE_REFUSAL_STYLES)}")
        if self.replies not in REPLY_STYLES:
            raise ValueError(f"replies must be one of {', '.join(REPLY_STYLES)}")
        if self.directory_offset not in OFFSET_STYLES:
            raise ValueError(f"directory_offset must be one of {', '.join(OFFSET_STYLES)}")
        if self.other_client_rate < 0 or self.prefill < 0 or self.page_limit < 1:
            raise ValueError("other_client_rate and prefill cannot be negative; page_limit is at least 1")
        for name in ("fail_5xx", "fail_rate", "commit_then_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1")
        if self.latency < 0 or self.rate_tolerance < 0:
            raise ValueError("latency and rate_tolerance cannot be negative")
        from bulkprov.emulator.odd import check

        self.odd = [str(name) for name in self.odd]
        check(self.odd)
        for pattern in (self.poison_pattern, self.refuse_remove_pattern, self.odd_pattern):
            if pattern is not None:
                re.compile(pattern)  # fail at configuration time, not mid-request

    @classmethod
    def from_seed(cls, seed: dict[str, Any], **overrides: Any) -> EmulatorConfig:
        """Build from a seed dict (the seed-file format); ``overrides`` win over the seed."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in seed.items() if k not in ("roles", "bots", "groups")}
        values.update(_seed_directory(seed))
        values.update(overrides)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown emulator setting(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> EmulatorConfig:
        """Load a seed file: ``{"roles": [{"roleId","name"}], "bots": [{"botId","name","dialogs"}],
        "groups": [{"groupId","name"}], "users": [...], <any EmulatorConfig key>}``."""
        return cls.from_seed(json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def documented(self) -> bool:
        return self.replies == "documented"

    def public(self) -> dict[str, Any]:
        """The settings without the secret and the seed data (for the admin state)."""
        skip = {"client_secret", "roles", "bots", "groups", "dialogs", "users", "bot_app_secret", "descriptions",
                "role_types"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


