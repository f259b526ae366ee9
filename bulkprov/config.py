"""The TOML config file: profiles of run settings for unattended operation.

``bulkprov.toml`` in the working directory (or ``--config FILE``, or ``BULKPROV_CONFIG``) holds
profiles selected with ``--profile NAME``::

    [profiles.nightly]
    host = "https://bots.kore.ai"
    env_file = "/etc/bulkprov/kore.env"     # credentials stay out of the config file
    rate = "60/min,1800/h"
    batch_size = 100
    state_dir = "/var/lib/bulkprov"
    max_deletes = 500
    max_delete_percent = 10
    protected = ["admin@acme-corp.com", "svc-*@acme-corp.com"]
    webhook = "https://hooks.example.com/bulkprov"
    max_runtime = 3600
    log_format = "json"

    [profiles.nightly.web_users]            # bulkprov serve: logins (hashes from bulkprov hash-password)
    alice = "scrypt$32768$8$1$…$…"

A command-line option wins over the profile; the profile wins over the built-in default.  A
secret in the config file is refused: credentials come from the environment, a ``.env`` file or
a secret file.

:func:`job_settings` is the one place every front end (the command line, the page, the approval
commands) turns a profile and its own overrides into run settings: the same file is judged the same way
whoever runs it.  The guards and approvers are the account's policy (:mod:`bulkprov.approvals.policy`):
a profile may only tighten a policy file, and acts as the policy where there is none.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkprov.errors import BadConfig
from bulkprov.io.shared.guard import read_small, why_unreadable

if TYPE_CHECKING:
    from bulkprov.jobs.settings import JobSettings

log = logging.getLogger("bulkprov")

DEFAULT_NAME = "bulkprov.toml"

# key -> (type, default).  The CLI and the README read this table.
SETTINGS: dict[str, tuple[type, Any]] = {
    "host": (str, None),
    "env_file": (str, None),
    "secret_file": (str, None),
    "rate": (str, "60/min,1800/h"),
    "batch_size": (int, 100),
    "concurrency": (int, 4),
    "max_attempts": (int, 6),
    "rate_wait_cap": (float, None),
    "timeout": (float, 60.0),
    "send_email": (bool, True),
    "state_dir": (str, None),
    "log_format": (str, "text"),
    "max_deletes": (int, 500),
    "max_delete_percent": (float, 10.0),
    "protected": (list, []),
    "builder_confirm": (int, 10),
    "strict_ids": (bool, True),
    "report_strays": (bool, False),
    "remove_strays": (bool, False),
    "webhook": (str, None),
    "max_runtime": (float, None),
    "settle": (float, None),          # read the input only once unchanged this long (None: 10 s unattended, else 0)
    "lang": (str, None),              # en, ko or ja: messages, workbooks and the template (else the locale)
    "ignore_columns": (list, []),     # headers to leave unread, e.g. one that looks like a misspelt column
    "directory_max_age_hours": (float, 24.0),  # the account's roles, bots and groups are read again when older
    # four-eyes approval (bulkprov.approvals): who may approve on the command line, how long a request lives
    "approvers": (list, []),          # OS user names, or "group:NAME" for an OS group's members
    "approval_expiry_hours": (float, 24.0),
    # bulkprov serve: who may log in to the upload page (see bulkprov.web)
    "web_users": (dict, {}),          # [profiles.NAME.web_users] alice = "scrypt$..." (bulkprov hash-password)
    "web_token_file": (str, None),    # a file holding a shared login token (or BULKPROV_WEB_TOKEN)
    "web_trusted_proxies": (list, []),  # addresses/networks of reverse proxies whose X-Forwarded-For is believed
    "web_roles": (dict, {}),          # local user -> viewer | operator | approver (default operator)
    "web_check_queue": (int, 64),     # checks of uploads waiting in line, in all (past it: 503, Retry-After)
    "web_check_queue_per_person": (int, 4),  # one person's checks waiting or running
    # bulkprov serve: single sign-on with OpenID Connect (bulkprov.web.oidc); the secret never in this file
    "oidc_issuer": (str, None),       # e.g. https://login.microsoftonline.com/TENANT/v2.0
    "oidc_client_id": (str, None),
    "oidc_client_secret_file": (str, None),  # or the BULKPROV_OIDC_CLIENT_SECRET environment variable
    "oidc_user_claim": (str, "email"),        # the claim that names the person
    "oidc_groups_claim": (str, "groups"),     # the claim listing the person's groups
    "oidc_roles": (dict, {}),         # group -> role: {"hr-approvers" = "approver", "hr-team" = "operator"}
    "oidc_scopes": (str, "openid email profile"),
    "oidc_redirect_url": (str, None),  # the callback as the browser sees it, behind a proxy (…/oidc/callback)
}
# What a file command (add … sync) takes from a profile; the web_*/oidc_* settings are serve's alone,
# the approval settings are read by the commands that use them.
RUN_SETTINGS = frozenset(name for name in SETTINGS if not name.startswith(("web_", "oidc_", "approv")))
_FORBIDDEN = {"client_secret", "oidc_client_secret", "secret", "kore_client_secret", "jwt", "kore_jwt", "password", "token"}


def config_path(explicit: str | Path | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("BULKPROV_CONFIG")
    if env:
        return Path(env)
    local = Path(DEFAULT_NAME)
    return local if local.is_file() else None


def load_profile(path: Path | None, name: str | None) -> dict[str, Any]:
    """The settings of profile ``name`` (or the file's top-level keys when no profile is named)."""
    if path is None:
        if name:
            raise BadConfig("no-file", profile=name, default=DEFAULT_NAME)
        return {}
    try:
        data = tomllib.loads(read_small(path).decode("utf-8"))
    except FileNotFoundError:
        raise BadConfig("missing", file=str(path)) from None
    except OSError as exc:
        raise BadConfig("unreadable", file=str(path), reason=why_unreadable(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadConfig("toml", file=str(path), reason=str(exc)) from None
    profiles = data.get("profiles", {})
    if name:
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise BadConfig("no-profile", file=str(path), profile=name, known=known)
        chosen = profiles[name]
    else:
        chosen = profiles.get("default", {k: v for k, v in data.items() if k != "profiles"})
    return _checked(chosen, path)


def _checked(values: dict[str, Any], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key.lower() in _FORBIDDEN:
            raise BadConfig("secret", file=str(path), key=key)
        if key not in SETTINGS:
            raise BadConfig("unknown", file=str(path), key=key, known=", ".join(sorted(SETTINGS)))
        kind = SETTINGS[key][0]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadConfig("type", file=str(path), key=key, kind=kind.__name__, value=value)
        if key == "lang" and value not in ("en", "ko", "ja"):
            raise BadConfig("type", file=str(path), key=key, kind="en, ko or ja", value=value)
        out[key] = value
    return out


def resolve(name: str, cli_value: Any, profile: dict[str, Any]) -> Any:
    """Command line, then profile, then the built-in default."""
    if cli_value is not None:
        return cli_value
    if name in profile:
        return profile[name]
    return SETTINGS[name][1]


# How to reach the account and how to log: each front end's own business, not a run setting.
NOT_RUN = frozenset({"env_file", "secret_file", "log_format"})
AT_LEAST_ONE = ("batch_size", "concurrency", "max_attempts")
# The guards' limits: the account's policy (a profile may only tighten it) decides them, not the profile alone.
POLICY_KEYS = frozenset({"max_deletes", "max_delete_percent", "builder_confirm", "protected"})


def job_settings(command: str, profile: dict[str, Any], overrides: dict[str, Any] | None = None, *,
                 credentials: Any = None, person: str | None = None, where: str = "", source: str = "cli",
                 **fields: Any) -> JobSettings:
    """Run settings from a profile and a front end's overrides (None: not given), for every front end.

    ``fields`` are :class:`~bulkprov.jobs.settings.JobSettings` fields no profile holds (the output, dry
    run, resume, overrides of guards...).  With ``credentials`` the account is known and its policy file
    (if any) is read: a profile key that would loosen it is refused.  With ``person`` the run knows who runs
    it (``where``, ``source``: cli, page) and who may approve.
    """
    from bulkprov.approvals.flow import Approvals
    from bulkprov.approvals.policy import account_of, policy_for
    from bulkprov.jobs.settings import JobSettings
    from bulkprov.kore.auth import env_file_or_default, host_from_sources
    from bulkprov.send.limiter import parse_rate

    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    value = {name: resolve(name, given.get(name), profile) for name in RUN_SETTINGS - NOT_RUN}
    low = [name for name in AT_LEAST_ONE if value[name] < 1]
    if low:
        raise BadConfig("at-least-one", names=", ".join(low))
    parse_rate(value["rate"])  # a bad rate is refused before anything is read
    # KORE_HOST: the environment, then the .env file the credentials come from (as for the credentials)
    host = value["host"] or host_from_sources(env_file=env_file_or_default(
        resolve("env_file", given.get("env_file"), profile)))
    account = account_of(host, credentials) if credentials is not None else None
    policy = policy_for(account, profile)
    if policy.notice:
        log.warning(policy.notice)
    approvals = None
    if person is not None:
        approvals = Approvals(person=person, where=where, source=source, approvers=list(policy.approvers),
                              expiry_hours=policy.approval_expiry_hours, webhook=value["webhook"],
                              page=source == "page")
    # the rest of the run settings are JobSettings fields of the same name; made once, never edited
    return JobSettings(command=command, **fields, **{name: value[name] for name in RUN_SETTINGS - NOT_RUN - {
        "host", "state_dir", "settle", *POLICY_KEYS}},
        host=host, settle=value["settle"] or 0.0,  # the command line chooses its own default (10 s unattended)
        state_dir=Path(value["state_dir"]) if value["state_dir"] else None, account=account,
        max_deletes=policy.max_deletes, max_delete_percent=policy.max_delete_percent,
        builder_confirm=policy.builder_confirm, protected=list(policy.protected), approvals=approvals)
