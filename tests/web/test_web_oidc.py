"""Single sign-on against a real OpenID Connect provider on loopback (the ``oidc-provider-mock`` package).

The page's whole authorization-code flow runs through the provider — login redirect with PKCE, the
provider's authorization form, the callback, the code exchange, the ID token — with aiohttp's test
client following the redirects as a browser would.  Then the refusals: a token with a wrong
signature, from another issuer, for another audience, an expired one, and a replayed nonce.
(The browser sign-in is in tests/web/test_web_four_eyes.py.)
"""

from __future__ import annotations

import base64
import contextlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.errors import InputError
from bulkprov.web import create_app
from bulkprov.web.oidc import OidcClient, OidcConfig, OidcRefused, oidc_config
from tests.web.test_web import web_config

oidc_mock = pytest.importorskip("oidc_provider_mock", reason="needs the oidc-provider-mock package ('.[test]')")

CLIENT_ID = "bulkprov-hr-page"
ROLES = {"hr-approvers": "approver", "hr-team": "operator", "hr-readers": "viewer"}


@contextlib.contextmanager
def provider(**options):
    """The provider on a free loopback port; yields its issuer URL."""
    with oidc_mock.run_server_in_thread(port=0, **options) as server:
        yield f"http://localhost:{server.server_port}"


async def put_user(issuer: str, sub: str, **claims) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.put(f"{issuer}/users/{sub}", json=claims)
        assert resp.status == 204


def page_config(tmp_path, issuer: str, client_id: str = CLIENT_ID, **changes):
    oidc = OidcConfig(issuer=issuer, client_id=client_id, client_secret="s3cret-from-a-file", roles=ROLES)
    return web_config(tmp_path, users={}, token=None, oidc=oidc, **changes)


async def sign_in(client: TestClient, sub: str, *, next_path: str = "/", start_url: str | None = None
                  ) -> aiohttp.ClientResponse:
    """Follow the flow as a browser does (from ``start_url``, the login page's link, if given); returns
    the page's answer to the callback."""
    start = await client.get(start_url or f"/oidc/login?next={next_path}", allow_redirects=False)
    assert start.status == 303, await start.text()
    authorize = start.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] and query["nonce"][0]
    async with aiohttp.ClientSession() as provider_browser:
        form = await provider_browser.get(authorize)
        assert form.status == 200
        answer = await provider_browser.post(authorize, data={"sub": sub}, allow_redirects=False)
        assert answer.status in (302, 303), await answer.text()
        callback = answer.headers["Location"]
    parts = urlsplit(callback)
    return await client.get(f"{parts.path}?{parts.query}", allow_redirects=False)


async def test_sign_in_through_the_provider_gives_the_groups_role(tmp_path):
    with provider() as issuer:
        await put_user(issuer, "ann", email="ann@acme-corp.com", groups=["hr-approvers", "everyone"])
        await put_user(issuer, "ole", email="ole@acme-corp.com", groups=["hr-readers"])
        await put_user(issuer, "zed", email="zed@acme-corp.com", groups=["sales"])
        config = page_config(tmp_path, issuer)
        async with TestClient(TestServer(create_app(config))) as client:
            login_page = await (await client.get("/login")).text()
            assert 'id="sso"' in login_page and 'id="password"' not in login_page
            done = await sign_in(client, "ann", next_path="/audit")
            assert done.status == 200 and 'content="0;url=/audit"' in await done.text()
            audit = await client.get("/audit")
            assert audit.status == 200 and "ann@acme-corp.com (approver)" in await audit.text()
        async with TestClient(TestServer(create_app(config))) as client:
            assert (await sign_in(client, "ole")).status == 200
            assert (await client.get("/runs")).status == 200
            assert (await client.get("/audit")).status == 403, "a viewer is refused on the server"
            upload = await client.post("/upload", data={"csrf": "x"}, allow_redirects=False)
            assert upload.status in (401, 403)
        async with TestClient(TestServer(create_app(config))) as client:
            refused = await sign_in(client, "zed")
            assert refused.status == 403 and "no group" in await refused.text()
            assert (await client.get("/runs", allow_redirects=False)).status == 303


async def test_the_language_picked_on_the_login_page_survives_the_round_trip(tmp_path):
    """A Japanese reader picks 日本語 on the login page, signs in at the provider, and lands in Japanese
    although the browser asks for English: the pick rides in the signed flow cookie."""
    import html as html_lib
    import re

    with provider() as issuer:
        await put_user(issuer, "aki", email="aki@acme-corp.com", groups=["hr-team"])
        async with TestClient(TestServer(create_app(page_config(tmp_path, issuer))),
                              headers={"Accept-Language": "en"}) as client:
            login_page = await (await client.get("/login?lang=ja&next=/runs")).text()
            link = html_lib.unescape(re.search(r'<a href="([^"]+)" id="sso"', login_page).group(1))
            assert "lang=ja" in link and link.startswith("/oidc/login?")
            done = await sign_in(client, "aki", start_url=link)
            assert done.status == 200 and 'content="0;url=/runs"' in await done.text()
            runs = await (await client.get("/runs")).text()
            assert '<html lang="ja"' in runs
        async with TestClient(TestServer(create_app(page_config(tmp_path / "b", issuer))),
                              headers={"Accept-Language": "en"}) as client:
            await sign_in(client, "aki", start_url="/oidc/login?next=/runs&lang=xx")  # not a language: ignored
            assert '<html lang="en"' in await (await client.get("/runs")).text()


async def test_a_replayed_callback_is_refused(tmp_path):
    with provider() as issuer:
        await put_user(issuer, "ann", email="ann@acme-corp.com", groups=["hr-team"])
        async with TestClient(TestServer(create_app(page_config(tmp_path, issuer)))) as client:
            start = await client.get("/oidc/login", allow_redirects=False)
            cookie = client.session.cookie_jar.filter_cookies(client.make_url("/oidc/callback"))["bulkprov_oidc"].value
            async with aiohttp.ClientSession() as browser:
                answer = await browser.post(start.headers["Location"], data={"sub": "ann"}, allow_redirects=False)
            callback = urlsplit(answer.headers["Location"])
            first = await client.get(f"{callback.path}?{callback.query}", allow_redirects=False)
            assert first.status == 200 and (await client.get("/runs")).status == 200
            await client.post("/logout", data={"csrf": re.search(r'name="csrf" value="([^"]+)"',
                                                                  await (await client.get("/")).text()).group(1)})
            client.session.cookie_jar.update_cookies({"bulkprov_oidc": cookie})  # the attacker kept both
            again = await client.get(f"{callback.path}?{callback.query}", allow_redirects=False)
            assert again.status == 401 and "Sign-in refused" in await again.text()
            assert (await client.get("/runs", allow_redirects=False)).status == 303


# -- the ID token's checks, with tokens the provider really issued --------------------------------------------------


async def issued_tokens(issuer: str, client_id: str, sub: str, *, token_host: str | None = None) -> tuple[dict, str]:
    """Run the code flow by hand against the provider; returns (token response, nonce)."""
    verifier_client = OidcClient(OidcConfig(issuer=issuer, client_id=client_id, client_secret="x"))
    url, _ = await verifier_client.start("http://127.0.0.1:9/oidc/callback", "/")
    nonce = parse_qs(urlsplit(url).query)["nonce"][0]
    async with aiohttp.ClientSession() as http:
        answer = await http.post(url, data={"sub": sub}, allow_redirects=False)
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        token_url = (await verifier_client.metadata())["token_endpoint"]
        if token_host:
            token_url = token_url.replace("localhost", token_host)
        resp = await http.post(token_url, data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": "http://127.0.0.1:9/oidc/callback"},
                               headers={"Authorization": "Basic " + base64.b64encode(f"{client_id}:x".encode()).decode()})
        assert resp.status == 200, await resp.text()
        return await resp.json(), nonce


def _verifier(issuer: str, client_id: str = CLIENT_ID) -> OidcClient:
    return OidcClient(OidcConfig(issuer=issuer, client_id=client_id, client_secret="x"))


async def test_a_good_token_verifies_and_its_nonce_cannot_be_used_again():
    with provider() as issuer:
        await put_user(issuer, "ann", email="ann@acme-corp.com", groups=["hr-team"])
        tokens, nonce = await issued_tokens(issuer, CLIENT_ID, "ann")
        verifier = _verifier(issuer)
        claims = await verifier.verify(tokens["id_token"], nonce, tokens["access_token"])
        assert claims["email"] == "ann@acme-corp.com" and verifier.person(claims) == ("ann@acme-corp.com", ["hr-team"])
        with pytest.raises(OidcRefused, match="already used"):
            await verifier.verify(tokens["id_token"], nonce, tokens["access_token"])
        other, other_nonce = await issued_tokens(issuer, CLIENT_ID, "ann")
        with pytest.raises(OidcRefused, match="nonce"):  # a token issued for another sign-in
            await _verifier(issuer).verify(tokens["id_token"], other_nonce)


async def test_a_token_with_a_wrong_signature_is_refused():
    with provider() as issuer:
        tokens, nonce = await issued_tokens(issuer, CLIENT_ID, "ann@acme-corp.com")
        header, payload, signature = tokens["id_token"].split(".")
        forged = f"{header}.{payload}.{signature[:-6]}{'A' * 6 if not signature.endswith('A' * 6) else 'B' * 6}"
        with pytest.raises(OidcRefused, match="refused"):
            await _verifier(issuer).verify(forged, nonce)
        with provider() as other_issuer:  # signed by another provider's key, claims copied over
            other_tokens, _ = await issued_tokens(other_issuer, CLIENT_ID, "ann@acme-corp.com")
            spliced = other_tokens["id_token"].split(".")
            with pytest.raises(OidcRefused):
                await _verifier(issuer).verify(f"{spliced[0]}.{payload}.{spliced[2]}", nonce)


async def test_a_token_from_another_issuer_is_refused():
    with provider() as issuer:
        # the same provider and key, but the token was asked for at 127.0.0.1: its iss names that host
        tokens, nonce = await issued_tokens(issuer, CLIENT_ID, "ann@acme-corp.com", token_host="127.0.0.1")
        with pytest.raises(OidcRefused, match="iss"):
            await _verifier(issuer).verify(tokens["id_token"], nonce)


async def test_a_token_for_another_audience_is_refused():
    with provider() as issuer:
        tokens, nonce = await issued_tokens(issuer, "some-other-app", "ann@acme-corp.com")
        with pytest.raises(OidcRefused, match="aud"):
            await _verifier(issuer, CLIENT_ID).verify(tokens["id_token"], nonce)


async def test_an_expired_token_is_refused():
    with provider(access_token_max_age=timedelta(seconds=-120)) as issuer:
        tokens, nonce = await issued_tokens(issuer, CLIENT_ID, "ann@acme-corp.com")
        with pytest.raises(OidcRefused, match="exp"):
            await _verifier(issuer).verify(tokens["id_token"], nonce)


def test_the_client_secret_never_comes_from_the_config_text(tmp_path, monkeypatch):
    monkeypatch.delenv("BULKPROV_OIDC_CLIENT_SECRET", raising=False)
    base = {"oidc_issuer": "https://login.example.com", "oidc_client_id": "app"}
    with pytest.raises(InputError, match="no client secret"):
        oidc_config(base)
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    config = oidc_config({**base, "oidc_client_secret_file": str(secret)})
    assert config.client_secret == "from-the-file" and "from-the-file" not in repr(config)
    with pytest.raises(InputError, match="https"):
        oidc_config({**base, "oidc_issuer": "http://login.example.com"})
    from bulkprov.config import load_profile

    path = tmp_path / "bulkprov.toml"
    path.write_text('[profiles.hr]\noidc_issuer = "https://x"\noidc_client_secret = "oops"\n')
    with pytest.raises(InputError, match="must not be in a config file"):
        load_profile(path, "hr")

