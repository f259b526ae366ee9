"""Issue #31: a newcomer's first hour, in English, Korean and Japanese -- each place a person stopped,
tried again as that person would: the command line as a real process, the page over HTTP."""

from __future__ import annotations

import csv
import html
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import aiohttp
import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov import i18n, schema
from bulkprov.emulator import EmulatorConfig
from bulkprov.web import create_app
from bulkprov.web import lang as web_lang
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import ROOT, bare_env, guide, read_sheet, results_by_row, write_roster
from tests.web.test_web import _wait_for_job, csrf_of, login, upload_form, web_config

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
    env = bare_env()
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


# -- 2: bulkprov on the PATH after `make demo` ---------------------------------------------------------------


def test_the_readme_says_how_to_get_bulkprov_on_the_path_and_both_ways_work():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start"):readme.index("## Walkthrough")]
    assert "source .venv/bin/activate" in quick_start and ".venv/bin/bulkprov" in quick_start
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^VENV\s*[:?]?=\s*\.venv\s*$", makefile, re.M) and "$(BIN)/bulkprov demo" in makefile
    venv = Path(sys.prefix)  # the environment `make test` made (and `make demo` uses): .venv here
    direct = subprocess.run([str(venv / "bin" / "bulkprov"), "--version"], capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0 and direct.stdout.startswith("bulkprov "), direct.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["PATH"] = "/usr/bin:/bin"  # a fresh shell: bulkprov is not on it until the environment is activated
    shell = subprocess.run(["bash", "-c", f"command -v bulkprov || echo none; source {venv}/bin/activate && "
                            "bulkprov --version"], capture_output=True, text=True, env=env, timeout=60)
    lines = shell.stdout.splitlines()
    assert lines[0] == "none" and lines[1].startswith("bulkprov "), shell.stdout + shell.stderr


# -- 7: the next step is a command that does the next thing, with the run's options --------------------------


def _lookups(folder: Path) -> Path:
    """A lookups file that gives the roster's group name its id: without it the rows are invalid."""
    path = folder / "names.csv"
    path.write_text("name,groupId\nSupport Team,e-06b41cdd-7678-5394-b958-40ca5662f502\n", encoding="utf-8")
    return path


def _roster_with_names(folder: Path, n: int, invalid: dict | None = None) -> Path:
    path = folder / "users.csv"
    write_roster(path, n, extra={i: {"groups": "Support Team"} for i in range(n)}, invalid=invalid)
    return path


def _next_line(proc) -> str:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and lines[-1].split(":", 1)[0].strip() not in ("", "results"), proc.stdout
    return lines[-1]


def _command_of(line: str) -> list[str]:
    """The command line a next-step line offers (after its last ': bulkprov ')."""
    return shlex.split("bulkprov " + line.rsplit(": bulkprov ", 1)[1])


@pytest.mark.parametrize("lang", LANGS)
def test_after_a_dry_run_the_next_step_is_the_same_command_without_dry_run(make_emulator, tmp_path, lang):
    emu = make_emulator()
    _lookups(tmp_path)
    _roster_with_names(tmp_path, 4, invalid={2: {"Email": "broken@"}})
    proc = bulkprov("add", "users.csv", "--dry-run", "--lookups", "names.csv", "--no-send-email", "--lang", lang,
                    "-o", "plan.xlsx", env=kore_env(emu), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    command = _command_of(_next_line(proc))
    assert command == ["bulkprov", "add", "users.csv", "--lookups", "names.csv", "--no-send-email", "--lang", lang]
    summary = [r for r in read_sheet(tmp_path / "plan.xlsx", "Summary") if any(r.values())]
    assert any(shlex.join(command) in str(v) for r in summary for v in r.values()), "the Summary says it too"
    assert emu.state()["users"] == []
    sent = bulkprov(*command[1:], env=kore_env(emu), cwd=tmp_path)
    assert sent.returncode == 1, sent.stderr  # the one invalid row is still invalid: the other three were sent
    users = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    assert len(users) == 3 and all(u["groups"] for u in users.values()), "sent with the lookups' ids"


def test_the_failures_sheet_next_step_keeps_the_runs_options(make_emulator, tmp_path):
    emu = make_emulator()
    _lookups(tmp_path)
    _roster_with_names(tmp_path, 4, invalid={1: {"Email": "broken@"}})
    proc = bulkprov("add", "users.csv", "--lookups", "names.csv", "--lang", "ja", "--sheet", "ignored",
                    "--ignore-column", "Notes", "--ignore-column", "Remarks", "-o", "r.xlsx", env=kore_env(emu),
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    command = _command_of(_next_line(proc))
    assert command == ["bulkprov", "add", "r.xlsx", "--lookups", "names.csv", "--ignore-column", "Notes",
                       "--ignore-column", "Remarks", "--lang", "ja", "--sheet", "Failures"]
    # HR fixes the address in the Failures sheet and runs exactly that line
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    failures = book["Failures"]
    email_col = [c.value for c in failures[1]].index("Email") + 1
    failures.cell(row=2, column=email_col, value="fixed@acme-corp.com")
    book.save(tmp_path / "r.xlsx")
    again = bulkprov(*command[1:], env=kore_env(emu), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(emu.state()["users"]) == 4


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_after_csv_or_jsonl_results_the_next_step_names_a_file_that_can_be_run(make_emulator, tmp_path, fmt):
    emu = make_emulator()
    _lookups(tmp_path)
    roster = _roster_with_names(tmp_path, 4, invalid={3: {"Email": "broken@"}})
    proc = bulkprov("add", "users.csv", "--lookups", "names.csv", "--results-format", fmt, env=kore_env(emu),
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    line = _next_line(proc)
    command = _command_of(line)
    assert "--sheet" not in command and command[2] == "users.csv" and "--lookups" in command, line
    roster.write_text(roster.read_text(encoding="utf-8").replace("broken@", "fixed@acme-corp.com"), encoding="utf-8")
    again = bulkprov(*command[1:], env=kore_env(emu), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(emu.state()["users"]) == 4 and "3 skipped" in again.stdout + again.stderr or "skipped" in again.stdout


@pytest.mark.parametrize("lang", LANGS)
def test_after_validate_the_next_step_is_the_input_file_again(tmp_path, lang):
    _lookups(tmp_path)
    _roster_with_names(tmp_path, 3, invalid={0: {"Email": "broken@"}})
    proc = bulkprov("validate", "users.csv", "--lookups", "names.csv", "--lang", lang, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert _command_of(_next_line(proc)) == ["bulkprov", "validate", "users.csv", "--lookups", "names.csv",
                                             "--lang", lang]


def _added(emu, tmp_path, n: int) -> None:
    write_roster(tmp_path / "hires.csv", n)
    assert bulkprov("add", "hires.csv", env=kore_env(emu), cwd=tmp_path).returncode == 0
    (tmp_path / "leavers.csv").write_text((tmp_path / "hires.csv").read_text(encoding="utf-8"), encoding="utf-8")


@pytest.mark.parametrize("lang", LANGS)
def test_after_a_guard_the_next_step_is_the_same_file_with_the_flag_that_passes_it(make_emulator, tmp_path, lang):
    """Not the Failures sheet (every row of it is 'not sent': another file, another run): the same command with
    the override the ABORTED line names -- and that line works."""
    emu = make_emulator()
    _added(emu, tmp_path, 3)
    (tmp_path / "bulkprov.toml").write_text("[profiles.hr]\nmax_deletes = 1\n", encoding="utf-8")
    proc = bulkprov("remove", "leavers.csv", "--profile", "hr", "--lang", lang, env=kore_env(emu), cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = _next_line(proc)
    assert "Failures" not in line and ("next:" in line) == (lang == "en"), line  # in the reader's words
    command = _command_of(line)
    assert command == ["bulkprov", "remove", "leavers.csv", "--profile", "hr", "--lang", lang, "--allow-deletes", "3"]
    again = bulkprov(*command[1:], env=kore_env(emu), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert emu.state()["users"] == []


@pytest.mark.parametrize("lang", LANGS)
def test_a_run_waiting_for_approval_says_who_approves_what_and_then_the_same_command(make_emulator, tmp_path, lang):
    emu = make_emulator()
    _added(emu, tmp_path, 2)
    (tmp_path / "bulkprov.toml").write_text('[profiles.hr]\nmax_deletes = 1\napprovers = ["someone-else"]\n',
                                            encoding="utf-8")
    proc = bulkprov("remove", "leavers.csv", "--profile", "hr", "--lang", lang, "-o", "r.xlsx", env=kore_env(emu),
                    cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    request_id = re.search(r"request (\w+) waits", proc.stderr + proc.stdout) or re.search(
        r"(\d{8}[0-9a-f]{8})", proc.stderr)
    line = _next_line(proc)
    assert f"bulkprov approve {request_id.group(1)}" in line, line
    assert _command_of(line) == ["bulkprov", "remove", "leavers.csv", "--profile", "hr", "--lang", lang]
    assert len(emu.state()["users"]) == 2


def test_after_an_abort_the_next_step_finishes_the_run_with_resume(make_emulator, tmp_path):
    emu = make_emulator()
    write_roster(tmp_path / "users.csv", 3)
    refused = {**kore_env(emu), "KORE_CLIENT_SECRET": "not-the-secret"}
    proc = bulkprov("add", "users.csv", "-o", "r.xlsx", "--no-send-email", env=refused, cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    command = _command_of(_next_line(proc))
    assert command == ["bulkprov", "add", "users.csv", "--no-send-email", "--resume"]
    again = bulkprov(*command[1:], env=kore_env(emu), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(emu.state()["users"]) == 3


# -- 10: -q prints one line; the README's plan example is what is printed ------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_quiet_prints_one_line(make_emulator, tmp_path, lang):
    emu = make_emulator()
    write_roster(tmp_path / "users.csv", 3)
    for args in (("validate", "users.csv"), ("add", "users.csv")):
        proc = bulkprov(*args, "-q", "--lang", lang, env=kore_env(emu), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == 1 and proc.stderr == "", proc.stdout + proc.stderr
        path = proc.stdout.rsplit(" ", 1)[1].strip()
        assert (tmp_path / path).is_file(), proc.stdout


def test_the_readme_plan_example_is_what_a_dry_run_prints(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- plan-example: ", 1)[1]
    command = block.split(" -->", 1)[0]
    shown = block.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    assert shown[0] == "$ " + command
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Users"
    sheet.append(["emailId", "firstName", "lastName"])
    for i in range(12_000):
        sheet.append([f"user{i:05d}@acme-corp.com", "Min", "Kim"])
    book.save(tmp_path / "users.xlsx")
    proc = bulkprov(*shlex.split(command)[1:], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stderr.splitlines() + proc.stdout.splitlines()  # the log on stderr comes first on a terminal

    def plain(line: str) -> str:
        return re.sub(r"\d{8}-\d{6}", "TIME", re.sub(r"^\d\d:\d\d:\d\d ", "HH:MM:SS ", line))

    assert [plain(line) for line in printed] == [plain(line) for line in shown[1:]]


# -- 8: the headline, export and messages in the reader's words; the template as Korean and Japanese HR write it


RUNS_WORDS = {"ko": ("상태", "완료", "성공 2건", "오류 1건", "사용자 추가", "승인 대기", "사용자 삭제", "보다 많습니다"),
              "ja": ("状態", "完了", "成功 2 件", "エラー 1 件", "ユーザー追加", "承認待ち", "ユーザー削除", "上限")}


@pytest.mark.parametrize("lang", ["ko", "ja"])
def test_runs_and_approvals_speak_the_readers_language(make_emulator, tmp_path, lang):
    """`bulkprov runs` and `bulkprov approvals` under --lang: headings, states, commands, counts and the
    guard's reason in the reader's words; ids, times, file names and hosts as they are."""
    emu = make_emulator()
    write_roster(tmp_path / "users.csv", 3, invalid={1: {"Email": "broken@"}})
    assert bulkprov("add", "users.csv", env=kore_env(emu), cwd=tmp_path).returncode == 1
    (tmp_path / "leavers.csv").write_text("Email\nuser0@acme-corp.com\nuser2@acme-corp.com\n", encoding="utf-8")
    (tmp_path / "bulkprov.toml").write_text('[profiles.hr]\nmax_deletes = 1\napprovers = ["someone-else"]\n',
                                            encoding="utf-8")
    waiting = bulkprov("remove", "leavers.csv", "--profile", "hr", env=kore_env(emu), cwd=tmp_path)
    assert waiting.returncode == 4, waiting.stdout + waiting.stderr
    runs = bulkprov("runs", "--state-dir", ".bulkprov", "--lang", lang, cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    heading, first = runs.stdout.splitlines()[:2]
    state, done, success, invalid, added, pending, removal, _over = RUNS_WORDS[lang]
    assert state in heading and "counts" not in heading, heading
    assert done in first and success in first and invalid in first and added in first, first
    assert not re.search(r"\b(finished|success|invalid|add)\b", first.replace("users.csv", "")), first
    assert "users.csv" in first and re.match(r"\d{8}-\d{6}-\w+ ", first), "the run id and file as they are"
    listed = bulkprov("approvals", "--lang", lang, cwd=tmp_path)
    (line,) = listed.stdout.splitlines()
    assert pending in line and removal in line and "leavers.csv" in line and emu.url in line, line
    assert not re.search(r"\b(pending|remove|would be removed|on)\b", line.replace(emu.url, "")), line
    english = bulkprov("approvals", "--lang", "en", cwd=tmp_path).stdout
    assert re.match(r"\w+  pending   \S+  \S+: remove leavers\.csv on ", english), english
    assert "2 users would be removed, over the limit of 1 (max_deletes)" in english


@pytest.mark.parametrize("lang", ["ko", "ja"])
def test_every_run_state_has_words_on_the_page_and_the_command_line(lang):
    """A run's state (stopped by guard, awaiting approval, refused ...) is shown in the reader's words by both
    front ends, never as its code."""
    from bulkprov.cli.wording import RUN_STATES, run_state
    from bulkprov.web.pages import RUN_STATES as PAGE_STATES

    assert set(RUN_STATES) <= set(PAGE_STATES)
    page_words = web_lang.translations(lang)
    with i18n.using(lang):
        for state in RUN_STATES:
            said = run_state(state)
            assert said != state.replace("-", " ") and page_words.gettext(PAGE_STATES[state]) == said, (state, said)


def test_an_empty_listing_says_so():
    proc = bulkprov("approvals", "--lang", "ja")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("承認リクエストはありません"), proc.stdout


@pytest.mark.parametrize("lang", ["ko", "ja"])
def test_the_headline_and_exports_lines_are_in_the_readers_language(make_emulator, tmp_path, lang):
    emu = make_emulator()
    write_roster(tmp_path / "users.csv", 3, invalid={1: {"Email": "broken@"}})
    proc = bulkprov("validate", "users.csv", "--lang", lang, cwd=tmp_path)
    head = proc.stdout.splitlines()[0]
    assert proc.returncode == 1 and not re.search(r"validate|invalid|valid", head), head
    assert "1" in head and "2" in head
    assert bulkprov("add", "users.csv", env=kore_env(emu), cwd=tmp_path).returncode == 1
    exported = bulkprov("export", "-o", "account.xlsx", "--lang", lang, env=kore_env(emu), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    for line in (exported.stdout + exported.stderr).splitlines():
        words = re.sub(r"\S*[/.]\S*|https?://\S+", "", line.split(" INFO ")[-1])  # paths and rates are not words
        assert not re.search(r"\b(export|users|requests|listed|plan|progress)\b", words), line


@pytest.mark.parametrize("lang, header", [("en", "성명"), ("ko", "성명"), ("ja", "氏名")])
def test_messages_name_the_users_own_header(tmp_path, lang, header):
    path = tmp_path / "users.csv"
    path.write_text(f"Email,{header}\nkim@acme-corp.com,김민준\n", encoding="utf-8")
    out = tmp_path / "r.xlsx"
    proc = bulkprov("validate", str(path), "-o", str(out), "--lang", lang)
    (row,) = read_sheet(out, "Results")
    assert row["error_code"] == "unsplit-name" and header in row["reason"] and "fullName" not in row["reason"]
    line = next(line for line in proc.stdout.splitlines() if "unsplit-name —" in line)
    assert header in line and "fullName" not in line


@pytest.mark.parametrize("lang, last, first, email", [("ko", "성", "이름", "minjun.kim@example.com"),
                                                      ("ja", "姓", "名", "taro.yamada@example.com")])
def test_the_korean_and_japanese_templates_put_the_family_name_first_with_a_local_example(tmp_path, lang, last,
                                                                                          first, email):
    for name in ("t.xlsx", "t.csv"):
        proc = bulkprov("template", "--lang", lang, "-o", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
    rows = read_sheet(tmp_path / "t.xlsx", "Users")
    headers = list(rows[0])
    assert headers.index(last) == headers.index(first) - 1
    example = rows[0]
    assert example[schema.BY_NAME["emailId"].header(lang)] == email
    assert not any(re.search(r"[A-Za-z]{3}", str(example[h] or "")) for h in (last, first, "부서", "部署")
                   if h in example), example
    with open(tmp_path / "t.csv", encoding="utf-8-sig", newline="") as fh:
        csv_headers, csv_example = list(csv.reader(fh))
    assert csv_headers == headers and csv_example[headers.index(last)] == example[last]
    checked = bulkprov("validate", str(tmp_path / "t.xlsx"), "-o", str(tmp_path / "r.xlsx"))
    (result,) = read_sheet(tmp_path / "r.xlsx", "Results")
    assert checked.returncode == 1 and result["error_code"] == "template-example", result


def test_the_guides_result_example_reasons_are_what_validate_writes(tmp_path):
    readme = guide("running.md")
    out = tmp_path / "r.xlsx"
    bulkprov("validate", "sample_data/roster.xlsx", "-o", str(out))
    rows = results_by_row(out)
    for number in (9, 21):
        line = next(line for line in readme.splitlines() if line.startswith(f"| {number} | add |"))
        assert f"| {rows[number]['reason']} |" in line, (line, rows[number]["reason"])


# -- 15: --rate, -o's extension, the default name ------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_a_bad_rate_is_bad_rate_on_the_command_line_and_in_a_profile(tmp_path, lang):
    write_roster(tmp_path / "users.csv", 2)
    (tmp_path / "bulkprov.toml").write_text('[profiles.slow]\nrate = "10/x"\n', encoding="utf-8")
    for args in (("--rate", "10/x"), ("--profile", "slow")):
        proc = bulkprov("add", "users.csv", "--host", "https://bots.kore.ai", *args, "--lang", lang, cwd=tmp_path)
        assert proc.returncode == 2 and "[bad-rate]" in proc.stderr and "[usage]" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_an_output_named_csv_writes_csv_or_is_refused_clearly(tmp_path):
    write_roster(tmp_path / "users.csv", 2)
    proc = bulkprov("validate", "users.csv", "-o", "other.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "other.xlsx").exists()
    with open(tmp_path / "other.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["valid", "valid"]
    refused = bulkprov("validate", "users.csv", "-o", "more.csv", "--results-format", "xlsx", cwd=tmp_path)
    assert refused.returncode == 2 and "[output-unwritable]" in refused.stderr and "more.csv" in refused.stderr
    assert not (tmp_path / "more.csv").exists() and not (tmp_path / "more.xlsx").exists()


def test_an_output_whose_extension_is_no_result_format_is_refused_not_renamed(tmp_path):
    write_roster(tmp_path / "users.csv", 2)
    for name in ("other.txt", "other.xls"):
        refused = bulkprov("validate", "users.csv", "-o", name, cwd=tmp_path)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and name in refused.stderr, refused.stderr
        assert "[output-unwritable]" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["users.csv"], "nothing written"
    plain = bulkprov("validate", "users.csv", "-o", "other", cwd=tmp_path)
    assert plain.returncode == 0 and "other.xlsx" in plain.stdout, plain.stdout + plain.stderr
    assert (tmp_path / "other.xlsx").is_file()


def test_the_default_result_name_is_the_one_the_options_table_gives(tmp_path):
    readme = guide("running.md")
    row = next(line for line in readme.splitlines() if line.startswith("| `-o, --output RESULT` |"))
    pattern = re.findall(r"`([^`]+)`", row.split("|")[2])[0]
    named = re.findall(r"`(\S+)` → `(\S+)`", row)
    assert pattern == "STEM.COMMAND-results-YYYYMMDD-HHMMSS.xlsx" and named, row
    write_roster(tmp_path / "users.csv", 2)
    assert bulkprov("validate", "users.csv", cwd=tmp_path).returncode == 0
    written = [p.name for p in tmp_path.glob("*.xlsx")]
    regex = re.escape(pattern).replace("STEM", "users").replace("COMMAND", "validate")
    regex = regex.replace("YYYYMMDD", r"\d{8}").replace("HHMMSS", r"\d{6}")
    assert len(written) == 1 and re.fullmatch(regex, written[0]), (written, regex)
    source, result = named[0]
    assert re.fullmatch(re.escape(pattern).replace("STEM", Path(source).stem).replace("COMMAND", "add")
                        .replace("YYYYMMDD", r"\d{8}").replace("HHMMSS", r"\d{6}"), result)


# -- 5: a header that looks like a column misspelt stops the file ---------------------------------------------

MISSPELT = ("Email,Frist Name,Last Name,Departmnt,성별,国籍,부서코드,Notes\r\n"
            "kim@acme-corp.com,Min,Kim,Sales,M,KR,D01,new\r\n"
            "lee@acme-corp.com,Ha,Lee,HR,F,JP,D02,\r\n")
SENDING = ("add", "update", "remove", "lookup", "apply", "plan", "sync")


@pytest.mark.parametrize("lang", LANGS)
def test_a_misspelt_header_stops_validate_and_every_sending_command(make_emulator, tmp_path, lang):
    from bulkprov.cli.wording import _hint
    from bulkprov.errors import MisspeltColumn

    emu = make_emulator()
    path = tmp_path / "users.csv"
    path.write_text(MISSPELT.replace("Email,", "action,Email,").replace("\r\nkim", "\r\nadd,kim")
                    .replace("\r\nlee", "\r\nadd,lee"), encoding="utf-8")
    for command in ("validate", *SENDING):
        settle = ["--settle", "0"] if command == "sync" else []  # unattended, a sync waits for the file to settle
        proc = bulkprov(command, "users.csv", "--lang", lang, *settle, env=kore_env(emu), cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "[misspelt-column]" in lines[0], (command, proc.stderr)
        line = lines[0]
        assert "'Frist Name'" in line and "firstName" in line and "'Departmnt'" in line and "dept" in line
        assert "--ignore-column 'Frist Name' --ignore-column Departmnt" in line and "ignore_columns" in line
        for other in ("성별", "国籍", "부서코드", "Notes"):
            assert other not in line, f"{other} is another column, not a misspelt one"
        assert not list(tmp_path.glob("*results*")), "nothing written: the file is unusable as it is"
    assert emu.state()["requests"] == [], "nothing was sent"
    with i18n.using(lang):  # the line is in the reader's language: how to go on, and the flag that does it
        how = MisspeltColumn(path="x", found="§", headers=[]).message.split("§")[-1].strip(" :;：")
        flag = _hint(MisspeltColumn(path="x", found="§", headers=["Frist Name", "Departmnt"]))
    assert how and how in line and flag in line, (how, flag, line)


def test_ignored_columns_let_the_run_go_on_from_the_command_line_or_a_profile(make_emulator, tmp_path):
    emu = make_emulator()
    (tmp_path / "users.csv").write_text(MISSPELT, encoding="utf-8")
    proc = bulkprov("add", "users.csv", "--ignore-column", "frist name", "--ignore-column", "DEPARTMNT", "-o", "a.xlsx",
                    env=kore_env(emu), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    users = {u["userInfo"]["emailId"]: u["userInfo"] for u in emu.state()["users"]}
    assert set(users) == {"kim@acme-corp.com", "lee@acme-corp.com"}
    assert "firstName" not in users["kim@acme-corp.com"] and users["kim@acme-corp.com"]["lastName"] == "Kim"
    summary = " ".join(str(v) for r in read_sheet(tmp_path / "a.xlsx", "Summary") for v in r.values() if v)
    assert "'Frist Name' (B) is ignored" in summary and "'성별' (E) is not a bulkprov column" in summary
    (tmp_path / "bulkprov.toml").write_text('[profiles.hr]\nignore_columns = ["Frist Name", "Departmnt"]\n',
                                            encoding="utf-8")
    (tmp_path / "more.csv").write_text(MISSPELT.replace("kim@", "park@").replace("lee@", "choi@"), encoding="utf-8")
    by_profile = bulkprov("add", "more.csv", "--profile", "hr", env=kore_env(emu), cwd=tmp_path)
    assert by_profile.returncode == 0, by_profile.stderr
    assert len(emu.state()["users"]) == 4
    # validate takes --ignore-column too, and a column it ignores is not read even when it is a known one
    checked = bulkprov("validate", "users.csv", "--ignore-column", "Frist Name", "--ignore-column", "Departmnt",
                       "--ignore-column", "Email", cwd=tmp_path)
    assert checked.returncode == 2 and "[missing-column]" in checked.stderr, checked.stderr


@pytest.mark.parametrize("header", ["성별", "国籍", "부서코드", "Notes", "Last day", "Title", "Phone 2", "Gender"])
def test_other_extra_columns_stay_a_notice(tmp_path, header):
    (tmp_path / "users.csv").write_text(f"Email,First Name,{header}\nkim@acme-corp.com,Min,x\n", encoding="utf-8")
    proc = bulkprov("validate", "users.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"'{header}'" in proc.stderr and "is not a bulkprov column" in proc.stderr


@pytest.mark.parametrize("header, column", [("Frist Name", "firstName"), ("Departmnt", "dept"), ("Emial", "emailId"),
                                            ("Surename", "lastName"), ("Mial", "emailId"), ("部所", "dept"),
                                            ("指名", "fullName"), ("이매일", "emailId"), ("Employee Numbr", "orgUserId")])
def test_near_misses_by_edit_and_by_list(header, column):
    found = schema.near_miss(header)
    assert found is not None and found[0].name == column, found


async def test_the_page_says_a_header_is_misspelt_and_honours_the_profiles_ignore_columns(tmp_path):
    from bulkprov.config import load_profile
    from bulkprov.kore.auth import Credentials
    from bulkprov.web import build_config

    config = web_config(tmp_path)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, MISSPELT.encode("utf-8")), allow_redirects=False)
        text = await (await client.get(resp.headers["Location"])).text()
        assert "misspelt-column" in text and "Frist Name" in text and 'id="run"' not in text
        assert "--ignore-column" not in text, "the page's words, not a flag"
    (tmp_path / "bulkprov.toml").write_text('[profiles.hr]\nhost = "http://127.0.0.1:9"\n'
                                            'ignore_columns = ["Frist Name", "Departmnt"]\n', encoding="utf-8")
    values = {k: v for k, v in __import__("bulkprov.config", fromlist=["SETTINGS"]).SETTINGS.items()}
    values = {k: d for k, (_t, d) in values.items()} | load_profile(tmp_path / "bulkprov.toml", "hr")
    values |= {"state_dir": str(tmp_path / "state2"), "web_token_file": None}
    emu = EmulatorConfig()
    os.environ["BULKPROV_WEB_TOKEN"] = "t0ken-for-the-shared-login-0123456789"
    try:
        profiled = build_config(values, credentials=Credentials(client_id=emu.client_id,
                                                               client_secret=emu.client_secret),
                                max_upload_mb=20, secure_cookies=False)
    finally:
        del os.environ["BULKPROV_WEB_TOKEN"]
    assert list(profiled.job.ignore_columns) == ["Frist Name", "Departmnt"]
    async with TestClient(TestServer(create_app(profiled))) as client:
        page = await client.get("/login")
        resp = await client.post("/login", data={"csrf": csrf_of(await page.text()),
                                                 "token": "t0ken-for-the-shared-login-0123456789"},
                                 allow_redirects=False)
        assert resp.status == 303, await resp.text()
        csrf = csrf_of(await (await client.get("/")).text())
        resp = await client.post("/upload", data=upload_form(csrf, MISSPELT.encode("utf-8")), allow_redirects=False)
        text = await (await client.get(resp.headers["Location"])).text()
        assert "misspelt-column" not in text and 'id="run"' in text, text


# -- 14: after a full disk, --resume needs room for what is left, and the abort line tells the truth ---------


def test_resume_after_a_full_disk_needs_room_only_for_what_is_left(make_emulator, tmp_path, monkeypatch):
    import resource
    import sqlite3

    from bulkprov import cli
    from bulkprov.state import room
    from tests.e2e.test_integrity import created_once, start

    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 1500)

    def small_disk() -> None:  # every file the run writes may hold 1 MB: the ledger fills it up mid-run
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    first = start("add", emu, roster, out, "--batch-size", "20", "--rate", "none", preexec=small_disk)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 3 and "[disk-full]" in err, err
    db = sqlite3.connect(tmp_path / ".bulkprov" / "ledger.sqlite3")
    done = db.execute("SELECT COUNT(*) FROM rows WHERE state = 'done'").fetchone()[0]
    db.close()
    assert 0 < done < 1500
    left = 1500 - done
    # The room the resumed run needs: the ledger for the rows left, the results for every row, one margin.
    enough = left * room.LEDGER_BYTES_PER_ROW + 1500 * room.RESULT_BYTES_PER_ROW + room.MARGIN
    whole_run = 1500 * room.LEDGER_BYTES_PER_ROW + 1500 * room.RESULT_BYTES_PER_ROW + room.MARGIN
    free = enough + 64 * 1024
    assert free < whole_run, "the test must leave less room than the whole run would need"
    monkeypatch.setattr(room, "_free", lambda path: free)
    for key, value in kore_env(emu).items():
        monkeypatch.setenv(key, value)
    code = cli.main(["add", str(roster), "-o", str(out), "--resume", "--rate", "none", "-q"])
    assert code == 0
    created_once(emu, emails)
    assert len(results_by_row(out)) == 1500
    monkeypatch.setattr(room, "_free", lambda path: enough - 64 * 1024)
    write_roster(roster, 1500, domain="other.example")  # another file: a new run of every row, too big for it
    assert cli.main(["add", str(roster), "-o", str(tmp_path / "o2.xlsx"), "--rate", "none", "-q"]) == 2


@pytest.mark.parametrize("lang", LANGS)
def test_the_abort_line_says_the_results_were_written_when_only_the_ledger_could_not_finish(make_emulator, tmp_path,
                                                                                            lang):
    from tests.e2e.test_integrity import created_once, start

    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 30)
    proc = start("add", emu, roster, out, "--rate", "none", "--lang", lang, env={"BULKPROV_FAULT": "finish:enospc"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    (line,) = [line for line in err.splitlines() if "[disk-full]" in line]
    assert str(out) in line and "runs show" not in line, line
    with i18n.using(lang):
        from bulkprov.errors import DiskFull

        said = DiskFull("finish", results="§", reason="§", run_id="§").message.split("§")[0]
    assert said in line, (said, line)
    assert len(results_by_row(out)) == 30, "the results it says are there are there"
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    created_once(emu, emails)


def test_the_abort_line_names_the_file_that_could_not_be_written(make_emulator, tmp_path):
    from tests.e2e.test_integrity import start

    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 30)
    proc = start("add", emu, roster, out, "--rate", "none", env={"BULKPROV_FAULT": "undo:enospc"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    (line,) = [line for line in err.splitlines() if "[disk-full]" in line]
    assert "out.undo.xlsx could not be written" in line and not out.exists(), line
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0 and len(results_by_row(out)) == 30, resumed.stderr


# -- 9: a workbook downloaded from the page names the uploaded file --------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_a_workbook_from_the_page_names_the_uploaded_file(make_emulator, tmp_path, lang):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 4, invalid={1: {"Email": "broken@"}})
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": lang}) as client:
        csrf = await login(client)
        form = aiohttp.FormData(quote_fields=False)  # the name as a browser sends it: UTF-8, not %-escaped
        for name, value in (("csrf", csrf), ("action", "add"), ("email", "yes")):
            form.add_field(name, value)
        form.add_field("file", roster.read_bytes(), filename="名簿-ja.csv", content_type="text/csv")
        resp = await client.post("/upload", data=form, allow_redirects=False)
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run",
                                data={"csrf": csrf, "action": "add", "email": "yes"}, allow_redirects=False)
        await _wait_for_job(client, run.headers["Location"])
        page = await (await client.get(run.headers["Location"])).text()
        link = re.search(r'href="(/runs/[^"]+/results\.xlsx)"', page).group(1)
        (tmp_path / "r.xlsx").write_bytes(await (await client.get(link)).read())
    summary = openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"]
    with i18n.using(lang):
        label = i18n.gettext("input file")
    named = [row[1] for row in summary.iter_rows(values_only=True) if row and row[0] == label]
    assert named == ["名簿-ja.csv"], [row[:2] for row in summary.iter_rows(values_only=True)][:6]


@pytest.mark.parametrize("lang", LANGS)
async def test_the_page_audits_a_download_under_the_name_it_was_saved_as(make_emulator, tmp_path, lang):
    """The audit trail names the file the person saved (사원명단.add-results-….xlsx), not its ASCII fallback."""
    from bulkprov.approvals.audit import AuditTrail

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 2)
    name = {"en": "staff list.csv", "ko": "사원명단.csv", "ja": "名簿-ja.csv"}[lang]
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": lang}) as client:
        csrf = await login(client)
        form = aiohttp.FormData(quote_fields=False)  # the name as a browser sends it: UTF-8, not %-escaped
        for field_name, value in (("csrf", csrf), ("action", "add"), ("email", "yes")):
            form.add_field(field_name, value)
        form.add_field("file", roster.read_bytes(), filename=name, content_type="text/csv")
        resp = await client.post("/upload", data=form, allow_redirects=False)
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run",
                                data={"csrf": csrf, "action": "add", "email": "yes"}, allow_redirects=False)
        await _wait_for_job(client, run.headers["Location"])
        page = await (await client.get(run.headers["Location"])).text()
        link = re.search(r'href="(/runs/[^"]+/results\.xlsx)"', page).group(1)
        got = await client.get(link)
        assert got.status == 200
        saved = got.headers["Content-Disposition"]
    downloads = [r for r in AuditTrail.of(config.job.account).records() if r["event"] == "download"]
    assert len(downloads) == 1, downloads
    file = downloads[0]["what"]["file"]
    assert file.startswith(name.rsplit(".", 1)[0] + ".add-results-") and file.endswith(".xlsx"), downloads
    assert quote(file, safe="") in saved, (file, saved)


@pytest.mark.parametrize("lang", LANGS)
async def test_the_check_says_run_will_become_an_approval_request(make_emulator, tmp_path, lang):
    """The check page, before Run: a second person must approve (the guard in the reader's words), and the
    button says it asks for approval; pressing it lands on the request, nothing sent.  Under the guard,
    the button is the plain Run."""
    emu = make_emulator(users=[{"emailId": f"leaver{i}@acme-corp.com"} for i in range(5)])
    config = web_config(tmp_path, host=emu.url)
    config.job = replace(config.job, max_deletes=3)
    lines = [f"leaver{i}@acme-corp.com\n" for i in range(5)]
    leavers = "".join(lines).encode()
    with i18n.using(lang):
        reason = i18n.gettext("{count:,} users would be removed, over the limit of {limit:,} (max_deletes); nothing "
                              "was changed").format(count=5, limit=3)
    page_words = web_lang.translations(lang)  # the page's own wording: gettext domain "web"
    ask = page_words.gettext("Ask for approval: remove {count} users").format(count=5)
    plain = page_words.gettext("Run: remove {count} users").format(count=2)
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": lang}) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, b"Email\n" + leavers, filename="leavers.csv",
                                                             action="remove"), allow_redirects=False)
        report = resp.headers["Location"].split("?")[0]
        page = await (await client.get(report + "?action=remove&email=yes")).text()
        assert 'id="approval-needed"' in page and html.escape(reason) in page, page
        assert html.escape(ask) in page and "Run: remove" not in page
        run = await client.post(report + "/run", data={"csrf": csrf, "action": "remove", "email": "yes"},
                                allow_redirects=False)
        assert run.status == 303 and run.headers["Location"].startswith("/requests/"), run.headers["Location"]
        assert len(emu.state()["users"]) == 5
        resp = await client.post("/upload", data=upload_form(csrf, ("Email\n" + "".join(lines[:2])).encode(), filename="two.csv",
                                                             action="remove"), allow_redirects=False)
        page = await (await client.get(resp.headers["Location"].split("?")[0] + "?action=remove&email=yes")).text()
        assert 'id="approval-needed"' not in page and html.escape(plain) in page, page


@pytest.mark.parametrize("lang, last, first", [("en", "lastName", "firstName"), ("ko", "성", "이름"), ("ja", "姓", "名")])
async def test_the_page_offers_the_template_of_the_readers_language(tmp_path, lang, last, first):
    config = web_config(tmp_path)
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": lang}) as client:
        await login(client)
        resp = await client.get("/template.xlsx")
        assert resp.status == 200
        (tmp_path / "t.xlsx").write_bytes(await resp.read())
    headers = [c.value for c in openpyxl.load_workbook(tmp_path / "t.xlsx")["Users"][1]]
    assert headers.index(last) < headers.index(first) or lang == "en", headers
    assert (headers.index(last) == headers.index(first) + 1) == (lang == "en"), headers
