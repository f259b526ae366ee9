"""The page in Korean and in Japanese, in a real browser: headless Chromium (Debian's) driven by Playwright.

Korean: the browser asks for Korean (``Accept-Language: ko-KR``) and gets it from the first page.
Japanese: the browser asks for English; the person picks 日本語 on the login page, and the choice
stays for the whole session.  Each logs in, uploads a roster with bad rows, reads the check, runs it
against the emulator on loopback, downloads the result workbook and the failures file, and finds the
run on the runs page.  (The guide's Korean and Japanese pictures are made by docs/screenshots.py.)
"""

from __future__ import annotations

import re

import pytest
from playwright import sync_api

from bulkprov.emulator import DEMO_CLIENT_SECRET
from bulkprov.web import create_app
from tests.conftest import CHROMIUM_ARGS, read_sheet, results_by_row, write_roster
from tests.web.test_web_browser import PASSWORD, WebThread, hr_page_config

WORDS = {
    "ko": {"login": "로그인", "upload": "업로드", "upload_title": "사용자 명단 업로드", "invalid": "오류 3행",
           "plan_count": "추가 27명", "run": "실행: 사용자 27명 추가", "finished": "완료되었습니다.",
           "runs": "실행 내역", "success": "성공 27건", "results": "결과", "attention": "확인이 필요한 행"},
    "ja": {"login": "ログイン", "upload": "アップロード", "upload_title": "ユーザー名簿のアップロード",
           "invalid": "エラー 3 行", "plan_count": "追加 27 人", "run": "実行：ユーザー 27 人を追加",
           "finished": "完了しました。", "runs": "実行履歴", "success": "成功 27 件", "results": "結果",
           "attention": "確認が必要な行"},
}
BROWSER_LOCALE = {"ko": "ko-KR", "ja": "en-US"}  # Japanese is picked on the page, against the browser's wish


@pytest.fixture
def browser(tmp_path, request, chromium_path):
    language = request.param
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            accept_downloads=True, viewport={"width": 1200, "height": 900}, locale=BROWSER_LOCALE[language])
        context.set_default_timeout(20_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield language, page
        finally:
            context.close()


@pytest.mark.parametrize("browser", ["ko", "ja"], indirect=True)
def test_hr_works_in_korean_and_japanese_in_a_browser(make_emulator, tmp_path, browser):
    language, page = browser
    words = WORDS[language]
    expect = sync_api.expect
    problems: list[str] = []  # script errors and Content-Security-Policy violations
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" and
            "Failed to load resource" not in msg.text else None)
    emu = make_emulator(latency=0.15)
    roster = tmp_path / ("신규입사자.csv" if language == "ko" else "新入社員.csv")
    write_roster(roster, 30, invalid={4: {"Email": "jane.doe@"}, 11: {"canCreateBot": "perhaps"},
                                      20: {"Email": "user00003@acme-corp.com"}})
    config = hr_page_config(tmp_path, emu.url)
    with WebThread(create_app(config)) as server:
        # 1. the login page: in Korean because the browser asks for it; Japanese picked with the switch
        page.goto(server.url + "/runs")
        expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)runs$"))
        if language == "ja":
            expect(page.locator("html")).to_have_attribute("lang", "en")
            page.click("#lang-ja")
            expect(page).to_have_url(re.compile(r"/login\?lang=ja&next=%2Fruns$"))
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("#login")).to_have_text(words["login"])
        page.fill("#username", "hr.admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        expect(page).to_have_url(server.url + "/runs")
        expect(page.locator("h1")).to_have_text(words["runs"])

        # 2. upload a roster with three bad rows
        page.click(f"nav >> text={words['upload']}")
        expect(page.locator("h1")).to_have_text(words["upload_title"])
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.set_input_files("#file", str(roster))
        page.click("#upload")

        # 3. the check, in the reader's language; the rows and codes as the workbook has them
        errors = page.locator("#error-table tbody tr")
        expect(errors).to_have_count(3)
        assert [errors.nth(i).locator("td").first.inner_text() for i in range(3)] == ["6", "13", "22"]
        assert "duplicate-email" in page.inner_text("#error-table")
        expect(page.locator("#rows-invalid")).to_have_text(words["invalid"])
        expect(page.locator("#plan")).to_contain_text(words["plan_count"])
        expect(page.locator("#run")).to_have_text(words["run"])
        assert emu.state()["users"] == [], "checking sends nothing"

        # 4. run it: the progress and the outcome in the reader's language
        page.click("#run")
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
        expect(page.locator("#pct")).to_have_text("100%")
        expect(page.locator("#phase")).to_have_text(words["finished"])
        expect(page.locator("#attention tbody tr")).to_have_count(3)
        expect(page.locator("#outcome")).to_contain_text(words["attention"])
        expect(page.locator("html")).to_have_attribute("lang", language)
        finished = tmp_path / f"finished-{language}.png"
        page.screenshot(path=str(finished), full_page=True)
        assert len(emu.state()["users"]) == 27

        # 5. the downloads: the same workbooks as in English (codes and statuses stay English)
        with page.expect_download() as info:
            page.click("#download-results")
        results = tmp_path / "results.xlsx"
        info.value.save_as(results)
        statuses = [r["status"] for r in results_by_row(results).values()]
        assert statuses.count("success") == 27 and statuses.count("invalid") == 3 and len(statuses) == 30
        with page.expect_download() as info:
            page.click("#download-failures")
        failures = tmp_path / "failures.xlsx"
        info.value.save_as(failures)
        rows = read_sheet(failures, "Failures")
        assert [r["Email"] for r in rows] == ["jane.doe@", "user00011@acme-corp.com", "user00003@acme-corp.com"]

        # 6. the runs page lists it, with its counts in the reader's language
        page.click(f"nav >> text={words['runs']}")
        run_row = page.locator("#runs tbody tr").first
        expect(run_row).to_contain_text(roster.name)
        expect(run_row).to_contain_text(words["success"])
        expect(run_row.locator("a", has_text=words["results"]).first).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert DEMO_CLIENT_SECRET not in page.content()

        # 7. the switch on a signed-in page: English, then back; the session keeps each choice
        page.click("#lang-en")
        expect(page.locator("h1")).to_have_text("Runs")
        page.reload()
        expect(page.locator("h1")).to_have_text("Runs")
        page.click(f"#lang-{language}")
        expect(page.locator("h1")).to_have_text(words["runs"])
    assert problems == [], problems

