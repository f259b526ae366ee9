"""Four eyes in a real browser, with two people (two browser contexts), and single sign-on through a real provider.

Olga (operator) uploads a removal of 600 users with the deletion guard at 500: pressing Run makes a
pending request instead of a run.  She cannot approve it — no button, and a forged POST is refused.
Abe (approver) sees the plan, the users to be removed, approves with a comment and runs it: the users
are gone and the results download.  A second removal is approved, then the stored roster changes:
the approval no longer holds and a new request is made.  Vic (viewer) can neither run nor approve.
Last, a person signs in through the OpenID Connect provider's own pages.  (The guide's pictures of it
are made by docs/screenshots.py.)
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright import sync_api

from bulkprov.approvals.audit import AuditTrail
from bulkprov.emulator import EmulatorConfig
from bulkprov.jobs import JobSettings, run_job
from bulkprov.kore.auth import Credentials
from bulkprov.web import WebConfig, create_app, hash_password
from tests.conftest import CHROMIUM_ARGS, results_by_row
from tests.web.test_web_browser import WebThread

PASSWORD = "correct horse battery staple"
PEOPLE = {"olga": "operator", "abe": "approver", "vic": "viewer"}


def removal_file(path: Path, first: int, count: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email"])
        for i in range(first, first + count):
            writer.writerow([f"leaver{i:04d}@acme-corp.com"])
    return path


def seed_account(emu, tmp_path: Path, creds: Credentials, count: int) -> None:
    roster = tmp_path / "seed.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "First Name"])
        for i in range(count):
            writer.writerow([f"leaver{i:04d}@acme-corp.com", f"Leaver{i}"])
    settings = JobSettings(command="add", host=emu.url, rate="none", state_dir=tmp_path / "seed-state", send_email=False)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        outcome = pool.submit(run_job, roster, settings, credentials=creds).result()
    assert outcome.exit_code == 0


@pytest.fixture
def browser(chromium_path):
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def person(browser, server_url: str, name: str):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(server_url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    sync_api.expect(page.locator("#who")).to_have_text(f"{name} ({PEOPLE[name]})")
    return page


def csrf(page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value")


def upload(page, server_url: str, path: Path, action: str = "remove") -> str:
    page.goto(server_url + "/")
    page.select_option("#action", action)
    page.set_input_files("#file", str(path))
    page.click("#upload")
    sync_api.expect(page).to_have_url(re.compile(r"/uploads/[0-9a-f]{32}\?"))
    return page.url


def test_four_eyes_in_the_browser(make_emulator, creds, tmp_path, browser):
    expect = sync_api.expect
    emu = make_emulator()
    seed_account(emu, tmp_path, creds, 1200)
    emulator = EmulatorConfig()
    config = WebConfig(state_dir=tmp_path / "state",
                       job=JobSettings(command="add", host=emu.url, rate="none", batch_size=100, concurrency=2,
                                       max_deletes=500),
                       credentials=Credentials(client_id=emulator.client_id, client_secret=emulator.client_secret),
                       users={name: hash_password(PASSWORD, n=2**10) for name in PEOPLE}, local_roles=PEOPLE)
    with WebThread(create_app(config)) as server:
        olga = person(browser, server.url, "olga")
        abe = person(browser, server.url, "abe")

        # 1. Olga's removal of 600 users (guard 500) becomes a request, not a run
        upload(olga, server.url, removal_file(tmp_path / "leavers-q3.csv", 0, 600))
        expect(olga.locator("#plan")).to_contain_text("600 to remove")
        olga.click("#run")
        expect(olga).to_have_url(re.compile(r"/requests/\w+$"))
        request_url = olga.url
        expect(olga.locator("#state")).to_have_text("pending")
        expect(olga.locator("#reasons")).to_contain_text("600 users would be removed, over the limit of 500")
        expect(olga.locator("#own-request")).to_be_visible()
        assert olga.locator("#approve").count() == 0, "no approve button for the requester"
        forged = olga.request.post(request_url + "/approve", form={"csrf": csrf(olga), "comment": "me"})
        assert forged.status == 403, "the server refuses the operator's approval too"
        assert len(emu.state()["users"]) == 1200

        # 2. Abe sees the plan and the users, approves with a comment, runs it
        abe.goto(request_url)
        expect(abe.locator("#removals tbody tr")).to_have_count(600)
        expect(abe.locator("#requester")).to_have_text("olga")
        own_forged = abe.request.post(request_url + "/reject", form={"csrf": csrf(abe), "comment": ""})
        assert own_forged.status == 403, "a rejection needs a comment"
        abe.fill("#approve-comment", "Q3 leavers, checked against the HR system")
        approval_shot = tmp_path / "approval.png"
        abe.screenshot(path=str(approval_shot), full_page=False)
        abe.click("#approve")
        expect(abe.locator("#state")).to_have_text("approved")
        expect(abe.locator("#decision")).to_contain_text("Approved by abe")
        abe.click("#run")
        expect(abe).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
        expect(abe.locator("#pct")).to_have_text("100%")
        expect(abe.locator("#download-results")).to_be_visible()
        assert len(emu.state()["users"]) == 600
        with abe.expect_download() as info:
            abe.click("#download-results")
        info.value.save_as(tmp_path / "results.xlsx")
        statuses = [r["status"] for r in results_by_row(tmp_path / "results.xlsx").values()]
        assert statuses.count("success") == 600
        abe.goto(request_url)
        expect(abe.locator("#state")).to_have_text("used")
        assert abe.locator("#run").count() == 0, "one approval, one run"

        # 3. approved, then the roster changes: the approval no longer holds
        check_url = upload(olga, server.url, removal_file(tmp_path / "leavers-q4.csv", 600, 600))
        olga.click("#run")
        second = olga.url
        abe.goto(second)
        abe.fill("#approve-comment", "ok")
        abe.click("#approve")
        expect(abe.locator("#state")).to_have_text("approved")
        stored = next(p for p in config.uploads.iterdir() if p.name.startswith(check_url.split("/uploads/")[1][:32])
                      and p.suffix == ".csv")
        stored.write_text(stored.read_text().replace("leaver0600@", "ceo@"))  # someone swaps a name in
        olga.goto(second)
        olga.click("#run")
        expect(olga).to_have_url(re.compile(r"/requests/\w+$"))
        assert olga.url != second
        expect(olga.locator("#state")).to_have_text("pending")
        expect(olga.locator("#superseded")).to_contain_text("no longer holds")
        assert len(emu.state()["users"]) == 600, "nothing ran on the changed roster"

        # 4. Vic, a viewer, can neither run nor approve
        vic = person(browser, server.url, "vic")
        expect(vic).to_have_url(server.url + "/runs")
        assert vic.locator("a", has_text="Upload").count() == 0
        upload_id = check_url.split("/uploads/")[1][:32]
        assert vic.request.post(f"{server.url}/uploads/{upload_id}/run",
                                form={"csrf": csrf(vic), "action": "remove"}).status == 403
        vic.goto(olga.url)
        assert vic.locator("#approve").count() == 0
        assert vic.request.post(olga.url + "/approve", form={"csrf": csrf(vic), "comment": "x"}).status == 403
        assert vic.request.get(server.url + "/audit").status == 403

        # 5. the approver reads the audit trail on the page
        abe.goto(server.url + "/audit")
        expect(abe.locator("#chain")).to_contain_text("holds")
        events = [(r["event"], r["who"]) for r in AuditTrail.of(config.job.account).records()]
        for expected in [("upload", "olga"), ("validation", "olga"), ("request", "olga"), ("approval", "abe"),
                         ("run", "abe"), ("download", "abe")]:
            assert expected in events, expected
        assert not [e for e in events if e[0] == "approval" and e[1] == "olga"]



def test_single_sign_on_in_the_browser(tmp_path, browser):
    oidc_mock = pytest.importorskip("oidc_provider_mock")
    from bulkprov.web.oidc import OidcConfig

    with oidc_mock.run_server_in_thread(port=0) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        claims = json.dumps({"email": "ann@acme-corp.com", "groups": ["hr-approvers"]}).encode()
        put = urllib.request.Request(f"{issuer}/users/ann", data=claims, method="PUT",
                                     headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(put, timeout=10).status == 204
        emulator = EmulatorConfig()
        config = WebConfig(state_dir=tmp_path / "state", job=JobSettings(command="add", host="http://127.0.0.1:9"),
                           credentials=Credentials(client_id=emulator.client_id, client_secret=emulator.client_secret),
                           oidc=OidcConfig(issuer=issuer, client_id="bulkprov", client_secret="s3cret",
                                           roles={"hr-approvers": "approver"}))
        with WebThread(create_app(config)) as server:
            context = browser.new_context()
            # the provider's pages link a stylesheet on a CDN: nothing leaves loopback in our tests
            context.route("**/*", lambda route: route.continue_() if urllib.parse.urlsplit(route.request.url).hostname
                          in ("127.0.0.1", "localhost") else route.abort())
            page = context.new_page()
            page.goto(server.url + "/requests")
            page.click("#sso")
            expect = sync_api.expect
            expect(page).to_have_url(re.compile(re.escape(issuer) + r"/oauth2/authorize"))
            page.fill("input[name=sub]", "ann")
            page.click("button:has-text('Authorize')")
            expect(page).to_have_url(server.url + "/requests")
            expect(page.locator("#who")).to_have_text("ann@acme-corp.com (approver)")
            context.close()
