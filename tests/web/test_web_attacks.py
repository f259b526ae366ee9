"""Issue 16: the HR page under attack, one test per numbered finding, against the running page.

Each test drives the aiohttp test server (or the real ``bulkprov serve``) the way the security
review did: parallel logins, user switching, umask 022, hostile ``next`` values, multi-part and
chunked uploads, a workbook that expands far, a flood of logins from many addresses, a flood of
login pages, malformed cookies, slow headers and a Run with nothing to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.web import create_app, hash_password
from bulkprov.web.app import runner_options
from bulkprov.web.keys import SESSIONS
from bulkprov.web.preview import PREVIEWS
from bulkprov.web.runner import JOBS
from tests.conftest import ROOT, bare_env, write_roster
from tests.web.test_web import PASSWORD, csrf_of, login, stored_uploads, upload_form, web_config

USERS = {"alice": hash_password(PASSWORD, n=2**10), "bob": hash_password(PASSWORD, n=2**10)}


@contextlib.asynccontextmanager
async def page_client(tmp_path: Path, **changes):
    config = web_config(tmp_path, users=changes.pop("users", USERS), **changes)
    async with TestClient(TestServer(create_app(config))) as client:
        client.config = config
        yield client


async def login_form(client: TestClient, path: str = "/login") -> str:
    return csrf_of(await (await client.get(path)).text())


async def try_login(client: TestClient, csrf: str, user: str, password: str, headers: dict | None = None) -> int:
    resp = await client.post("/login", data={"csrf": csrf, "username": user, "password": password},
                             allow_redirects=False, headers=headers or {})
    await resp.read()
    return resp.status


# -- 1. parallel brute force ------------------------------------------------------------------------------------


async def test_1_parallel_logins_evaluate_at_most_the_allowed_number(tmp_path):
    async with page_client(tmp_path) as client:
        csrf = await login_form(client)
        attempts = [try_login(client, csrf, "alice", PASSWORD if i == 50 else f"guess-{i}") for i in range(100)]
        statuses = await asyncio.gather(*attempts)
        evaluated = [s for s in statuses if s in (303, 401)]
        assert len(evaluated) <= 5, f"{len(evaluated)} of 100 parallel guesses were checked"
        assert statuses.count(429) >= 95
        assert statuses[50] == 429, "the right password among the parallel guesses was not even checked"
        assert 303 not in statuses


# -- 2. one user's success clears only that user's failures -------------------------------------------------------


async def test_2_a_good_login_clears_only_that_users_failures(tmp_path):
    async with page_client(tmp_path) as client:
        csrf = await login_form(client)
        for i in range(5):
            assert await try_login(client, csrf, "alice", f"wrong-{i}") == 401
        for _ in range(3):
            assert await try_login(client, csrf, "bob", PASSWORD) == 303
            await client.post("/logout", data={"csrf": csrf_of(await (await client.get("/")).text())})
            csrf = await login_form(client)
        assert await try_login(client, csrf, "alice", PASSWORD) == 429, "bob's logins bought alice more guesses"
        # switching user names does not escape the address's own count
        for i in range(5):
            assert await try_login(client, csrf, f"nobody{i}", "x" * 10) == 401
        assert await try_login(client, csrf, "bob", PASSWORD) == 429


# -- 3. private files ---------------------------------------------------------------------------------------------


def _loose(root: Path) -> list[str]:
    return [f"{p.relative_to(root)} {stat.S_IMODE(p.stat().st_mode):o}" for p in [root, *root.rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) & 0o077]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_3_the_real_server_keeps_hr_data_owner_only_under_umask_022(make_emulator, tmp_path, records):
    emu = make_emulator()
    state = tmp_path / "state"
    (state / "uploads").mkdir(parents=True)
    old = state / "uploads" / "old-roster.csv"
    old.write_text("Email\nx@acme-corp.com\n")
    os.chmod(state, 0o755)
    os.chmod(old, 0o644)
    (state / "uploads" / "dead.part").write_bytes(b"left by a killed upload")
    port = _free_port()
    env = bare_env()
    env.update({"KORE_CLIENT_ID": "cs-demo-client", "KORE_CLIENT_SECRET": "demo-secret-change-me",
                "BULKPROV_WEB_TOKEN": "t0ken-for-the-shared-login-0123456789", "PYTHONPATH": str(ROOT),
                "BULKPROV_RECORDS_DIR": str(records)})  # the account's audit trail: the test's own
    proc = subprocess.Popen(["sh", "-c", f"umask 022; exec {sys.executable} -m bulkprov serve --port {port} "
                             f"--host {emu.url} --state-dir {state}"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        asyncio.run(_upload_and_run_on(f"http://127.0.0.1:{port}", tmp_path))
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "readable by other accounts" in output, output
    assert not (state / "uploads" / "dead.part").exists(), "an unfinished upload of a dead process is removed"
    assert (state / "ledger.sqlite3").is_file() and list((state / "results").iterdir())
    assert _loose(state) == [], "HR data readable by other accounts"
    assert list((records / "audit").glob("*.jsonl")) and _loose(records) == [], "the audit trail too"


async def _upload_and_run_on(url: str, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientConnectionError):
                page = await http.get(url + "/login")
                break
            await asyncio.sleep(0.1)
        csrf = csrf_of(await page.text())
        resp = await http.post(url + "/login", data={"csrf": csrf, "token": "t0ken-for-the-shared-login-0123456789"})
        csrf = csrf_of(await resp.text())
        resp = await http.post(url + "/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
        run = await http.post(url + resp.headers["Location"].split("?")[0] + "/run", data={"csrf": csrf,
                              "action": "add"}, allow_redirects=False)
        job = url + run.headers["Location"]
        for _ in range(300):
            status = await (await http.get(job + "/progress", headers={"Accept": "application/json"})).json()
            if status["state"] != "running":
                break
            await asyncio.sleep(0.1)
        assert status["state"] == "finished", status


def test_3_the_cli_ledger_and_lock_are_owner_only_under_umask_022(make_emulator, creds, tmp_path):
    from bulkprov.jobs import JobSettings, run_job

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 2)
    previous = os.umask(0o022)
    try:
        outcome = run_job(roster, JobSettings(command="add", host=emu.url, rate="none"), credentials=creds)
    finally:
        os.umask(previous)
    assert outcome.exit_code == 0
    state = tmp_path / ".bulkprov"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert _loose(state) == [], "the ledger (every row's email) and its lock must be owner-only"


# -- 4. redirects after login ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example",
                                    "https://evil.example/", "/%09/evil.example\r\n", " /runs", "/\x00x",
                                    "\t//evil.example", "/\u3000/evil.example"])
async def test_4_next_accepts_only_strict_on_site_paths(tmp_path, target):
    async with page_client(tmp_path) as client:
        from urllib.parse import quote

        page = await client.get("/login?next=" + quote(target, safe=""))
        assert page.status == 200
        assert re.search(r'name="next" value="/"', await page.text()), "the form carries only a safe next"
        resp = await client.post("/login", data={"csrf": csrf_of(await page.text()), "username": "alice",
                                                 "password": PASSWORD, "next": target}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/"


async def test_4_an_on_site_next_is_kept(tmp_path):
    async with page_client(tmp_path) as client:
        page = await client.get("/login?next=%2Fruns%3Fx%3D1")
        resp = await client.post("/login", data={"csrf": csrf_of(await page.text()), "username": "alice",
                                                 "password": PASSWORD, "next": "/runs?x=1"}, allow_redirects=False)
        assert resp.headers["Location"] == "/runs?x=1"


# -- 5. uploads: one file, every byte counted, nothing left behind ------------------------------------------------------


def _multipart(csrf: str, files: int, size: int = 1000) -> tuple[bytes, str]:
    boundary = "----bulkprov-attack"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n']
    for i in range(files):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f{i}.csv"\r\n'
                     f'Content-Type: text/csv\r\n\r\nEmail\n{"u@acme-corp.com" + "x" * size}\n\r\n')
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


async def _chunked(body: bytes):
    for i in range(0, len(body), 4096):
        yield body[i:i + 4096]


async def test_5_ten_file_parts_in_a_chunked_upload_leave_nothing_behind(tmp_path):
    async with page_client(tmp_path) as client:
        csrf = await login(client)
        body, content_type = _multipart(csrf, 10)
        resp = await client.post("/upload", data=_chunked(body), headers={"Content-Type": content_type},
                                 allow_redirects=False)
        assert resp.status == 400 and "one file" in await resp.text()
        assert stored_uploads(client.config) == []


async def test_5_a_chunked_upload_is_capped_without_a_content_length(tmp_path):
    async with page_client(tmp_path, max_upload_bytes=256 * 1024) as client:
        csrf = await login(client)
        body, content_type = _multipart(csrf, 1, size=2 * 1024 * 1024)
        resp = await client.post("/upload", data=_chunked(body), headers={"Content-Type": content_type},
                                 allow_redirects=False)
        assert resp.status == 413
        assert stored_uploads(client.config) == []
        # small fields count too: a huge "action" field is refused, not buffered
        boundary = "----b"
        fat = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n--{boundary}\r\n'
               f'Content-Disposition: form-data; name="action"\r\n\r\n{"a" * 100_000}\r\n--{boundary}--\r\n').encode()
        resp = await client.post("/upload", data=_chunked(fat), headers={"Content-Type":
                                 f"multipart/form-data; boundary={boundary}"}, allow_redirects=False)
        assert resp.status == 415 and stored_uploads(client.config) == []


async def test_5_a_client_that_vanishes_mid_upload_leaves_nothing(tmp_path):
    async with page_client(tmp_path, body_timeout=1.0) as client:
        csrf = await login(client)
        body, content_type = _multipart(csrf, 1, size=500_000)
        cookie = "; ".join(f"{c.key}={c.value}" for c in client.session.cookie_jar)
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write((f"POST /upload HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:300_000])
        await writer.drain()
        await asyncio.sleep(0.5)
        assert [p for p in stored_uploads(client.config) if p.suffix == ".part"], "the upload was streaming"
        writer.close()  # gone without a word
        for _ in range(50):
            await asyncio.sleep(0.1)
            if not stored_uploads(client.config):
                break
        assert stored_uploads(client.config) == []


# -- 6. a workbook that expands far; previews computed once, a few at a time --------------------------------------------------


def _expanding_xlsx(path: Path, rows: int) -> Path:
    """A real xlsx whose sheet expands about 40× (an honest ratio, under the CLI's guard of 200) to ``rows`` rows."""
    cells = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>user{r}@acme-corp.com</t>'
                    f'</is></c><c r="B{r}" t="inlineStr"><is><t>{"Name" * 8}</t></is></c><c r="C{r}" t="inlineStr"><is>'
                    f'<t>{"Customer Care " * 12}</t></is></c></row>'
                    for r in range(2, rows + 2))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Email</t></is></c>'
             f'<c r="B1" t="inlineStr"><is><t>First Name</t></is></c><c r="C1" t="inlineStr"><is><t>Department</t></is>'
             f'</c></row>{cells}</sheetData></worksheet>')
    from openpyxl import Workbook

    Workbook().save(path)
    source = zipfile.ZipFile(path)
    members = {n: source.read(n) for n in source.namelist()}
    source.close()
    members["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return path


async def test_6_the_page_limits_expansion_to_twenty_times_its_upload_cap(tmp_path):
    bomb = _expanding_xlsx(tmp_path / "big.xlsx", 200_000)
    ratio = sum(i.file_size for i in zipfile.ZipFile(bomb).infolist()) / bomb.stat().st_size
    assert 20 < ratio < 200, ratio  # the CLI's ratio guard alone would let it through
    cap = bomb.stat().st_size + 64 * 1024
    async with page_client(tmp_path, max_upload_bytes=cap) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, bomb.read_bytes(), filename="big.xlsx"),
                                 allow_redirects=False)
        assert resp.status == 303
        text = await (await client.get(resp.headers["Location"])).text()
        assert "zip-bomb" in text and 'id="run"' not in text


async def test_6_one_preview_per_upload_and_one_at_a_time(tmp_path, monkeypatch):
    from bulkprov.web import preview as preview_module

    running, peak = 0, 0
    real = preview_module.compute

    def counting(*args):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.2)
        try:
            return real(*args)
        finally:
            running -= 1

    monkeypatch.setattr(preview_module, "compute", counting)
    roster = tmp_path / "roster.csv"
    write_roster(roster, 50)
    async with page_client(tmp_path) as client:
        csrf = await login(client)
        uploads = []
        for _ in range(2):
            resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
            uploads.append(resp.headers["Location"].split("?")[0])
        views = [client.get(f"{u}?action={a}&email={e}") for u in uploads for a in ("add", "update", "remove", "apply")
                 for e in ("yes", "no")]
        pages = await asyncio.gather(*views)
        assert all(p.status == 200 for p in pages)
        assert client.app[PREVIEWS].computed == 2, "each upload is read once, whatever the action and email"
        assert peak == 1, "checks run one at a time"


# -- 7. logged-out clients cannot starve a logged-in user ------------------------------------------------------------------


async def test_7_a_login_flood_leaves_a_logged_in_page_answering(tmp_path):
    users = {"alice": hash_password(PASSWORD)}  # the real cost (scrypt N=2^15)
    async with page_client(tmp_path, users=users, trusted_proxies=["127.0.0.1"]) as client:
        await login(client)
        stranger = TestClient(client.server)  # logged out, its own cookies
        await stranger.start_server()
        csrf = await login_form(stranger)
        flood = [try_login(stranger, csrf, f"user{i}", "wrong-password",
                           headers={"X-Forwarded-For": f"198.51.{i // 250}.{i % 250}"})  # 400 addresses
                 for i in range(400)]
        flood_task = asyncio.gather(*flood)
        await asyncio.sleep(0.3)  # the flood is in full swing
        latencies = []
        for _ in range(5):
            start = time.monotonic()
            resp = await client.get("/runs")
            assert resp.status == 200
            latencies.append(time.monotonic() - start)
        statuses = await flood_task
        await stranger.close()
        assert max(latencies) < 1.0, latencies
        assert statuses.count(503) > 200, "a full password queue refuses at once"
        assert set(statuses) <= {401, 503}, "every address and name is new: only the queue bounds them"


async def test_7_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path):
    async with page_client(tmp_path) as client:  # no trusted proxy: the header is ignored
        csrf = await login_form(client)
        for i in range(10):
            await try_login(client, csrf, f"u{i}", "wrong", headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert await try_login(client, csrf, "bob", PASSWORD, headers={"X-Forwarded-For": "203.0.113.99"}) == 429
    async with page_client(tmp_path, trusted_proxies=["127.0.0.0/8"]) as client:  # behind our proxy
        csrf = await login_form(client)
        for i in range(10):
            await try_login(client, csrf, f"u{i}", "wrong", headers={"X-Forwarded-For": "203.0.113.7"})
        assert await try_login(client, csrf, "bob", PASSWORD, headers={"X-Forwarded-For": "203.0.113.7"}) == 429
        forged = {"X-Forwarded-For": "203.0.113.7, 203.0.113.8"}  # the left part is the client's own writing
        assert await try_login(client, csrf, "bob", PASSWORD, headers=forged) == 303


# -- 8. the login form needs no server-side session ---------------------------------------------------------------------------


async def test_8_a_flood_of_login_pages_creates_no_sessions_and_evicts_nothing(tmp_path):
    async with page_client(tmp_path) as client:
        real_user = await login_form(client)
        cookie = client.session.cookie_jar.filter_cookies(client.make_url("/login"))["bulkprov_login"].value
        async with aiohttp.ClientSession() as stranger:
            for _batch in range(20):
                pages = await asyncio.gather(*[stranger.get(client.make_url("/login")) for _ in range(100)])
                assert all(p.status == 200 for p in pages)
                for p in pages:
                    p.release()
        assert len(client.app[SESSIONS]._sessions) == 0, "showing the login form stores nothing"
        client.session.cookie_jar.update_cookies({"bulkprov_login": cookie})
        assert await try_login(client, real_user, "alice", PASSWORD) == 303


# -- 9. malformed cookies -------------------------------------------------------------------------------------------------------


async def _raw(client: TestClient, head: bytes, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()


@pytest.mark.parametrize("cookie", ["bulkprov_session=\u00e9\u00e9\u00e9.abc".encode(),
                                    b"bulkprov_session=\xff\xfe.\xff", b"bulkprov_session=" + b"A" * 43 + b".\xe2\x82\xac",
                                    b"bulkprov_session=....", b"bulkprov_login=\xc3\xa9.1.x", b"bulkprov_session"])
async def test_9_a_malformed_cookie_is_no_session_never_a_500(tmp_path, cookie):
    async with page_client(tmp_path) as client:
        for path in (b"/runs", b"/login"):
            reply = await _raw(client, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nCookie: " + cookie +
                               b"\r\nConnection: close\r\n\r\n")
            status = int(reply.split(b" ", 2)[1])
            assert status in (200, 303), reply[:300]
        page = await client.get("/login")
        assert await try_login(client, csrf_of(await page.text()), "alice", PASSWORD) == 303


# -- 10. server hardening ----------------------------------------------------------------------------------------------------------


async def test_10_slow_headers_are_cut_off_and_no_banner_is_sent(tmp_path):
    config = web_config(tmp_path, header_timeout=1.0)
    runner = web.AppRunner(create_app(config), **runner_options(config))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 10)  # EOF: the server gave up on it
        assert closed == b""
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b"aiohttp" not in reply.split(b"\r\n\r\n")[0].lower() and b"Server: bulkprov\r\n" in reply
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GARBAGE\x01 / HTTP/9\r\n\r\n")  # the parser's own error reply
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b"aiohttp" not in reply.lower()
    finally:
        await runner.cleanup()


async def test_10_a_stalled_form_body_is_dropped(tmp_path):
    async with page_client(tmp_path, body_timeout=0.5) as client:
        csrf = await login_form(client)
        cookie = "; ".join(f"{c.key}={c.value}" for c in client.session.cookie_jar)
        body = f"csrf={csrf}&username=alice&password=x"
        reply = await _raw(client, (f"POST /login HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: "
                                    f"application/x-www-form-urlencoded\r\nContent-Length: {len(body) + 50}\r\n\r\n"
                                    f"{body}").encode())
        assert reply == b"" or int(reply.split(b" ", 2)[1]) >= 400


async def test_10_run_is_refused_when_the_page_offers_no_run(tmp_path):
    async with page_client(tmp_path) as client:
        csrf = await login(client)
        bad = io.BytesIO()
        roster = tmp_path / "bad.csv"
        write_roster(roster, 3, invalid={i: {"Email": "not-an-email"} for i in range(3)})
        bad.write(roster.read_bytes())
        resp = await client.post("/upload", data=upload_form(csrf, bad.getvalue()), allow_redirects=False)
        report = await (await client.get(resp.headers["Location"])).text()
        assert 'id="run"' not in report
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run", data={"csrf": csrf, "action": "add"},
                                allow_redirects=False)
        assert run.status == 409 and client.app[JOBS].running() is None and not client.app[JOBS]._jobs
