"""KoreClient against the embedded emulator, in-process, over real HTTP on loopback.

Where test_client.py checks each reply shape in isolation, these tests check that the client and
the emulator agree end to end: the four calls, per-user refusals, faults (5xx, commit-then-drop,
latency past the timeout), rate windows scaled down to seconds, and JWT refusals.
"""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from bulkprov.emulator import Emulator, EmulatorConfig, demo_seed
from bulkprov.kore import CallFailed, CallResult, KoreClient
from bulkprov.kore.auth import Credentials

CLIENT_ID = "cs-emulator-test-client"
SECRET = "emulator-test-secret-0123456789abcdef"  # >= 32 bytes: no short-HMAC-key warnings
SEED = demo_seed()
ROLE_ID = next(r["roleId"] for r in SEED["roles"] if r["type"] == "admin")
GROUP_ID = SEED["groups"][0]["groupId"]


def user(email: str, **info) -> dict:
    return {"userInfo": {"emailId": email, **info}, "canCreateBot": False, "isDeveloper": False}


@pytest.fixture
def creds() -> Credentials:
    return Credentials(client_id=CLIENT_ID, client_secret=SECRET)


@pytest.fixture
async def start():
    """start(**config) -> (emulator, url); every emulator started is stopped afterwards."""
    running: list[Emulator] = []

    async def _start(**overrides) -> tuple[Emulator, str]:
        emu = Emulator(EmulatorConfig(client_id=CLIENT_ID, client_secret=SECRET, **overrides))
        url = await emu.start()
        running.append(emu)
        return emu, url

    yield _start
    for emu in running:
        await emu.stop()


@pytest.fixture
async def emu_client(start, creds):
    emu, url = await start()
    async with KoreClient(url, creds, timeout=5, connect_timeout=2) as client:
        yield emu, client


# -- the four calls ---------------------------------------------------------------------------


async def test_add_lookup_update_remove(emu_client) -> None:
    emu, client = emu_client
    added = await client.add_users(
        [user("Ann.Lee@Example.com", firstName="Ann", orgUserId="E1"), user("bob@example.com")],
        send_email=False,
    )
    assert added.status == 200 and added.all_ok
    assert set(added.outcomes) == {"ann.lee@example.com", "bob@example.com"}

    info = await client.users_info(email_ids=["ann.lee@example.com", "BOB@example.com", "nobody@example.com"])
    ann = info.outcomes["ann.lee@example.com"]
    assert ann.ok and ann.detail["userInfo"]["firstName"] == "Ann"
    assert ann.detail["canCreateBot"] is False
    assert info.outcomes["bob@example.com"].ok  # asked in upper case, echoed in lower case
    nobody = info.outcomes["nobody@example.com"]
    assert (nobody.ok, nobody.code, nobody.message) == (False, "not-found", "User not found")

    updated = await client.update_users([
        {"userInfo": {"emailId": "ann.lee@example.com", "dept": "Care"},
         "groups": {"addTo": [GROUP_ID], "removeFrom": []}},
        {"userInfo": {"orgUserId": "E1", "city": "Oslo"}},  # the same user, by orgUserId
    ])
    assert updated.all_ok
    info = await client.users_info(org_user_ids=["E1"])
    detail = info.outcomes["e1"].detail
    assert detail["userInfo"]["dept"] == "Care" and detail["userInfo"]["city"] == "Oslo"
    assert [g["groupId"] for g in detail["groups"]] == [GROUP_ID]

    removed = await client.remove_users(email_ids=["Ann.Lee@example.com", "bob@example.com"])
    assert removed.all_ok
    info = await client.users_info(email_ids=["ann.lee@example.com"])
    assert info.outcomes["ann.lee@example.com"].code == "not-found"
    assert emu.snapshot()["users"] == []


async def test_per_user_refusals(emu_client) -> None:
    _, client = emu_client
    await client.add_users([user("taken@example.com")], send_email=False)
    result = await client.add_users(
        [
            user("TAKEN@example.com"),
            user("not-an-email"),
            {**user("role@example.com"), "roles": [{"roleId": "0" * 24}]},
            {**user("ok@example.com"), "roles": [{"roleId": ROLE_ID}]},
        ],
        send_email=False,
    )
    assert isinstance(result, CallResult) and result.status == 200
    assert result.outcomes["ok@example.com"].ok
    taken = result.outcomes["taken@example.com"]
    assert (taken.ok, taken.code, taken.key) == (False, "already-exists", "taken@example.com")
    assert result.outcomes["not-an-email"].code == "invalid-email"
    role = result.outcomes["role@example.com"]
    assert (role.code, role.message) == ("server-refused", "INVALID_ROLE_ID")
    assert result.unmatched == []


async def test_all_refused_is_a_400_result_not_a_failure(emu_client) -> None:
    _, client = emu_client
    result = await client.add_users([user("bad-one"), user("bad-two")], send_email=True)
    assert result.status == 400
    assert {o.code for o in result.outcomes.values()} == {"invalid-email"}


async def test_remove_and_update_missing_users(emu_client) -> None:
    _, client = emu_client
    removed = await client.remove_users(email_ids=["Ghost@Example.com"])
    ghost = removed.outcomes["ghost@example.com"]
    assert (ghost.ok, ghost.code, ghost.message) == (False, "not-found", "User not found")
    removed = await client.remove_users(org_user_ids=["X9"])
    assert removed.outcomes["x9"].code == "not-found"
    updated = await client.update_users([{"userInfo": {"emailId": "ghost@example.com", "dept": "x"}}])
    assert updated.outcomes["ghost@example.com"].code == "not-found"
    info = await client.users_info(org_user_ids=["X9"])  # an object reason this time
    assert (info.outcomes["x9"].code, info.outcomes["x9"].message) == ("not-found", "User not found")


# -- whole-request failures -------------------------------------------------------------------


async def test_5xx_json_and_html_are_transient(start, creds) -> None:
    emu, url = await start(fail_5xx=1.0)
    async with KoreClient(url, creds) as client:
        for expected in ("Service Unavailable", "not JSON"):
            with pytest.raises(CallFailed) as err:
                await client.add_users([user("a@example.com")], send_email=True)
            assert (err.value.kind, err.value.status, err.value.sent) == ("transient", 503, True)
            assert expected in err.value.message
    assert emu.snapshot()["users"] == []


async def test_commit_then_drop_is_ambiguous_and_resolvable(start, creds) -> None:
    emu, url = await start(commit_then_drop=1.0)
    async with KoreClient(url, creds) as client:
        with pytest.raises(CallFailed) as err:
            await client.add_users([user("maybe@example.com")], send_email=True)
        assert (err.value.kind, err.value.sent, err.value.status) == ("ambiguous", True, None)
        # The dispatcher resolves it by asking, never by re-creating: the user was committed.
        info = await client.users_info(email_ids=["maybe@example.com"])
        assert info.outcomes["maybe@example.com"].ok
    assert emu.snapshot()["counts"]["created"] == 1


async def test_timeout_is_ambiguous(start, creds) -> None:
    emu, url = await start(latency=0.6)
    async with KoreClient(url, creds, timeout=0.2) as client:
        with pytest.raises(CallFailed) as err:
            await client.add_users([user("slow@example.com")], send_email=True)
        assert (err.value.kind, err.value.sent) == ("ambiguous", True)
        assert "0.2 s" in err.value.message
    await asyncio.sleep(0.8)  # the server finishes what it started
    assert [u["userInfo"]["emailId"] for u in emu.snapshot()["users"]] == ["slow@example.com"]


async def test_whole_request_refusals_are_permanent(start, creds) -> None:
    _, url = await start(max_users_per_request=2, poison_pattern=r"@poison\.")
    async with KoreClient(url, creds) as client:
        with pytest.raises(CallFailed) as err:
            await client.add_users([user(f"u{i}@example.com") for i in range(3)], send_email=True)
        assert (err.value.kind, err.value.status) == ("permanent", 400)
        assert "Too many users" in err.value.message
        with pytest.raises(CallFailed) as err:
            await client.add_users([user("x@poison.com")], send_email=True)
        assert err.value.kind == "permanent" and "Invalid user data" in err.value.message


async def test_server_gone_is_transient_not_sent(start, creds) -> None:
    emu, url = await start()
    await emu.stop()
    async with KoreClient(url, creds, connect_timeout=1) as client:
        with pytest.raises(CallFailed) as err:
            await client.users_info(email_ids=["a@example.com"])
    assert (err.value.kind, err.value.sent) == ("transient", False)


# -- rate windows (scaled to seconds) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "status", "has_retry_after"),
    [("429-retry-after", 429, True), ("429", 429, False), ("400-message", 400, False)],
)
async def test_rate_refusal_styles(start, creds, style, status, has_retry_after) -> None:
    _, url = await start(rate_windows=[(2, 1.0)], rate_refusal=style)
    async with KoreClient(url, creds) as client:
        for _ in range(2):
            await client.users_info(email_ids=["a@example.com"])
        with pytest.raises(CallFailed) as err:
            await client.users_info(email_ids=["a@example.com"])
    assert (err.value.kind, err.value.status) == ("rate", status)
    assert "Rate limit for this API has been reached" in err.value.message
    if has_retry_after:
        assert err.value.retry_after is not None and 0 < err.value.retry_after <= 1
    else:
        assert err.value.retry_after is None


async def test_two_rolling_windows(start, creds) -> None:
    # At most 2 requests in any 0.5 s and 3 in any 2 s.
    _, url = await start(rate_windows=[(2, 0.5), (3, 2.0)])
    async with KoreClient(url, creds) as client:

        async def ask() -> str:
            try:
                await client.users_info(email_ids=["a@example.com"])
                return "ok"
            except CallFailed as exc:
                assert exc.kind == "rate"
                return "rate"

        assert await ask() == "ok"
        t0 = time.monotonic()  # after the first request's arrival stamp
        assert [await ask(), await ask()] == ["ok", "rate"]  # the short window is full
        await asyncio.sleep(0.55)
        assert [await ask(), await ask()] == ["ok", "rate"]  # now the long window is full
        await asyncio.sleep(max(0.0, 2.05 - (time.monotonic() - t0)))
        assert await ask() == "ok"  # the first requests left the long window


# -- JWT refusals -----------------------------------------------------------------------------


async def test_wrong_secret_is_auth(start) -> None:
    _, url = await start()
    bad = Credentials(client_id=CLIENT_ID, client_secret="another-secret-0123456789abcdefghij")
    async with KoreClient(url, bad) as client:
        with pytest.raises(CallFailed) as err:
            await client.users_info(email_ids=["a@example.com"])
    assert (err.value.kind, err.value.status) == ("auth", 401)
    assert err.value.message == "HTTP 401: Invalid SDK credentials"


async def test_wrong_app_id_is_auth(start) -> None:
    _, url = await start()
    bad = Credentials(client_id="cs-someone-else", client_secret=SECRET)
    async with KoreClient(url, bad) as client:
        with pytest.raises(CallFailed) as err:
            await client.add_users([user("a@example.com")], send_email=True)
    assert (err.value.kind, err.value.status) == ("auth", 401)


async def test_enforced_jti(start, creds) -> None:
    emu, url = await start(enforce_jti=True)
    # Minted tokens carry a fresh jti each: many calls pass.
    async with KoreClient(url, creds) as client:
        for _ in range(5):
            await client.users_info(email_ids=["a@example.com"])
    # A ready token is reused as is: the second call is refused.
    now = int(time.time())
    ready = jwt.encode({"appId": CLIENT_ID, "sub": "ops", "iat": now, "exp": now + 60, "jti": "fixed-jti"},
                       SECRET, algorithm="HS256")
    async with KoreClient(url, Credentials(jwt=ready)) as client:
        await client.users_info(email_ids=["a@example.com"])
        with pytest.raises(CallFailed) as err:
            await client.users_info(email_ids=["a@example.com"])
    assert (err.value.kind, err.value.status) == ("auth", 401)
    assert ready not in err.value.message and SECRET not in repr(err.value)
    assert emu.snapshot()["counts"]["auth_failures"] == 1


async def test_expired_ready_token_is_auth(start) -> None:
    _, url = await start()
    old = int(time.time()) - 600
    expired = jwt.encode({"appId": CLIENT_ID, "sub": "ops", "iat": old, "exp": old + 60}, SECRET,
                         algorithm="HS256")
    async with KoreClient(url, Credentials(jwt=expired)) as client:
        with pytest.raises(CallFailed) as err:
            await client.users_info(email_ids=["a@example.com"])
    assert err.value.kind == "auth"

