"""The application's keys: where the app keeps its config, sessions, login throttle and forms, and where a
request keeps its session.  (The line of runs and the line of checks keep their keys beside them:
:data:`bulkprov.web.runner.JOBS`, :data:`bulkprov.web.preview.PREVIEWS`.)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bulkprov.web.config import WebConfig
from bulkprov.web.security import LoginForms, SessionStore
from bulkprov.web.throttle import LoginThrottle, PasswordChecker

CONFIG: web.AppKey[WebConfig] = web.AppKey("config")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle")
CHECKER: web.AppKey[PasswordChecker] = web.AppKey("checker")
LOGIN_FORMS: web.AppKey[LoginForms] = web.AppKey("login_forms")
# Per-request storage: RequestKey where this aiohttp has it (3.13+), a plain key before.
SESSION: Any = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "session"
