"""KoreClient: every reply shape of SPEC section 2, the classification table, the transport.

Reply bodies are the ones of SPEC section 2, verbatim, with the documented placeholders filled in.
"""

from __future__ import annotations

import inspect
import json
import socket
import time
from email.utils import formatdate

import aiohttp
import aioresponses.core as aioresponses_core
import jwt
import pytest
from aioresponses import CallbackResult, aioresponses

from bulkprov.errors import InputError
from bulkprov.kore import CallFailed, CallResult, KoreClient, RateRefused, UserOutcome
from bulkprov.kore.auth import Credentials
from bulkprov.kore.hosts import normalize_host
from bulkprov.kore.replies import (
    classify,
    classify_exception,
    outcome_code,
    parse_retry_after,
    reason_message,
)
from bulkprov.kore.transport import Reply

HOST = "https://bots.kore.test"
USERS = f"{HOST}/api/public/users"
USERS_INFO = f"{HOST}/api/public/usersInfo"
CLIENT_ID = "cs-7c2f8d1e-1a2b-5c3d-9e8f-0a1b2c3d4e5f"
SECRET = "Zq8sV0n3Kx9yP2mQ7rT5uW1aB4cD6eF8gH0jL2nP4rS="

RATE_MESSAGE = "Rate limit for this API has been reached. Please try again after some time."
RATE_BODY = json.dumps({"errors": [{"msg": RATE_MESSAGE, "code": 429}]})
AUTH_BODY = '{"errors":[{"msg":"Invalid SDK credentials","code":4002}]}'


def user(email: str, **info: str) -> dict:
    return {
        "userInfo": {"emailId": email, **info},
        "groups": [],
        "roles": [],
        "assignBotTasks": [],
        "canCreateBot": False,
        "isDeveloper": False,
    }


@pytest.fixture
def creds() -> Credentials:
    return Credentials(client_id=CLIENT_ID, client_secret=SECRET)


@pytest.fixture
async def client(creds):
    async with KoreClient(HOST, creds, timeout=5, connect_timeout=2) as c:
        yield c


class _SentWriter:
    """Stands in for the request's stream writer (aiohttp >= 3.14 requires one)."""

    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.x builds ClientResponse without aiohttp 3.14's ``stream_writer``
    (pnuckowski/aioresponses#289): supply a stub so the mocks work on both."""

    def __init__(self, method, url, **kwargs):
        if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


def sent_body(api, method: str, url: str) -> dict:
    from yarl import URL

    calls = api.requests[(method, URL(url))]
    return json.loads(calls[-1].kwargs["data"])


# -- success replies ---------------------------------------------------------------------------


async def test_add_success(client, api) -> None:
    api.post(USERS, status=200, body='{"msg": "Users are created Successfully"}')
    result = await client.add_users([user("a@x.com", firstName="Ann"), user("B@x.com")], send_email=False)
    assert isinstance(result, CallResult)
    assert result.status == 200
    assert result.body == {"msg": "Users are created Successfully"}
    assert set(result.outcomes) == {"a@x.com", "b@x.com"}
    assert result.outcomes["b@x.com"] == UserOutcome("B@x.com", True, "", "")
    assert result.all_ok and result.unmatched == []
    body = sent_body(api, "POST", USERS)
    assert body["sendEmail"] is False
    assert [u["userInfo"]["emailId"] for u in body["users"]] == ["a@x.com", "B@x.com"]
    assert body["users"][0]["canCreateBot"] is False


async def test_update_success(client, api) -> None:
    api.put(USERS, status=200, body='{"msg": "Users are updated Successfully"}')
    result = await client.update_users([
        {"userInfo": {"emailId": "a@x.com", "dept": "Care"}, "groups": {"addTo": [], "removeFrom": []}},
        {"userInfo": {"orgUserId": "E10442", "city": "Oslo"}},
    ])
    assert set(result.outcomes) == {"a@x.com", "e10442"}
    assert all(o.ok for o in result.outcomes.values())
    assert sent_body(api, "PUT", USERS)["users"][1]["userInfo"]["orgUserId"] == "E10442"


async def test_remove_success_by_email_and_by_org_id(client, api) -> None:
    api.delete(USERS, status=200, body='{"msg": "Users are removed Successfully"}')
    result = await client.remove_users(email_ids=["a@x.com", "b@x.com"])
    assert result.all_ok and set(result.outcomes) == {"a@x.com", "b@x.com"}
    assert sent_body(api, "DELETE", USERS) == {"deleteEmailIds": ["a@x.com", "b@x.com"]}
    api.delete(USERS, status=200, body='{"msg": "Users are removed Successfully"}')
    await client.remove_users(org_user_ids=["E1"])
    assert sent_body(api, "DELETE", USERS) == {"orgUserIds": ["E1"]}


# -- partial failures ----------------------------------------------------------------------------

ADD_FAILURE = (
    '{"failedUserDetails":[{"userInfo":{"emailId":"bad@x","firstName":"Bad","status":"failure",'
    '"reason":{"statusCode":400,"errors":[{"msg":"INVALID_EMAIL","code":400}],"message":"INVALID_EMAIL",'
    '"name":"BadRequest"}}}]}'
)


@pytest.mark.parametrize("status", [200, 207, 400])
async def test_add_partial_failure(client, api, status) -> None:
    api.post(USERS, status=status, body=ADD_FAILURE)
    result = await client.add_users([user("ok@x.com"), user("bad@x")], send_email=True)
    assert result.status == status  # a 4xx with per-user details is a result, not a CallFailed
    if status < 400:
        assert result.outcomes["ok@x.com"].ok and result.unconfirmed == []
    else:  # a 4xx never implies success for the users it does not name: they are to be checked
        assert "ok@x.com" not in result.outcomes and result.unconfirmed == ["ok@x.com"]
    bad = result.outcomes["bad@x"]
    assert (bad.ok, bad.code, bad.message, bad.key) == (False, "invalid-email", "INVALID_EMAIL", "bad@x")
    assert result.failures == [bad] and not result.all_ok


async def test_add_failure_echoed_in_another_case(client, api) -> None:
    body = ADD_FAILURE.replace('"bad@x"', '"BAD@X"')
    api.post(USERS, status=200, body=body)
    result = await client.add_users([user("Bad@x"), user("ok@x.com")], send_email=True)
    assert set(result.outcomes) == {"bad@x", "ok@x.com"}
    assert result.outcomes["bad@x"].key == "BAD@X"  # as the server echoed it
    assert not result.outcomes["bad@x"].ok and result.outcomes["ok@x.com"].ok
    assert result.unmatched == []


async def test_unmatched_failures_are_kept(client, api) -> None:
    body = ADD_FAILURE.replace('"bad@x"', '"stranger@x.com"')
    api.post(USERS, status=200, body=body)
    result = await client.add_users([user("a@x.com")], send_email=True)
    # The failure may be about a@x.com, echoed under another name: a@x.com is not assumed created.
    assert result.outcomes == {} and result.unconfirmed == ["a@x.com"]
    assert result.unmatched == [UserOutcome("stranger@x.com", False, "invalid-email", "INVALID_EMAIL")]
    assert not result.all_ok


async def test_remove_partial_failure(client, api) -> None:
    body = (
        '{"failedUserDetails":[{"emailId": "Gone@X.com", "reason": {"statusCode":404,'
        '"message": "User not found"}}]}'
    )
    api.delete(USERS, status=200, body=body)
    result = await client.remove_users(email_ids=["gone@x.com", "here@x.com"])
    assert result.outcomes["here@x.com"].ok
    gone = result.outcomes["gone@x.com"]
    assert (gone.ok, gone.code, gone.message, gone.key) == (False, "not-found", "User not found", "Gone@X.com")


async def test_update_failure_echoing_org_user_id(client, api) -> None:
    body = json.dumps({"failedUserDetails": [
        {"userInfo": {"orgUserId": "e10442", "status": "failure", "reason": "USER_NOT_FOUND"}}]})
    api.put(USERS, status=400, body=body)
    result = await client.update_users([
        {"userInfo": {"emailId": "jane@x.com", "orgUserId": "E10442"}},
        {"userInfo": {"emailId": "joe@x.com"}},
    ])
    jane = result.outcomes["jane@x.com"]
    assert (jane.ok, jane.code, jane.key) == (False, "not-found", "e10442")
    assert "joe@x.com" not in result.outcomes and result.unconfirmed == ["joe@x.com"], "HTTP 400: not assumed"


USERS_INFO_BODY = [
    {
        "userInfo": {"emailId": "Found@X.com", "userId": "u-1", "firstName": "Fay", "lastName": "Ound",
                     "orgUserId": "E1", "dept": "Care"},
        "roles": {"btRoles": [], "adminRoles": []},
        "assignBotTasks": [],
        "groups": [{"groupId": "e-06b41cdd-7678-5394-b958-40ca5662f502", "groupName": "Agents"}],
        "canCreateBot": False,
        "isDeveloper": False,
    },
    {"userInfo": {"emailId": "missing@x.com", "status": "failure", "reason": "User not found"}},
    {"userInfo": {"emailId": "obj@x.com", "status": "failure",
                  "reason": {"statusCode": 400, "errors": [{"msg": "USER_NOT_FOUND", "code": 400}]}}},
    {"userInfo": {"emailId": "odd@x.com", "status": "failure", "reason": {"message": "Something else"}}},
]


async def test_users_info_found_and_missing(client, api) -> None:
    api.post(USERS_INFO, status=200, body=json.dumps(USERS_INFO_BODY))
    emails = ["found@x.com", "missing@x.com", "obj@x.com", "odd@x.com", "silent@x.com"]
    result = await client.users_info(email_ids=emails)
    assert sent_body(api, "POST", USERS_INFO) == {"emailIds": emails}
    found = result.outcomes["found@x.com"]
    assert found.ok and found.key == "Found@X.com"
    assert found.detail == USERS_INFO_BODY[0]
    missing = result.outcomes["missing@x.com"]
    assert (missing.ok, missing.code, missing.message) == (False, "not-found", "User not found")
    obj = result.outcomes["obj@x.com"]
    assert (obj.ok, obj.code, obj.message) == (False, "not-found", "USER_NOT_FOUND")
    odd = result.outcomes["odd@x.com"]  # any usersInfo refusal means "not found"
    assert (odd.ok, odd.code, odd.message) == (False, "not-found", "Something else")
    silent = result.outcomes["silent@x.com"]  # not in the reply at all
    assert (silent.ok, silent.code) == (False, "not-found")
    assert result.unmatched == []


async def test_users_info_by_org_user_id(client, api) -> None:
    api.post(USERS_INFO, status=200, body=json.dumps(USERS_INFO_BODY[:1]))
    result = await client.users_info(org_user_ids=["e1"])
    assert sent_body(api, "POST", USERS_INFO) == {"orgUserIds": ["e1"]}
    assert result.outcomes["e1"].ok and result.outcomes["e1"].key == "E1"


async def test_users_info_empty_array(client, api) -> None:
    api.post(USERS_INFO, status=200, body="[]")
    result = await client.users_info(email_ids=["a@x.com"])
    assert result.outcomes["a@x.com"].code == "not-found"


# -- reasons and codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("INVALID_EMAIL", "INVALID_EMAIL"),
        ({"statusCode": 400, "errors": [{"msg": "INVALID_EMAIL", "code": 400}], "message": "INVALID_EMAIL",
          "name": "BadRequest"}, "INVALID_EMAIL"),
        ({"errors": [{"msg": "Role not found", "code": 400}, {"msg": "Group  not\nfound"}]},
         "Role not found; Group not found"),
        ({"name": "BadRequest"}, "BadRequest"),
        ({"statusCode": 400}, "refused by the server (code 400)"),
        (None, ""),
        (["a", {"message": "b"}], "a; b"),
    ],
)
def test_reason_message(reason, message) -> None:
    assert reason_message(reason) == message


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("INVALID_EMAIL", "invalid-email"),
        ("User already exists", "already-exists"),
        ("EMAIL_ALREADY_EXISTS", "already-exists"),
        ("USER_NOT_FOUND", "not-found"),
        ("User not found", "not-found"),
        ("User does not exist", "not-found"),
        ("Invalid role id", "server-refused"),
        ("", "server-refused"),
    ],
)
def test_outcome_codes(message, code) -> None:
    assert outcome_code(message) == code


# -- classification table ------------------------------------------------------------------------

HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"
NOW = time.time()
HTTP_DATE = formatdate(NOW + 30, usegmt=True)


@pytest.mark.parametrize(
    ("status", "headers", "text", "kind", "retry_after", "in_message"),
    [
        (401, {}, AUTH_BODY, "auth", None, "Invalid SDK credentials"),
        (403, {}, '{"errors":[{"msg":"Forbidden: scope User Management missing","code":403}]}', "auth", None,
         "scope User Management"),
        (429, {"Retry-After": "7"}, RATE_BODY, "rate", 7.0, "Rate limit for this API"),
        (429, {"retry-after": "2.5"}, "", "rate", 2.5, "HTTP 429"),
        (429, {}, RATE_BODY, "rate", None, "Rate limit"),
        (400, {}, RATE_BODY, "rate", None, "Rate limit"),
        (403, {}, RATE_BODY, "rate", None, "Rate limit"),  # a rate refusal is never an auth abort
        (400, {}, '{"msg": "' + RATE_MESSAGE + '"}', "rate", None, "Rate limit"),
        (500, {}, '{"errors":[{"msg":"Internal error","code":500}]}', "transient", None, "Internal error"),
        (502, {"Content-Type": "text/html"}, "<html><title>502 Bad Gateway</title></html>", "transient", None,
         "502 Bad Gateway"),
        (503, {"Content-Type": "text/html", "Retry-After": "120"}, HTML_503, "transient", 120.0,
         "503 Service Temporarily Unavailable"),
        (503, {}, '{"errors":[{"msg":"down for maintenance"}]}', "transient", None, "maintenance"),
        (400, {}, '{"errors":[{"msg":"users must be an array","code":400}]}', "permanent", None,
         "users must be an array"),
        (400, {}, '{"failedUserDetails": [], "errors":[{"msg":"bad"}]}', "permanent", None, "bad"),
        (404, {}, '{"errors":[{"msg":"Not Found"}]}', "permanent", None, "Not Found"),
        (413, {"Content-Type": "text/html"}, "<html><title>413 Request Entity Too Large</title></html>",
         "permanent", None, "413"),
        # a 2xx write reply that cannot be read may come after the work was done: checked before a resend
        (200, {"Content-Type": "text/html"}, "<html><title>Sign in</title></html>", "ambiguous", None,
         "not JSON"),
        (200, {}, "", "ambiguous", None, "empty body"),
        (204, {}, "", "ambiguous", None, "may have acted"),
        (400, {"Content-Type": "text/plain"}, "Bad Request", "transient", None, "Bad Request"),
        (302, {"Location": "https://login.example.com/"}, "", "permanent", None, "redirect"),
        (200, {}, '{"errors":[{"msg":"something wrong"}]}', "permanent", None, "something wrong"),
    ],
)
def test_classification_table(status, headers, text, kind, retry_after, in_message) -> None:
    failed = classify(status, headers, text, op="add", requested=["a@x.com"])
    assert isinstance(failed, CallFailed), failed
    assert failed.kind == kind
    assert failed.status == status
    assert failed.retry_after == retry_after
    assert in_message in failed.message
    assert "\n" not in failed.message and failed.sent


def test_retry_after_http_date() -> None:
    # The date is computed now, not at import: the suite may run for minutes before this test.
    failed = classify(429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}, RATE_BODY)
    assert isinstance(failed, CallFailed) and failed.kind == "rate"
    assert 25 <= failed.retry_after <= 31
    assert parse_retry_after(HTTP_DATE, now=NOW) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(NOW - 100, usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None


def test_users_info_unexpected_shape_is_transient() -> None:
    failed = classify(200, {}, '{"msg": "ok"}', op="usersInfo", requested=["a@x.com"])
    assert isinstance(failed, CallFailed) and failed.kind == "transient"


def test_users_info_single_object_is_one_user() -> None:
    body = '{"userInfo": {"emailId": "A@x.com", "status": "failure", "reason": "User not found. Please check"}}'
    for status in (200, 400):
        result = classify(status, {}, body, op="usersInfo", requested=["a@x.com", "b@x.com"])
        assert isinstance(result, CallResult)
        assert {k: (o.ok, o.code) for k, o in result.outcomes.items()} == {
            "a@x.com": (False, "not-found"), "b@x.com": (False, "not-found")}
        assert result.outcomes["a@x.com"].named and not result.outcomes["b@x.com"].named


@pytest.mark.parametrize(("op", "key", "by_org", "code"), [
    ("usersInfo", "a@x.com", False, "not-found"),     # a well-formed address: "Invalid emailId" = not there
    ("usersInfo", "a3q4", False, "invalid-email"),    # malformed by our check too
    ("usersInfo", "E1", True, "not-found"),           # asked by orgUserId: never an email problem
    ("remove", "a@x.com", False, "not-found"),
    ("add", "a@x.com", False, "invalid-email"),       # on add the server refused the address itself
])
def test_invalid_email_only_when_the_address_is_malformed(op, key, by_org, code) -> None:
    if op == "usersInfo":
        body = json.dumps([{"userInfo": {"emailId": key, "status": "failure", "reason": "Invalid emailId"}}])
    else:
        body = json.dumps({"failedUserDetails": [{"emailId": key, "reason": {"message": "Invalid emailId"}}]})
    requested = [(key,)] if op == "add" else [key]
    result = classify(200, {}, body, op=op, requested=requested, by_org=by_org)
    assert result.outcomes[key.casefold()].code == code


@pytest.mark.parametrize(("status", "body"), [
    (200, {}), (200, {"status": "error", "message": "Internal error"}), (200, {"error": "boom"}),
    (200, {"failedUserDetails": "all users failed"}), (202, {"msg": "Request queued"}), (200, {"msg": "OK"}),
    (200, "ok"), (200, []), (200, {"failedUserDetails": []}), (201, {"msg": "Users are removed Successfully"}),
    (200, {"msg": "Users are created Successfully", "status": "error"}),
    (202, {"msg": "Users are created Successfully"}),
])
def test_a_write_reply_without_the_documented_words_settles_nobody(status, body) -> None:
    result = classify(status, {}, json.dumps(body), op="add", requested=[("a@x.com",), ("b@x.com",)])
    assert isinstance(result, CallResult) and result.outcomes == {}
    assert result.unconfirmed == ["a@x.com", "b@x.com"] and result.unknown.startswith(f"HTTP {status}")


@pytest.mark.parametrize("msg", ["Users are created Successfully", "users are created successfully",
                                 " USERS ARE CREATED SUCCESSFULLY "])
def test_the_documented_success_sentence_ignoring_case(msg) -> None:
    for status in (200, 201):
        result = classify(status, {}, json.dumps({"msg": msg}), op="add", requested=[("a@x.com",)])
        assert result.outcomes["a@x.com"].ok and result.unconfirmed == [] and result.unknown == ""
    wrong_call = classify(200, {}, json.dumps({"msg": msg}), op="remove", requested=["a@x.com"])
    assert wrong_call.outcomes == {} and wrong_call.unconfirmed == ["a@x.com"], "another call's sentence"


def test_a_failure_list_in_a_202_settles_only_the_users_it_names() -> None:
    result = classify(202, {}, ADD_FAILURE, op="add", requested=[("ok@x.com",), ("bad@x",)])
    assert not result.outcomes["bad@x"].ok and result.unconfirmed == ["ok@x.com"]


def test_tokens_are_redacted_from_server_messages(creds) -> None:
    token = creds.token()
    failed = classify(401, {}, json.dumps({"errors": [{"msg": f"bad token {token}"}]}))
    assert isinstance(failed, CallFailed)
    assert token not in failed.message and "<redacted-token>" in failed.message


# -- transport exceptions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind", "sent"),
    [
        (TimeoutError(), "ambiguous", True),
        (aiohttp.ServerTimeoutError("read timeout"), "ambiguous", True),
        (aiohttp.ServerDisconnectedError(), "ambiguous", True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "ambiguous", True),
        (ConnectionResetError(104, "Connection reset by peer"), "ambiguous", True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "ambiguous", True),
        (aiohttp.ConnectionTimeoutError("connect timeout"), "transient", False),
    ],
)
async def test_transport_failures(client, api, exc, kind, sent) -> None:
    api.post(USERS, exception=exc)
    with pytest.raises(CallFailed) as err:
        await client.add_users([user("a@x.com")], send_email=True)
    assert (err.value.kind, err.value.sent, err.value.status) == (kind, sent, None)
    assert "\n" not in err.value.message


def test_unknown_exceptions_are_not_swallowed() -> None:
    assert classify_exception(ValueError("bug")) is None
    assert classify_exception(KeyError("bug")) is None


async def test_connection_refused_is_transient_not_sent(creds) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with KoreClient(f"http://127.0.0.1:{port}", creds, timeout=5, connect_timeout=2) as c:
        with pytest.raises(CallFailed) as err:
            await c.users_info(email_ids=["a@x.com"])
    assert (err.value.kind, err.value.sent, err.value.status) == ("transient", False, None)
    assert "could not connect" in err.value.message


async def test_http_failures_raise_call_failed(client, api) -> None:
    api.post(USERS, status=401, body=AUTH_BODY)
    with pytest.raises(CallFailed) as err:
        await client.add_users([user("a@x.com")], send_email=True)
    assert (err.value.kind, err.value.status) == ("auth", 401)
    assert err.value.message == "HTTP 401: Invalid SDK credentials"
    assert SECRET not in repr(err.value)
    api.post(USERS, status=429, body=RATE_BODY, headers={"Retry-After": "3"})
    with pytest.raises(CallFailed) as err:
        await client.add_users([user("a@x.com")], send_email=True)
    assert (err.value.kind, err.value.retry_after) == ("rate", 3.0)


def test_call_failed_pickles() -> None:
    import pickle

    failed = RateRefused("HTTP 429: slow down", status=429, retry_after=1.5)
    again = pickle.loads(pickle.dumps(failed))
    assert isinstance(again, RateRefused)
    assert (again.kind, again.status, again.message, again.retry_after, again.sent) == (
        "rate", 429, "HTTP 429: slow down", 1.5, True)


# -- request shape and auth header ---------------------------------------------------------------


async def test_auth_header_is_a_fresh_valid_jwt(client, api) -> None:
    seen: list[dict] = []

    def capture(url, **kwargs):
        seen.append(kwargs["headers"])
        return CallbackResult(status=200, body='{"msg": "Users are created Successfully"}')

    api.post(USERS, callback=capture, repeat=True)
    await client.add_users([user("a@x.com")], send_email=True)
    await client.add_users([user("a@x.com")], send_email=True)
    assert len(seen) == 2
    claims = [jwt.decode(h["auth"], SECRET, algorithms=["HS256"]) for h in seen]
    assert all(c["appId"] == CLIENT_ID for c in claims)
    assert claims[0]["jti"] != claims[1]["jti"]
    assert all(c["exp"] - c["iat"] == 60 for c in claims)
    assert seen[0]["Content-Type"] == "application/json"
    assert seen[0]["User-Agent"].startswith("bulkprov/")


async def test_transport_seam_can_be_swapped(creds) -> None:
    calls = []

    class FakeTransport:
        async def exchange(self, method, url, body, headers, timeout):
            calls.append((method, url, json.loads(body)))
            return Reply(200, {}, '{"msg": "Users are removed Successfully"}')

        async def close(self):
            calls.append("closed")

    client = KoreClient(HOST, creds, transport=FakeTransport())
    result = await client.remove_users(email_ids=["a@x.com"])
    assert result.all_ok
    assert calls == [("DELETE", HOST + "/api/public/users", {"deleteEmailIds": ["a@x.com"]})]
    await client.close()
    assert calls[-1] != "closed", "a transport passed in belongs to the caller: the client does not close it"


async def test_argument_errors(client) -> None:
    with pytest.raises(ValueError):
        await client.add_users([{"userInfo": {"firstName": "x"}}], send_email=True)
    with pytest.raises(ValueError):
        await client.add_users([user("a@x.com"), user("A@x.com")], send_email=True)
    with pytest.raises(ValueError):
        await client.remove_users(email_ids=["a"], org_user_ids=["b"])
    with pytest.raises(ValueError):
        await client.users_info()
    with pytest.raises(ValueError):
        await client.update_users([{"userInfo": {"dept": "x"}}])


async def test_redirects_are_not_followed(client, api) -> None:
    api.post(USERS, status=301, headers={"Location": "https://evil.example/"})
    with pytest.raises(CallFailed) as err:
        await client.add_users([user("a@x.com")], send_email=True)
    assert err.value.kind == "permanent" and "redirect" in err.value.message


# -- host validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("https://bots.kore.ai/", "https://bots.kore.ai"),
        ("bots.kore.ai", "https://bots.kore.ai"),
        ("HTTPS://Bots.Kore.ai:8443/", "https://bots.kore.ai:8443"),
        ("https://kore.example.com/platform/", "https://kore.example.com/platform"),
        ("https://bots.kore.ai/api/public/users", "https://bots.kore.ai"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_normalize_host(host, url) -> None:
    assert normalize_host(host) == url


@pytest.mark.parametrize(
    "host",
    ["http://bots.kore.ai", "http://10.0.0.5:8080", "http://localhost.evil.com", "http://128.0.0.1",
     "ftp://bots.kore.ai", "", "https://user:pw@bots.kore.ai", "https://"],
)
def test_host_refusals(host, creds) -> None:
    with pytest.raises(InputError) as err:
        KoreClient(host, creds)
    assert err.value.code in ("bad-host", "no-host")
    assert "pw" not in err.value.message


def test_plain_http_refusal_message(creds) -> None:
    with pytest.raises(InputError) as err:
        KoreClient("http://bots.kore.ai", creds)
    assert err.value.message.startswith("refusing plain http:// to a non-loopback host")
    assert "use https://" in err.value.message


def test_client_repr_hides_secret(creds) -> None:
    assert SECRET not in repr(KoreClient(HOST, creds))
