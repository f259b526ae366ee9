"""Logging in and out: user name and password (scrypt hashes) or a shared token."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from aiohttp import web

from bulkprov.web.common import (
    CONFIG,
    COOKIE,
    SESSION,
    SESSIONS,
    THROTTLE,
    page,
    redirect,
    set_session_cookie,
)
from bulkprov.web.config import WebConfig
from bulkprov.web.html import join, render, tag
from bulkprov.web.security import LoginThrottle, Session, SessionStore, check_login, safe_next

log = logging.getLogger("bulkprov.web")

def login_page(request: web.Request, session: Session, error: str = "", status: int = 200) -> web.Response:
    config: WebConfig = request.app[CONFIG]
    fields = join([render("login_password") if config.users else "", render("login_token") if config.token else ""])
    body = render("login", error=tag("p", error, class_="message error", id="message") if error else "",
                  csrf=session.csrf, next=safe_next(request.query.get("next")), fields=fields)
    response = page(request, "Log in", body, status)
    set_session_cookie(request, response, session)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    if session is not None and session.user:
        raise web.HTTPSeeOther("/")
    return login_page(request, session or request.app[SESSIONS].create())


async def login_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    throttle: LoginThrottle = request.app[THROTTLE]
    session: Session = request[SESSION]
    who = request.remote or "?"
    if throttle.blocked(who):
        return login_page(request, session, "Too many failed logins: wait 15 minutes and try again.", 429)
    form = await request.post()
    user = await asyncio.to_thread(_authenticate, config, form)
    if user is None:
        throttle.failed(who)
        log.warning("failed login from %s", who)
        return login_page(request, session, "Wrong user name or password (or token).", 401)
    throttle.succeeded(who)
    sessions: SessionStore = request.app[SESSIONS]
    sessions.drop(session)
    fresh = sessions.create(user)  # a new id at login: a planted session id is worthless
    log.info("%s logged in from %s", user, who)
    response = redirect(safe_next(str(form.get("next") or "")))
    set_session_cookie(request, response, fresh)
    return response


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


