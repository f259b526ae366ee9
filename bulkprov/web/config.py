"""What the page needs to run: the state directory, run settings, credentials and who may log in.

:func:`build_config` takes the profile and the command line's overrides and makes the page's run settings
with :func:`bulkprov.config.job_settings` — the one function every front end uses, so the page and the
command line judge a file the same way (strict ids, rate, run-time limit, guards).  Who may approve, and the
page's role mapping, are the account's policy (:mod:`bulkprov.approvals.policy`), read again at each
decision (:meth:`WebConfig.current`).  This module knows no command-line flag.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.errors import BadConfig
from bulkprov.jobs.settings import JobSettings
from bulkprov.web.roles import ROLES
from bulkprov.web.security import parse_hash
from bulkprov.web.throttle import parse_networks

TOKEN_ENV = "BULKPROV_WEB_TOKEN"


@dataclass
class WebConfig:
    """What the server needs; the Kore.ai credentials never leave this object and the runner."""

    state_dir: Path
    job: JobSettings  # host, rate, batch size… (command and file are filled in per run)
    credentials: Any
    users: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    secure_cookies: bool = False
    session_idle: float = 8 * 3600
    trusted_proxies: list[str] = field(default_factory=list)  # X-Forwarded-For is honoured only from these
    header_timeout: float = 15.0   # a connection must send a whole request head within this (slow headers)
    body_timeout: float = 30.0     # and then never stall longer than this between two pieces of its body
    max_previews: int = 1          # checks (load + validate) running at once, whoever asks
    check_queue: int = 64          # checks waiting in line, in all (more: 503 with Retry-After)
    check_queue_per_person: int = 4  # one person's checks in line or running
    login_workers: int = 1         # password checks (scrypt) at once, in their own threads
    login_queue: int = 8           # more waiting than this: refused at once (503)
    networks: tuple[Any, ...] = ()
    local_roles: dict[str, str] = field(default_factory=dict)  # web_roles: local user -> role (default operator)
    approval_expiry_hours: float = 24.0
    webhook: str | None = None
    oidc: Any = None               # bulkprov.web.oidc.OidcConfig when single sign-on is configured
    reload: Callable[[], dict[str, Any]] | None = None  # the profile as it is now (logins and roles at each decision)
    role_refresh: float = 15 * 60  # seconds a single sign-on person's groups are believed before a silent refresh

    UNCOMPRESSED_FACTOR = 20  # a workbook may expand to at most 20 × the upload cap when the page reads it

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        if not self.users and not self.token and self.oidc is None:
            raise BadConfig("web-login")
        for name, role in self.local_roles.items():
            if role not in ROLES:
                raise BadConfig("web-roles", name=name, role=role)
        for name, encoded in self.users.items():
            try:
                parse_hash(str(encoded))
            except (ValueError, TypeError):
                raise BadConfig("web-hash", name=name) from None
        if self.token is not None and len(self.token) < 16:
            raise BadConfig("web-token-short")
        try:
            self.networks = parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise BadConfig("web-proxies", reason=str(exc)) from None
        self.job = self._page_settings(self.job)

    def _page_settings(self, given: JobSettings) -> JobSettings:
        """The run settings the page starts from: ``given`` (never edited: a run's settings are replaced) with the
        loader limits of its upload cap, not the command line's generous ones, and the account of its credentials."""
        from bulkprov.approvals.policy import account_of

        limits = dataclasses.replace(given.limits, max_bytes=self.max_upload_bytes,
                                     max_uncompressed_bytes=self.UNCOMPRESSED_FACTOR * self.max_upload_bytes)
        account = given.account
        if account is None and self.credentials is not None and given.host:
            account = account_of(given.host, self.credentials)
        return dataclasses.replace(given, limits=limits, account=account)

    def current(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Who may log in with a password, the local users' roles and the groups' roles, as they are now: the
        profile read again and the account's policy file as it is, so a removed approver loses the power at the
        next decision.  A config made in code (no profile to read) keeps its own, under the policy file."""
        from bulkprov.approvals.policy import policy_for

        if self.reload is not None:
            profile = self.reload()
            users = dict(profile.get("web_users") or {})
        else:
            profile = {"web_roles": self.local_roles, "oidc_roles": self.oidc.roles if self.oidc else {}}
            users = dict(self.users)
        policy = policy_for(self.job.account, profile)
        return users, dict(policy.web_roles), dict(policy.oidc_roles)

    @property
    def uploads(self) -> Path:
        return self.state_dir / "uploads"

    @property
    def results(self) -> Path:
        return self.state_dir / "results"


def build_config(profile: dict[str, Any], overrides: dict[str, Any] | None = None, *, credentials: Any,
                 max_upload_mb: float, secure_cookies: bool,
                 reload: Callable[[], dict[str, Any]] | None = None) -> WebConfig:
    """The page's config from a profile (``web_*``, ``oidc_*`` and every run setting) and the command line's
    overrides; run settings, guards and roles as :func:`bulkprov.config.job_settings` and the policy say."""
    from bulkprov.approvals.policy import policy_for
    from bulkprov.config import job_settings, resolve
    from bulkprov.kore.hosts import normalize_host

    values = {name: resolve(name, (overrides or {}).get(name), profile) for name in (
        "web_users", "web_token_file", "web_trusted_proxies", "oidc_issuer", "oidc_client_id",
        "oidc_client_secret_file", "oidc_user_claim", "oidc_groups_claim", "oidc_scopes", "oidc_redirect_url",
        "web_check_queue", "web_check_queue_per_person")}
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and values.get("web_token_file"):
        try:
            token = Path(values["web_token_file"]).expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise BadConfig("web-token-file", file=values["web_token_file"], reason=exc.strerror or str(exc)) from None
    if not 0 < max_upload_mb <= 500:
        raise BadConfig("range", name="max_upload_mb", low=0, high=500)
    for name in ("web_check_queue", "web_check_queue_per_person"):
        if not 1 <= values[name] <= 10_000:
            raise BadConfig("range", name=name, low=1, high=10_000)
    job = job_settings("add", profile, overrides, credentials=credentials)  # limits: the upload cap's (WebConfig)
    normalize_host(job.host or "")  # no host, or plain http:// to a remote host, is refused before the server starts
    policy = policy_for(job.account, profile)
    oidc = None
    if values.get("oidc_issuer"):
        from bulkprov.web.oidc import oidc_config

        oidc = oidc_config({**values, "oidc_roles": policy.oidc_roles})
    return WebConfig(state_dir=Path(job.state_dir or ".bulkprov"), job=job, credentials=credentials,
                     users=dict(values["web_users"]), token=token, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                     secure_cookies=secure_cookies, trusted_proxies=list(values.get("web_trusted_proxies") or []),
                     local_roles=dict(policy.web_roles), oidc=oidc, webhook=job.webhook,
                     approval_expiry_hours=policy.approval_expiry_hours, reload=reload,
                     check_queue=values["web_check_queue"], check_queue_per_person=values["web_check_queue_per_person"])
