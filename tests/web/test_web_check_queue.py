"""Issue #31, finding 16: the page queues checks instead of refusing them.

Sixteen people upload at once over HTTP (each their own session): nobody is told "busy"; whoever waits
sees their place, and the page refreshes itself until the check is there.  The line is bounded per
person and in total; past a bound the answer is 503 with Retry-After, and that page retries by itself."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bulkprov.web import create_app, hash_password
from bulkprov.web import preview as preview_module
from tests.conftest import write_roster
from tests.web.test_web import PASSWORD, csrf_of, upload_form, web_config

REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+);url=([^"]+)">')


@pytest.fixture
def slow_checks(monkeypatch, request):
    """Every check takes a while (a big roster's would), so that uploads at once must wait in line."""
    real = preview_module.compute
    running, peak = [0], [0]
    seconds = getattr(request, "param", 0.25)

    def slow(*args):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            time.sleep(seconds)
            return real(*args)
        finally:
            running[0] -= 1

    monkeypatch.setattr(preview_module, "compute", slow)
    return peak


async def _person(server: TestServer, name: str) -> tuple[aiohttp.ClientSession, str]:
    """A browser of its own (its own cookies) with ``name`` logged in; returns it and its CSRF token."""
    http = aiohttp.ClientSession(base_url=server.make_url(""), cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await http.get("/login")).text()
    resp = await http.post("/login", data={"csrf": csrf_of(page), "username": name, "password": PASSWORD},
                           allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return http, csrf_of(await (await http.get("/")).text())


async def _upload(http: aiohttp.ClientSession, csrf: str, content: bytes, name: str) -> str:
    resp = await http.post("/upload", data=upload_form(csrf, content, filename=name), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.headers["Location"]


async def _follow(http: aiohttp.ClientSession, url: str, seen: list[tuple[int, str]], limit: float = 60) -> str:
    """Load ``url`` and do what the page does by itself: follow its refresh until it has none."""
    deadline = time.monotonic() + limit
    while True:
        resp = await http.get(url)
        text = await resp.text()
        place = re.search(r'id="queue" data-place="(\d+)"', text)
        seen.append((resp.status, place.group(1) if place else ""))
        refresh = REFRESH.search(text)
        if refresh is None:
            return text
        assert time.monotonic() < deadline, "the check never came"
        if resp.status == 503:
            assert resp.headers["Retry-After"] == refresh.group(1), "the page waits as long as it asks others to"
        assert refresh.group(2).replace("&amp;", "&") == url, "the page refreshes itself, not another page"
        await asyncio.sleep(min(int(refresh.group(1)), 2))


@pytest.mark.parametrize("slow_checks", [0.5], indirect=True)
async def test_sixteen_people_uploading_at_once_all_get_their_check_without_a_reload(tmp_path, slow_checks):
    people = [f"hr{i:02d}" for i in range(16)]
    config = web_config(tmp_path, users={name: hash_password(PASSWORD, n=2**10) for name in people})
    rosters = []
    for i in range(len(people)):
        write_roster(tmp_path / f"r{i}.csv", 40, invalid={3: {"Email": "broken@"}}, domain=f"d{i}.example")
        rosters.append((tmp_path / f"r{i}.csv").read_bytes())
    server = TestServer(create_app(config))
    await server.start_server()
    sessions: list[aiohttp.ClientSession] = []
    try:
        logged_in = []
        for name in people:  # one after another: logins at once from one address are throttled on purpose
            logged_in.append(await _person(server, name))
            sessions.append(logged_in[-1][0])
        urls = await asyncio.gather(*(_upload(http, csrf, rosters[i], f"r{i}.csv")
                                      for i, (http, csrf) in enumerate(logged_in)))
        seen: list[list[tuple[int, str]]] = [[] for _ in people]
        pages = await asyncio.gather(*(_follow(http, url, seen[i]) for i, (http, url) in
                                       enumerate(zip(sessions, urls, strict=True))))
    finally:
        for http in sessions:
            await http.close()
        await server.close()
    missing = [re.sub(r"\s+", " ", t)[-1500:] for t in pages if not ('id="run"' in t and "1 invalid" in t)]
    assert not missing, missing[:1]
    statuses = [status for views in seen for status, _ in views]
    assert 503 not in statuses and set(statuses) == {200}, "nobody was refused"
    places = sorted(int(place) for views in seen for _, place in views[:1] if place)
    assert len(places) >= 8, f"most had to wait, and were told their place: {places}"
    assert places[-1] >= 8 and len(set(places)) == len(places), places
    assert slow_checks[0] == 1, "and still one check at a time"


@pytest.mark.parametrize("slow_checks", [1.5], indirect=True)
async def test_past_its_bounds_the_line_answers_503_with_retry_after_and_the_page_retries(tmp_path, slow_checks):
    people = ["alice", "bob", "carol"]
    config = web_config(tmp_path, users={name: hash_password(PASSWORD, n=2**10) for name in people},
                        check_queue=2, check_queue_per_person=2)
    rosters = []
    for i in range(5):
        path = tmp_path / f"r{i}.csv"
        write_roster(path, 20, domain=f"d{i}.example")
        rosters.append(path.read_bytes())
    server = TestServer(create_app(config))
    await server.start_server()
    sessions: list[aiohttp.ClientSession] = []
    try:
        (alice, a_csrf), (bob, b_csrf), (carol, c_csrf) = [await _person(server, name) for name in people]
        sessions += [alice, bob, carol]
        mine = [await _upload(alice, a_csrf, rosters[i], f"a{i}.csv") for i in range(3)]
        others = [await _upload(bob, b_csrf, rosters[3], "b.csv"), await _upload(carol, c_csrf, rosters[4], "c.csv")]
        # alice opens two checks: one runs, one waits (the line: 1 of 2)
        opened = [asyncio.ensure_future(alice.get(url)) for url in mine[:2]]
        await asyncio.sleep(0.5)
        # her third is past her share; bob's fills the line; carol's finds it full
        third, bobs, carols = await asyncio.gather(alice.get(mine[2]), bob.get(others[0]), carol.get(others[1]))
        assert (third.status, bobs.status, carols.status) == (503, 200, 503)
        assert [r.status for r in await asyncio.gather(*opened)] == [200, 200]
        for refused, said in ((third, "Your other files are still being checked"), (carols, "Many files are waiting")):
            body = await refused.text()
            assert said in body and int(refused.headers["Retry-After"]) >= 2 and REFRESH.search(body), body
        assert 'data-place="1"' in await bobs.text() or 'data-place="2"' in await bobs.text()
        # every page, left to itself, gets its check
        done = await asyncio.gather(*(_follow(http, url, []) for http, url in
                                      [(alice, u) for u in mine] + [(bob, others[0]), (carol, others[1])]))
    finally:
        for http in sessions:
            await http.close()
        await server.close()
    assert all('id="run"' in text for text in done)
