"""The client against the vendor's own samples: every sample request and reply on Kore.ai's pages.

Each fixture in tests/fixtures/kore-docs/ is played through a fake transport (the public seam,
``KoreClient(..., transport=...)``): requests are compared with the body the page prints, replies
are read as the page prints them (see tests/docs_sample.py for the few typos taken out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest

from bulkprov.kore import CallResult, KoreClient
from bulkprov.kore.auth import Credentials
from bulkprov.kore.listing import listed_as_user
from bulkprov.kore.transport import Reply
from tests.docs_sample import FIXTURES, reply_json, reply_text, request, samples

HOST = "https://bots.kore.test"
CLIENT_ID = "cs-0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
SECRET = "conformance-secret-0123456789abcdef0123"


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, str]
    body: object
    headers: dict[str, str]


class Playback:
    """A transport that answers every request with one documented reply and records what was sent."""

    def __init__(self, text: str, status: int = 200) -> None:
        self.text, self.status = text, status
        self.sent: list[Sent] = []

    async def exchange(self, method, url, body, headers, timeout) -> Reply:
        parts = urlsplit(url)
        self.sent.append(Sent(method, parts.path, dict(parse_qsl(parts.query)), json.loads(body) if body else None,
                              dict(headers)))
        return Reply(self.status, {"Content-Type": "application/json"}, self.text)

    async def close(self) -> None:
        pass


def client_for(playback: Playback) -> KoreClient:
    return KoreClient(HOST, Credentials(client_id=CLIENT_ID, client_secret=SECRET), transport=playback)


def success_reply(call: str) -> str:
    return reply_text(samples(call=call, kind="reply", case="success")[0])


def test_every_fixture_is_listed_in_the_manifest():
    files = {p.name for p in FIXTURES.iterdir()} - {"MANIFEST.json", "README.md"}
    listed = {s.file for s in samples()}
    assert files == listed
    for call in ("add", "update", "remove", "usersInfo", "list"):
        assert samples(call=call, kind="request") and samples(call=call, kind="reply"), call


# -- requests: what we send is what the page shows ------------------------------------------------


async def _send_like(call: str, body: dict, client: KoreClient) -> None:
    if call == "remove":
        key = "email_ids" if "deleteEmailIds" in body else "org_user_ids"
        await client.remove_users(**{key: next(iter(body.values()))})
    elif call == "usersInfo":
        key = "email_ids" if "emailIds" in body else "org_user_ids"
        await client.users_info(**{key: next(iter(body.values()))})
    elif call == "add":
        await client.add_users(body["users"], send_email=True)
    else:
        await client.update_users(body["users"])


@pytest.mark.parametrize("sample", samples(kind="request"), ids=lambda s: s.id)
async def test_requests_are_sent_as_the_page_shows(sample):
    documented = request(sample)
    playback = Playback(success_reply(sample.call))
    client = client_for(playback)
    if sample.call == "list":
        await client.list_users(limit=int(documented.query["limit"]))
        bodies = [None]
    else:
        for body in documented.bodies:
            await _send_like(sample.call, body, client)
        bodies = documented.bodies
    assert len(playback.sent) == len(bodies), "one call, one request"
    for sent, body in zip(playback.sent, bodies, strict=True):
        assert (sent.method, sent.path) == (documented.method, documented.path)
        assert documented.query.items() <= sent.query.items()
        if sample.call == "add":  # sendEmail is the page's optional body parameter; we always say it
            assert sent.body == {**body, "sendEmail": True}
        else:
            assert sent.body == body
        assert jwt.decode(sent.headers["auth"], SECRET, algorithms=["HS256"])["appId"] == CLIENT_ID
        if "Content-Type" in documented.headers:
            assert sent.headers["Content-Type"] == documented.headers["Content-Type"]


# -- replies: every documented reply is read, and read right ------------------------------------------


async def _play(sample, status: int = 200, **call):
    playback = Playback(reply_text(sample), status)
    client = client_for(playback)
    kind, args = next(iter(call.items()))
    result = await getattr(client, kind)(**args)
    assert len(playback.sent) == 1, "one call, one request: no retry of a documented reply"
    return result


@pytest.mark.parametrize("sample", samples(call="remove", case="success"), ids=lambda s: s.id)
async def test_remove_success_replies(sample):
    by_email = await _play(sample, remove_users={"email_ids": ["deskkore1@gmail.com"]})
    by_org = await _play(sample, remove_users={"org_user_ids": ["E100"]})
    assert by_email.all_ok and by_org.all_ok


@pytest.mark.parametrize("sample", samples(call="remove", case="failure"), ids=lambda s: s.id)
@pytest.mark.parametrize("status", [200, 400])  # the page does not say which status goes with it
async def test_remove_failure_replies(sample, status):
    by_email = await _play(sample, status, remove_users={"email_ids": ["deskkore1@gmail.com"]})
    by_org = await _play(sample, status, remove_users={"org_user_ids": ["E100"]})
    refused = by_email.outcomes["deskkore1@gmail.com"]
    assert (refused.ok, refused.code, refused.message) == (False, "server-refused",
                                                           "Unauthorized to perform this activity")
    # Asked by orgUserId, answered by emailId: E100 is not settled, and above all not a success.
    assert "e100" not in by_org.outcomes and by_org.unconfirmed == ["e100"] and not by_org.all_ok
    assert [o.key for o in by_org.unmatched] == ["deskkore1@gmail.com"]


@pytest.mark.parametrize("sample", samples(call="add", kind="reply"), ids=lambda s: s.id)
async def test_add_replies(sample):
    users = [{"userInfo": {"emailId": "deskkore1", "firstName": "user1"}},
             {"userInfo": {"emailId": "deskkore2@gmail.com"}}]
    result = await _play(sample, add_users={"users": users, "send_email": True})
    if sample.case == "success":
        assert result.all_ok and set(result.outcomes) == {"deskkore1", "deskkore2@gmail.com"}
        return
    bad = result.outcomes["deskkore1"]
    assert (bad.ok, bad.code, bad.message) == (False, "invalid-email", "INVALID_EMAIL")
    assert result.outcomes["deskkore2@gmail.com"].ok, "every failure matched a requested user, HTTP 200"


@pytest.mark.parametrize("sample", samples(call="update", kind="reply"), ids=lambda s: s.id)
async def test_update_replies(sample):
    result = await _play(sample, update_users={"users": [{"userInfo": {"emailId": "publicuser2@gmail.com"}},
                                                         {"userInfo": {"orgUserId": "E7"}}]})
    assert result.all_ok and set(result.outcomes) == {"publicuser2@gmail.com", "e7"}


async def test_users_info_documented_success_reply():
    (sample,) = [s for s in samples(call="usersInfo", case="success") if s.language == "en"]
    result = await _play(sample, users_info={"email_ids": ["publicuser3@gmail.com", "test@test.com"]})
    found = result.outcomes["publicuser3@gmail.com"]
    assert found.ok and found.detail == reply_json(sample)[0]
    missing = result.outcomes["test@test.com"]
    assert (missing.ok, missing.code, missing.message) == (False, "not-found", "Invalid emailId")


# A success sample is only ever a 2xx; a failure's status is not documented: 200 and 400 both.
INFO_CASES = [(s, status) for s in samples(call="usersInfo", kind="reply")
              for status in ((200,) if s.case == "success" else (200, 400))]


@pytest.mark.parametrize(("sample", "status"), INFO_CASES, ids=[f"{s.id}-{st}" for s, st in INFO_CASES])
async def test_users_info_replies(sample, status):
    asked = ["publicuser3@gmail.com", "test@test.com", "a3q4"]
    result = await _play(sample, status, users_info={"email_ids": asked})
    assert isinstance(result, CallResult)
    codes = {k: (o.ok, o.code) for k, o in result.outcomes.items()}
    assert set(codes) == set(asked)
    if sample.case == "success":
        assert codes["publicuser3@gmail.com"] == (True, "")
    else:
        assert codes["publicuser3@gmail.com"] == (False, "not-found")
    assert codes["test@test.com"] == (False, "not-found")
    # The English failure sample calls "a3q4" an invalid email, and it is one: the only invalid-email.
    named_a3q4 = "a3q4" in reply_text(sample)
    assert codes["a3q4"] == (False, "invalid-email" if named_a3q4 else "not-found")


async def test_korean_single_object_failure_is_not_found_in_one_request():
    (sample,) = [s for s in samples(call="usersInfo", case="failure") if s.language == "ko"]
    assert isinstance(reply_json(sample), dict), "the page prints this failure as one object, not an array"
    result = await _play(sample, users_info={"email_ids": ["test@test.com"]})
    outcome = result.outcomes["test@test.com"]
    assert (outcome.ok, outcome.code, outcome.message) == (False, "not-found", "Invalid emailId")


@pytest.mark.parametrize("sample", samples(call="list", kind="reply"), ids=lambda s: s.id)
async def test_account_listing_replies(sample):
    page = await _play(sample, list_users={"limit": 2, "offset": 0})
    assert (page.total, page.more, len(page.users)) == (10, True, 2)
    user = listed_as_user(page.users[1])
    assert user["userInfo"]["emailId"] == page.users[1]["username"]
    assert user["userInfo"]["orgUserId"] == "org assigned user id"
    assert user["canCreateBot"] is True and user["isDeveloper"] is True
    (role,) = user["roles"]["btRoles"]
    assert (role["roleName"], role["botName"]) == ("Bot Developer", "Example Bot")


# -- the pages' own sample ids: refused by strict ids, accepted (with a warning) when relaxed -----------


@pytest.mark.parametrize("sample", [s for s in samples(kind="request") if s.call in ("add", "update")],
                         ids=lambda s: s.id)
def test_the_pages_sample_users_validate_with_relaxed_ids(sample, tmp_path):
    from bulkprov.jobs import JobSettings, run_job
    from bulkprov.outputs.names import user_cells
    from bulkprov.schema import USER_SHEET_COLUMNS
    from tests.conftest import read_sheet

    user = request(sample).bodies[0]["users"][0]
    if isinstance(user.get("roles"), dict):  # an update's addTo/removeFrom: the roles it names
        user = {**user, "roles": user["roles"]["addTo"], "groups": user["groups"]["addTo"]}
    user = {**user, "roles": {"btRoles": [r for r in user["roles"] if r.get("botId")],
                              "adminRoles": [r for r in user["roles"] if not r.get("botId")]}}
    cells = user_cells(user)
    path = tmp_path / "sample.csv"
    path.write_text(",".join(USER_SHEET_COLUMNS) + "\n" + ",".join(
        '"' + cells.get(c, "").replace('"', '""') + '"' for c in USER_SHEET_COLUMNS) + "\n", encoding="utf-8")
    strict = run_job(path, JobSettings(command="validate", output=tmp_path / "strict.xlsx"))
    (row,) = read_sheet(strict.results_path, "Results")
    assert row["status"] == "invalid" and row["error_code"] in ("invalid-bot-id", "invalid-role-id", "unknown-role",
                                                                 "invalid-dialog-id")
    relaxed = run_job(path, JobSettings(command="validate", output=tmp_path / "relaxed.xlsx", strict_ids=False))
    (row,) = read_sheet(relaxed.results_path, "Results")
    assert row["status"] == "valid", row
    assert any("sent as written" in w for w in relaxed.summary.warnings)
