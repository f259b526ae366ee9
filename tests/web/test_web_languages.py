"""The page in English, Korean and Japanese: which language a request gets, the switch, the session, escaping.

Through aiohttp's test client against the real app (and the emulator on loopback for runs):

* ``Accept-Language`` chooses, with its quality values; a ``?lang=`` link on the login page shows that
  language and the login form carries it into the session; the switch (a POST with the CSRF token)
  keeps the choice in the session, whatever the browser says afterwards;
* a run started from a Korean page words its workbook in Korean (the run's thread inherits the language);
* hostile names, file names and cells (``<script>``, quotes, ``{{ }}``, ``%(x)s``) come out as text, in
  every language (Jinja2's autoescape, also through translated placeholders);
* a Korean and a Japanese session walk every page: what the page itself says is in that language.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import quote

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov import errors, i18n
from bulkprov.schema import COLUMNS
from bulkprov.web import create_app, hash_password
from bulkprov.web.lang import from_accept_language
from bulkprov.web.preview import PREVIEWS
from bulkprov.web.runner import JOBS
from tests.conftest import write_roster
from tests.web.test_web import PASSWORD, _wait_for_job, csrf_of, login, upload_form, web_config

WORD = {"en": "Log in", "ko": "로그인", "ja": "ログイン"}


def lang_of(page: str) -> str:
    return re.search(r'<html lang="([a-z]+)">', page).group(1)


@pytest.fixture(autouse=True)
def english_afterwards():
    """Tests here never leave another language set in the test's own context."""
    yield
    i18n.set_language("en")


@pytest.mark.parametrize(("header", "expected"), [
    ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"), ("ja", "ja"), ("fr-FR, ja;q=0.5, ko;q=0.4", "ja"),
    ("en-US,ko;q=0.9", "en"), ("ko;q=0, ja;q=0.1", "ja"), ("ja;q=0.2, KO;q=0.3", "ko"), ("*", None),
    ("", None), ("de, fr", None), ("ko;q=abc, ja", "ja"), ("zh-Hant-TW, ja-JP;q=0.5", "ja"), (None, None)])
def test_accept_language_with_quality_values(header, expected):
    assert from_accept_language(header) == expected


async def test_the_browser_language_chooses_the_page(tmp_path):
    async with TestClient(TestServer(create_app(web_config(tmp_path)))) as client:
        for header, expected in [("ko-KR,ko;q=0.9,en;q=0.8", "ko"), ("ja-JP", "ja"), ("de-DE,de", "en"),
                                 ("en-GB", "en"), ("fr;q=0.9, ko;q=0.1", "ko")]:
            page = await (await client.get("/login", headers={"Accept-Language": header})).text()
            assert lang_of(page) == expected, header
            assert f'id="login">{WORD[expected]}</button>' in page, header
        plain = await (await client.get("/login")).text()
        assert lang_of(plain) == "en" and "Log in" in plain


async def test_the_login_page_switch_and_the_session_keep_the_choice(tmp_path):
    async with TestClient(TestServer(create_app(web_config(tmp_path)))) as client:
        page = await (await client.get("/login?next=%2Fruns")).text()
        links = dict(re.findall(r'<a href="(/login\?[^"]+)" lang="([a-z]+)"', page))
        assert sorted(links.values()) == ["en", "ja", "ko"]
        ko_link = html.unescape(next(href for href, code in links.items() if code == "ko"))
        assert ko_link == "/login?lang=ko&next=%2Fruns", "the switch keeps where the user was going"
        korean = await (await client.get(ko_link, headers={"Accept-Language": "ja"})).text()
        assert lang_of(korean) == "ko" and "사용자 이름" in korean
        assert 'name="lang" value="ko"' in korean and 'name="next" value="/runs"' in korean
        wrong = await client.post("/login", data={"csrf": csrf_of(korean), "username": "alice", "password": "x",
                                                  "lang": "ko"})
        assert wrong.status == 401 and "사용자 이름 또는 비밀번호" in await wrong.text()
        ok = await client.post("/login", data={"csrf": csrf_of(korean), "username": "alice", "password": PASSWORD,
                                               "next": "/runs", "lang": "ko"}, allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"] == "/runs"
        runs = await (await client.get("/runs", headers={"Accept-Language": "en-US"})).text()
        assert lang_of(runs) == "ko" and "실행 내역" in runs, "the choice made before login is in the session"


async def test_the_switch_is_a_csrf_checked_post_kept_in_the_session(tmp_path):
    async with TestClient(TestServer(create_app(web_config(tmp_path)))) as client:
        csrf = await login(client)
        home = await (await client.get("/", headers={"Accept-Language": "ko"})).text()
        assert lang_of(home) == "ko", "no choice yet: the browser's language"
        assert re.search(r'<form method="post" action="/language"[^>]*>\s*<input type="hidden" name="csrf" '
                         rf'value="{re.escape(csrf)}">', home)
        moved = await client.post("/language", data={"csrf": csrf, "lang": "ja", "next": "/runs?x=1"},
                                  allow_redirects=False)
        assert moved.status == 303 and moved.headers["Location"] == "/runs?x=1"
        for header in ("ko", "en", ""):
            page = await (await client.get("/runs", headers={"Accept-Language": header})).text()
            assert lang_of(page) == "ja" and "実行履歴" in page, header
        assert 'id="lang-ja" class="link" aria-current="true" disabled' in page
        forged = await client.post("/language", data={"lang": "ko", "next": "/"}, allow_redirects=False)
        assert forged.status == 403
        unknown = await client.post("/language", data={"csrf": csrf, "lang": "xx", "next": "//evil.example/"},
                                    allow_redirects=False)
        assert unknown.status == 303 and unknown.headers["Location"] == "/", "no open redirect"
        assert lang_of(await (await client.get("/runs")).text()) == "ja", "a forged or unknown choice changes nothing"
        await client.post("/language", data={"csrf": csrf, "lang": "en", "next": "/"})
        assert lang_of(await (await client.get("/runs", headers={"Accept-Language": "ko"})).text()) == "en"
    async with TestClient(TestServer(create_app(web_config(tmp_path / "b")))) as stranger:
        assert lang_of(await (await stranger.get("/login", headers={"Accept-Language": "ko"})).text()) == "ko"


async def test_a_run_started_in_korean_words_its_workbook_in_korean(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 4, invalid={1: {"Email": "not-an-email"}})
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": "ko"}) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes()), allow_redirects=False)
        run = await client.post(resp.headers["Location"].split("?")[0] + "/run", data={"csrf": csrf, "action": "add"},
                                allow_redirects=False)
        status = await _wait_for_job(client, run.headers["Location"])
        assert status["state"] == "finished" and status["phase"] == "완료되었습니다."
        job = client.app[JOBS].get(run.headers["Location"].rsplit("/", 1)[1])
        book = openpyxl.load_workbook(job.outcome.results_path, read_only=True)
        cells = [str(c) for row in book["Summary"].iter_rows(values_only=True) for c in row if c]
        book.close()
        assert any("실패한 행 파일" in c for c in cells), "the page's next step, in the language of the run's page"
    assert i18n.current() == "en", "the test's own context is untouched by the run's thread"


# -- escaping --------------------------------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>"{{ 7*7 }}%(x)s'
HOSTILE_NAME = "<img src=x onerror=alert(1)>'{{ 7*7 }}%(x)s"  # a file name keeps no "/" (only its last part)


@pytest.mark.parametrize("language", ["en", "ko", "ja"])
async def test_hostile_values_are_text_in_every_language(tmp_path, language):
    user = '<b>eve</b>"{{ 7*7 }}'
    config = web_config(tmp_path, users={user: hash_password(PASSWORD, n=2**10)},
                        local_roles={user: "approver"})
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": language}) as client:
        page = await client.get("/login")
        await client.post("/login", data={"csrf": csrf_of(await page.text()), "username": user, "password": PASSWORD})
        home = await (await client.get("/")).text()
        csrf = csrf_of(home)
        assert lang_of(home) == language
        assert "<b>eve" not in home and "&lt;b&gt;eve&lt;/b&gt;&#34;{{ 7*7 }}" in home
        name = f"{HOSTILE_NAME}.csv"
        quoted = HOSTILE.replace('"', '""')
        cells = f'Email,First Name\nbad{HOSTILE_NAME}@x,Eve\nok@acme-corp.com,"{quoted}"\n'
        boundary = "----bulkprov-hostile"  # sent raw, as a browser sends a file name
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n--{boundary}\r\n'
                f'Content-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'
                f'{cells}\r\n--{boundary}--\r\n').encode()
        resp = await client.post("/upload", data=body, allow_redirects=False,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert resp.status == 303, await resp.text()
        report = await (await client.get(resp.headers["Location"])).text()
        assert "<script>" not in report and "<img" not in report
        escaped = "&lt;img src=x onerror=alert(1)&gt;&#39;{{ 7*7 }}%(x)s"
        assert f"<title>{_title(language)}{escaped}.csv · bulkprov</title>" in report
        assert f'<strong id="filename">{escaped}.csv</strong>' in report, "through a translated placeholder"
        assert f'<td class="value">bad{escaped}@x</td>' in report
        runs = await (await client.get("/requests")).text()
        assert "<b>" not in runs


def _title(language: str) -> str:
    return {"en": "Check: ", "ko": "유효성 검사: ", "ja": "検証："}[language]


async def test_a_hostile_approval_comment_is_text(tmp_path):
    config = web_config(tmp_path, users={"alice": hash_password(PASSWORD, n=2**10),
                                         "bob": hash_password(PASSWORD, n=2**10)}, local_roles={"bob": "approver"})
    config.job = replace(config.job, max_deletes=0)
    async with TestClient(TestServer(create_app(config))) as alice, \
            TestClient(TestServer(create_app(config)), headers={"Accept-Language": "ja"}) as _unused:
        del _unused
        csrf = await login(alice)
        resp = await alice.post("/upload", data=upload_form(csrf, b"Email\nleaver@acme-corp.com\n", action="remove"),
                                allow_redirects=False)
        run = await alice.post(resp.headers["Location"].split("?")[0] + "/run",
                               data={"csrf": csrf, "action": "remove"}, allow_redirects=False)
        request_url = run.headers["Location"]
        assert request_url.startswith("/requests/")
        alice.session.cookie_jar.clear()
        bob_csrf = await login(alice, "bob")
        await alice.post("/language", data={"csrf": bob_csrf, "lang": "ja", "next": "/"})
        decided = await alice.post(request_url + "/approve", data={"csrf": bob_csrf, "comment": HOSTILE},
                                   allow_redirects=False)
        assert decided.status == 303
        page = await (await alice.get(request_url)).text()
        assert "<script>" not in page
        assert "「&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34;{{ 7*7 }}%(x)s」" in page
        assert "ユーザー 1 人が削除され、上限 0 人（max_deletes）を超えます" in page, "the page's reasons, in the reader's language"
        assert 'id="state">承認済み</strong>' in page


# -- every page in Korean and Japanese -----------------------------------------------------------------------------

LIBRARY = ("⟦", "⟧")
# Words the page may show untranslated: names, units, and the codes and column names the workbooks use.
ALLOWED = ({"bulkprov", "Kore.ai", "SHA-256", "MB", "KB", "CSV", "Excel", "Builder", "canCreateBot", "isDeveloper"}
           | {c.name for c in COLUMNS}
           # names of text encodings, written the same in every language (the upload form's choice)
           | {"UTF-8", "UTF-16", "cp949", "EUC-KR", "cp932", "Shift", "JIS", "GBK", "Windows-1252", "Mac", "Roman"})


class _Text(HTMLParser):
    """What a person reads: text nodes and visible attributes, except inside elements that hold data or codes
    (``class="value"``/``"code"``, ``<code>``, a select's options are text too) and the language names."""

    SKIP_CLASSES = {"value", "code", "user", "languages"}
    VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        skip = self.skipping or set((attributes.get("class") or "").split()) & self.SKIP_CLASSES
        if (skip or tag in ("script", "style")) and tag not in self.VOID:
            self.skipping.append(tag)
        for name in ("title", "placeholder", "alt", "aria-label", "data-too-large"):
            if attributes.get(name) and not self.skipping:
                self.parts.append(attributes[name])

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def english_left(page: str, data: list[str]) -> list[str]:
    """English words of ``page`` that are neither the library's (⟦marked⟧), nor data, nor allowed."""
    parser = _Text()
    parser.feed(page)
    text = " ".join(parser.parts)
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    while re.search(r"⟦[^⟦⟧]*⟧", text):
        text = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
    text = re.sub(r"[\w.+-]+@[\w.-]+|https?://\S+|\b[0-9a-f]{8,}\b|\b\d{8}-\d{6}-[0-9a-f]{6}\b|"
                  r"[\w.-]*\.(?:csv|xlsx|xlsm|xls|ods|tsv|txt)\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9.\-]*[A-Za-z0-9]|[A-Za-z]", text) if w not in ALLOWED]


def test_the_english_check_sees_english():
    page = ('<p>완료 <b>Done</b> ⟦the library ⟦nested⟧ says⟧</p><td class="value">data<br></td><input placeholder="Name">'
            '<form class="languages"><input name="x"><button>English</button></form><p>Left</p>')
    assert english_left(page, []) == ["Done", "Name", "Left"]


@pytest.mark.parametrize("language", ["ko", "ja"])
async def test_every_page_speaks_the_readers_language(make_emulator, tmp_path, monkeypatch, language):
    # The library's messages (domain bulkprov, translated by its own catalogs) are marked, to set them aside.
    marked = lambda text: f"{LIBRARY[0]}{text}{LIBRARY[1]}"  # noqa: E731
    for module in (errors, errors.base):  # render() (errors.base) and describe() (errors) translate
        monkeypatch.setattr(module, "_translate", marked)
    emu = make_emulator()
    roster = tmp_path / "신입사원.csv"
    write_roster(roster, 12, invalid={3: {"Email": "not-an-email"}, 7: {"canCreateBot": "maybe"}})
    config = web_config(tmp_path, host=emu.url, users={"alice": hash_password(PASSWORD, n=2**10),
                                                       "vic": hash_password(PASSWORD, n=2**10)},
                        local_roles={"alice": "approver", "vic": "viewer"})
    config.job = replace(config.job, max_deletes=0)
    pages: dict[str, str] = {}
    async with TestClient(TestServer(create_app(config)), headers={"Accept-Language": language}) as client:
        async def get(name: str, url: str, **kw) -> str:
            pages[name] = await (await client.get(url, **kw)).text()
            return pages[name]

        await get("login", "/login")
        pages["login-failed"] = await (await client.post("/login", data={
            "csrf": csrf_of(pages["login"]), "username": "alice", "password": "nope"})).text()
        pages["form-refused"] = await (await client.post("/login", data={"username": "alice"})).text()
        pages["not-logged-in"] = await (await client.post("/upload", data={"csrf": "x"})).text()
        csrf = await login(client)
        await get("upload", "/")
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes(), filename=roster.name),
                                 allow_redirects=False)
        report_url = resp.headers["Location"]
        await get("check", report_url)
        await get("check-remove", report_url.replace("action=add", "action=remove"))
        bad = await client.post("/upload", data=upload_form(csrf, b"First Name\nJane\n"), allow_redirects=False)
        await get("file-problem", bad.headers["Location"])
        pages["refused-upload"] = await (await client.post("/upload", data=upload_form(csrf, b"\x00\x01" * 999,
                                                                                       filename="x.xlsx"))).text()
        run = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "add"},
                                allow_redirects=False)
        status = await _wait_for_job(client, run.headers["Location"])
        assert status["state"] == "finished" and not re.search(r"[A-Za-z]{3}", status["phase"])
        await get("finished", run.headers["Location"])
        await get("runs", "/runs")
        request = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "remove"},
                                    allow_redirects=False)
        await get("request-own", request.headers["Location"])
        await get("requests", "/requests")
        await get("audit", "/audit")
        await get("not-found", "/no-such-page")
        await get("no-upload", "/uploads/" + "0" * 32)
        pages["nothing-to-run"] = await (await client.post(bad.headers["Location"].split("?")[0] + "/run",
                                                           data={"csrf": csrf, "action": "add"})).text()
        await client.post("/logout", data={"csrf": csrf})
        viewer = await login(client, "vic")
        pages["not-allowed"] = await (await client.post("/upload", data=upload_form(viewer, b"Email\n"))).text()
        await get("viewer-request", request.headers["Location"])

        data = [roster.name, quote(roster.name), "alice", "vic", "maybe", "not-an-email", "Email", "First Name", "Last Name",
                "Employee ID", "Department"]  # the roster's own headers: the page names columns as the file does
        for previews in client.app[PREVIEWS]._done.values():  # the plan's lines are the library's words too
            data += [line for p in previews.values() for lines in p.plan.values() for line in lines]
        for job in client.app[JOBS]._jobs.values():  # and the reasons of the run's rows
            data += [reason for *_, reason in job.attention]
    problems = {name: english_left(page, data) for name, page in pages.items()}
    left = {name: words for name, words in problems.items() if words}
    assert not left, "\n".join(f"{k}: {v}" for k, v in left.items())
    for name, page in pages.items():
        assert lang_of(page) == language, name
    assert len(pages) >= 19
