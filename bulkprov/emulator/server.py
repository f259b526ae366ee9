"""The emulator's server: an in-memory emulator of the Kore.ai XO admin user-management API (SPEC sections 2 and 9).

What is emulated
----------------
The five public calls bulkprov uses, with the documented request and reply shapes:

* ``POST /api/public/users`` - add users (``{"users": [...], "sendEmail": bool}``)
* ``PUT /api/public/users`` - update users (``groups``/``roles`` as ``{"addTo": [], "removeFrom": []}``)
* ``DELETE /api/public/users`` - remove users (``{"deleteEmailIds": [...]}`` or ``{"orgUserIds": [...]}``)
* ``POST /api/public/usersInfo`` - look users up (``{"emailIds": [...]}`` or ``{"orgUserIds": [...]}``)
* ``GET /api/public/alluserroles?limit=&offset=`` - list the account, paged (``total``, ``availableMore``)
* ``GET /api/public/roles``, ``/groups``, ``/bots`` - the account's directory (:mod:`bulkprov.emulator.listings`)

``replies`` chooses the reply shapes: ``"full"`` (bulkprov's assumptions: every stored field, the
``orgUserId`` echoed) or ``"documented"`` (exactly the shapes of the vendor's pages, see
:mod:`bulkprov.emulator.documented`).

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
enforced at once) kept as a log of accepted-request timestamps taken with the emulator's ``clock``
(:func:`time.monotonic` unless a test passes its own) when the request reaches the handler.  A
request that would fit no later than ``rate_tolerance`` seconds from now is accepted and booked at
the moment its slot frees, so a client that paces itself exactly at the limit is never refused
despite scheduling jitter, yet cannot drift faster over time.

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
8. Apply the batch (synchronously: concurrent requests never interleave inside a batch) -- unless
   an odd reply (:mod:`bulkprov.emulator.odd`) answers instead, with nothing done.
9. ``commit_then_drop`` (writes only; usersInfo is never dropped, so a client can always resolve an
   ambiguous outcome): the batch is committed, then the connection is closed with no reply.
10. Reply (an odd reply's shape when one is switched on for a done batch).

Requests refused before the rate check (bad JWT) never take a slot; refused by the rate check only
with ``rate_counts_refused``; every request past it takes one, whatever happens next.  Another client
of the same account can be simulated: ``prefill`` requests it made just before a reset, and
``other_client_rate`` requests per second it keeps making (each booked when it fits the windows).

The request log (``Emulator.requests``) has one entry per API request: ``t`` (monotonic arrival),
``method``, ``path``, ``status`` (None for a dropped connection), ``users`` (items in the request),
``outcome`` (``ok``, ``rate``, ``5xx``, ``drop``, ``auth``, ``refused`` or ``odd``) and, once applied,
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
import copy
import dataclasses
import json
import math
import random
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import jwt
from aiohttp import web

from bulkprov.emulator import odd
from bulkprov.emulator.accounts import Accounts
from bulkprov.emulator.config import (
    API_LIST,
    API_USERS,
    API_USERS_INFO,
    AUTH_BODY,
    POISON_BODY,
    RATE_BODY,
    UNAVAILABLE_HTML,
    UNAVAILABLE_JSON,
    EmulatorConfig,
)
from bulkprov.emulator.directory import (
    _as_add_payload,
    _Directory,
    _SlidingWindows,
)
from bulkprov.emulator.listings import DIRECTORY_OPS, FORBIDDEN_BODY, Listings

# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------

class Emulator(Accounts, Listings):
    """The aiohttp application plus its in-memory state. ``start()`` serves it on a TCP port."""

    def __init__(self, config: EmulatorConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock  # what the rate windows measure arrival with; tests drive their own
        self.url: str | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post(API_USERS, self._add)
        self.app.router.add_put(API_USERS, self._update)
        self.app.router.add_delete(API_USERS, self._remove)
        self.app.router.add_post(API_USERS_INFO, self._info)
        self.app.router.add_get(API_LIST, self._list)
        for path in DIRECTORY_OPS:
            self.app.router.add_get(path, self._directory_call)
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
        self.updated_per_email: Counter[str] = Counter()
        self._windows = _SlidingWindows()
        now = self.clock()
        for _ in range(self.config.prefill):  # another client's requests, just made
            self._windows.book(self.config.rate_windows, now)
        self._others_next = now  # when the simulated other client sends its next request
        self._jtis: set[str] = set()
        self._odd_done: set[str] = set()  # odd switches that act once ("list-removed-between"...)
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
            "add_calls", "update_calls", "remove_calls", "info_calls", "list_calls", "roles_calls", "groups_calls",
            "bots_calls", "created", "updated", "removed",
            "failed_users", "rate_refusals", "faults_5xx", "drops", "auth_failures", "refused_requests")}
        counts["created_per_email"] = dict(self.created_per_email)
        counts["create_attempts_per_email"] = dict(self.create_attempts_per_email)
        counts["updated_per_email"] = dict(self.updated_per_email)
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

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "list")

    async def _directory_call(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, DIRECTORY_OPS[request.path])

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
        now = self.clock()  # taken first: the rate windows judge arrival time
        entry: dict[str, Any] = {"t": now, "method": request.method, "path": request.path,
                                 "status": None, "users": 0, "outcome": None}
        self.requests.append(entry)
        if not self._auth_ok(request.headers.get("auth")):
            self.counts["auth_failures"] += 1
            return self._reply(entry, 401, AUTH_BODY, "auth")
        refused = self._rate_gate(now)
        if refused is not None:
            return self._rate_reply(entry, refused)
        if op == "list":
            return await self._list_reply(request, entry)
        if op in DIRECTORY_OPS.values():
            return await self._directory_reply(request, entry, op)
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
        instead = odd.write_instead(self.config.odd, op)
        if instead is not None:  # an odd reply, and nothing done
            self.counts[f"{op}_calls"] += 1
            return self._reply(entry, *instead, "odd")
        if "write-400-partial" in self.config.odd and op in odd.WRITE_OPS:
            if len(items) > 1:
                self._apply(op, body, items[1:])
            return self._reply(entry, 400, odd.partial_failure(items[0]), "odd")
        status, reply = self._apply(op, body, items)
        entry["failed"] = len(reply.get("failedUserDetails", [])) if isinstance(reply, dict) else 0
        after = odd.write_after(self.config.odd, op)
        if after is not None:  # the work is done; the reply is odd
            entry["status"], entry["outcome"] = after[0], "odd"
            if isinstance(after[1], dict):
                return web.json_response(after[1], status=after[0])
            if not after[1]:
                return web.Response(status=after[0], body=b"")
            return web.Response(status=after[0], text=after[1], content_type="text/html")
        if op != "info" and self._chance(self.config.commit_then_drop):
            # Committed; now vanish without a byte of reply (aiohttp skips writing to a closed transport).
            self.counts["drops"] += 1
            entry["outcome"] = "drop"
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        return self._reply(entry, status, reply, "ok")

    async def _list_reply(self, request: web.Request, entry: dict[str, Any]) -> web.Response:
        self.counts["list_calls"] += 1
        if not self.config.role_management_scope:
            self.counts["auth_failures"] += 1
            return self._reply(entry, 401, AUTH_BODY, "auth")
        if self._chance(self.config.fail_5xx):
            return self._unavailable(entry)
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        page = self._listing(request.query)
        entry["users"] = len(page["users"])
        return self._reply(entry, 200, page, "ok")

    async def _directory_reply(self, request: web.Request, entry: dict[str, Any], op: str) -> web.Response:
        self.counts[f"{op}_calls"] += 1
        if not self.config.role_management_scope:
            self.counts["auth_failures"] += 1
            return self._reply(entry, 401, AUTH_BODY, "auth")
        if "directory-forbidden" in self.config.odd:
            self.counts["auth_failures"] += 1
            return self._reply(entry, 403, FORBIDDEN_BODY, "auth")
        if self._chance(self.config.fail_5xx):
            return self._unavailable(entry)
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        status, page = self._directory_listing(op, request.query)
        entry["users"] = len(page.get(op, []))
        return self._reply(entry, status, page, "ok" if status == 200 else "refused")

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
        self._book_other_client(now)
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

    def _book_other_client(self, now: float) -> None:
        """Book the requests the simulated other client made since the last look (those that fit)."""
        rate, windows = self.config.other_client_rate, self.config.rate_windows
        if rate <= 0 or not windows:
            return
        step = 1.0 / rate
        at = max(self._others_next, now - max(span for _, span in windows))  # older ones have expired
        while at <= now:
            wait = self._windows.wait(windows, at)
            if wait <= 0:
                self._windows.book(windows, at)
            at += max(step, wait)  # refused, it tries again when a slot frees (bounded work per look)
        self._others_next = at

    def _rate_reply(self, entry: dict[str, Any], wait: float) -> web.Response:
        self.counts["rate_refusals"] += 1
        style = self.config.rate_refusal
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if style.endswith("retry-after") else None
        return self._reply(entry, 400 if style.startswith("400") else 429, RATE_BODY, "rate", headers)

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


