"""The guide's screenshots, in English, Korean and Japanese, from the page driven in a real browser.

``make screenshots`` (or ``python docs/screenshots.py [--out DIR] [--lang en,ko,ja]``) starts the Kore.ai
emulator and ``bulkprov serve``'s app on free loopback ports, drives Debian's ``chromium`` through
Playwright (its own driver: no ``playwright install``) in each language as a browser asks for it
(``Accept-Language``), and writes, for each language (``-ko`` / ``-ja`` after the name):

- ``serve.png``: a finished run of a roster with three bad rows (progress, totals, downloads, the rows
  that need attention);
- ``check.png``: the check of a leavers file over the removal guard (the approval note, the Ask for
  approval button);
- ``approval.png``: an approver's view of that request (why, the plan, the users, Approve / Reject).

Nothing is written outside a temporary folder but the pictures: the state directory, the account's records
and its policy live in the temporary folder (``BULKPROV_RECORDS_DIR``, ``BULKPROV_POLICY_DIR``).  Korean and
Japanese pictures need CJK fonts (``fonts-noto-cjk``), or they show boxes: the script refuses to make them
without.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCALES = {"en": "en-US", "ko": "ko-KR", "ja": "ja-JP"}
PASSWORD = "correct horse battery staple"
PEOPLE = {"olga": "operator", "abe": "approver"}

# A roster as HR in each language writes it: local headers, names family name first where that is the custom.
ROSTERS = {
    "en": (("Email", "First Name", "Last Name", "Department"),
           [("Jane", "Doe"), ("Omar", "Haddad"), ("Lucía", "García"), ("Wei", "Chen"), ("Priya", "Nair")],
           "Customer Care"),
    "ko": (("이메일", "성", "이름", "부서"),
           [("김", "민준"), ("이", "서연"), ("박", "지호"), ("최", "하은"), ("정", "도윤")], "고객지원팀"),
    "ja": (("メールアドレス", "姓", "名", "部署"),
           [("山田", "太郎"), ("佐藤", "花子"), ("鈴木", "一郎"), ("高橋", "美咲"), ("田中", "健太")],
           "カスタマーサポート部"),
}


class WebThread:
    """The page's app on a free loopback port, on its own event loop in a thread."""

    def __init__(self, app) -> None:
        self.app, self.url = app, ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bulkprov-screenshots", daemon=True)

    def _run(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> WebThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise SystemExit("the page did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


def write_roster(path: Path, lang: str, count: int = 30) -> Path:
    """``count`` new hires, three of them wrong as HR gets them wrong: a cut-off address, an address typed
    with the keyboard's Korean or Japanese input mode left on, an address already in an earlier row."""
    headers, names, dept = ROSTERS[lang]
    typed = {"en": "jane doe@acme-corp.com", "ko": "ㅓㅗㅜ@acme-corp.com", "ja": "ﾀﾅｶ@acme-corp.com"}[lang]
    wrong = {4: "jane.doe@", 11: typed, 20: "user003@acme-corp.com"}
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(headers)
        for i in range(count):
            first_col, second_col = names[i % len(names)]
            out.writerow([wrong.get(i, f"user{i:03d}@acme-corp.com"), first_col, second_col, dept])
    return path


def leavers(path: Path, count: int) -> Path:
    path.write_text("Email\n" + "".join(f"leaver{i:02d}@acme-corp.com\n" for i in range(count)), encoding="utf-8")
    return path


def sign_in(browser, url: str, name: str, lang: str):
    context = browser.new_context(locale=LOCALES[lang], viewport={"width": 1200, "height": 900},
                                  extra_http_headers={"Accept-Language": LOCALES[lang]})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#who")
    return page


def upload(page, url: str, path: Path, action: str) -> None:
    page.goto(url + "/")
    page.select_option("#action", action)
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_url(re.compile(r"/uploads/[0-9a-f]{32}\?"))
    page.wait_for_selector("#plan")


def shoot(browser, lang: str, out: Path, work: Path) -> list[Path]:
    from playwright.sync_api import expect

    from bulkprov.emulator import EmulatorConfig, EmulatorThread
    from bulkprov.jobs import JobSettings
    from bulkprov.kore.auth import Credentials
    from bulkprov.web import WebConfig, create_app, hash_password

    suffix = "" if lang == "en" else f"-{lang}"
    folder = work / lang
    folder.mkdir()
    account = EmulatorConfig(rate_windows=[], users=[{"emailId": f"leaver{i:02d}@acme-corp.com"} for i in range(8)])
    made = []
    with EmulatorThread(account) as emu:
        config = WebConfig(state_dir=folder / "state",
                           job=JobSettings(command="add", host=emu.url, rate="none", batch_size=5, concurrency=1,
                                           max_deletes=5),
                           credentials=Credentials(client_id=account.client_id, client_secret=account.client_secret),
                           users={name: hash_password(PASSWORD, n=2**10) for name in PEOPLE}, local_roles=PEOPLE)
        with WebThread(create_app(config)) as server:
            olga = sign_in(browser, server.url, "olga", lang)
            # 1. a finished run: a roster with three bad rows
            name = {"en": "new-hires.csv", "ko": "신규입사자.csv", "ja": "新入社員.csv"}[lang]
            upload(olga, server.url, write_roster(folder / name, lang), "add")
            olga.click("#run")
            olga.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
            expect(olga.locator("#pct")).to_have_text("100%")
            expect(olga.locator("#download-results")).to_be_visible()
            made.append(out / f"serve{suffix}.png")
            olga.screenshot(path=str(made[-1]), full_page=True)
            # 2. the check of a removal over the guard: Run asks for approval
            upload(olga, server.url, leavers(folder / "leavers.csv", 8), "remove")
            expect(olga.locator("#approval-needed")).to_be_visible()
            made.append(out / f"check{suffix}.png")
            olga.screenshot(path=str(made[-1]), full_page=True)
            olga.click("#run")
            olga.wait_for_url(re.compile(r"/requests/\w+$"))
            request_url = olga.url
            # 3. the approver's view of the request
            abe = sign_in(browser, server.url, "abe", lang)
            abe.goto(request_url)
            expect(abe.locator("#removals tbody tr")).to_have_count(8)
            abe.fill("#approve-comment", {"en": "Q3 leavers, checked against the HR system",
                                          "ko": "3분기 퇴사자, 인사 시스템과 대조 완료",
                                          "ja": "第3四半期の退職者、人事システムと照合済み"}[lang])
            made.append(out / f"approval{suffix}.png")
            abe.screenshot(path=str(made[-1]), full_page=False)
    return made


def has_cjk_fonts() -> bool:
    fc_list = shutil.which("fc-list")
    return fc_list is not None and all(
        subprocess.run([fc_list, f":lang={lang}", "file"], capture_output=True, text=True).stdout.strip()
        for lang in ("ko", "ja"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the pictures go (default: docs/)")
    parser.add_argument("--lang", default="en,ko,ja", help="languages, comma-separated (default en,ko,ja)")
    args = parser.parse_args(argv)
    langs = [lang for lang in args.lang.split(",") if lang]
    if not Path(CHROMIUM).is_file():
        print(f"screenshots: {CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    if any(lang != "en" for lang in langs) and not has_cjk_fonts():
        print("screenshots: no Korean or Japanese font (they would show boxes): apt-get install fonts-noto-cjk",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bulkprov-screenshots-") as temp:
        work = Path(temp)
        # the account's records and policy in the temporary folder, never the machine's /var/lib/bulkprov
        os.environ["BULKPROV_RECORDS_DIR"] = str(work / "records")
        os.environ["BULKPROV_POLICY_DIR"] = str(work / "policy")
        from playwright.sync_api import sync_playwright

        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for lang in langs:
                    for path in shoot(browser, lang, args.out, work):
                        print(path)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
