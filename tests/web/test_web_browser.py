"""``bulkprov serve`` in a real browser: headless Chromium (Debian's package) driven by Playwright.

Log in, upload a roster with invalid rows, see the errors, run it against the emulator, watch the
progress reach 100 %, download the result workbook and the failures file and check them with
openpyxl.  A screenshot of every step goes to the test's tmp_path (the guide's pictures are made by
docs/screenshots.py, ``make screenshots``).
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
from aiohttp import web
from playwright import sync_api

from bulkprov.emulator import DEMO_CLIENT_SECRET, EmulatorConfig
from bulkprov.jobs import JobSettings
from bulkprov.kore.auth import Credentials
from bulkprov.web import WebConfig, create_app, hash_password
from tests.conftest import CHROMIUM_ARGS, read_sheet, results_by_row, write_roster

PASSWORD = "correct horse battery staple"


def hr_page_config(tmp_path: Path, host: str) -> WebConfig:
    """The page as an HR administrator meets it in the browser tests: one person, adds, small batches."""
    emulator = EmulatorConfig()
    return WebConfig(state_dir=tmp_path / "state",
                     job=JobSettings(command="add", host=host, rate="none", batch_size=5, concurrency=1),
                     credentials=Credentials(client_id=emulator.client_id, client_secret=emulator.client_secret),
                     users={"hr.admin": hash_password(PASSWORD, n=2**10)})


class WebThread:
    """The web app on a free loopback port, on its own event loop in a thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="bulkprov-web-test", daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self.app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def __enter__(self) -> WebThread:
        self._thread.start()
        assert self._ready.wait(30), "the web app did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


@pytest.fixture
def browser_page(tmp_path, chromium_path):
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            accept_downloads=True, viewport={"width": 1200, "height": 900})
        context.set_default_timeout(20_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()


def test_hr_uploads_checks_runs_and_downloads_in_a_browser(make_emulator, tmp_path, browser_page):
    expect = sync_api.expect
    page = browser_page
    problems: list[str] = []  # script errors and Content-Security-Policy violations
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" and
            "Failed to load resource" not in msg.text else None)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> Path:
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    emu = make_emulator(latency=0.15)
    roster = tmp_path / "new-hires.csv"
    write_roster(roster, 30, invalid={4: {"Email": "jane.doe@"}, 11: {"canCreateBot": "perhaps"},
                                      20: {"Email": "user00003@acme-corp.com"}})
    config = hr_page_config(tmp_path, emu.url)
    with WebThread(create_app(config)) as server:
        # 1. any page sends a stranger to the login form
        page.goto(server.url + "/runs")
        expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)runs$"))
        shot("01-login")
        page.fill("#username", "hr.admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        expect(page).to_have_url(server.url + "/runs")

        # 2. upload a roster with three bad rows
        page.click("text=Upload")
        expect(page.locator("h1")).to_have_text("Upload users")
        page.set_input_files("#file", str(roster))
        shot("02-upload")
        page.click("#upload")

        # 3. the check lists every error with its row, and the preview says what will happen
        errors = page.locator("#error-table tbody tr")
        expect(errors).to_have_count(3)
        assert [errors.nth(i).locator("td").first.inner_text() for i in range(3)] == ["6", "13", "22"]
        table = page.inner_text("#error-table")
        assert "jane.doe@" in table and "perhaps" in table and "duplicate-email" in table
        expect(page.locator("#rows-invalid")).to_have_text("3 invalid")
        expect(page.locator("#plan")).to_contain_text("activation emails that will be sent: 27")
        expect(page.locator("#plan")).to_contain_text("27 to add")
        assert emu.state()["users"] == [], "checking sends nothing"
        shot("03-check")

        # 4. run it and watch the progress reach 100 %
        page.click("#run")
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
        shot("04-running")
        expect(page.locator("#pct")).to_have_text("100%")
        expect(page.locator("#download-results")).to_be_visible()
        expect(page.locator("#phase")).to_have_text("Finished.")
        expect(page.locator("#attention tbody tr")).to_have_count(3)
        expect(page.locator("#attention")).to_contain_text("already in row 5")
        shot("05-finished")
        assert len(emu.state()["users"]) == 27

        # 5. the result workbook and the failures file, as a browser downloads them
        with page.expect_download() as info:
            page.click("#download-results")
        download = info.value
        assert download.suggested_filename.startswith("new-hires.add-results-")
        results = tmp_path / "results.xlsx"
        download.save_as(results)
        statuses = [r["status"] for r in results_by_row(results).values()]
        assert statuses.count("success") == 27 and statuses.count("invalid") == 3 and len(statuses) == 30
        with page.expect_download() as info:
            page.click("#download-failures")
        failures = tmp_path / "failures.xlsx"
        info.value.save_as(failures)
        rows = read_sheet(failures, "Failures")
        assert [r["Email"] for r in rows] == ["jane.doe@", "user00011@acme-corp.com", "user00003@acme-corp.com"]
        assert all(r["status"] == "invalid" and r["reason"] for r in rows)

        # 6. the runs page lists it with its counts and downloads
        page.click("text=Runs")
        run_row = page.locator("#runs tbody tr").first
        expect(run_row).to_contain_text("new-hires.csv")
        expect(run_row).to_contain_text("27 success")
        expect(run_row.locator("a", has_text="results")).to_be_visible()
        shot("06-runs")
        assert DEMO_CLIENT_SECRET not in page.content()
    assert problems == [], problems

