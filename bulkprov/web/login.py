"""Logging in and out: user name and password (scrypt hashes) or a shared token.

The login form carries a signed double-submit token (:class:`~bulkprov.web.security.LoginForms`),
so showing it creates no server-side session.  A submitted login is counted by the throttle before
its password is checked, and checked in the password checker's own threads
(:mod:`bulkprov.web.throttle`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

import aiohttp
from aiohttp import web

from bulkprov import i18n
from bulkprov.web import lang
from bulkprov.web.config import WebConfig
from bulkprov.web.frame import (
    COOKIE,
    FORM_ERRORS,
    BadForm,
    address,
    forbidden,
    page,
    redirect,
    set_session_cookie,
)
from bulkprov.web.html import render
from bulkprov.web.keys import CHECKER, CONFIG, LOGIN_FORMS, SESSION, SESSIONS, THROTTLE
from bulkprov.web.lang import N_, _, text
from bulkprov.web.records import record, record_anonymous
from bulkprov.web.security import LoginForms, SessionStore, check_login, safe_next
from bulkprov.web.throttle import CheckerBusy, LoginThrottle

log = logging.getLogger("bulkprov.web")


def login_page(request: web.Request, error: str = "", status: int = 200, next_path: str | None = None,
               headers: dict[str, str] | None = None, chosen: str | None = None) -> web.Response:
    """The login form; ``chosen`` is a language picked on this page (carried by the form into the session)."""
    config: WebConfig = request.app[CONFIG]
    forms: LoginForms = request.app[LOGIN_FORMS]
    cookie = request.cookies.get(LoginForms.COOKIE)
    token = forms.form_token(cookie)  # a form already shown stays valid (several tabs, a wrong password)
    if token is None:
        cookie, token = forms.issue()
    target = safe_next(next_path if next_path is not None else request.query.get("next"))
    chosen = chosen or lang.supported(request.query.get("lang"))
    response = page(request, "login.html", _("Log in"), status, error=error, csrf=token, next=target,
                    chosen=chosen or "", passwords=bool(config.users), token=bool(config.token),
                    sso=login_options(request, target, chosen))
    response.headers.update(headers or {})
    response.set_cookie(LoginForms.COOKIE, cookie, httponly=True, samesite="Strict", path="/login",
                        secure=config.secure_cookies or request.secure, max_age=int(forms.max_age))
    return response


def login_options(request: web.Request, target: str, chosen: str | None = None) -> str:
    """Single sign-on's link, shown above the password form when the profile configures it ("" if not);
    a language picked on the login page goes along, so the session starts in it after the round trip."""
    if request.app[CONFIG].oidc is None:
        return ""
    from urllib.parse import urlencode

    return "/oidc/login?" + urlencode({"next": target, **({"lang": chosen} if chosen else {})})


OIDC: web.AppKey[Any] = web.AppKey("oidc")


def _callback_url(request: web.Request) -> str:
    config: WebConfig = request.app[CONFIG]
    return config.oidc.redirect_url or f"{request.scheme}://{request.host}/oidc/callback"


async def oidc_login(request: web.Request) -> web.StreamResponse:
    """Off to the identity provider, with state, nonce and PKCE in a signed cookie."""
    from bulkprov.web.oidc import OidcClient, OidcRefused

    config: WebConfig = request.app[CONFIG]
    session = request[SESSION]
    refresh = request.query.get("prompt") == "none" and session is not None and session.method == "oidc"
    try:
        url, cookie = await request.app[OIDC].start(_callback_url(request), safe_next(request.query.get("next")),
                                                    lang.supported(request.query.get("lang")) or "",
                                                    prompt="none" if refresh else "")
    except (OidcRefused, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("single sign-on unavailable: %s", exc)
        return login_page(request, _("Single sign-on is unavailable right now: try again later."), 503)
    response = web.Response(status=303, headers={"Location": url})
    response.set_cookie(OidcClient.COOKIE, cookie, httponly=True, samesite="Lax", path="/oidc",
                        secure=config.secure_cookies or request.secure, max_age=600)
    return response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """Back from the provider: verify everything, then a session with the role the groups give — or, for a
    silent refresh of a signed-in person, their groups and role as the provider and the policy say now."""
    from bulkprov.web.oidc import OidcClient, OidcRefused
    from bulkprov.web.roles import role_from_groups

    client = request.app[OIDC]
    who = address(request)
    session = request[SESSION]
    flow = client.flow(request.cookies.get(OidcClient.COOKIE))
    refreshing = (flow is not None and flow.get("p") == "none" and session is not None and bool(session.user)
                  and session.method == "oidc")
    try:
        if request.query.get("error"):
            raise OidcRefused(f"the identity provider said {request.query.get('error')!r}")
        claims, target, chosen = await client.finish(request.cookies.get(OidcClient.COOKIE),
                                                     request.query.get("code", ""), request.query.get("state", ""))
        person, groups = client.person(claims)
    except (OidcRefused, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
        if refreshing:  # the provider would not confirm them silently: a viewer until they sign in again
            session.role, session.refreshed = "viewer", request.app[SESSIONS].clock()
            await record(request, "login", outcome="refresh-failed", method="oidc", reason=str(exc)[:200])
            return _handover(str(flow.get("x") or "/"))
        log.warning("single sign-on refused from %s: %s", who, exc)
        await record_anonymous(request, "?", outcome="refused", method="oidc", reason=str(exc)[:200])
        return login_page(request, text(N_("Sign-in refused: {reason}"), reason=exc), 401)
    _users, _local, mapping = await asyncio.to_thread(request.app[CONFIG].current)
    role = role_from_groups(groups, mapping)
    if refreshing and person == session.user:
        if role is None:  # no group gives access any more: signed out
            request.app[SESSIONS].drop(session)
            await record(request, "login", outcome="no-role", method="oidc")
            return login_page(request, text(N_("{person} is signed in at the identity provider but is in no group "
                                               "that gives access to this page: ask an administrator."),
                                            person=person), 403)
        session.groups, session.role, session.refreshed = groups, role, request.app[SESSIONS].clock()
        await record(request, "login", outcome="refreshed", role=role, method="oidc")
        return _handover(target)
    if role is None:
        await record_anonymous(request, person, outcome="no-role", method="oidc")
        return login_page(request, text(N_("{person} is signed in at the identity provider but is in no group that "
                                           "gives access to this page: ask an administrator."), person=person), 403)
    response = await start_session(request, person, role, who, target, method="oidc",
                                   language=lang.supported(chosen), groups=groups)
    response.del_cookie(OidcClient.COOKIE, path="/oidc")
    # We arrive here from the provider's site: a browser does not send SameSite=Strict cookies along a
    # cross-site redirect chain, so hand over with a same-site navigation (a refresh; no script needed).
    response.set_status(200)
    response.headers.pop("Location", None)
    response.content_type = "text/html"
    response.text = render("handover.html", target=safe_next(target))
    return response


def _handover(target: str) -> web.Response:
    """Back to ``target`` from the provider's site by a same-site navigation (see :func:`oidc_callback`)."""
    from bulkprov.web.oidc import OidcClient

    response = web.Response(text=render("handover.html", target=safe_next(target)), content_type="text/html")
    response.del_cookie(OidcClient.COOKIE, path="/oidc")
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    if session is not None and session.user:
        raise web.HTTPSeeOther("/")
    return login_page(request)


async def read_form(request: web.Request) -> Any:
    """The form body, within the body timeout (a client that stalls mid-body is dropped); a body that is
    not a readable form raises :class:`~bulkprov.web.frame.BadForm` (the page says 400, never 500)."""
    try:
        async with asyncio.timeout(request.app[CONFIG].body_timeout):
            return await request.post()
    except FORM_ERRORS:
        raise BadForm() from None


async def login_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    throttle: LoginThrottle = request.app[THROTTLE]
    form = await read_form(request)
    chosen = lang.supported(form.get("lang"))
    if chosen and request[SESSION] is None:
        i18n.set_language(chosen)  # the language picked on the login page, before any session holds it
    if not request.app[LOGIN_FORMS].check(request.cookies.get(LoginForms.COOKIE), form.get("csrf")):
        return forbidden(request)
    who = address(request)
    target = str(form.get("next") or "")
    name = "token user" if form.get("token") else str(form.get("username") or "").strip()[:200]
    ticket = throttle.begin(who, name)
    if not hasattr(ticket, "keys"):
        wait = max(1, round(float(ticket)))
        log.warning("login for %r from %s refused by the throttle (wait %d s)", name, who, wait)
        return login_page(request, text(N_("Too many failed logins: wait {seconds} seconds and try again."),
                                        seconds=wait), 429, target, {"Retry-After": str(wait)}, chosen)
    try:
        user = await request.app[CHECKER].run(_authenticate, config, form)
    except CheckerBusy:
        throttle.cancel(ticket)
        return login_page(request, _("The server is busy: try again in a few seconds."), 503, target,
                          {"Retry-After": "5"}, chosen)
    throttle.finish(ticket, ok=user is not None)
    if user is None:
        log.warning("failed login for %r from %s", name, who)
        await record_anonymous(request, "?", outcome="failed", method="password", name=name)
        return login_page(request, _("Wrong user name or password (or token)."), 401, target, chosen=chosen)
    return await start_session(request, user, role_of_local_user(config, user), who, target, language=chosen,
                               method="token" if user == "token user" else "password")


async def start_session(request: web.Request, user: str, role: str, who: str, target: str,
                        method: str = "password", language: str | None = None,
                        groups: list[str] | None = None) -> web.Response:
    """A new session (and id) for a person who has just proved who they are (and the language they picked)."""
    sessions: SessionStore = request.app[SESSIONS]
    sessions.drop(request[SESSION])
    fresh = sessions.create(user, role, who)  # a new id at login: a planted session id is worthless
    fresh.lang = language or ""
    fresh.method, fresh.groups, fresh.refreshed = method, list(groups or []), sessions.clock()
    log.info("%s logged in from %s as %s", user, who, role)
    await audit_login(request, user, who, "ok", role=role, method=method)
    response = redirect(safe_next(target))
    set_session_cookie(request, response, fresh)
    response.del_cookie(LoginForms.COOKIE, path="/login")
    return response


def role_of_local_user(config: WebConfig, user: str) -> str:
    return config.local_roles.get(user, "operator")


async def audit_login(request: web.Request, user: str, who: str, outcome: str, **details: Any) -> None:
    await record(request, "login", who=user, outcome=outcome, **details)


def _authenticate(config: WebConfig, form: Any) -> str | None:
    token = str(form.get("token") or "")
    if config.token and token:
        given = hashlib.sha256(token.encode("utf-8")).digest()
        return "token user" if hmac.compare_digest(given, hashlib.sha256(config.token.encode()).digest()) else None
    username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    if config.users and username and password and check_login(config.users, username, password):
        return username
    return None


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS].drop(request[SESSION])
    response = redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response
