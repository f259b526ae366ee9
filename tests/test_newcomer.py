"""Issue #31: a newcomer's first hour, in English, Korean and Japanese -- each place a person stopped,
tried again as that person would: the command line as a real process, the page over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.emulator import EmulatorConfig
from bulkprov.web import create_app
from tests.conftest import ROOT, results_by_row, write_roster
from tests.test_cli import bulkprov
from tests.test_web import _wait_for_job, login, upload_form, web_config

LANGS = ("en", "ko", "ja")


# -- 11: a CSV named UTF-16 that has no byte-order mark ---------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_an_ascii_csv_named_utf16_is_one_input_error_not_an_internal_error(tmp_path, lang):
    path = tmp_path / "users.csv"
    path.write_bytes(b"emailId,firstName\r\nkim@acme-corp.com,Min\r\nlee@acme-corp.com,Ha\r\n")
    proc = bulkprov("validate", str(path), "--encoding", "utf-16", "--lang", lang)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[encoding-error]" in lines[0] and "UTF-16" in lines[0], proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert "--encoding" not in lines[0], "the user named it already: no hint to name it"
    assert not (tmp_path / ".bulkprov" / "internal-errors").exists()


def test_a_utf16_csv_without_byte_order_mark_is_read_when_named(tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes("emailId,firstName\r\nkim@acme-corp.com,민준\r\n".encode("utf-16-be"))
    proc = bulkprov("validate", str(path), "--encoding", "utf-16", "-o", str(tmp_path / "r.xlsx"))
    assert proc.returncode == 0 and "1 valid" in proc.stdout, proc.stderr


async def test_the_page_explains_a_csv_uploaded_as_utf16_without_byte_order_mark(tmp_path):
    config = web_config(tmp_path)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        content = b"emailId,firstName\r\nkim@acme-corp.com,Min\r\n"
        resp = await client.post("/upload", data=upload_form(csrf, content, encoding="utf-16"), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        check = await client.get(resp.headers["Location"])
        text = await check.text()
        assert check.status < 500 and "This file cannot be used" in text and "encoding-error" in text, text
        assert 'id="run"' not in text
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run",
                                data={"csrf": csrf, "action": "add", "email": "yes"}, allow_redirects=False)
        assert 400 <= run.status < 500, await run.text()


# -- 3: KORE_HOST in ./.env, like the credentials ----------------------------------------------------------


def _dot_env(folder, emu, *, host: bool = True) -> None:
    config = EmulatorConfig()
    lines = [f"KORE_CLIENT_ID={config.client_id}", f"KORE_CLIENT_SECRET={config.client_secret}"]
    if host:
        lines.insert(0, f"KORE_HOST={emu.url}")
    (folder / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / ".env").chmod(0o600)


def test_kore_host_in_dot_env_is_honoured_like_the_credentials(make_emulator, tmp_path):
    emu = make_emulator()
    write_roster(tmp_path / "users.csv", 3)
    _dot_env(tmp_path, emu)
    proc = bulkprov("add", "users.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(emu.state()["users"]) == 3
    exported = bulkprov("export", "-o", "account.xlsx", cwd=tmp_path)
    assert exported.returncode == 0 and (tmp_path / "account.xlsx").is_file(), exported.stderr


def test_the_environment_wins_over_dot_env_for_the_host(make_emulator, tmp_path):
    used, unused = make_emulator(), make_emulator()
    write_roster(tmp_path / "users.csv", 2)
    _dot_env(tmp_path, unused)
    proc = bulkprov("add", "users.csv", env={"KORE_HOST": used.url}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(used.state()["users"]) == 2 and unused.state()["users"] == []


@pytest.mark.parametrize("lang", LANGS)
def test_no_host_names_kore_host_once(make_emulator, tmp_path, lang):
    write_roster(tmp_path / "users.csv", 2)
    _dot_env(tmp_path, make_emulator(), host=False)
    proc = bulkprov("add", "users.csv", "--lang", lang, cwd=tmp_path)
    assert proc.returncode == 2 and "[no-host]" in proc.stderr, proc.stderr
    assert proc.stderr.count("KORE_HOST") == 1 and proc.stderr.count("--host") == 1, proc.stderr
    assert ".env" in proc.stderr


def test_serve_takes_kore_host_from_dot_env(make_emulator, tmp_path):
    emu = make_emulator()
    _dot_env(tmp_path, emu)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "BULKPROV_"))}
    env.update({"BULKPROV_WEB_TOKEN": "t0ken-for-the-shared-login-0123456789", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "bulkprov", "serve", "--port", "0", "--state-dir",
                             str(tmp_path / "state")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    try:
        first = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert f"Kore.ai host {emu.url}" in first, first


# -- 6: a cell is quoted as the user typed it; the key columns hold what is sent ---------------------------

TYPED = ("emailId,firstName,canCreateBot\r\n"
         "ㅓㅗㅜ@acme-corp.com,Hangul mode,\r\n"          # a Korean keyboard left in Hangul mode
         "ﾀﾅｶ@acme-corp.co.jp,Half-width kana,\r\n"      # half-width katakana
         "ｊａｎｅ＠ｅｘａｍｐｌｅ.ｃｏｍ,Full width,\r\n"       # full width: converted and sent
         "ｊａｎｅ@example.com,Again,\r\n"                 # the same user again
         "ｋｉｍ@example.com,Builder,maybe\r\n")            # converted, but the row is invalid


@pytest.mark.parametrize("lang", LANGS)
def test_emails_are_quoted_as_typed_and_keys_hold_what_is_sent(tmp_path, lang):
    from bulkprov import i18n
    from bulkprov.errors import ROW_CODES, ROW_NOTES

    path = tmp_path / "users.csv"
    path.write_text(TYPED, encoding="utf-8")
    out = tmp_path / "r.xlsx"
    proc = bulkprov("validate", str(path), "-o", str(out), "--lang", lang)
    assert proc.returncode == 1, proc.stderr
    rows = results_by_row(out)
    with i18n.using(lang):
        hangul = ROW_CODES["invalid-email"].render("non-ascii", char="ㅓ")
        kana = ROW_CODES["invalid-email"].render("non-ascii", char="ﾀ")
        converted = ROW_CODES["invalid-email"].render("full-width")
        note = ROW_NOTES["normalised"].render(column="emailId", before="ｋｉｍ@example.com", after="kim@example.com")
    assert rows[2]["emailId"] == "ㅓㅗㅜ@acme-corp.com" and hangul in rows[2]["reason"]
    assert rows[3]["emailId"] == "ﾀﾅｶ@acme-corp.co.jp" and kana in rows[3]["reason"]
    assert converted not in rows[3]["reason"], "a Japanese character, not a failed conversion"
    for row in (2, 3):
        assert "ᅥ" not in rows[row]["reason"] and "タナカ" not in rows[row]["reason"], rows[row]["reason"]
    assert rows[4]["emailId"] == "jane@example.com" and rows[4]["status"] == "valid"
    assert "ｊａｎｅ＠ｅｘａｍｐｌｅ.ｃｏｍ" in rows[4]["reason"], "the typed form beside what is sent"
    assert rows[5]["emailId"] == "jane@example.com" and "'ｊａｎｅ@example.com'" in rows[5]["reason"]
    assert rows[6]["emailId"] == "kim@example.com" and note in rows[6]["reason"]
    assert "ᅥ" not in proc.stdout and "タナカ" not in proc.stdout and "'ﾀ'" in proc.stdout


async def test_the_page_shows_emails_as_typed(make_emulator, tmp_path):
    emu = make_emulator()
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, TYPED.encode("utf-8")), allow_redirects=False)
        check = await (await client.get(resp.headers["Location"])).text()
        assert "ㅓㅗㅜ@acme-corp.com" in check and "ﾀﾅｶ@acme-corp.co.jp" in check
        assert "ᅥᅩᅮ" not in check and "タナカ@" not in check
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run",
                                data={"csrf": csrf, "action": "add", "email": "yes"}, allow_redirects=False)
        job_url = run.headers["Location"]
        await _wait_for_job(client, job_url)
        page = await (await client.get(job_url)).text()
        attention = page[page.index('id="attention"'):]
        assert "ㅓㅗㅜ@acme-corp.com" in attention and "ᅥᅩᅮ" not in attention
    assert [u["userInfo"]["emailId"] for u in emu.state()["users"]] == ["jane@example.com"]
