"""The Kore.ai API emulator, driven with plain aiohttp and PyJWT (not the project's client)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from bulkprov.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    demo_seed,
)
from bulkprov.emulator.config import AUTH_BODY, POISON_BODY, RATE_BODY, UNAVAILABLE_HTML, UNAVAILABLE_JSON
from bulkprov.schema import BOT_ID_RE, DIALOG_ID_RE, GROUP_ID_RE, ROLE_ID_RE
from tests.conftest import ManualClock

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
DIALOGS = {b["name"]: b["dialogs"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
USERS, INFO = "/api/public/users", "/api/public/usersInfo"


def token(secret: str = DEMO_CLIENT_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    """A signed token; a claim given as None is left out."""
    payload = {"appId": DEMO_CLIENT_ID, "sub": "tests", "jti": uuid.uuid4().hex, **claims}
    with warnings.catch_warnings():  # the contract's demo secret is shorter than PyJWT recommends
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=algorithm)


def cfg(**changes: Any) -> EmulatorConfig:
    """A config without rate windows, so only the rate tests meet the limiter."""
    return EmulatorConfig(**{"rate_windows": [], **changes})


def user(email: str, **extra: Any) -> dict[str, Any]:
    return {"userInfo": {"emailId": email, "firstName": email.split("@")[0].title()}, **extra}


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start():
    """``await start(config)`` -> (emulator, url); every emulator started is stopped afterwards."""
    started: list[Emulator] = []

    async def _start(config: EmulatorConfig | None = None, clock=None) -> tuple[Emulator, str]:
        emu = Emulator(config or cfg(), clock=clock or time.monotonic)
        started.append(emu)
        return emu, await emu.start()

    yield _start
    for emu in started:
        await emu.stop()


async def call(http: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None,
               auth: str | None = "fresh", raw: bytes | None = None) -> tuple[int, Any, Any]:
    """(status, parsed JSON or text, headers); ``auth="fresh"`` signs a new valid token."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["auth"] = token() if auth == "fresh" else auth
    data = raw if raw is not None else json.dumps(body).encode()
    async with http.request(method, url + path, data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return resp.status, parsed, resp.headers


async def add(http, url, *users: dict[str, Any], send_email: bool | None = None) -> tuple[int, Any, Any]:
    body: dict[str, Any] = {"users": list(users)}
    if send_email is not None:
        body["sendEmail"] = send_email
    return await call(http, url, "POST", USERS, body)


def reasons(body: dict[str, Any]) -> dict[str, str]:
    return {f["userInfo"]["emailId"]: f["userInfo"]["reason"]["message"] for f in body["failedUserDetails"]}


# ---- the four calls --------------------------------------------------------------------------

async def test_add_success_stores_the_users_info_shape(http, start):
    emu, url = await start()
    jane = user("jane.doe@example.com", roles=[{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"]},
                                               {"roleId": ROLE["User Management Admin"]}],
                groups=[GROUP["Sales"]], canCreateBot=False, isDeveloper=False,
                assignBotTasks=[{"botId": BOT["Support Bot"], "dialogs": DIALOGS["Support Bot"][:2]}])
    jane["userInfo"].update(orgUserId="E1", dept="Care", zip="02128")
    status, body, _ = await add(http, url, jane, send_email=False)
    assert (status, body) == (200, {"msg": "Users are created Successfully"})
    stored = emu.users["jane.doe@example.com"]
    assert stored["userInfo"]["userId"].startswith("u-")
    assert stored["userInfo"]["zip"] == "02128" and stored["userInfo"]["orgUserId"] == "E1"
    assert stored["roles"] == {
        "btRoles": [{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"], "roleName": "Bot Tester",
                     "botName": "Support Bot"}],  # as the documented usersInfo sample shows
        "adminRoles": [{"roleId": ROLE["User Management Admin"], "roleName": "User Management Admin"}]}
    assert stored["groups"] == [{"groupId": GROUP["Sales"], "groupName": "Sales"}]
    assert stored["assignBotTasks"] == [{"botId": BOT["Support Bot"], "dialogs": DIALOGS["Support Bot"][:2]}]
    assert stored["canCreateBot"] is False and stored["isDeveloper"] is False
    assert stored["activationEmailSent"] is False
    status, found, _ = await call(http, url, "POST", INFO, {"emailIds": ["jane.doe@example.com"]})
    assert status == 200 and found == [stored]


async def test_builder_access_defaults_to_true_and_send_email_defaults_to_true(http, start):
    emu, url = await start()
    assert (await add(http, url, user("a@example.com")))[0] == 200
    stored = emu.users["a@example.com"]
    assert stored["canCreateBot"] is True and stored["isDeveloper"] is True
    assert stored["activationEmailSent"] is True and stored["userInfo"]["activationStatus"] == "invited"


async def test_add_refuses_per_user_and_the_rest_succeed(http, start):
    emu, url = await start(cfg(users=[{"emailId": "taken@example.com"}]))
    batch = [
        user("ok@example.com"),
        user("not-an-email"),
        user("Taken@Example.com"),
        user("role@example.com", roles=[{"roleId": "0" * 24}]),
        user("bot@example.com", roles=[{"roleId": ROLE["Bot Owner"], "botId": f"st-{uuid.uuid4()}"}]),
        user("group@example.com", groups=[f"e-{uuid.uuid4()}"]),
        user("dialog@example.com", assignBotTasks=[{"botId": BOT["HR Assistant"], "dialogs": [f"dg-{uuid.uuid4()}"]}]),
    ]
    status, body, _ = await add(http, url, *batch)
    assert status == 200
    assert reasons(body) == {
        "not-an-email": "INVALID_EMAIL", "taken@example.com": "User already exists",
        "role@example.com": "INVALID_ROLE_ID", "bot@example.com": "INVALID_BOT_ID",
        "group@example.com": "INVALID_GROUP_ID", "dialog@example.com": "INVALID_DIALOG_ID"}
    first = body["failedUserDetails"][0]["userInfo"]
    assert first == {"emailId": "not-an-email", "firstName": "Not-An-Email", "status": "failure",
                     "reason": {"statusCode": 400, "errors": [{"msg": "INVALID_EMAIL", "code": 400}],
                                "message": "INVALID_EMAIL", "name": "BadRequest"}}
    exists = body["failedUserDetails"][1]["userInfo"]["reason"]
    assert exists["errors"][0]["msg"] == "USER_ALREADY_EXISTS" and exists["statusCode"] == 409
    assert set(emu.users) == {"taken@example.com", "ok@example.com"}
    status, body, _ = await add(http, url, user("bad"), user("ok@example.com"))  # every user refused
    assert status == 400 and len(body["failedUserDetails"]) == 2


async def test_unknown_user_info_fields_are_ignored(http, start):
    emu, url = await start()
    jane = user("jane@example.com")
    jane["userInfo"]["favouriteColour"] = "teal"
    assert (await add(http, url, jane))[1] == {"msg": "Users are created Successfully"}
    assert "favouriteColour" not in emu.users["jane@example.com"]["userInfo"]


async def test_emails_are_keyed_case_insensitively_and_echoed_in_lower_case(http, start):
    emu, url = await start()
    await add(http, url, user("Jane.Doe@Example.COM"))
    assert list(emu.users) == ["jane.doe@example.com"]
    _, body, _ = await add(http, url, user("JANE.DOE@example.com"))
    assert reasons(body) == {"jane.doe@example.com": "User already exists"}
    _, found, _ = await call(http, url, "POST", INFO, {"emailIds": ["JANE.doe@EXAMPLE.com", "Nobody@X.org"]})
    assert found[0]["userInfo"]["emailId"] == "jane.doe@example.com"
    assert found[1] == {"userInfo": {"emailId": "nobody@x.org", "status": "failure", "reason": "User not found"}}


async def test_update_applies_changes(http, start):
    emu, url = await start()
    jane = user("jane@example.com", groups=[GROUP["Sales"], GROUP["HR"]],
                roles=[{"roleId": ROLE["Bot Admin"]}, {"roleId": ROLE["Bot Owner"], "botId": BOT["IT Helpdesk"]}])
    jane["userInfo"]["orgUserId"] = "E7"
    await add(http, url, jane)
    change = {
        "userInfo": {"orgUserId": "E7", "dept": "Finance"},
        "groups": {"addTo": [GROUP["Managers"]], "removeFrom": [GROUP["Sales"]]},
        "roles": {"addTo": [{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"]}],
                  "removeFrom": [{"roleId": ROLE["Bot Admin"]}]},
        "assignBotTasks": [{"botId": BOT["IT Helpdesk"], "dialogs": DIALOGS["IT Helpdesk"][:1]}],
        "canCreateBot": False,
    }
    status, body, _ = await call(http, url, "PUT", USERS, {"users": [change]})
    assert (status, body) == (200, {"msg": "Users are updated Successfully"})
    stored = emu.users["jane@example.com"]
    assert stored["userInfo"]["dept"] == "Finance"
    assert [g["groupName"] for g in stored["groups"]] == ["HR", "Managers"]
    assert stored["roles"]["adminRoles"] == []
    assert [r["roleName"] for r in stored["roles"]["btRoles"]] == ["Bot Owner", "Bot Tester"]
    assert stored["assignBotTasks"] == [{"botId": BOT["IT Helpdesk"], "dialogs": DIALOGS["IT Helpdesk"][:1]}]
    assert stored["canCreateBot"] is False and stored["isDeveloper"] is True


async def test_update_refusals_leave_the_user_untouched(http, start):
    emu, url = await start()
    await add(http, url, user("jane@example.com"))
    before = json.dumps(emu.users["jane@example.com"])
    batch = [{"userInfo": {"emailId": "ghost@example.com", "dept": "X"}},
             {"userInfo": {"emailId": "Jane@example.com", "dept": "X"}, "groups": {"addTo": [f"e-{uuid.uuid4()}"]}}]
    status, body, _ = await call(http, url, "PUT", USERS, {"users": batch})
    assert status == 400
    assert reasons(body) == {"ghost@example.com": "User not found", "jane@example.com": "INVALID_GROUP_ID"}
    assert body["failedUserDetails"][0]["userInfo"]["reason"]["errors"][0]["msg"] == "USER_NOT_FOUND"
    assert json.dumps(emu.users["jane@example.com"]) == before
    _, body, _ = await call(http, url, "PUT", USERS, {"users": [{"userInfo": {"orgUserId": "nope"}}]})
    assert body["failedUserDetails"][0]["userInfo"]["orgUserId"] == "nope"


async def test_remove_by_email_and_by_org_user_id(http, start):
    emu, url = await start()
    org = user("b@example.com")
    org["userInfo"]["orgUserId"] = "E2"
    await add(http, url, user("a@example.com"), org)
    status, body, _ = await call(http, url, "DELETE", USERS, {"deleteEmailIds": ["A@example.com"]})
    assert (status, body) == (200, {"msg": "Users are removed Successfully"})
    status, body, _ = await call(http, url, "DELETE", USERS, {"orgUserIds": ["E2", "E404"]})
    assert status == 200
    assert body == {"failedUserDetails": [{"orgUserId": "E404", "reason": {
        "statusCode": 404, "message": "User not found", "name": "NotFound"}}]}
    assert emu.users == {}
    status, body, _ = await call(http, url, "DELETE", USERS, {"deleteEmailIds": ["Gone@Example.com"]})
    assert status == 400 and body["failedUserDetails"][0]["emailId"] == "gone@example.com"
    assert body["failedUserDetails"][0]["reason"]["message"] == "User not found"


async def test_users_info_by_org_user_id_gives_an_object_reason(http, start):
    _, url = await start()
    found = user("a@example.com")
    found["userInfo"]["orgUserId"] = "E1"
    await add(http, url, found)
    status, body, _ = await call(http, url, "POST", INFO, {"orgUserIds": ["E1", "E9"]})
    assert status == 200 and body[0]["userInfo"]["emailId"] == "a@example.com"
    assert body[1] == {"userInfo": {"orgUserId": "E9", "status": "failure",
                                    "reason": {"message": "User not found", "statusCode": 404}}}


@pytest.mark.parametrize("raw, msg", [
    (b"{not json", "Malformed JSON body"),
    (b"[]", "The request body must be a JSON object"),
    (b'{"sendEmail": true}', "Missing users"),
    (b'{"users": []}', "users must be a non-empty array"),
])
async def test_malformed_bodies_are_refused_whole(http, start, raw, msg):
    emu, url = await start()
    status, body, _ = await call(http, url, "POST", USERS, raw=raw)
    assert (status, body) == (400, {"errors": [{"msg": msg, "code": 400}]})
    assert emu.requests[-1]["outcome"] == "refused"


# ---- JWT -------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", [
    None,
    "not-a-jwt",
    token(secret="wrong-secret"),
    token(appId="someone-else"),
    token(sub=None),
    token(exp=int(time.time()) - 10),
    token(algorithm="HS512"),
], ids=["missing", "garbage", "wrong-secret", "wrong-app-id", "no-sub", "expired", "not-hs256"])
async def test_bad_credentials_get_401(http, start, auth):
    emu, url = await start()
    status, body, _ = await call(http, url, "POST", USERS, {"users": [user("a@example.com")]}, auth=auth)
    assert (status, body) == (401, {"errors": [{"msg": "Invalid SDK credentials", "code": 4002}]}) == (401, AUTH_BODY)
    assert emu.users == {} and emu.requests[-1]["outcome"] == "auth"


async def test_unexpired_token_is_accepted(http, start):
    _, url = await start()
    status, _, _ = await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=token(exp=int(time.time()) + 60))
    assert status == 200


async def test_reused_jti_is_refused_only_when_enforced(http, start):
    _, url = await start()
    same = token(jti="one")
    assert (await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=same))[0] == 200
    assert (await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=same))[0] == 200
    _, url = await start(cfg(enforce_jti=True))
    same = token(jti="two")
    assert (await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=same))[0] == 200
    status, body, _ = await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=same)
    assert (status, body) == (401, AUTH_BODY)
    assert (await call(http, url, "POST", INFO, {"emailIds": ["a@b.co"]}, auth=token(jti=None)))[0] == 401


# ---- rate windows ----------------------------------------------------------------------------

async def info(http, url) -> tuple[int, Any, Any]:
    return await call(http, url, "POST", INFO, {"emailIds": ["a@example.com"]})


@pytest.mark.parametrize("style, status, retry_after", [
    ("429-retry-after", 429, "1"), ("429", 429, None), ("400-message", 400, None)])
async def test_rate_window_refuses_then_frees(http, start, style, status, retry_after):
    clock = ManualClock()
    emu, url = await start(cfg(rate_windows=[(3, 0.4)], rate_refusal=style), clock=clock)
    for _ in range(3):
        assert (await info(http, url))[0] == 200
    refused = await info(http, url)
    assert refused[:2] == (status, RATE_BODY)
    assert refused[2].get("Retry-After") == retry_after
    assert emu.requests[-1]["outcome"] == "rate"
    clock.now = 0.35
    assert (await info(http, url))[0] == status, "0.05 s before the slot frees (more than the jitter forgiven)"
    clock.now = 0.4
    assert (await info(http, url))[0] == 200


async def test_every_window_is_enforced_and_retry_after_rounds_up(http, start):
    clock = ManualClock()
    _, url = await start(cfg(rate_windows=[(2, 0.2), (3, 1.5)], rate_refusal="429-retry-after"), clock=clock)
    assert [(await info(http, url))[0] for _ in range(3)] == [200, 200, 429]  # the short window
    clock.now = 0.22
    assert (await info(http, url))[0] == 200
    clock.now = 0.44
    status, _, headers = await info(http, url)  # the short window is free, the long one is full
    assert status == 429 and headers["Retry-After"] == "2"  # 1.06 s, rounded up
    clock.now = 0.5
    assert (await info(http, url))[2]["Retry-After"] == "1"  # exactly 1.0 s stays 1
    clock.now = 1.5
    assert (await info(http, url))[0] == 200


async def test_an_arrival_early_by_jitter_takes_its_slot_and_no_more(http, start):
    """Up to ``rate_tolerance`` (0.02 s) early is accepted and booked when its slot frees; once both
    slots that free at 0.15 s are taken, the next request at the same moment is refused."""
    clock = ManualClock()
    emu, url = await start(cfg(rate_windows=[(2, 0.15)]), clock=clock)
    assert [(await info(http, url))[0] for _ in range(2)] == [200, 200]
    clock.now = 0.125  # 0.025 s early: more than the jitter forgiven
    assert (await info(http, url))[0] == 429
    clock.now = 0.14  # 0.01 s early
    assert [(await info(http, url))[0] for _ in range(3)] == [200, 200, 429]
    assert [r["outcome"] for r in emu.requests] == ["ok", "ok", "rate", "ok", "ok", "rate"]


@pytest.mark.parametrize("counts_refused, expected", [(False, 200), (True, 429)])
async def test_refused_requests_count_only_when_configured(http, start, counts_refused, expected):
    clock = ManualClock()
    _, url = await start(cfg(rate_windows=[(1, 0.3)], rate_counts_refused=counts_refused), clock=clock)
    assert (await info(http, url))[0] == 200
    clock.now = 0.15
    assert (await info(http, url))[0] == 429
    clock.now = 0.32  # the accepted request left the window; the refused one did not
    assert (await info(http, url))[0] == expected


# ---- faults ----------------------------------------------------------------------------------

async def test_5xx_alternates_json_and_html_and_applies_nothing(http, start):
    emu, url = await start(cfg(fail_5xx=1.0))
    first = await add(http, url, user("a@example.com"))
    second = await add(http, url, user("a@example.com"))
    assert first[:2] == (503, UNAVAILABLE_JSON)
    assert second[:2] == (503, UNAVAILABLE_HTML) and second[2]["Content-Type"].startswith("text/html")
    assert emu.users == {} and [r["outcome"] for r in emu.requests] == ["5xx", "5xx"]


async def test_injected_rate_refusal(http, start):
    emu, url = await start(cfg(fail_rate=1.0))
    status, body, headers = await add(http, url, user("a@example.com"))
    assert (status, body, headers["Retry-After"]) == (429, RATE_BODY, "1")
    assert emu.users == {}


async def test_fault_sequence_is_deterministic_by_seed(http, start):
    outcomes = []
    for _ in range(2):
        emu, url = await start(cfg(fail_5xx=0.5, seed=7))
        for _ in range(12):
            await info(http, url)
        outcomes.append([r["outcome"] for r in emu.requests])
    assert outcomes[0] == outcomes[1] and {"ok", "5xx"} == set(outcomes[0])


async def test_latency_delays_the_reply(http, start):
    _, url = await start(cfg(latency=0.2))
    began = time.monotonic()
    assert (await add(http, url, user("a@example.com")))[0] == 200
    assert time.monotonic() - began >= 0.2


async def test_stopping_during_latency_commits_nothing(http, start):
    emu, url = await start(cfg(latency=5.0))
    pending = asyncio.create_task(add(http, url, user("a@example.com")))
    await asyncio.sleep(0.1)
    await emu.stop()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert emu.users == {}


async def test_commit_then_drop_disconnects_after_committing(http, start):
    emu, url = await start(cfg(commit_then_drop=1.0))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await add(http, url, user("Jane@example.com"))
    assert "jane@example.com" in emu.users
    emu.reconfigure(commit_then_drop=0.0)
    _, found, _ = await call(http, url, "POST", INFO, {"emailIds": ["jane@example.com"]})
    assert found[0]["userInfo"]["emailId"] == "jane@example.com"
    _, body, _ = await add(http, url, user("jane@example.com"))  # a blind retry would hit "exists"
    assert reasons(body) == {"jane@example.com": "User already exists"}
    counts = emu.snapshot()["counts"]
    assert counts["drops"] == 1 and counts["created_per_email"] == {"jane@example.com": 1}
    assert counts["create_attempts_per_email"] == {"jane@example.com": 2}
    assert emu.requests[0]["outcome"] == "drop"


async def test_poison_refuses_the_whole_batch(http, start):
    emu, url = await start(cfg(poison_pattern=r"^poison"))
    status, body, _ = await add(http, url, user("a@example.com"), user("poison@example.com"))
    assert (status, body) == (400, POISON_BODY) == (400, {"errors": [{"msg": "Invalid user data", "code": 400}]})
    assert emu.users == {}
    assert (await add(http, url, user("a@example.com")))[0] == 200
    status, _, _ = await call(http, url, "DELETE", USERS, {"deleteEmailIds": ["a@example.com", "poison@x.org"]})
    assert status == 400 and "a@example.com" in emu.users


async def test_max_users_per_request(http, start):
    emu, url = await start(cfg(max_users_per_request=2))
    status, body, _ = await add(http, url, *(user(f"u{i}@example.com") for i in range(3)))
    assert (status, body) == (400, {"errors": [{"msg": "Too many users in one request (max 2)", "code": 400}]})
    assert emu.users == {}
    assert (await add(http, url, user("u1@example.com"), user("u2@example.com")))[0] == 200


# ---- seed, admin, thread, server -------------------------------------------------------------

def test_demo_seed_is_deterministic_and_well_formed():
    assert demo_seed() == SEED
    assert len(SEED["bots"]) == 3 and len(SEED["groups"]) == 5
    assert all(ROLE_ID_RE.match(r["roleId"]) for r in SEED["roles"])
    assert all(BOT_ID_RE.match(b["botId"]) and all(DIALOG_ID_RE.match(d) for d in b["dialogs"]) for b in SEED["bots"])
    assert all(GROUP_ID_RE.match(g["groupId"]) for g in SEED["groups"])


async def test_seed_file_sets_directory_users_and_settings(http, start, tmp_path: Path):
    role, bot, group = "ab" * 12, f"st-{uuid.uuid4()}", f"e-{uuid.uuid4()}"
    seed = {"roles": [{"roleId": role, "name": "Only Role"}],
            "bots": [{"botId": bot, "name": "Only Bot", "dialogs": []}],
            "groups": [{"groupId": group, "name": "Only Group"}],
            "users": [{"userInfo": {"emailId": "Old@Example.com", "orgUserId": "E1"},
                       "roles": {"btRoles": [{"roleId": role, "botId": bot}], "adminRoles": []}, "groups": [group]}],
            "client_id": "cs-seeded", "rate_windows": [[5, 1]], "max_users_per_request": 10}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    config = EmulatorConfig.from_json(path)
    assert config.rate_windows == [(5, 1.0)] and config.client_id == "cs-seeded"
    emu, url = await start(config)
    assert emu.users["old@example.com"]["roles"]["btRoles"][0]["roleName"] == "Only Role"
    assert (await info(http, url))[0] == 401  # tokens must carry the seeded client id now
    status, found, _ = await call(http, url, "POST", INFO, {"orgUserIds": ["E1"]}, auth=token(appId="cs-seeded"))
    assert status == 200 and found[0]["groups"] == [{"groupId": group, "groupName": "Only Group"}]
    with pytest.raises(ValueError, match="unknown emulator setting"):
        EmulatorConfig.from_seed({"rate_widnows": []})


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        EmulatorConfig(rate_refusal="teapot")
    with pytest.raises(ValueError):
        EmulatorConfig(fail_5xx=2.0)
    with pytest.raises(ValueError):
        Emulator().reconfigure(no_such_setting=1)


async def test_admin_state_config_and_reset(http, start):
    _, url = await start()
    await add(http, url, user("a@example.com"), user("bad"))
    async with http.get(url + "/_admin/state") as resp:
        state = await resp.json()
    assert [u["userInfo"]["emailId"] for u in state["users"]] == ["a@example.com"]
    assert state["requests"][0] | {"t": 0} == {"t": 0, "method": "POST", "path": USERS, "status": 200,
                                               "users": 2, "outcome": "ok", "failed": 1}
    assert state["counts"]["add_calls"] == 1 and state["counts"]["created"] == 1
    assert "client_secret" not in state["config"]
    async with http.post(url + "/_admin/config", json={"fail_5xx": 1.0}) as resp:
        assert resp.status == 200 and (await resp.json())["config"]["fail_5xx"] == 1.0
    assert (await info(http, url))[0] == 503
    async with http.post(url + "/_admin/config", json={"bogus": 1}) as resp:
        assert resp.status == 400
    async with http.post(url + "/_admin/reset") as resp:
        assert resp.status == 200
    async with http.get(url + "/_admin/state") as resp:
        state = await resp.json()
    assert state["users"] == [] and state["requests"] == [] and state["counts"]["created"] == 0


def _post(url: str, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "auth": token()})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def test_emulator_thread_from_sync_code():
    with EmulatorThread(cfg()) as emu:
        assert emu.url and emu.url.startswith("http://127.0.0.1:")
        assert _post(emu.url, USERS, {"users": [user("sync@example.com")]}) == (
            200, {"msg": "Users are created Successfully"})
        state = emu.state()
        assert state["counts"]["created_per_email"] == {"sync@example.com": 1}
        emu.reconfigure(max_users_per_request=1)
        assert emu.emulator.config.max_users_per_request == 1
        emu.reset()
        assert emu.state()["users"] == []
    with pytest.raises(OSError):
        _post(emu.url, INFO, {"emailIds": ["a@b.co"]})


def test_run_server_prints_its_url_and_stops_on_sigterm():
    code = "from bulkprov.emulator import run_server; run_server(0)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONPATH": "."})
    try:
        line = proc.stdout.readline()
        assert "client id cs-demo-client" in line and DEMO_CLIENT_SECRET not in line
        url = line.split(" on ")[1].split()[0]
        assert _post(url, INFO, {"emailIds": ["a@b.co"]})[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.stdout.close()


def test_rate_gate_absorbs_jitter_within_tolerance_without_drifting():
    emu = Emulator(cfg(rate_windows=[(1, 1.0)], rate_tolerance=0.02))
    assert emu._rate_gate(100.0) is None
    assert emu._rate_gate(100.99) is None  # 10 ms early: accepted, booked at 101.0 when the slot frees
    assert emu._rate_gate(101.99) is None  # booked at 102.0, not 101.99: early arrivals do not add up
    assert emu._rate_gate(102.97) == pytest.approx(0.03)  # beyond the tolerance: refused
