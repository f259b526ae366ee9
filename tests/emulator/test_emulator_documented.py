"""The emulator's documented-replies mode answers in exactly the shapes of the vendor's samples; the
account listing; another client spending the same rate windows.

Driven with plain aiohttp (not the project's client), compared with tests/fixtures/kore-docs/.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bulkprov.emulator import Emulator, EmulatorConfig, demo_seed
from tests.docs_sample import reply_json, samples
from tests.emulator.test_emulator import USERS, call

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
DIALOG = SEED["bots"][0]["dialogs"][0]
GROUP = SEED["groups"][0]["groupId"]
INFO, LIST = "/api/public/usersInfo", "/api/public/alluserroles"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start():
    """``await start(config)`` -> (emulator, url); every emulator started is stopped afterwards."""
    started: list[Emulator] = []

    async def _start(config: EmulatorConfig) -> tuple[Emulator, str]:
        emu = Emulator(config)
        started.append(emu)
        return emu, await emu.start()

    yield _start
    for emu in started:
        await emu.stop()


def documented(**changes: Any) -> EmulatorConfig:
    return EmulatorConfig(**{"rate_windows": [], "replies": "documented", **changes})


def sample(call_name: str, case: str, language: str = "en") -> Any:
    found = [s for s in samples(call=call_name, kind="reply", case=case) if s.language == language]
    return reply_json(found[0])


def conforms(ours: Any, doc: Any, where: str = "reply") -> None:
    """``ours`` has the documented shape: the same keys in the same order, the same value types; every
    element of a list is shaped like some element of the documented list."""
    if isinstance(doc, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
        assert list(ours) == list(doc), f"{where}: keys {list(ours)} != documented {list(doc)}"
        for key in doc:
            conforms(ours[key], doc[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(ours, list), f"{where}: {ours!r} is not an array"
        if not doc:
            return  # the page shows no element of this list: no shape to hold it to
        for i, item in enumerate(ours):
            problems = []
            for candidate in doc:
                try:
                    conforms(item, candidate, f"{where}[{i}]")
                    break
                except AssertionError as exc:
                    problems.append(str(exc))
            else:
                raise AssertionError(f"{where}[{i}] matches no documented element: {problems}")
    else:
        assert type(ours) is type(doc), f"{where}: {type(ours).__name__} where the page has {type(doc).__name__}"


JANE = {"userInfo": {"emailId": "jane@corp.com", "orgUserId": "E100", "firstName": "Jane", "lastName": "Roe",
                     "dept": "Care"},
        "roles": [{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"]}, {"roleId": ROLE["Bot Admin"]}],
        "groups": [GROUP], "assignBotTasks": [{"botId": BOT["Support Bot"], "dialogs": [DIALOG]}],
        "canCreateBot": False, "isDeveloper": False}


async def test_users_info_answers_as_the_page_prints_it(http, start):
    emu, url = await start(documented(users=[JANE]))
    status, body, _ = await call(http, url, "POST", INFO, {"emailIds": ["jane@corp.com", "test@test.com"]})
    page = sample("usersInfo", "success")
    assert status == 200
    conforms(body, page)
    assert body[0]["userInfo"] == {"emailId": "jane@corp.com", "userId": body[0]["userInfo"]["userId"],
                                   "firstName": "Jane", "lastName": "Roe"}, "no orgUserId, no dept: as documented"
    assert body[0]["roles"]["btRoles"][0]["botName"] == "Support Bot"
    assert body[1] == {"userInfo": {"emailId": "test@test.com", "status": "failure", "reason": "Invalid emailId"}}


async def test_a_lone_missing_user_is_one_object_as_on_the_korean_page(http, start):
    emu, url = await start(documented())
    status, body, _ = await call(http, url, "POST", INFO, {"emailIds": ["test@test.com"]})
    assert isinstance(body, dict) and body == sample("usersInfo", "failure", "ko")
    _, malformed, _ = await call(http, url, "POST", INFO, {"emailIds": ["a3q4"]})
    conforms(malformed, sample("usersInfo", "failure")[0])  # the English page's object reason
    assert malformed["userInfo"]["reason"]["message"] == "Invalid emailId"


async def test_other_not_found_reasons(http, start):
    reason = "User not found. Please check the provided email address."
    emu, url = await start(documented(not_found_reason=reason))
    _, body, _ = await call(http, url, "POST", INFO, {"emailIds": ["gone@corp.com"]})
    assert body["userInfo"]["reason"] == reason


async def test_refused_removal_names_the_user_by_email_only(http, start):
    emu, url = await start(documented(users=[JANE], refuse_remove_pattern="^jane@"))
    status, body, _ = await call(http, url, "DELETE", USERS, {"orgUserIds": ["E100"]})
    assert status == 400
    assert body == sample("remove", "failure") | {"failedUserDetails": [
        {**sample("remove", "failure")["failedUserDetails"][0], "emailId": "jane@corp.com"}]}
    assert len(emu.users) == 1, "refused: still there"


async def test_write_replies_are_the_documented_ones(http, start):
    emu, url = await start(documented())
    status, body, _ = await call(http, url, "POST", USERS, {"users": [
        {"userInfo": {"emailId": "deskkore1", "firstName": "user1"}}, {"userInfo": {"emailId": "ok@corp.com"}}]})
    assert status == 200
    conforms(body, sample("add", "failure", "ko"))
    assert body["failedUserDetails"][0]["userInfo"]["reason"]["message"] == "INVALID_EMAIL"
    _, body, _ = await call(http, url, "PUT", USERS, {"users": [{"userInfo": {"emailId": "ok@corp.com", "dept": "x"}}]})
    assert body == sample("update", "success")
    _, body, _ = await call(http, url, "DELETE", USERS, {"deleteEmailIds": ["ok@corp.com"]})
    assert body == sample("remove", "success")
    _, body, _ = await call(http, url, "POST", USERS, {"users": [{"userInfo": {"emailId": "n@corp.com"}}]})
    assert body == sample("add", "success", "ko")


@pytest.mark.parametrize("replies", ["full", "documented"])
async def test_the_account_listing_pages(http, start, replies):
    users = [dict(JANE, userInfo={**JANE["userInfo"], "emailId": f"u{i:03d}@corp.com", "orgUserId": f"E{i}"})
             for i in range(250)]
    emu, url = await start(documented(users=users, replies=replies, page_limit=100))
    seen, offset, pages = [], 0, 0
    while True:
        status, body, _ = await call(http, url, "GET", f"{LIST}?limit=500&offset={offset}", raw=b"")
        assert status == 200
        conforms(body, sample("list", "success"))
        assert body["total"] == 250 and len(body["users"]) <= 100  # the server's cap, not the 500 asked
        seen += [u["username"] for u in body["users"]]
        offset += len(body["users"])
        pages += 1
        if not body["availableMore"]:
            break
    assert pages == 3 and seen == [u["userInfo"]["emailId"] for u in users]
    entry = body["users"][-1]
    conforms(entry["btRoles"], sample("list", "success")["users"][1]["btRoles"])
    conforms(entry["adminRoles"], sample("usersInfo", "success")[0]["roles"]["adminRoles"])
    assert entry["orgUserId"] == "E249" and entry["btRoles"][0]["botName"] == "Support Bot"
    assert entry["adminRoles"][0]["roleName"] == "Bot Admin"


async def test_the_listing_needs_the_role_management_scope(http, start):
    emu, url = await start(documented(role_management_scope=False))
    status, body, _ = await call(http, url, "GET", f"{LIST}?limit=10", raw=b"")
    assert status == 401


async def test_another_client_spends_the_same_windows(http, start):
    emu, url = await start(documented(rate_windows=[(5, 60.0)], prefill=4, rate_refusal="400-retry-after"))
    assert (await call(http, url, "POST", INFO, {"emailIds": ["a@corp.com"]}))[0] in (200, 400)
    status, body, headers = await call(http, url, "POST", INFO, {"emailIds": ["a@corp.com"]})
    assert status == 400 and "Rate limit" in json.dumps(body) and int(headers["Retry-After"]) >= 1
    emu, url = await start(documented(rate_windows=[(100, 60.0)], other_client_rate=1e6, rate_refusal="429"))
    status, _, headers = await call(http, url, "POST", INFO, {"emailIds": ["a@corp.com"]})
    assert status == 429 and "Retry-After" not in headers, "the other client had used the window already"
    assert len(emu._windows.stamps) == 100, "the other client's requests, booked only while they fit"


def test_documented_replies_are_a_setting(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"replies": "documented", "not_found_reason": "Nope"}), encoding="utf-8")
    config = EmulatorConfig.from_json(seed)
    assert config.documented and config.not_found_reason == "Nope"
    with pytest.raises(ValueError):
        EmulatorConfig(replies="imaginary")


# -- odd replies: one switch each (#27) ------------------------------------------------------------------------

USERS_PATH = "/api/public/users"


def people(n: int) -> list[dict]:
    return [{"userInfo": {"emailId": f"p{i}@corp.com", "orgUserId": f"P{i}", "firstName": f"F{i}"},
             "canCreateBot": False, "isDeveloper": False} for i in range(n)]


@pytest.mark.parametrize(("name", "status", "body", "done"), [
    ("write-empty", 200, {}, False),
    ("write-status-error", 200, {"status": "error", "message": "Internal error"}, False),
    ("write-error", 200, {"error": "Something went wrong"}, False),
    ("write-failed-string", 200, {"failedUserDetails": "all users failed"}, False),
    ("write-queued", 202, {"msg": "Request queued"}, False),
    ("write-other-msg", 200, {"msg": "OK"}, True),
    ("write-html", 200, "<html><head><title>Gateway</title></head><body>Done</body></html>", True),
    ("write-empty-body", 200, "", True),
])
async def test_odd_write_replies(http, start, name, status, body, done):
    emu, url = await start(documented(odd=[name]))
    got = await call(http, url, "POST", USERS_PATH, {"users": people(2)})
    assert got[:2] == (status, body)
    assert (len(emu.users) == 2) is done
    emu.reconfigure(odd=[])
    status, body, _ = await call(http, url, "POST", USERS_PATH, {"users": people(2)})
    assert (status == 400 and "failedUserDetails" in body) if done else body == {"msg": "Users are created Successfully"}


async def test_odd_failures_name_a_stranger_or_only_the_first_user(http, start):
    emu, url = await start(documented(users=people(3), odd=["write-stranger"]))
    status, body, _ = await call(http, url, "DELETE", USERS_PATH, {"deleteEmailIds": ["p0@corp.com"]})
    assert status == 200 and body["failedUserDetails"][0]["emailId"] == "someone.else@elsewhere.example"
    assert len(emu.users) == 3, "nothing done"
    emu.reconfigure(odd=["write-400-partial"])
    status, body, _ = await call(http, url, "DELETE", USERS_PATH, {"deleteEmailIds": ["p0@corp.com", "p1@corp.com"]})
    assert status == 400 and [f["emailId"] for f in body["failedUserDetails"]] == ["p0@corp.com"]
    assert sorted(emu.users) == ["p0@corp.com", "p2@corp.com"], "every user but the first was removed"


async def test_odd_users_info_omits_users_or_answers_with_others(http, start):
    emu, url = await start(documented(users=people(3), odd=["info-omit"], odd_pattern="^p1@"))
    status, body, _ = await call(http, url, "POST", INFO, {"emailIds": ["p0@corp.com", "p1@corp.com", "x@corp.com"]})
    assert [e["userInfo"]["emailId"] for e in body] == ["p0@corp.com", "x@corp.com"]
    emu.reconfigure(odd=["info-wrong-user"])
    status, body, _ = await call(http, url, "POST", INFO, {"orgUserIds": ["P0"]})
    assert status == 200 and [e["userInfo"]["emailId"] for e in body] == ["p1@corp.com"]


async def _read_listing(http, url, limit: int = 2) -> tuple[list[str], list[int]]:
    seen, totals, offset = [], [], 0
    for _page in range(20):
        status, body, _ = await call(http, url, "GET", f"{LIST}?limit={limit}&offset={offset}", raw=b"")
        seen += [u["username"] for u in body["users"]]
        totals.append(body["total"])
        offset += limit
        if not body["availableMore"]:
            break
    return seen, totals


@pytest.mark.parametrize(("name", "seen", "totals"), [
    ([], ["p0", "p1", "p2", "p3", "p4"], [5, 5, 5]),
    (["list-skip-one"], ["p0", "p2", "p3", "p4"], [5, 5, 5]),
    (["list-stop-early"], ["p0", "p1"], [5]),
    # a page of 4 holds 2 users twice: a client advancing by what it received skips p2 and p3
    (["list-doubled"], ["p0", "p0", "p1", "p1", "p4", "p4"], [5, 5]),
    (["list-removed-between"], ["p0", "p1", "p3", "p4"], [5, 4]),
    (["list-added-between"], ["p0", "p1", "p1", "p2", "p3", "p4"], [5, 6, 6]),
])
async def test_odd_listing_pages(http, start, name, seen, totals):
    emu, url = await start(documented(users=people(5), odd=name))
    got, got_totals = await _read_listing(http, url, limit=4 if name == ["list-doubled"] else 2)
    assert [e.split("@")[0] for e in got] == seen and got_totals == totals


def test_odd_switches_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown odd reply"):
        EmulatorConfig(odd=["write-imaginary"])
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"odd": ["write-empty"], "odd_pattern": "^a"}), encoding="utf-8")
    assert EmulatorConfig.from_json(seed).odd == ["write-empty"]
