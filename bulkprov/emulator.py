"""An in-memory emulator of the Kore.ai XO admin user-management API (SPEC sections 2 and 9).

What is emulated
----------------
The four public calls, with the documented request and reply shapes:

* ``POST /api/public/users`` - add users (``{"users": [...], "sendEmail": bool}``)
* ``PUT /api/public/users`` - update users (``groups``/``roles`` as ``{"addTo": [], "removeFrom": []}``)
* ``DELETE /api/public/users`` - remove users (``{"deleteEmailIds": [...]}`` or ``{"orgUserIds": [...]}``)
* ``POST /api/public/usersInfo`` - look users up (``{"emailIds": [...]}`` or ``{"orgUserIds": [...]}``)

Every call needs the header ``auth: <JWT>``: HS256, signed with the client secret, with the claims
``appId`` (== the client id) and ``sub``; ``exp`` is checked when present, and with ``enforce_jti`` a
``jti`` may be used only once.  Anything else gets HTTP 401
``{"errors":[{"msg":"Invalid SDK credentials","code":4002}]}``.

Users live in memory, keyed case-insensitively by ``emailId`` (and indexed by ``orgUserId``).  The
server stores and echoes every email address in lower case, so a client must match replies to
requests case-insensitively.  Per-user refusals (invalid email, user already exists, unknown role,
bot, dialog or group, user not found) come back in ``failedUserDetails``; a user absent from it
succeeded.  Reply status: 200 when every user succeeded or only some failed, 400 when all of them
failed (the body still carries the per-user details).

Rate limit: rolling windows (``(max requests, seconds)``, by default 60/min and 1,800/hour, all
enforced at once) kept as a log of accepted-request timestamps taken with :func:`time.monotonic` when
the request reaches the handler.  A request that would fit no later than ``rate_tolerance`` seconds
from now is accepted and booked at the moment its slot frees, so a client that paces itself exactly
at the limit is never refused despite scheduling jitter, yet cannot drift faster over time.

Fault order
-----------
Each API request goes through these steps, in this order; the first that refuses ends it:

1. JWT check (401).
2. Rate windows, then an injected rate refusal (``fail_rate``) - see ``rate_refusal`` for the shape.
3. Body parsing (400 on malformed JSON or a missing list).
4. ``max_users_per_request`` (400, whole request).
5. ``poison_pattern`` on add/update/remove (400 ``Invalid user data``, whole request, no details).
6. ``fail_5xx`` (503, alternately a JSON and an HTML body), nothing applied.
7. ``latency`` sleep - *before* applying, so a test can stop the emulator while a request is in
   flight and be sure nothing was committed.
8. Apply the batch (synchronously: concurrent requests never interleave inside a batch).
9. ``commit_then_drop`` (writes only; usersInfo is never dropped, so a client can always resolve an
   ambiguous outcome): the batch is committed, then the connection is closed with no reply.
10. Reply.

Requests refused before the rate check (bad JWT) never take a slot; refused by the rate check only
with ``rate_counts_refused``; every request past it takes one, whatever happens next.

The request log (``Emulator.requests``) has one entry per API request: ``t`` (monotonic arrival),
``method``, ``path``, ``status`` (None for a dropped connection), ``users`` (items in the request),
``outcome`` (``ok``, ``rate``, ``5xx``, ``drop``, ``auth`` or ``refused``) and, once applied,
``failed`` (users in ``failedUserDetails``).  ``counts.created_per_email`` says how many times each
address was created (a test proves "created exactly once" with it) and
``counts.create_attempts_per_email`` how many applied add requests carried it (a client that
blindly re-sends after a dropped connection shows 2 there).

Admin endpoints (no auth; a loopback tool for tests): ``GET /_admin/state``, ``POST /_admin/reset``,
``POST /_admin/config``.  :class:`EmulatorThread` runs the emulator in a background thread for sync
code, and :func:`run_server` serves it for ``bulkprov mock-server``.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import dataclasses
import json
import math
import random
import re
import signal
import threading
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from bulkprov.schema import BOT_ID_RE, DIALOG_ID_RE, EMAIL_RE, GROUP_ID_RE, ROLE_ID_RE, USER_INFO_FIELDS

DEMO_CLIENT_ID = "cs-demo-client"
DEMO_CLIENT_SECRET = "demo-secret-change-me"

API_USERS = "/api/public/users"
API_USERS_INFO = "/api/public/usersInfo"

RATE_MESSAGE = "Rate limit for this API has been reached. Please try again after some time."
RATE_REFUSAL_STYLES = ("429-retry-after", "429", "400-message")
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
        {"roleId": _hex_id(f"role/{name}", 24), "name": name, "type": kind}
        for name, kind in (
            ("Master Admin", "admin"), ("Bot Admin", "admin"), ("User Management Admin", "admin"),
            ("Bot Owner", "bot"), ("Bot Developer", "bot"), ("Bot Tester", "bot"),
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
    groups = [{"groupId": "e-06b41cdd-7678-5394-b958-40ca5662f502", "name": "Support Agents"}]  # SPEC's id
    groups += [{"groupId": _uuid_id("e", n), "name": n} for n in ("Sales", "HR", "IT Operations", "Managers")]
    return {"roles": roles, "bots": bots, "groups": groups, "users": []}


def _seed_directory(seed: dict[str, Any]) -> dict[str, Any]:
    """Turn seed-file lists into the EmulatorConfig dicts (roles/bots/groups/dialogs)."""
    out: dict[str, Any] = {}
    if "roles" in seed:
        out["roles"] = _named(seed["roles"], "roleId")
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
    # "429-retry-after" (429 + integer Retry-After, rounded up, >= 1), "429" (no header), "400-message" (400).
    rate_refusal: str = "429-retry-after"
    rate_counts_refused: bool = False  # do rate-refused requests take a slot in the windows?
    rate_tolerance: float = 0.02  # seconds of arrival jitter forgiven (see the module docstring)
    max_users_per_request: int | None = None
    fail_5xx: float = 0.0  # probability of a 503 with nothing applied
    fail_rate: float = 0.0  # probability of an injected rate refusal
    latency: float = 0.0  # seconds slept before applying
    commit_then_drop: float = 0.0  # probability of applying a write, then closing without a reply
    enforce_jti: bool = False  # every token must carry a jti never seen before
    poison_pattern: str | None = None  # re.search over emailIds: the whole write request is refused
    seed: int | None = None  # RNG seed for the probabilities above
    roles: dict[str, str] = field(default_factory=lambda: dict(_DEMO["roles"]))  # roleId -> name
    bots: dict[str, str] = field(default_factory=lambda: dict(_DEMO["bots"]))  # botId -> name
    groups: dict[str, str] = field(default_factory=lambda: dict(_DEMO["groups"]))  # groupId -> name
    # botId -> dialog ids; a bot without a list accepts any well-formed dg- id.
    dialogs: dict[str, list[str]] = field(default_factory=lambda: copy.deepcopy(_DEMO["dialogs"]))
    # Pre-existing users: bare userInfo dicts, add payloads or usersInfo objects (loaded on reset).
    users: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rate_windows = [(int(n), float(s)) for n, s in self.rate_windows]
        for limit, span in self.rate_windows:
            if limit < 1 or span <= 0:
                raise ValueError(f"rate window ({limit}, {span}) must allow at least 1 request over > 0 s")
        if self.rate_refusal not in RATE_REFUSAL_STYLES:
            raise ValueError(f"rate_refusal must be one of {', '.join(RATE_REFUSAL_STYLES)}")
        for name in ("fail_5xx", "fail_rate", "commit_then_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1")
        if self.latency < 0 or self.rate_tolerance < 0:
            raise ValueError("latency and rate_tolerance cannot be negative")
        if self.poison_pattern is not None:
            re.compile(self.poison_pattern)  # fail at configuration time, not mid-request

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

    def public(self) -> dict[str, Any]:
        """The settings without the secret and the seed data (for the admin state)."""
        skip = {"client_secret", "roles", "bots", "groups", "dialogs", "users"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


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
        return "bt", {"roleId": rid, "botId": self._bot(entry["botId"]), "roleName": name}

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


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------

class Emulator:
    """The aiohttp application plus its in-memory state. ``start()`` serves it on a TCP port."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.url: str | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post(API_USERS, self._add)
        self.app.router.add_put(API_USERS, self._update)
        self.app.router.add_delete(API_USERS, self._remove)
        self.app.router.add_post(API_USERS_INFO, self._info)
        self.app.router.add_get("/_admin/state", self._admin_state)
        self.app.router.add_post("/_admin/reset", self._admin_reset)
        self.app.router.add_post("/_admin/config", self._admin_config)
        self._runner: web.AppRunner | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = any free port); returns the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        """Stop at once, like a crash: in-flight requests that have not been applied never will be."""
        for task in list(self._inflight):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget everything (users, log, counters, rate windows, jtis) and reload the seed users."""
        self.users: dict[str, dict[str, Any]] = {}
        self._by_org: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.created_per_email: Counter[str] = Counter()
        self.create_attempts_per_email: Counter[str] = Counter()
        self._windows = _SlidingWindows()
        self._jtis: set[str] = set()
        self._rng = random.Random(self.config.seed)
        self._directory = _Directory(self.config)
        for user in self.config.users:
            _, refusal = self._add_one(_as_add_payload(user), send_email=False)
            if refusal is not None:
                raise ValueError(f"seed user {user!r} refused: {refusal.message}")

    def reconfigure(self, **changes: Any) -> None:
        """Change any :class:`EmulatorConfig` setting at runtime (validated; seed users apply on reset)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(EmulatorConfig)}
        if unknown:
            raise ValueError(f"unknown emulator setting(s): {', '.join(sorted(unknown))}")
        self.config = dataclasses.replace(self.config, **changes)
        if "seed" in changes:
            self._rng = random.Random(self.config.seed)
        self._directory = _Directory(self.config)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the admin state (what ``GET /_admin/state`` returns)."""
        counts = {k: self.counts[k] for k in (
            "add_calls", "update_calls", "remove_calls", "info_calls", "created", "updated", "removed",
            "failed_users", "rate_refusals", "faults_5xx", "drops", "auth_failures", "refused_requests")}
        counts["created_per_email"] = dict(self.created_per_email)
        counts["create_attempts_per_email"] = dict(self.create_attempts_per_email)
        return copy.deepcopy({"users": list(self.users.values()), "requests": self.requests,
                              "counts": counts, "config": self.config.public()})

    # ---- request pipeline ------------------------------------------------------------------

    async def _add(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "add")

    async def _update(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "update")

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "remove")

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "info")

    async def _guarded(self, request: web.Request, op: str) -> web.StreamResponse:
        # Track the handler task so stop() can cancel it mid-latency (a crash, not a graceful drain).
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            return await self._pipeline(request, op)
        finally:
            self._inflight.discard(task)

    async def _pipeline(self, request: web.Request, op: str) -> web.StreamResponse:
        now = time.monotonic()  # taken first: the rate windows judge arrival time
        entry: dict[str, Any] = {"t": now, "method": request.method, "path": request.path,
                                 "status": None, "users": 0, "outcome": None}
        self.requests.append(entry)
        if not self._auth_ok(request.headers.get("auth")):
            self.counts["auth_failures"] += 1
            return self._reply(entry, 401, AUTH_BODY, "auth")
        refused = self._rate_gate(now)
        if refused is not None:
            return self._rate_reply(entry, refused)
        body, items, problem = await self._read_body(request, op)
        entry["users"] = len(items)
        if problem is None:
            problem = self._whole_request_problem(op, body, items)
        if problem is not None:
            self.counts["refused_requests"] += 1
            return self._reply(entry, 400, problem, "refused")
        if self._chance(self.config.fail_5xx):
            return self._unavailable(entry)
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        status, reply = self._apply(op, body, items)
        entry["failed"] = len(reply.get("failedUserDetails", [])) if isinstance(reply, dict) else 0
        if op != "info" and self._chance(self.config.commit_then_drop):
            # Committed; now vanish without a byte of reply (aiohttp skips writing to a closed transport).
            self.counts["drops"] += 1
            entry["outcome"] = "drop"
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        return self._reply(entry, status, reply, "ok")

    def _chance(self, probability: float) -> bool:
        # Draw only when the fault is on, so enabling one fault does not reshuffle another's sequence.
        return probability > 0 and self._rng.random() < probability

    @staticmethod
    def _reply(entry: dict[str, Any], status: int, body: Any, outcome: str,
               headers: dict[str, str] | None = None) -> web.Response:
        entry["status"], entry["outcome"] = status, outcome
        return web.json_response(body, status=status, headers=headers)

    def _auth_ok(self, token: str | None) -> bool:
        if not token:
            return False
        try:
            with warnings.catch_warnings():
                # The account's secret is what it is (the demo one is short): do not warn per request.
                warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
                claims = jwt.decode(token, self.config.client_secret, algorithms=["HS256"],
                                    options={"require": ["appId", "sub"], "verify_iat": False})
        except jwt.PyJWTError:
            return False
        if claims.get("appId") != self.config.client_id:
            return False
        jti = claims.get("jti")
        if self.config.enforce_jti and (not isinstance(jti, str) or not jti or jti in self._jtis):
            return False
        if isinstance(jti, str):
            self._jtis.add(jti)
        return True

    def _rate_gate(self, now: float) -> float | None:
        """None when the request may go on (and is booked); else the seconds until a slot frees."""
        cfg = self.config
        wait = self._windows.wait(cfg.rate_windows, now)
        if wait > cfg.rate_tolerance:
            refused: float | None = wait
        elif self._chance(cfg.fail_rate):
            refused = 1.0  # an injected refusal: a slot is free, so "try again in a second"
        else:
            self._windows.book(cfg.rate_windows, now + wait)  # an early-by-jitter request takes its slot
            return None
        if cfg.rate_counts_refused:
            self._windows.book(cfg.rate_windows, now)
        return refused

    def _rate_reply(self, entry: dict[str, Any], wait: float) -> web.Response:
        self.counts["rate_refusals"] += 1
        style = self.config.rate_refusal
        if style == "400-message":
            return self._reply(entry, 400, RATE_BODY, "rate")
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if style == "429-retry-after" else None
        return self._reply(entry, 429, RATE_BODY, "rate", headers)

    def _unavailable(self, entry: dict[str, Any]) -> web.Response:
        self.counts["faults_5xx"] += 1
        entry["status"], entry["outcome"] = 503, "5xx"
        if self.counts["faults_5xx"] % 2:  # 1st, 3rd, ... JSON; 2nd, 4th, ... an HTML error page
            return web.json_response(UNAVAILABLE_JSON, status=503)
        return web.Response(status=503, text=UNAVAILABLE_HTML, content_type="text/html")

    async def _read_body(self, request: web.Request, op: str) -> tuple[dict[str, Any], list[Any], Any]:
        """``(body, the list of users/ids, None)`` or ``({}, [], whole-request error body)``."""
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            return {}, [], _error("Malformed JSON body")
        if not isinstance(body, dict):
            return {}, [], _error("The request body must be a JSON object")
        keys = {"add": ("users",), "update": ("users",), "remove": ("deleteEmailIds", "orgUserIds"),
                "info": ("emailIds", "orgUserIds")}[op]
        for key in keys:
            if key in body:
                items = body[key]
                if not isinstance(items, list) or not items:
                    return body, [], _error(f"{key} must be a non-empty array")
                if op == "add" and not isinstance(body.get("sendEmail", True), bool):
                    return body, items, _error("sendEmail must be true or false")
                return body, items, None
        return body, [], _error(f"Missing {' or '.join(keys)}")

    def _whole_request_problem(self, op: str, body: dict[str, Any], items: list[Any]) -> dict[str, Any] | None:
        cap = self.config.max_users_per_request
        if cap is not None and len(items) > cap:
            return _error(f"Too many users in one request (max {cap})")
        pattern = self.config.poison_pattern
        by_org = op == "remove" and "deleteEmailIds" not in body  # orgUserIds carry no address to match
        if pattern and op != "info" and not by_org and any(re.search(pattern, e) for e in _emails(items)):
            return POISON_BODY
        return None

    # ---- applying --------------------------------------------------------------------------

    def _apply(self, op: str, body: dict[str, Any], items: list[Any]) -> tuple[int, Any]:
        self.counts[f"{op}_calls"] += 1
        if op == "info":
            return 200, self._lookup(body, items)
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
        return None if refusal is None else _user_failure(info, refusal)

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
        if key is None:
            label = "orgUserId" if by_org else "emailId"
            return {label: ident if by_org else _echo(ident),
                    "reason": {"statusCode": 404, "message": "User not found", "name": "NotFound"}}
        gone = self.users.pop(key)
        org = gone["userInfo"].get("orgUserId")
        if org and self._by_org.get(org) == key:
            del self._by_org[org]
        self.counts["removed"] += 1
        return None

    def _lookup(self, body: dict[str, Any], items: list[Any]) -> list[dict[str, Any]]:
        """usersInfo: found users in full; a missing one's reason is a string for an email lookup and
        an object for an orgUserId lookup, so clients must read both forms."""
        by_org = "emailIds" not in body
        out: list[dict[str, Any]] = []
        for ident in items:
            key = self._find(org=ident) if by_org else self._find(email=ident)
            if key is not None:
                out.append(copy.deepcopy(self.users[key]))
            elif by_org:
                out.append({"userInfo": {"orgUserId": ident, "status": "failure",
                                         "reason": {"message": "User not found", "statusCode": 404}}})
            else:
                out.append({"userInfo": {"emailId": _echo(ident), "status": "failure", "reason": "User not found"}})
        return out

    # ---- admin endpoints -------------------------------------------------------------------

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _admin_config(self, request: web.Request) -> web.Response:
        try:
            changes = json.loads(await request.read() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("a JSON object of settings is expected")
            self.reconfigure(**changes)
        except (ValueError, TypeError, re.error) as exc:
            return web.json_response(_error(str(exc)), status=400)
        return web.json_response({"ok": True, "config": self.config.public()})


def _error(msg: str, code: int = 400) -> dict[str, Any]:
    return {"errors": [{"msg": msg, "code": code}]}


def _emails(items: list[Any]) -> list[str]:
    """The email addresses in a users list or an id list (for the poison check)."""
    out = []
    for item in items:
        info = item.get("userInfo") if isinstance(item, dict) else None
        value = info.get("emailId") if isinstance(info, dict) else item
        if isinstance(value, str):
            out.append(value)
    return out


# --------------------------------------------------------------------------------------------
# Running it from sync code and from the command line
# --------------------------------------------------------------------------------------------

class EmulatorThread:
    """Runs an :class:`Emulator` on its own event loop in a daemon thread (for sync code, subprocess
    and CLI tests).  Use as a context manager: ``with EmulatorThread(cfg) as emu: emu.url``."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = Emulator(config)
        self.host, self.port = host, port
        self.url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorThread:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.url = loop.run_until_complete(self.emulator.start(self.host, self.port))
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.emulator.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="bulkprov-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Run on the emulator's loop so reads and writes never race a request handler.
        assert self._loop is not None, "the emulator thread is not running"

        async def call() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)

    def state(self) -> dict[str, Any]:
        """A thread-safe deep copy of the admin state (same as ``GET /_admin/state``)."""
        return self._call(self.emulator.snapshot)

    def reconfigure(self, **changes: Any) -> None:
        self._call(self.emulator.reconfigure, **changes)

    def reset(self) -> None:
        self._call(self.emulator.reset)


def run_server(port: int, host: str = "127.0.0.1", config: EmulatorConfig | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM (``bulkprov mock-server --port N``); prints one line with the URL."""
    try:
        asyncio.run(_serve(port, host, config or EmulatorConfig()))
    except KeyboardInterrupt:
        pass


async def _serve(port: int, host: str, config: EmulatorConfig) -> None:
    emulator = Emulator(config)
    url = await emulator.start(host, port)
    source = ("the built-in demo secret (bulkprov.emulator.DEMO_CLIENT_SECRET)"
              if config.client_secret == DEMO_CLIENT_SECRET else "the client_secret of the seed file")
    print(f"bulkprov mock server listening on {url} - client id {config.client_id}, client secret: {source}",
          flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, done.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        await done.wait()
    finally:
        await emulator.stop()
