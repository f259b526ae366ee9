"""Single sign-on with OpenID Connect: authorization code flow with PKCE, ID tokens verified by Authlib.

* ``GET /oidc/login`` makes a ``state``, a ``nonce`` and a PKCE ``code_verifier``, keeps them in a
  signed, short-lived, ``HttpOnly`` cookie (nothing is stored on the server for a visitor who never
  comes back) and sends the browser to the provider's authorization endpoint (``code_challenge``
  S256).
* ``GET /oidc/callback`` checks the cookie's signature, age and ``state``, exchanges the code (client
  secret + ``code_verifier``) at the token endpoint, and verifies the ID token with Authlib/joserfc:
  signature against the provider's JWKS (fetched again once when a key id is unknown), issuer,
  audience, expiry, and the ``nonce`` — which is then spent: a second use of it is refused.
* The person is the ``oidc_user_claim`` (email) — refused when the provider says it has not verified it
  (``email_verified: false``); the role comes from the ``oidc_groups_claim`` mapped
  by ``oidc_roles`` (:mod:`bulkprov.web.roles`); a person with no mapped group is refused.

The client secret comes from ``oidc_client_secret_file`` or ``BULKPROV_OIDC_CLIENT_SECRET``, never from
the config text; it is never logged or shown.  Discovery, JWKS and token calls use aiohttp (the
project's HTTP client); the protocol pieces — PKCE, token generation, ID-token claims — are Authlib's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bulkprov.errors import BadConfig

log = logging.getLogger("bulkprov.web")

SECRET_ENV = "BULKPROV_OIDC_CLIENT_SECRET"
FLOW_MAX_AGE = 600.0      # seconds a sign-in may take at the provider
LEEWAY = 30               # seconds of clock difference tolerated on exp/iat


class OidcRefused(Exception):
    """The sign-in did not prove who the person is; the message says why (never a token)."""


@dataclass
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    user_claim: str = "email"
    groups_claim: str = "groups"
    roles: dict[str, str] = field(default_factory=dict)
    scopes: str = "openid email profile"
    redirect_url: str | None = None


def oidc_config(values: dict[str, Any]) -> OidcConfig:
    """From the profile's ``oidc_*`` settings; the secret from its file or the environment only."""
    from bulkprov.web.roles import ROLES

    issuer = str(values.get("oidc_issuer") or "").rstrip("/")
    parsed = urllib.parse.urlsplit(issuer)
    loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise BadConfig("oidc", reason=f"oidc_issuer must be an https URL, not {issuer!r}")
    if not values.get("oidc_client_id"):
        raise BadConfig("oidc", reason="oidc_client_id is missing")
    secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret and values.get("oidc_client_secret_file"):
        try:
            secret = Path(values["oidc_client_secret_file"]).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BadConfig("oidc", reason=f"oidc_client_secret_file: {exc.strerror or exc}") from None
    if not secret:
        raise BadConfig("oidc", reason=f"no client secret: set oidc_client_secret_file or {SECRET_ENV}")
    roles = dict(values.get("oidc_roles") or {})
    for group, role in roles.items():
        if role not in ROLES:
            raise BadConfig("oidc", reason=f"oidc_roles.{group}: {role!r} is not viewer, operator or approver")
    return OidcConfig(issuer, str(values["oidc_client_id"]), secret, str(values.get("oidc_user_claim") or "email"),
                      str(values.get("oidc_groups_claim") or "groups"), roles,
                      str(values.get("oidc_scopes") or "openid email profile"), values.get("oidc_redirect_url"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


class OidcClient:
    """The relying party: flow cookies, discovery, code exchange and ID-token verification."""

    COOKIE = "bulkprov_oidc"

    def __init__(self, config: OidcConfig, timeout: float = 15.0) -> None:
        self.config = config
        self.key = secrets.token_bytes(32)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._spent: dict[str, float] = {}  # nonce -> when it was used (kept for the flow's lifetime)

    # -- the flow cookie -------------------------------------------------------------------------------

    def _seal(self, data: dict[str, Any]) -> str:
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())}"

    def _open(self, cookie: str | None) -> dict[str, Any]:
        body, _, mac = (cookie or "").partition(".")
        if not body.isascii() or not mac.isascii() or not body:
            raise OidcRefused("the sign-in was not started here, or took too long: sign in again")
        good = _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode("ascii"), good.encode("ascii")):
            raise OidcRefused("the sign-in was not started here, or took too long: sign in again")
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not 0 <= time.time() - float(data["t"]) <= FLOW_MAX_AGE:
            raise OidcRefused("the sign-in took too long: sign in again")
        return data

    # -- the provider ------------------------------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=self.timeout) as http, http.get(url) as resp:
            if resp.status != 200:
                raise OidcRefused(f"the identity provider answered HTTP {resp.status} for {urllib.parse.urlsplit(url).path}")
            return await resp.json(content_type=None)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            found = await self._get_json(self.config.issuer + "/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise OidcRefused("the provider's discovery document names another issuer")
            self._metadata = found
        return self._metadata

    async def jwks(self, refresh: bool = False) -> dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
        return self._jwks

    # -- the two steps -------------------------------------------------------------------------------------

    async def start(self, redirect_uri: str, next_path: str, language: str = "", prompt: str = "") -> tuple[str, str]:
        """(the provider's authorization URL, the flow cookie); ``language``: one picked on the login page;
        ``prompt="none"``: a silent re-authentication of a signed-in person (their groups, refreshed)."""
        from authlib.common.security import generate_token
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        query = {"response_type": "code", "client_id": self.config.client_id, "redirect_uri": redirect_uri,
                 "scope": self.config.scopes, "state": state, "nonce": nonce,
                 "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        if prompt:
            query["prompt"] = prompt
        endpoint = (await self.metadata())["authorization_endpoint"]
        cookie = self._seal({"s": state, "n": nonce, "v": verifier, "r": redirect_uri, "x": next_path,
                             "l": language, "p": prompt, "t": time.time()})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urllib.parse.urlencode(query)}", cookie

    def flow(self, cookie: str | None) -> dict[str, Any] | None:
        """The sign-in this browser started here (its signed cookie), or None."""
        try:
            return self._open(cookie)
        except (OidcRefused, ValueError, KeyError, TypeError):
            return None

    async def finish(self, cookie: str | None, code: str, state: str) -> tuple[dict[str, Any], str, str]:
        """The verified ID-token claims, the page to go to and the language picked before the round trip
        ("" if none); :class:`OidcRefused` otherwise."""
        flow = self._open(cookie)
        if not state or not hmac.compare_digest(state.encode(), str(flow["s"]).encode()):
            raise OidcRefused("the sign-in answer does not belong to this browser's sign-in (state)")
        tokens = await self._exchange(code, flow)
        claims = await self.verify(str(tokens.get("id_token") or ""), str(flow["n"]), tokens.get("access_token"))
        return claims, str(flow["x"]), str(flow.get("l") or "")

    async def _exchange(self, code: str, flow: dict[str, Any]) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow["r"],
                "code_verifier": flow["v"]}
        pair = f"{urllib.parse.quote(self.config.client_id, safe='')}:{urllib.parse.quote(self.config.client_secret, safe='')}"
        basic = "Basic " + base64.b64encode(pair.encode()).decode("ascii")  # client_secret_basic (RFC 6749 2.3.1)
        endpoint = (await self.metadata())["token_endpoint"]
        async with aiohttp.ClientSession(timeout=self.timeout) as http, \
                http.post(endpoint, data=form, headers={"Authorization": basic}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200 or "id_token" not in body:
                raise OidcRefused(f"the identity provider refused the sign-in code ({body.get('error', resp.status)})")
            return body

    async def verify(self, id_token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """Signature (JWKS), issuer, audience, expiry and nonce — by Authlib/joserfc, never by hand."""
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError
        from joserfc.jwk import KeySet
        from joserfc.jws import JWSRegistry

        metadata = await self.metadata()
        registry = JWSRegistry(algorithms=metadata.get("id_token_signing_alg_values_supported") or ["RS256"])
        try:
            try:
                token = jwt.decode(id_token, KeySet.import_key_set(await self.jwks()), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys
                token = jwt.decode(id_token, KeySet.import_key_set(await self.jwks(refresh=True)), registry=registry)
            options = {"iss": {"essential": True, "value": self.config.issuer},
                       "aud": {"essential": True, "value": self.config.client_id}}
            params = {"nonce": nonce, "client_id": self.config.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError) as exc:
            raise OidcRefused(f"the ID token was refused: {type(exc).__name__}: {exc}") from None
        self._spend(nonce)
        return dict(claims)

    def _spend(self, nonce: str) -> None:
        now = time.time()
        for old in [n for n, t in self._spent.items() if now - t > FLOW_MAX_AGE + LEEWAY]:
            del self._spent[old]
        if nonce in self._spent:
            raise OidcRefused("the ID token's nonce was already used (a replayed sign-in)")
        self._spent[nonce] = now

    def person(self, claims: dict[str, Any]) -> tuple[str, list[str]]:
        """(who, their groups) from the configured claims."""
        who = claims.get(self.config.user_claim)
        if not isinstance(who, str) or not who.strip():
            raise OidcRefused(f"the ID token has no {self.config.user_claim!r} claim naming the person")
        verified = claims.get(f"{self.config.user_claim}_verified")  # email -> email_verified (OIDC Core 5.1)
        if verified is not None and verified is not True and str(verified).lower() != "true":
            # anyone may type any address into an account at some providers: an unverified one names nobody
            raise OidcRefused(f"the identity provider has not verified {self.config.user_claim} {who.strip()!r}")
        groups = claims.get(self.config.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        return who.strip(), [str(g) for g in groups if isinstance(g, str | int)]
