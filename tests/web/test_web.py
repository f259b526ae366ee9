"""``bulkprov serve`` through aiohttp's test client: login, CSRF, upload guards, headers, a run end to end."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.config import load_profile
from bulkprov.emulator import DEMO_CLIENT_SECRET, EmulatorConfig
from bulkprov.errors import InputError
from bulkprov.io.shared.sniff import upload_extension as sniff_upload
from bulkprov.jobs import JobSettings
from bulkprov.kore.auth import Credentials
from bulkprov.outputs.template import write_template
from bulkprov.state.lock import StateLock
from bulkprov.web import WebConfig, create_app, hash_password
from bulkprov.web.runner import JOBS
from bulkprov.web.security import SECURITY_HEADERS, verify_password
from tests.conftest import ROOT, bare_env, read_sheet, results_by_row, write_roster

PASSWORD = "correct horse battery staple"
TOKEN = "t0ken-for-the-shared-login-0123456789"


def web_config(tmp_path: Path, host: str = "http://127.0.0.1:9", **changes) -> WebConfig:
    emu = EmulatorConfig()
    settings = dict(state_dir=tmp_path / "state", credentials=Credentials(client_id=emu.client_id,
                                                                          client_secret=emu.client_secret),
                    job=JobSettings(command="add", host=host, rate="none", batch_size=10, concurrency=2),
                    users={"alice": hash_password(PASSWORD, n=2**10)}, token=TOKEN)
    settings.update(changes)
    return WebConfig(**settings)


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = await client.get("/login")
    resp = await client.post("/login", data={"csrf": csrf_of(await page.text()), "username": username,
                                             "password": password}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    home = await client.get("/")
    assert home.status == 200
    return csrf_of(await home.text())


def upload_form(csrf: str | None, content: bytes, filename: str = "users.csv", action: str = "add",
                csrf_first: bool = True, encoding: str | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None and csrf_first:
        form.add_field("csrf", csrf)
    form.add_field("action", action)
    form.add_field("email", "yes")
    if encoding is not None:
        form.add_field("encoding", encoding)
    form.add_field("file", io.BytesIO(content), filename=filename, content_type="application/octet-stream")
    if csrf is not None and not csrf_first:
        form.add_field("csrf", csrf)
    return form


def stored_uploads(config: WebConfig) -> list[Path]:
    return sorted(config.uploads.iterdir()) if config.uploads.is_dir() else []


@pytest.fixture
async def client(tmp_path):
    config = web_config(tmp_path)
    async with TestClient(TestServer(create_app(config))) as c:
        c.config = config
        yield c


# -- passwords and configuration ------------------------------------------------------------------------------


def test_password_hashes_are_salted_scrypt_and_verify():
    encoded = hash_password("s3cret-password", n=2**10)
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1") and salt and digest
    assert verify_password("s3cret-password", encoded)
    assert not verify_password("s3cret-passworD", encoded)
    assert hash_password("s3cret-password", n=2**10) != encoded, "a fresh salt every time"
    assert not verify_password("x", "plain-text-password") and not verify_password("x", "scrypt$1$1$1$AA$AA")


def test_config_refuses_plain_passwords_and_no_login_method(tmp_path):
    with pytest.raises(InputError, match="hash-password"):
        web_config(tmp_path, users={"bob": "hunter2"})
    with pytest.raises(InputError, match="web_users"):
        web_config(tmp_path, users={}, token=None)
    with pytest.raises(InputError, match="16 characters"):
        web_config(tmp_path, token="short")


def test_config_file_accepts_web_users_and_token_file(tmp_path):
    path = tmp_path / "bulkprov.toml"
    path.write_text('[profiles.hr]\nhost = "https://bots.kore.ai"\nweb_token_file = "/run/secrets/token"\n'
                    '[profiles.hr.web_users]\nalice = "scrypt$1024$8$1$AAAA$BBBB"\n', encoding="utf-8")
    profile = load_profile(path, "hr")
    assert profile["web_users"] == {"alice": "scrypt$1024$8$1$AAAA$BBBB"}
    assert profile["web_token_file"] == "/run/secrets/token"


def test_hash_password_command_reads_stdin():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    proc = subprocess.run([sys.executable, "-m", "bulkprov", "hash-password"], input="a long password\n",
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    encoded = proc.stdout.strip()
    assert encoded.startswith("scrypt$") and verify_password("a long password", encoded)
    assert "a long password" not in proc.stdout
    short = subprocess.run([sys.executable, "-m", "bulkprov", "hash-password"], input="short\n",
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_serve_without_a_login_method_refuses_to_start(tmp_path):
    env = bare_env()
    env.update({"KORE_CLIENT_ID": "x", "KORE_CLIENT_SECRET": "y", "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-m", "bulkprov", "serve", "--port", "0", "--host",
                           "http://127.0.0.1:9", "--state-dir", str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "web_users" in proc.stderr and "Traceback" not in proc.stderr


# -- content sniffing -----------------------------------------------------------------------------------------


def test_upload_type_comes_from_the_content(tmp_path):
    xlsx = write_template(tmp_path / "t.xlsx")
    renamed = tmp_path / "users.csv"
    renamed.write_bytes(xlsx.read_bytes())
    assert sniff_upload(renamed) == "xlsx"
    text = tmp_path / "users.xlsx"
    text.write_text("Email,First Name\njane@example.com,Jane\n", encoding="utf-8")
    assert sniff_upload(text) == "csv"
    import xlwt

    book = xlwt.Workbook()
    book.add_sheet("Users").write(0, 0, "Email")
    book.save(str(tmp_path / "u.xls"))
    assert sniff_upload(tmp_path / "u.xls") == "xls"
    ods = tmp_path / "u.ods"
    with zipfile.ZipFile(ods, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office:document-content/>")
    assert sniff_upload(ods) == "ods"
    for content, needle in [(os.urandom(4096), "not a spreadsheet"), (b"", "empty"),
                            (b"<!DOCTYPE html><html><body>x</body></html>", "web page"),
                            (_zip_bytes({"readme.txt": "hi"}), "zip archive"),
                            (b"PK\x03\x04" + os.urandom(200), "damaged")]:
        bad = tmp_path / "bad.xlsx"
        bad.write_bytes(content)
        with pytest.raises(InputError, match=needle):
            sniff_upload(bad)


def _zip_bytes(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


# -- login, sessions, CSRF, headers ---------------------------------------------------------------------------


async def test_unauthenticated_access_is_refused(client):
    for path in ("/", "/runs", "/uploads/" + "a" * 32, "/template.xlsx", "/runs/20260101-000000-abcdef/results.xlsx"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/login"), path
    resp = await client.get("/jobs/x/progress", headers={"Accept": "application/json"}, allow_redirects=False)
    assert resp.status == 401
    for path in ("/upload", "/uploads/" + "a" * 32 + "/run", "/logout"):
        resp = await client.post(path, data={"csrf": "x"}, allow_redirects=False)
        assert resp.status == 401, path
        assert "log in" in (await resp.text()).lower()
    assert stored_uploads(client.config) == []
    assert (await client.get("/static/app.js")).status == 200
    assert (await client.get("/login")).status == 200


async def test_login_with_password_or_token_and_logout(client):
    page = await client.get("/login")
    csrf = csrf_of(await page.text())
    wrong = await client.post("/login", data={"csrf": csrf, "username": "alice", "password": "nope"})
    assert wrong.status == 401 and "Wrong user name or password" in await wrong.text()
    nobody = await client.post("/login", data={"csrf": csrf, "username": "mallory", "password": PASSWORD})
    assert nobody.status == 401
    assert (await client.get("/", allow_redirects=False)).status == 303
    ok = await client.post("/login", data={"csrf": csrf, "username": "alice", "password": PASSWORD,
                                           "next": "//evil.example/x"}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/", "no open redirect"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    home = await client.get("/")
    assert home.status == 200 and "alice" in await home.text()
    new_csrf = csrf_of(await home.text())
    assert new_csrf != csrf, "the session (and its token) is renewed at login"
    out = await client.post("/logout", data={"csrf": new_csrf}, allow_redirects=False)
    assert out.status == 303 and (await client.get("/", allow_redirects=False)).status == 303
    page = await client.get("/login")
    token_login = await client.post("/login", data={"csrf": csrf_of(await page.text()), "token": TOKEN},
                                    allow_redirects=False)
    assert token_login.status == 303
    assert (await client.get("/")).status == 200


async def test_login_needs_the_csrf_token_and_is_throttled(client):
    await client.get("/login")
    resp = await client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert resp.status == 403 and "expired" in await resp.text()
    page = await client.get("/login")
    csrf = csrf_of(await page.text())
    for _ in range(5):  # the free attempts of one user name (the shared token counts as one user)
        resp = await client.post("/login", data={"csrf": csrf, "token": "wrong-token-wrong-token"})
        assert resp.status == 401
    resp = await client.post("/login", data={"csrf": csrf, "token": TOKEN})
    assert resp.status == 429 and "Too many failed logins" in await resp.text()
    assert int(resp.headers["Retry-After"]) >= 1


async def test_every_post_needs_the_csrf_token(client):
    csrf = await login(client)
    content = b"Email\njane.roe@acme-corp.com\n"
    for form in (upload_form(None, content), upload_form("wrong-token", content),
                 upload_form(csrf, content, csrf_first=False)):
        resp = await client.post("/upload", data=form, allow_redirects=False)
        assert resp.status == 403, await resp.text()
    assert stored_uploads(client.config) == [], "nothing is stored before the token is checked"
    resp = await client.post("/upload", data=upload_form(csrf, content), allow_redirects=False)
    assert resp.status == 303
    run_url = resp.headers["Location"].split("?")[0] + "/run"
    for data in ({"action": "add"}, {"action": "add", "csrf": csrf[:-1] + "x"}):
        resp = await client.post(run_url, data=data, allow_redirects=False)
        assert resp.status == 403
    assert client.app[JOBS].running() is None
    resp = await client.post("/logout", data={}, allow_redirects=False)
    assert resp.status == 403
    other = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert other.status == 303


async def test_security_headers_on_every_response(client):
    responses = [await client.get("/login"), await client.get("/", allow_redirects=False),
                 await client.get("/static/app.css"), await client.post("/logout", allow_redirects=False)]
    await login(client)
    responses += [await client.get("/"), await client.get("/runs"), await client.get("/no-such-page"),
                  await client.get("/template.xlsx"), await client.get("/static/app.js")]
    for resp in responses:
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers.get(name) == value, (resp.url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert responses[-1].headers["Content-Type"].startswith("text/javascript")


async def test_pages_carry_no_inline_script_or_style(client):
    await login(client)
    for path in ("/", "/runs", "/login"):
        text = await (await client.get(path)).text()
        assert "<script>" not in text and "style=" not in text and "<style" not in text and "onclick" not in text


# -- upload guards ----------------------------------------------------------------------------------------------


async def test_oversized_upload_is_refused_with_a_clear_message(tmp_path):
    config = web_config(tmp_path, max_upload_bytes=1024 * 1024)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        big = b"Email\n" + b"user@acme-corp.com\n" * 120_000  # 2.3 MB: refused from its Content-Length
        resp = await client.post("/upload", data=upload_form(csrf, big), allow_redirects=False)
        assert resp.status == 413
        text = await resp.text()
        assert "larger than the 1 MB upload limit" in text and "Split it into smaller files" in text
        # just over the cap: only the count made while streaming can see it
        over = b"Email\n" + b"x" * (1024 * 1024)
        resp = await client.post("/upload", data=upload_form(csrf, over), allow_redirects=False)
        assert resp.status == 413 and "larger than the 1 MB upload limit" in await resp.text()
        assert stored_uploads(config) == [], "nothing of a refused upload is kept"
        fits = b"Email\n" + b"user1@acme-corp.com\n" * 100
        resp = await client.post("/upload", data=upload_form(csrf, fits), allow_redirects=False)
        assert resp.status == 303


async def test_random_bytes_named_xlsx_are_refused(client):
    csrf = await login(client)
    resp = await client.post("/upload", data=upload_form(csrf, os.urandom(8192), filename="users.xlsx"),
                             allow_redirects=False)
    assert resp.status == 415
    text = await resp.text()
    assert "not a spreadsheet" in text and "whatever its name says" in text
    assert stored_uploads(client.config) == []


async def test_upload_is_stored_under_a_generated_name_decided_by_content(client):
    csrf = await login(client)
    hostile = "..\\..\\<img src=x onerror=alert(1)>.xlsx"  # sent raw, as a browser would
    boundary = "----bulkprov-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{hostile}"\r\n'
            f'Content-Type: application/octet-stream\r\n\r\nEmail\njane.roe@acme-corp.com\n\r\n'
            f'--{boundary}--\r\n').encode()
    resp = await client.post("/upload", data=body, allow_redirects=False,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status == 303, await resp.text()
    files = stored_uploads(client.config)
    data_files = [p for p in files if p.suffix != ".json"]
    assert len(data_files) == 1 and re.fullmatch(r"[0-9a-f]{32}\.csv", data_files[0].name), files
    page = await client.get(resp.headers["Location"])
    text = await page.text()
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;.xlsx" in text


async def test_unknown_upload_and_bad_ids_are_404(client):
    await login(client)
    for path in ("/uploads/" + "0" * 32, "/uploads/..%2F..%2Fetc%2Fpasswd", "/runs/../../x/results.xlsx",
                 "/runs/20260101-000000-abcdef/results.xlsx", "/jobs/nope"):
        resp = await client.get(path)
        assert resp.status == 404, path


# -- the whole flow, without a browser ----------------------------------------------------------------------------


async def _wait_for_job(client: TestClient, job_url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(job_url + "/progress", headers={"Accept": "application/json"})
        status = await resp.json()
        if status["state"] != "running":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError("the run did not finish")


async def test_upload_check_run_and_download(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 12, invalid={3: {"Email": "not-an-email"}, 7: {"canCreateBot": "maybe"}})
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes(), filename="roster.csv"),
                                 allow_redirects=False)
        report_url = resp.headers["Location"]
        report = await (await client.get(report_url)).text()
        assert "12</strong> rows" in report and "2 invalid" in report
        assert re.search(r'<td class="num">5</td><td>Email</td><td class="value">not-an-email</td>', report)
        assert re.search(r'<td class="num">9</td><td>canCreateBot</td><td class="value">maybe</td>', report)
        assert "activation emails that will be sent: 10" in report
        assert emu.state()["users"] == [], "checking sends nothing"
        resp = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "add",
                                                                          "email": "yes"}, allow_redirects=False)
        assert resp.status == 303
        job_url = resp.headers["Location"]
        status = await _wait_for_job(client, job_url)
        assert status["state"] == "finished" and status["percent"] == 100 and status["done"] == 10
        page = await (await client.get(job_url)).text()
        # the picture: rows by status and the reasons rows failed, as bars beside the counts
        assert re.search(r'<td data-status="invalid">[^<]*</td><td class="num">2</td><td><progress class="share" '
                         r'max="12" value="2">', page)
        reasons = re.findall(r'<code class="code">([a-z-]+)</code>.*?<td class="num">(\d+)</td>', page)
        assert sorted(reasons) == [("invalid-boolean", "1"), ("invalid-email", "1")]
        results_link = re.search(r'href="(/runs/[^"]+/results\.xlsx)"', page).group(1)
        failures_link = re.search(r'href="(/runs/[^"]+/failures\.xlsx)"', page).group(1)
        results = await client.get(results_link)
        assert results.status == 200
        assert 'filename="roster.add-results-' in results.headers["Content-Disposition"]
        (tmp_path / "r.xlsx").write_bytes(await results.read())
        by_row = results_by_row(tmp_path / "r.xlsx")
        assert [by_row[r]["status"] for r in sorted(by_row)].count("success") == 10
        assert by_row[5]["status"] == "invalid" and by_row[9]["status"] == "invalid"
        failures = await client.get(failures_link)
        (tmp_path / "f.xlsx").write_bytes(await failures.read())
        rows = read_sheet(tmp_path / "f.xlsx", "Failures")
        assert [r["Email"] for r in rows] == ["not-an-email", "user00007@acme-corp.com"]
        runs = await (await client.get("/runs")).text()
        assert "roster.csv" in runs and "10 success" in runs and results_link in runs
        assert len(emu.state()["users"]) == 10
        blobs = [report, page, runs, await (await client.get(job_url + "/progress")).text()]
        for blob in blobs:
            assert DEMO_CLIENT_SECRET not in blob and "eyJ" not in blob and EmulatorConfig().client_id not in blob
        # the same file again: the ledger skips what is done; the page says so
        resp = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "add"},
                                 allow_redirects=False)
        status = await _wait_for_job(client, resp.headers["Location"])
        assert status["state"] == "finished" and len(emu.state()["users"]) == 10


async def test_a_csv_whose_encoding_cannot_be_detected_is_read_with_the_one_named_on_the_form(make_emulator, tmp_path):
    """The page's counterpart of the CLI's --encoding: a Mac Roman CSV (which detection refuses rather than
    guess) is checked and sent as Renée and José when the uploader names its encoding."""
    emu = make_emulator()
    content = ("Email,First Name,Last Name\r\nrenee@example.com,Renée,Köster\r\n"
               "jose@example.com,José,Müller\r\n").encode("mac-roman")
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        upload_page = await (await client.get("/")).text()
        assert '<select name="encoding"' in upload_page and 'value="mac-roman"' in upload_page
        detected = await client.post("/upload", data=upload_form(csrf, content, filename="mac.csv"),
                                     allow_redirects=False)
        refused = await (await client.get(detected.headers["Location"])).text()
        assert "encoding-error" in refused and "Run: add" not in refused
        assert "Text encoding of a CSV file" in refused and "--encoding" not in refused, "the page's words, not a flag"
        named = await client.post("/upload", data=upload_form(csrf, content, filename="mac.csv", encoding="mac-roman"),
                                  allow_redirects=False)
        report_url = named.headers["Location"]
        report = await (await client.get(report_url)).text()
        assert "2</strong> rows" in report and "Run: add 2 users" in report
        resp = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "add",
                                                                          "email": "yes"}, allow_redirects=False)
        assert (await _wait_for_job(client, resp.headers["Location"]))["state"] == "finished"
        users = {u["userInfo"]["emailId"]: u["userInfo"] for u in emu.state()["users"]}
        assert users["renee@example.com"]["firstName"] == "Renée" and users["jose@example.com"]["lastName"] == "Müller"
        odd = await client.post("/upload", data=upload_form(csrf, content, filename="mac.csv", encoding="rot13"),
                                allow_redirects=False)
        assert "encoding-error" in await (await client.get(odd.headers["Location"])).text(), "an unknown name detects"


async def test_one_run_at_a_time(make_emulator, tmp_path):
    emu = make_emulator(latency=1.0)
    roster = tmp_path / "roster.csv"
    write_roster(roster, 5)
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
        run_url = resp.headers["Location"].split("?")[0] + "/run"
        first = await client.post(run_url, data={"csrf": csrf, "action": "add"}, allow_redirects=False)
        assert first.status == 303
        second = await client.post(run_url, data={"csrf": csrf, "action": "add"}, allow_redirects=False)
        assert second.status == 409 and "One run at a time" in await second.text()
        report = await (await client.get(resp.headers["Location"])).text()
        assert "A run is in progress" in report and 'id="run"' not in report
        assert (await _wait_for_job(client, first.headers["Location"]))["state"] == "finished"


async def test_a_locked_state_directory_is_a_clear_message(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3)
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
        with StateLock(config.state_dir):  # a CLI run holding the same state directory
            run = await client.post(resp.headers["Location"].split("?")[0] + "/run",
                                    data={"csrf": csrf, "action": "add"}, allow_redirects=False)
            status = await _wait_for_job(client, run.headers["Location"])
        assert status["state"] == "failed"
        page = await (await client.get(run.headers["Location"])).text()
        assert "Another bulkprov run" in page and "press Run again" in page
        assert emu.state()["users"] == []


async def test_an_interrupted_run_can_be_resumed_from_the_page(make_emulator, tmp_path):
    import contextlib

    from bulkprov.io.shared.guard import file_sha256
    from bulkprov.state.ledger import Ledger

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3)
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
        (stored,) = [p for p in stored_uploads(config) if p.suffix == ".csv"]
        with contextlib.closing(Ledger(config.state_dir)) as ledger:  # a run of this file that died
            ledger.create_run(command="add", input_path=str(stored), input_sha256=file_sha256(stored),
                              host=emu.url, settings={}, rows=[], done=[])
        run_url = resp.headers["Location"].split("?")[0] + "/run"
        run = await client.post(run_url, data={"csrf": csrf, "action": "add"}, allow_redirects=False)
        assert (await _wait_for_job(client, run.headers["Location"]))["state"] == "failed"
        page = await (await client.get(run.headers["Location"])).text()
        assert "did not finish" in page and 'id="resume"' in page and 'id="force"' in page
        assert 'name="mode" value="resume"' in page
        resumed = await client.post(run_url, data={"csrf": csrf, "action": "add", "mode": "resume"},
                                    allow_redirects=False)
        assert (await _wait_for_job(client, resumed.headers["Location"]))["state"] == "finished"
        assert len(emu.state()["users"]) == 3


async def test_a_file_level_problem_is_shown_and_there_is_no_run_button(client):
    csrf = await login(client)
    resp = await client.post("/upload", data=upload_form(csrf, b"First Name,Last Name\nJane,Doe\n"),
                             allow_redirects=False)
    text = await (await client.get(resp.headers["Location"])).text()
    assert "This file cannot be used" in text and "missing-column" in text and 'id="run"' not in text
    apply = await (await client.get(resp.headers["Location"].replace("action=add", "action=apply"))).text()
    assert "cannot be used" in apply


def test_progress_json_shape(tmp_path):
    from bulkprov.web.runner import Job
    from bulkprov.web.uploads import Upload

    job = Job("j", Upload("u", tmp_path / "u.csv", "u.csv", 1, "alice", ""), "add", "yes", "alice")
    assert job.status()["percent"] == 0 and "Checking the file" in job.status()["phase"]
    job.update({"done": 5, "failed": 1, "total": 20, "eta": 75.0, "requests": 2, "final": False})
    status = job.status()
    assert status["percent"] == 25 and status["eta_text"] == "75 s" and json.dumps(status)
