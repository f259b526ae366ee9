"""The page goes through the one gate and the one settings function, through its HTTP app.

Each test proves one row of issue 29's table the other way round: an approval made for a file read as GBK
does not let the same bytes read as cp932 through; a removal by orgUserId of a protected user asks first;
the audit page survives a damaged trail and speaks the reader's language; 300 anonymous sign-in errors
are one record with a count; the page's run settings are the command line's (strict ids, run-time limit);
and an approver whose role was taken away — in the profile, or at the identity provider — cannot decide.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.approvals.audit import AuditTrail
from bulkprov.emulator import EmulatorConfig
from bulkprov.kore.auth import Credentials
from bulkprov.web import build_config, create_app, hash_password
from tests.cli.test_cli import bulkprov, kore_env
from tests.web.test_web import PASSWORD, csrf_of, upload_form, web_config

PEOPLE = {"olga": "operator", "bob": "approver", "abe": "approver"}


def people() -> dict[str, str]:
    return {name: hash_password(PASSWORD, n=2**10) for name in PEOPLE}


async def sign_in(client: TestClient, name: str) -> str:
    page = await client.get("/login")
    resp = await client.post("/login", data={"csrf": csrf_of(await page.text()), "username": name,
                                             "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return csrf_of(await (await client.get("/runs")).text())


async def upload(client: TestClient, csrf: str, content: bytes, *, action: str = "remove",
                 encoding: str | None = None, name: str = "leavers.csv") -> str:
    resp = await client.post("/upload", data=upload_form(csrf, content, filename=name, action=action,
                                                         encoding=encoding), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.headers["Location"].split("?")[0]


async def run(client: TestClient, csrf: str, report: str, action: str = "remove") -> str:
    resp = await client.post(report + "/run", data={"csrf": csrf, "action": action, "email": "yes"},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.headers["Location"]


async def finished(client: TestClient, job_url: str) -> None:
    for _ in range(400):
        status = await (await client.get(job_url + "/progress", headers={"Accept": "application/json"})).json()
        if status["state"] != "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not finish")


def account_trail(emu) -> AuditTrail:
    from bulkprov.approvals.policy import Account

    return AuditTrail.of(Account(emu.url, EmulatorConfig().client_id))


def emails(emu) -> set[str]:
    return {u["userInfo"]["emailId"] for u in emu.state()["users"]}


# -- row 7: an approval is for the decoded rows, not the bytes -------------------------------------------------------


async def test_an_approval_of_a_file_read_as_gbk_does_not_run_it_read_as_cp932(make_emulator, tmp_path):
    staff = [f"emp{i}@acme-corp.com" for i in range(3)]
    emu = make_emulator(users=[{"emailId": e} for e in [*staff, "ceo@acme-corp.com"]])
    sneaky = "ｃｅｏ＠ａｃｍｅ－ｃｏｒｐ．ｃｏｍ".encode("cp932")  # in GBK: Chinese characters, an invalid email
    content = ("Email\n" + "".join(f"{e}\n" for e in staff)).encode("ascii") + sneaky + b"\n"
    config = web_config(tmp_path, host=emu.url, users=people(), local_roles=PEOPLE)
    config.job = replace(config.job, max_deletes=2, protected=["ceo@acme-corp.com"])
    async with TestClient(TestServer(create_app(config))) as olga, TestClient(TestServer(create_app(config))) as bob:
        csrf = await sign_in(olga, "olga")
        as_gbk = await upload(olga, csrf, content, encoding="gbk")
        request_url = await run(olga, csrf, as_gbk)
        assert request_url.startswith("/requests/"), request_url
        page = await (await olga.get(request_url)).text()
        assert "3 users would be removed, over the limit of 2" in page and "protected" not in page.split("<h2")[1]
        bob_csrf = await sign_in(bob, "bob")
        decided = await bob.post(request_url + "/approve", data={"csrf": bob_csrf, "comment": "3 leavers"},
                                 allow_redirects=False)
        assert decided.status == 303
        as_cp932 = await upload(olga, csrf, content, encoding="cp932")  # the same bytes
        second = await run(olga, csrf, as_cp932)
        assert second.startswith("/requests/") and second != request_url, "a new plan: a new request"
        text = await (await olga.get(second)).text()
        assert "4 users would be removed" in text and "ceo@acme-corp.com" in text
        assert emails(emu) == {*staff, "ceo@acme-corp.com"}, "nothing ran under bob's approval"
        first = await (await olga.get(request_url)).text()
        assert 'id="state">approved<' in first, "the approval waits for its own plan, unused"


# -- row 8: a protected user named by orgUserId --------------------------------------------------------------------


async def test_a_removal_by_org_user_id_of_a_protected_user_asks_first(make_emulator, tmp_path):
    emu = make_emulator(users=[{"emailId": "ceo@acme-corp.com", "orgUserId": "E00001"},
                               {"emailId": "ann@acme-corp.com", "orgUserId": "E00002"}])
    config = web_config(tmp_path, host=emu.url, users=people(), local_roles=PEOPLE)
    config.job = replace(config.job, protected=["ceo@acme-corp.com"])
    async with TestClient(TestServer(create_app(config))) as olga:
        csrf = await sign_in(olga, "olga")
        report = await upload(olga, csrf, b"Employee ID\nE00001\n")
        where = await run(olga, csrf, report)
        assert where.startswith("/requests/"), where
        page = await (await olga.get(where)).text()
        assert "1 protected users would be changed or removed (E00001)" in page
        assert emails(emu) == {"ceo@acme-corp.com", "ann@acme-corp.com"}
        report = await upload(olga, csrf, b"Employee ID\nE00002\n", name="ann.csv")
        job = await run(olga, csrf, report)
        assert job.startswith("/jobs/"), "an unprotected user goes at once"
        await finished(olga, job)
        assert emails(emu) == {"ceo@acme-corp.com"}


# -- rows 11 and 12: the audit page and anonymous floods -----------------------------------------------------------


async def test_the_audit_page_survives_damage_and_speaks_the_readers_language(make_emulator, tmp_path):
    emu = make_emulator()
    config = web_config(tmp_path, host=emu.url, users=people(), local_roles=PEOPLE)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await sign_in(client, "abe")
        report = await upload(client, csrf, b"Email\nnew@acme-corp.com\n", action="add", name="new.csv")
        await finished(client, await run(client, csrf, report, "add"))
        trail = account_trail(emu)
        with open(trail.path, "a", encoding="utf-8") as fh:
            fh.write('null\n{"seq": 99, "torn')  # a damaged line, and a torn one
        page = await client.get("/audit", headers={"Accept-Language": "ko"})
        text = await page.text()
        assert page.status == 200, text
        assert 'id="problems"' in text and "줄 " in text, "the damage is named, in Korean"
        assert "실행" in text and "new.csv" in text and "{&#34;" not in text and '{"' not in text, "words, not JSON"
        export = bulkprov("audit", "export", "--trail", str(trail.path))
        assert export.returncode == 0 and export.stdout.count('"event": "damaged"') == 2


async def test_anonymous_sign_in_errors_are_one_record_with_a_count(make_emulator, tmp_path):
    from bulkprov.web.oidc import OidcConfig

    emu = make_emulator()
    oidc = OidcConfig(issuer="http://localhost:9", client_id="bulkprov", client_secret="s3cret")
    config = web_config(tmp_path, host=emu.url, users=people(), local_roles=PEOPLE, oidc=oidc)
    async with TestClient(TestServer(create_app(config))) as client:
        answers = await asyncio.gather(*(client.get("/oidc/callback?error=access_denied&state=x", allow_redirects=False)
                                         for _ in range(300)))
        assert {a.status for a in answers} == {401}
        await sign_in(client, "abe")
    logins = [r for r in account_trail(emu).records() if r["event"] == "login"]
    refused = [r for r in logins if r["what"]["outcome"] == "refused"]
    assert len(refused) <= 2 and sum(r["what"]["count"] for r in refused) == 300, refused
    assert [r["who"] for r in logins if r["what"]["outcome"] == "ok"] == ["abe"], "the real sign-in is there"
    assert account_trail(emu).verify().problems == [] or all(p.line == 0 for p in account_trail(emu).verify().problems)


# -- row 16: the page's run settings are the command line's ---------------------------------------------------------


async def test_the_page_judges_a_file_as_the_command_line_does(make_emulator, tmp_path):
    emu = make_emulator(latency=0.2)
    creds = Credentials(client_id=EmulatorConfig().client_id, client_secret=EmulatorConfig().client_secret)
    profile = {"host": emu.url, "state_dir": str(tmp_path / "state"), "rate": "none", "strict_ids": False,
               "rate_wait_cap": 5.0, "max_runtime": 1.0, "batch_size": 1, "concurrency": 1,
               "web_users": people(), "web_roles": PEOPLE}
    config = build_config(profile, {}, credentials=creds, max_upload_mb=1, secure_cookies=False)
    assert (config.job.strict_ids, config.job.rate_wait_cap, config.job.max_runtime) == (False, 5.0, 1.0)
    toml = tmp_path / "bulkprov.toml"
    toml.write_text("[profiles.p]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in profile.items()
                                               if not k.startswith("web_")))
    odd = b"Email,botTasks\n" + b"".join(f"u{i}@acme-corp.com,st-xxx-xx-xxx-xxx-xxxx:dg-xxx\n".encode()
                                         for i in range(20))  # the vendor's own sample ids: relaxed ids only
    (tmp_path / "odd.csv").write_bytes(odd)
    cli = bulkprov("add", str(tmp_path / "odd.csv"), "--dry-run", "--config", str(toml), "--profile", "p",
                   env=kore_env(emu))
    assert cli.returncode == 0, cli.stderr  # relaxed ids on the command line: valid
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await sign_in(client, "olga")
        report = await upload(client, csrf, odd, action="add", name="odd.csv")
        check = await (await client.get(report + "?action=add")).text()
        assert "0 invalid" in check or 'id="problems"' not in check, "the page's check agrees with the CLI's"
        job = await run(client, csrf, report, "add")
        await finished(client, job)
        page = await (await client.get(job)).text()
        assert "run-time limit" in page, "the profile's max_runtime stopped the page's run too"


# -- item 7: roles are current at each decision ---------------------------------------------------------------------


async def _pending_request(client: TestClient, emu) -> str:
    csrf = await sign_in(client, "olga")
    report = await upload(client, csrf, b"Email\nleaver@acme-corp.com\n")
    where = await run(client, csrf, report)
    assert where.startswith("/requests/"), where
    return where


async def test_an_approver_taken_off_the_profile_cannot_decide(make_emulator, tmp_path):
    emu = make_emulator(users=[{"emailId": "leaver@acme-corp.com"}])
    creds = Credentials(client_id=EmulatorConfig().client_id, client_secret=EmulatorConfig().client_secret)
    hashes = people()

    def write(roles: dict[str, str]) -> None:
        users = "".join(f'{n} = "{h}"\n' for n, h in hashes.items())
        roles_text = "".join(f'{n} = "{r}"\n' for n, r in roles.items())
        toml.write_text(f'[profiles.hr]\nhost = "{emu.url}"\nstate_dir = "{tmp_path / "state"}"\nrate = "none"\n'
                        f"max_deletes = 0\n[profiles.hr.web_users]\n{users}[profiles.hr.web_roles]\n{roles_text}")

    from bulkprov.config import load_profile

    toml = tmp_path / "bulkprov.toml"
    write(PEOPLE)
    config = build_config(load_profile(toml, "hr"), {}, credentials=creds, max_upload_mb=1, secure_cookies=False,
                          reload=lambda: load_profile(toml, "hr"))
    async with TestClient(TestServer(create_app(config))) as olga, TestClient(TestServer(create_app(config))) as bob:
        where = await _pending_request(olga, emu)
        bob_csrf = await sign_in(bob, "bob")
        write({**PEOPLE, "bob": "operator"})  # bob is no approver any more; his session still says so
        refused = await bob.post(where + "/approve", data={"csrf": bob_csrf, "comment": "ok"}, allow_redirects=False)
        assert refused.status == 403 and "Bob may not approve" in await refused.text()
        write(PEOPLE)
        ok = await bob.post(where + "/approve", data={"csrf": bob_csrf, "comment": "ok"}, allow_redirects=False)
        assert ok.status == 303


async def test_single_sign_on_groups_are_refreshed_silently_and_a_failed_refresh_drops_to_viewer(tmp_path):
    from tests.web.test_web_oidc import page_config, provider, put_user
    from tests.web.test_web_oidc import sign_in as sso_sign_in

    pytest.importorskip("oidc_provider_mock")
    with provider() as issuer:
        await put_user(issuer, "ann", email="ann@acme-corp.com", groups=["hr-approvers"])
        await put_user(issuer, "ole", email="ole@acme-corp.com", groups=["hr-team"])
        config = page_config(tmp_path, issuer)
        config.role_refresh = 2.0
        config.job = replace(config.job, max_deletes=0)
        async with TestClient(TestServer(create_app(config))) as ole, TestClient(TestServer(create_app(config))) as ann:
            assert (await sso_sign_in(ole, "ole")).status == 200
            ole_csrf = csrf_of(await (await ole.get("/")).text())
            report = await upload(ole, ole_csrf, b"Email\nleaver@acme-corp.com\n")
            where = await run(ole, ole_csrf, report)
            assert (await sso_sign_in(ann, "ann")).status == 200
            csrf = csrf_of(await (await ann.get(where)).text())
            await asyncio.sleep(2.1)
            # a GET after the refresh time goes through the provider silently (prompt=none)
            stale = await ann.get(where, allow_redirects=False)
            assert stale.status == 303 and stale.headers["Location"].startswith("/oidc/login?prompt=none")
            start = await ann.get(stale.headers["Location"], allow_redirects=False)
            authorize = start.headers["Location"]
            assert parse_qs(urlsplit(authorize).query)["prompt"] == ["none"]
            # meanwhile ann left hr-approvers at the provider: the silent answer carries her new groups.  (The
            # mock keeps no sign-in session of its own, so it answers prompt=none with login_required; a provider
            # where ann is still signed in answers with a code, which the test asks for without the prompt.)
            await put_user(issuer, "ann", email="ann@acme-corp.com", groups=["hr-team"])
            async with aiohttp.ClientSession() as idp:
                answer = await idp.post(authorize.replace("&prompt=none", ""), data={"sub": "ann"},
                                        allow_redirects=False)
            back = urlsplit(answer.headers["Location"])
            assert (await ann.get(f"{back.path}?{back.query}", allow_redirects=False)).status == 200
            refused = await ann.post(where + "/approve", data={"csrf": csrf, "comment": "ok"}, allow_redirects=False)
            assert refused.status == 403, "an operator now: no approval"
            # a POST with stale groups counts as a viewer's; a refresh the provider refuses leaves a viewer
            await asyncio.sleep(2.1)
            assert (await ann.post(where + "/approve", data={"csrf": csrf, "comment": "ok"})).status == 403
            stale = await ann.get("/runs", allow_redirects=False)
            start = await ann.get(stale.headers["Location"], allow_redirects=False)
            async with aiohttp.ClientSession() as idp:  # the provider itself answers: login_required
                answer = await idp.post(start.headers["Location"], data={"sub": "ann"}, allow_redirects=False)
            back = urlsplit(answer.headers["Location"])
            assert parse_qs(back.query)["error"] == ["login_required"]
            failed = await ann.get(f"{back.path}?{back.query}", allow_redirects=False)
            assert failed.status == 200 and re.search(r'content="0;url=/runs"', await failed.text())
            who = await (await ann.get("/runs")).text()
            assert "ann@acme-corp.com (viewer)" in who
    records = [r["what"].get("outcome") for r in AuditTrail.of(config.job.account).records() if r["event"] == "login"]
    reasons = [r["what"] for r in AuditTrail.of(config.job.account).records() if r["event"] == "login"]
    assert records.count("refreshed") == 1 and records.count("refresh-failed") == 1, reasons


def test_the_coalescer_bounds_records_per_address_and_per_crowd():
    from bulkprov.web.records import Coalescer
    from tests.conftest import ManualClock

    clock = ManualClock()
    c = Coalescer(window=60, burst=3, clock=clock)
    now = [c.note("203.0.113.1", "failed", {"outcome": "failed"})[0] for _ in range(50)]
    assert now.count(True) == 1, "one address: one record at once"
    crowd = [c.note(f"198.51.100.{i}", "failed", {"outcome": "failed"})[0] for i in range(100)]
    assert crowd.count(True) == 2, "the burst: 3 windows a minute, then one shared bucket"
    clock.now = 61
    due = c.due(clock.now)
    counted = {d["where"]: d["what"]["count"] for d in due}
    assert counted["203.0.113.1"] == 49 and counted["*"] == 98 and due[-1]["what"]["sources"] == 98
    assert c.due(None) == [] and c.note("203.0.113.1", "failed", {"outcome": "failed"})[0], "a new window"


# -- issue 27: the request counts the activation emails the run would really send ------------------------------------


@pytest.mark.parametrize(("choice", "sent"), [("no", 0), ("yes", 12)])
async def test_a_request_on_the_page_counts_the_activation_emails_the_run_would_send(make_emulator, tmp_path,
                                                                                      choice, sent):
    emu = make_emulator()
    content = ("Email,canCreateBot\n" + "".join(f"emp{i}@acme-corp.com,yes\n" for i in range(12))).encode()
    config = web_config(tmp_path, host=emu.url, users=people(), local_roles=PEOPLE)
    async with TestClient(TestServer(create_app(config))) as olga:
        csrf = await sign_in(olga, "olga")
        report = await upload(olga, csrf, content, action="add", name="builders.csv")
        resp = await olga.post(report + "/run", data={"csrf": csrf, "action": "add", "email": choice},
                               allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/requests/"), await resp.text()
        page = await (await olga.get(resp.headers["Location"])).text()
        assert f"activation emails: {sent}" in page, page
