"""Issue #31, finding 9, in a real browser: the "user" column of "Rows that need attention" is wide enough
for an address (it wrapped every 9 characters while the reasons beside it took the width)."""

from __future__ import annotations

import re

from playwright import sync_api

from bulkprov.emulator import EmulatorConfig
from bulkprov.jobs import JobSettings
from bulkprov.kore.auth import Credentials
from bulkprov.web import WebConfig, create_app, hash_password
from tests.conftest import write_roster
from tests.web.test_web_browser import PASSWORD, WebThread, browser_page  # noqa: F401 -- the fixture

LINES_OF = """cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""


def test_an_address_in_rows_that_need_attention_is_on_one_line(make_emulator, tmp_path, browser_page):  # noqa: F811
    expect = sync_api.expect
    page = browser_page
    emu = make_emulator(poison_pattern=r"^user0000[13]@")
    roster = tmp_path / "roster.csv"
    long_reason = "x" * 40
    write_roster(roster, 6, invalid={2: {"Email": "jane.doe.example@", "canCreateBot": long_reason}})
    emulator = EmulatorConfig()
    config = WebConfig(state_dir=tmp_path / "state",
                       job=JobSettings(command="add", host=emu.url, rate="none", batch_size=1, concurrency=1),
                       credentials=Credentials(client_id=emulator.client_id, client_secret=emulator.client_secret),
                       users={"hr.admin": hash_password(PASSWORD, n=2**10)})
    with WebThread(create_app(config)) as server:
        page.goto(server.url + "/login")
        page.fill("#username", "hr.admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.set_input_files("#file", str(roster))
        page.click("#upload")
        for cell in page.locator("#error-table td.value").all():  # the check page's values too (up to 30 letters)
            if len(cell.inner_text()) <= 30:
                assert cell.evaluate(LINES_OF) == 1, cell.inner_text()
        page.click("#run")
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
        expect(page.locator("#attention tbody tr")).to_have_count(3)
        users = page.locator("#attention tbody td.value")
        texts = [users.nth(i).inner_text() for i in range(users.count())]
        assert "user00001@acme-corp.com" in texts and "jane.doe.example@" in texts, texts
        for i in range(users.count()):
            assert users.nth(i).evaluate(LINES_OF) == 1, f"{texts[i]!r} wraps"
