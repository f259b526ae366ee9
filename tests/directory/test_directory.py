"""The account's directory (#28): roles, bots and groups read through the three documented listings.

The vendor's samples (tests/fixtures/kore-docs/{roles,groups,bots}.en-directory.success.txt) are played to
the client through the transport seam; everything else runs against the emulator on loopback: both reply
styles, both readings of ``offset``, short and repeated pages, an entry left out, more than 50 roles, a
refused scope, the rate budget, the copy kept in the state directory and the one refresh for an unknown
name.  A canary planted in the bots' app secrets appears nowhere bulkprov keeps, logs or writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import stat

import pytest

from bulkprov.directory import cache
from bulkprov.directory.account import AccountDirectory, Budget, gap_lines
from bulkprov.emulator import demo_seed
from bulkprov.errors import AuthRefused
from bulkprov.kore import KoreClient
from bulkprov.kore.directory import Directory, Entry, ListingRead, read_directory, read_listing
from bulkprov.send.limiter import RateLimiter, parse_rate
from tests.docs_sample import reply_text, samples
from tests.kore.test_client_conformance import Playback, client_for

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
CANARY = "CANARY-7f3e9a1c-do-not-leak"


def sample(call: str) -> str:
    (found,) = samples(call=call, kind="reply", case="success")
    return reply_text(found)


def _bots(n: int) -> dict[str, str]:
    return {f"st-{i:08x}-0000-4000-8000-000000000000": f"Bot {i:03d}" for i in range(n)}


def _groups(n: int) -> dict[str, str]:
    return {f"e-{i:08x}-0000-4000-8000-000000000000": f"Team {i:03d}" for i in range(n)}


async def _read(emu, creds, **kw) -> Directory:
    async with KoreClient(emu.url, creds) as client:
        return await read_directory(client, emu.url, **kw)


def read(emu, creds, **kw) -> Directory:
    return asyncio.run(_read(emu, creds, **kw))


def account_directory(emu, creds, state_dir=None, *, rate: str = "none", **kw):
    """An AccountDirectory of the emulator's account (the client closed by the caller's ``run``)."""
    limiter = RateLimiter(parse_rate(rate))
    client = KoreClient(emu.url, creds)
    return AccountDirectory(client, Budget(limiter), app=creds.client_id, state_dir=state_dir, **kw)


def run(account: AccountDirectory, coro):
    async def go():
        try:
            return await coro
        finally:
            await account.client.close()

    return asyncio.run(go())


# -- the vendor's samples, played verbatim ------------------------------------------------------------------


async def test_the_roles_sample_reads_a_bot_role_with_its_id_and_an_admin_role_by_name():
    playback = Playback(sample("roles"))
    page = await client_for(playback).directory_page("roles", limit=50, role_type="bot")
    (sent,) = playback.sent
    assert (sent.method, sent.path, sent.query) == ("GET", "/api/public/roles", {"roleType": "bot", "limit": "50"})
    assert page.total == 5 and page.more is True
    assert page.entries == (Entry("5e1f0c2d3b4a59687c8d9e0f", "Bot Owner", "...", "bot"),
                            Entry("", "admin", "...", "admin"))


async def test_the_groups_sample_reads_name_description_and_member_count():
    playback = Playback(sample("groups"))
    page = await client_for(playback).directory_page("groups", limit=50, offset=0)
    assert playback.sent[0].query == {"offset": "0", "limit": "50"}
    (group,) = page.entries
    assert (group.id, group.name, group.description, group.members) == (
        "e-3f2a1b0c-9d8e-5f7a-8b6c-5d4e3f2a1b0c", "Audit", "Audit Team", 2)
    assert "emailId" not in repr(page), "the members themselves are not kept: their count is"


async def test_the_bots_sample_is_read_without_its_app_secret():
    text = sample("bots").replace('"clientSecret": "..."', f'"clientSecret": "{CANARY}"')
    assert CANARY in text
    playback = Playback(text)
    page = await client_for(playback).directory_page("bots", limit=50, offset=0)
    (bot,) = page.entries
    assert (bot.id, bot.name, bot.type) == ("st-9c8b7a6d-5e4f-5a3b-8c2d-1e0f9a8b7c6d", "Sampletestbot", "published")
    assert CANARY not in repr(page) and "jwtApps" not in repr(page)


async def test_a_sample_played_as_every_page_is_read_as_incomplete_not_forever():
    """The samples' totals (169 bots, 2 groups, 5 roles) exceed the one page each shows: a server that
    answers every page with it repeats a page, and the read says it is not complete."""
    for call, total in (("bots", 169), ("groups", 2)):
        playback = Playback(sample(call))
        client = client_for(playback)

        async def fetch(offset, limit, call=call, client=client):
            return await client.directory_page(call, limit=limit, offset=offset)

        listing = await read_listing(call, fetch)
        assert (len(listing.entries), listing.total, listing.complete, listing.gap) == (1, total, False, "repeated")
        assert len(playback.sent) <= 3


def test_a_secret_inside_a_refusal_is_not_repeated_in_its_message():
    """A refusal's message quotes its body's error object when it has no words: the secrets go first."""
    from bulkprov.kore.directory import classify_page

    body = {"error": {"jwtApps": [{"clientId": "cs-1", "clientSecret": CANARY}], "detail": "no bots"}}
    failure = classify_page("bots", 401, {}, json.dumps(body))
    assert failure.status == 401 and CANARY not in failure.message and CANARY not in repr(failure)


# -- the emulator's listings: shapes, paging, completeness ---------------------------------------------------


@pytest.mark.parametrize("replies", ["full", "documented"])
@pytest.mark.parametrize("offset", ["pages", "records"])
def test_the_whole_directory_is_read_whatever_offset_counts(make_emulator, creds, replies, offset):
    emu = make_emulator(replies=replies, directory_offset=offset, bots=_bots(120), groups=_groups(51))
    directory = read(emu, creds)
    assert directory.complete and directory.host == emu.url
    assert sorted(b.name for b in directory.bots) == sorted(_bots(120).values())
    assert sorted(g.name for g in directory.groups) == sorted(_groups(51).values())
    reads = {r.name: r for r in directory.reads}
    assert reads["bots"].offset_counts == offset and reads["groups"].offset_counts == offset
    # pages: 3 pages of 50; records: the second page (offset=1) finds out, then 51 and 101
    assert reads["bots"].requests == {"pages": 3, "records": 4}[offset]
    bot_roles = {r.name: r for r in directory.roles if r.type == "bot"}
    assert bot_roles["Bot Tester"].id == ROLE["Bot Tester"]
    admin = {r.name: r for r in directory.roles if r.type == "admin"}
    assert set(admin) == {"Master Admin", "Bot Admin", "User Management Admin"}
    # the documented reply has no _id for admin roles; bulkprov's "full" assumption has one
    assert {r.id for r in admin.values()} == ({""} if replies == "documented" else
                                              {ROLE[n] for n in admin})


def test_short_pages_are_read_on_to_the_total(make_emulator, creds):
    emu = make_emulator(odd=["directory-short-pages"], directory_offset="records", bots=_bots(45))
    directory = read(emu, creds)
    assert directory.complete and len(directory.bots) == 45
    bots = next(r for r in directory.reads if r.name == "bots")
    assert bots.requests >= 3, "20 a page: the page after a short one is asked for"


def test_a_server_that_ignores_offset_is_caught_by_its_repeated_page(make_emulator, creds):
    emu = make_emulator(odd=["directory-repeat-page"], bots=_bots(70))
    directory = read(emu, creds)
    bots = next(r for r in directory.reads if r.name == "bots")
    assert (len(directory.bots), bots.total, bots.gap, bots.complete) == (50, 70, "repeated", False)
    assert not directory.complete and bots.requests <= 3
    (line,) = [g for g in gap_lines(directory) if "bots" in g]
    assert "gave a page again" in line and "50 read, the account says 70" in line


def test_an_entry_left_out_makes_the_read_incomplete_and_it_is_read_once_more(make_emulator, creds):
    emu = make_emulator(odd=["directory-skip-one"])
    directory = read(emu, creds)
    groups = next(r for r in directory.reads if r.name == "groups")
    assert (len(directory.groups), groups.total, groups.gap) == (4, 5, "short")
    # each read asks for the page after (the total says more) and finds it empty; read once more: 2 x 2
    assert groups.requests == 4
    assert any("groups were not read whole: 4 read, the account says 5" in g for g in gap_lines(directory))


def test_more_than_50_roles_of_one_type_say_the_roles_are_incomplete(make_emulator, creds):
    roles = {f"{i:024x}": f"Role {i:02d}" for i in range(60)}
    emu = make_emulator(roles=roles, role_types={rid: "bot" for rid in roles})
    directory = read(emu, creds)
    bot_roles = next(r for r in directory.reads if r.name == "roles/bot")
    assert (len([r for r in directory.roles if r.type == "bot"]), bot_roles.total) == (50, 60)
    assert bot_roles.gap == "repeated", "the roles call documents no offset: the emulator repeats its page"
    sent = [r for r in emu.state()["requests"] if r["path"] == "/api/public/roles"]
    assert len(sent) == 2 + 1  # bot roles: the first page, then offset=1 gives it again (ignored); admin: one


def test_every_request_is_paced_by_the_run_budget(make_emulator, creds):
    emu = make_emulator(rate_windows=[(3, 1.0)], bots=_bots(200), groups=_groups(60))
    account = account_directory(emu, creds, rate="3/1")
    directory = run(account, account.get())
    assert directory.complete and len(directory.bots) == 200
    state = emu.state()
    assert state["counts"]["rate_refusals"] == 0, "within the budget: never refused"
    assert account.budget.requests == len(state["requests"]) == 1 + 1 + 4 + 2  # roles x 2, bots, groups
    arrivals = [r["t"] for r in state["requests"]]
    assert all(later - earlier >= 0.9 for earlier, later in zip(arrivals, arrivals[3:], strict=False)), \
        "never a 4th request within a second of 3 others"


# -- a refused scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", [{"role_management_scope": False}, {"odd": ["directory-forbidden"]}],
                         ids=["401", "403"])
def test_a_refused_scope_stops_a_directory_read_naming_the_scope(make_emulator, creds, refusal):
    emu = make_emulator(replies="documented", **refusal)
    account = account_directory(emu, creds)
    with pytest.raises(AuthRefused) as err:
        run(account, account.get())
    assert "Role Management" in err.value.message and "roles, bots and groups" in err.value.message


def test_a_refused_scope_falls_back_to_the_lookup_sheets_and_says_so(make_emulator, creds, caplog):
    emu = make_emulator(role_management_scope=False)
    account = account_directory(emu, creds)
    caplog.set_level(logging.WARNING)

    async def twice():
        first = await account.get_or_fallback()
        second = await account.get_or_fallback()
        return first, second

    (directory, said), again = run(account, twice())
    assert directory is None and again == (None, said)
    assert "could not be read" in said and "Roles, Bots and Groups sheets made for this account" in said
    assert len([r for r in emu.state()["requests"] if r["path"] == "/api/public/roles"]) == 1, "asked once"
    assert [r.getMessage() for r in caplog.records].count(said) == 1


# -- the copy kept in the state directory ----------------------------------------------------------------------


def test_the_directory_is_kept_owner_only_and_used_while_young(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented")
    state = tmp_path / "state"
    os.umask(0o022)
    first = account_directory(emu, creds, state)
    run(first, first.get())
    assert first.source == "read"
    (kept,) = (state / "directory").iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "directory").stat().st_mode) == 0o700
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert data["host"] == emu.url and data["app"] == creds.client_id
    asked = len(emu.state()["requests"])

    second = account_directory(emu, creds, state)
    directory = run(second, second.get())
    assert second.source == "kept" and len(emu.state()["requests"]) == asked, "young: no request"
    assert [e.name for e in directory.groups] == [e.name for e in first.directory.groups]

    refreshed = account_directory(emu, creds, state, refresh=True)
    run(refreshed, refreshed.get())
    assert refreshed.source == "read" and len(emu.state()["requests"]) > asked


def test_a_kept_directory_older_than_the_setting_is_read_again(make_emulator, creds, tmp_path):
    emu = make_emulator()
    state = tmp_path / "state"
    old = Directory(emu.url, (dt.datetime.now().astimezone() - dt.timedelta(hours=25)).isoformat(),
                    groups=[Entry("e-00000000-0000-4000-8000-000000000000", "Gone Team")])
    cache.save(state, emu.url, creds.client_id, old)
    account = account_directory(emu, creds, state)  # default: a day
    directory = run(account, account.get())
    assert account.source == "read" and "Gone Team" not in {g.name for g in directory.groups}
    younger = account_directory(emu, creds, state, max_age_hours=48)
    cache.save(state, emu.url, creds.client_id, old)
    assert run(younger, younger.get()).groups == old.groups and younger.source == "kept"


def test_a_kept_directory_of_another_account_or_damaged_is_never_used(make_emulator, creds, tmp_path):
    emu = make_emulator()
    state = tmp_path / "state"
    mine = Directory(emu.url, dt.datetime.now().astimezone().isoformat(), groups=[Entry("e-1", "Mine")])
    cache.save(state, emu.url, "cs-another-app", mine)
    assert cache.load(state, emu.url, creds.client_id) is None
    path = cache.cache_path(state, emu.url, creds.client_id)
    path.write_text("{not json", encoding="utf-8")
    account = account_directory(emu, creds, state)
    run(account, account.get())
    assert account.source == "read" and json.loads(path.read_text(encoding="utf-8"))["app"] == creds.client_id


# -- one refresh for an unknown name ------------------------------------------------------------------------


def test_a_role_created_this_morning_is_found_by_one_refresh(make_emulator, creds, tmp_path):
    emu = make_emulator()
    state = tmp_path / "state"
    yesterday = account_directory(emu, creds, state)
    run(yesterday, yesterday.get())
    new_role = "0123456789abcdef01234567"
    emu.reconfigure(roles={**emu.emulator.config.roles, new_role: "Night Shift Lead"},
                    role_types={**emu.emulator.config.role_types, new_role: "bot"})

    account = account_directory(emu, creds, state)

    async def names():
        found = await account.lookup("role", "night shift LEAD", role_type="bot")
        typo = await account.lookup("role", "Bot Testr", role_type="bot")
        another = await account.lookup("group", "No Such Team")
        return found, typo, another

    found, typo, another = run(account, names())
    assert (found.id, found.name, found.source) == (new_role, "Night Shift Lead", "directory")
    assert account.refreshed and account.source == "read"
    roles_asked = [r for r in emu.state()["requests"] if r["path"] == "/api/public/roles"]
    assert len(roles_asked) == 2 + 2, "the first read and one refresh: the typos after it cost nothing"
    assert typo.problem == "unknown" and [c.name for c in typo.candidates][0] == "Bot Tester"
    assert another.problem == "unknown"


# -- admin roles mapped from the roles users hold -------------------------------------------------------------


def test_admin_roles_without_ids_are_mapped_from_the_roles_users_hold(make_emulator, creds):
    users = [{"userInfo": {"emailId": f"admin{i}@acme-corp.com"}, "roles": [{"roleId": ROLE["Bot Admin"]}]}
             for i in range(3)]
    emu = make_emulator(replies="documented", users=users)
    account = account_directory(emu, creds)
    directory = run(account, account.get())
    admin = {r.name: r.id for r in directory.roles if r.type == "admin"}
    assert admin == {"Master Admin": "", "Bot Admin": ROLE["Bot Admin"], "User Management Admin": ""}
    assert directory.admin_ids_from == "listing"
    listing = [r for r in emu.state()["requests"] if r["path"] == "/api/public/alluserroles"]
    assert len(listing) == 1, "one page of the listing held every user"
    (line,) = [g for g in gap_lines(directory) if "admin roles" in g]
    assert "'Master Admin'" in line and "'Bot Admin'" not in line


def test_learn_admin_ids_maps_only_a_name_held_with_one_id():
    directory = Directory("https://bots.kore.ai", roles=[Entry("", "Auditor", type="admin"),
                                                         Entry("", "Helper", type="admin")])
    mapped = directory.learn_admin_ids([("a" * 24, "Auditor"), ("b" * 24, "helper"), ("c" * 24, "Helper")])
    assert mapped == 1 and [r.id for r in directory.roles] == ["a" * 24, ""]


# -- the canary ----------------------------------------------------------------------------------------------


def test_a_bot_app_secret_is_kept_nowhere(make_emulator, creds, tmp_path, caplog):
    from bulkprov.outputs.directory import write_directory

    caplog.set_level(logging.DEBUG)
    emu = make_emulator(replies="documented", bot_app_secret=CANARY)
    bots_reply = asyncio.run(_raw_bots(emu, creds))
    assert CANARY in bots_reply, "the emulator does carry the secret: the test can fail"
    state = tmp_path / "state"
    account = account_directory(emu, creds, state)
    directory = run(account, account.get())
    assert len(directory.bots) == 3
    for name in ("d.xlsx", "d.csv", "d.jsonl"):
        write_directory(tmp_path / name, directory, gap_lines(directory))
    assert CANARY not in repr(directory) and CANARY not in json.dumps(directory.as_json())
    assert CANARY not in caplog.text
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and CANARY.encode() in _all_bytes(p)]
    assert not leaked, leaked


async def _raw_bots(emu, creds) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(
            f"{emu.url}/api/public/bots?limit=50", headers={"auth": creds.token()}) as reply:
        return await reply.text()


def _all_bytes(path) -> bytes:
    """A file's bytes, and the bytes of every member when it is a zip (an xlsx compresses its sheets)."""
    import zipfile

    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data += b"".join(z.read(n) for n in z.namelist())
    return data


def test_listing_reads_carry_no_entries_once_in_the_directory(make_emulator, creds):
    directory = read(make_emulator(), creds)
    assert all(isinstance(r, ListingRead) and r.entries == [] for r in directory.reads)
    assert Directory.from_json(json.loads(json.dumps(directory.as_json()))).as_json() == directory.as_json()


# -- the emulator answers in the samples' shapes -----------------------------------------------------------------


@pytest.mark.parametrize("path, call", [("/api/public/roles?roleType=bot&limit=50", "roles"),
                                        ("/api/public/roles?roleType=admin&limit=50", "roles"),
                                        ("/api/public/groups?offset=0&limit=50", "groups"),
                                        ("/api/public/bots?offset=0&limit=50", "bots")])
def test_the_documented_emulator_answers_in_the_samples_shapes(make_emulator, creds, path, call):
    from tests.emulator.test_emulator_documented import conforms

    emu = make_emulator(replies="documented", users=[{"userInfo": {"emailId": "a@acme-corp.com", "firstName": "A"},
                                                      "groups": [GROUP["Sales"]]}])
    body = asyncio.run(_get(emu, creds, path))
    conforms(body, json.loads(sample(call)), call)
    if call == "groups":
        sales = next(g for g in body["groups"] if g["gN"] == "Sales")
        assert sales["userCount"] == 1 and sales["users"][0]["emailId"] == "a@acme-corp.com"


async def _get(emu, creds, path: str):
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(emu.url + path,
                                                               headers={"auth": creds.token()}) as reply:
        assert reply.status == 200
        return await reply.json()


async def test_a_page_number_past_the_servers_maximum_is_tried_as_records_then_said():
    """One version of the bots page allows 10 pages: a refused later page is asked once as records, then the read
    stops and says why."""
    from bulkprov.kore.directory import DirectoryPage
    from bulkprov.kore.errors import RequestRefused

    entries = [Entry(f"st-{i:08x}-0000-4000-8000-000000000000", f"Bot {i}") for i in range(120)]
    asked = []

    async def fetch(offset, limit):
        asked.append(offset)
        if offset > 1:  # pages up to 1 only; anything further is refused
            raise RequestRefused("HTTP 400: offset must be at most 1", status=400)
        start = offset * limit
        return DirectoryPage(200, tuple(entries[start:start + limit]), 120, start + limit < 120)

    listing = await read_listing("bots", fetch)
    assert asked == [0, 1, 2, 100] and (len(listing.entries), listing.gap) == (100, "refused-page")
    assert listing.offset_counts == "records" and not listing.complete
