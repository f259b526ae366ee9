"""One policy per Kore.ai account, at one fixed place, believed only when nobody running bulkprov could edit it.

The guards (``max_deletes``, ``max_delete_percent``, ``protected``, ``builder_confirm``), who may approve
(``approvers``, ``approval_expiry_hours``) and the page's role mapping (``web_roles``, ``oidc_roles``)
belong to the account — host and client id — not to whoever writes a config file.  They live in a TOML
file in :data:`POLICY_DIR` (``/etc/bulkprov/policy.d/*.toml``), each naming its account::

    host = "https://bots.kore.ai"
    client_id = "cs-5250bbc0-…"
    approvers = ["alice", "group:hr-approvers"]
    max_deletes = 50

No flag, config file or state directory changes where it is looked up.  A file is believed only when it
and every directory above it are owned by root (or the service account: the owner of
:data:`RECORDS_DIR`) and not writable by the person running the command; a read-only mount (a
Kubernetes ConfigMap) is not writable whatever its mode bits say.  An untrusted file stops every
command of every account (exit 2): nobody can slip in a looser one.

With no policy file for the account, a profile's own policy keys are the policy (and a notice says to
move them).  With one, a profile may only tighten it: a key that would loosen it is refused (exit 2).

The account's audit trail and its approval requests live under :data:`RECORDS_DIR` (``/var/lib/bulkprov``)
whatever ``--state-dir`` says; on a machine set up for bulkprov only root may move either place
(``BULKPROV_POLICY_DIR``, ``BULKPROV_RECORDS_DIR``: tests, and installations that keep /etc or /var
elsewhere); where the fixed place does not exist, anyone may (nothing is set up there to protect).  On a machine nobody
set up (no ``/var/lib/bulkprov``, not root) a person's records are their own, under
``~/.local/state/bulkprov``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulkprov.approvals.identity import Person, cli_person, groups_of, name_of
from bulkprov.errors import PolicyProblem
from bulkprov.i18n import gettext as _

log = logging.getLogger("bulkprov.approvals")

POLICY_DIR = Path("/etc/bulkprov/policy.d")
RECORDS_DIR = Path("/var/lib/bulkprov")
POLICY_DIR_ENV, RECORDS_DIR_ENV = "BULKPROV_POLICY_DIR", "BULKPROV_RECORDS_DIR"

# key -> (type, default): what a policy file may hold besides its account (host, client_id).
POLICY_KEYS: dict[str, tuple[type, Any]] = {
    "approvers": (list, []),
    "max_deletes": (int, 500),
    "max_delete_percent": (float, 10.0),
    "protected": (list, []),
    "builder_confirm": (int, 10),
    "approval_expiry_hours": (float, 24.0),
    "web_roles": (dict, {}),
    "oidc_roles": (dict, {}),
}
LIMITS = ("max_deletes", "max_delete_percent", "builder_confirm", "approval_expiry_hours")  # lower is tighter
ROLE_RANK = {"viewer": 0, "operator": 1, "approver": 2}


def _moved(variable: str, fixed: Path) -> Path | None:
    """A place only root may move on a machine set up for bulkprov: the variable is read when the process runs
    as root, or where the fixed place does not exist (nobody set this machine up: a developer's, whose
    records and policy are their own anyway -- the test suite keeps its own there, as any user)."""
    value = os.environ.get(variable, "").strip()
    return Path(value) if value and (os.getuid() == 0 or not _exists(fixed)) else None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a place this person may not even look at is there, set up by someone else
        return True


def policy_dir() -> Path:
    return _moved(POLICY_DIR_ENV, POLICY_DIR) or POLICY_DIR


def records_dir() -> Path:
    """Where audit trails and approval requests live (see the module docstring)."""
    moved = _moved(RECORDS_DIR_ENV, RECORDS_DIR)
    if moved is not None:
        return moved
    if RECORDS_DIR.is_dir() or os.getuid() == 0:
        return RECORDS_DIR
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "bulkprov"


def service_uid() -> int | None:
    """The service account: whoever owns the records directory (None while it does not exist)."""
    try:
        return records_dir().stat().st_uid
    except OSError:
        return None


@dataclass(frozen=True)
class Account:
    """A Kore.ai account as bulkprov knows it: the host and the app's client id."""

    host: str
    client_id: str

    @property
    def key(self) -> str:
        """A file name for the account's records: readable, and unique by a short hash."""
        where = urlsplit(self.host)
        readable = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{where.netloc}{where.path}--{self.client_id}")[:80]
        digest = hashlib.sha256(f"{self.host}\n{self.client_id}".encode()).hexdigest()[:10]
        return f"{readable}-{digest}"

    def __str__(self) -> str:
        return f"{self.host} ({self.client_id})"


def account_of(host: str | None, credentials: Any) -> Account | None:
    """The account a run talks to, or None when it talks to none (validate, a dry run without credentials)."""
    if not host or credentials is None:
        return None
    from bulkprov.kore.hosts import normalize_host

    app = getattr(credentials, "app_id", None) or credentials.fingerprint()
    return Account(normalize_host(host), str(app))


@dataclass
class Policy:
    """The account's guards, approvers and page roles, and where they came from."""

    approvers: list[str] = field(default_factory=list)
    max_deletes: int = 500
    max_delete_percent: float = 10.0
    protected: list[str] = field(default_factory=list)
    builder_confirm: int = 10
    approval_expiry_hours: float = 24.0
    web_roles: dict[str, str] = field(default_factory=dict)
    oidc_roles: dict[str, str] = field(default_factory=dict)
    file: str = ""          # the policy file, or "" when a profile (or the defaults) are the policy
    notice: str = ""        # said once by the front end: the profile acts as the policy

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in POLICY_KEYS}

    @property
    def digest(self) -> str:
        """Identity of what the policy says (the audit trail records a change of it)."""
        blob = json.dumps(self.values(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def tightened(self, **limits: Any) -> Policy:
        """This policy, stricter where ``limits`` are (a run's own settings): never looser."""
        out = Policy(**{**asdict(self)})
        for key in LIMITS:
            if limits.get(key) is not None:
                setattr(out, key, min(getattr(out, key), limits[key]))
        extra = [p for p in limits.get("protected") or [] if p not in out.protected]
        out.protected = [*out.protected, *extra]
        return out


def is_protected(email: str, org_user_id: str, patterns: Iterable[str]) -> bool:
    """A protected user: an entry with ``@`` matches the email (``svc-*@acme-corp.com``), any other the
    orgUserId (``E000001``, ``ADM-*``); case does not matter."""
    email, org = email.casefold(), org_user_id.casefold()
    for pattern in patterns:
        p = pattern.casefold()
        if "@" in p:
            if email and fnmatch.fnmatchcase(email, p):
                return True
        elif org and fnmatch.fnmatchcase(org, p):
            return True
    return False


# -- is a file believed? -------------------------------------------------------------------------------------


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _why_untrusted(path: Path, person: Person, trusted: set[int], groups: set[int], ancestor: bool) -> str:
    """Why ``path`` may not be believed ("" when it may)."""
    info = path.stat()
    if info.st_uid not in trusted:
        return _("{path} is owned by {owner}").format(path=path, owner=name_of(info.st_uid))
    if person.uid == 0 or _read_only(path):
        return ""  # root may change anything anyway; a read-only mount cannot be changed by anyone
    mode = info.st_mode
    writable = (info.st_uid == person.uid or (mode & stat.S_IWGRP and info.st_gid in groups)
                or mode & stat.S_IWOTH)
    if writable and ancestor and stat.S_ISDIR(mode) and mode & stat.S_ISVTX and info.st_uid != person.uid:
        return ""  # a sticky directory (/tmp): others' entries in it cannot be renamed or removed
    if writable:
        return _("{path} is writable by {person}").format(path=path, person=person.name)
    return ""


def why_untrusted(path: Path, person: Person | None = None) -> str:
    """Why a policy file (or folder) may not be believed: its owner, or who may write it and every folder
    above it; "" when it may be believed."""
    person = person or cli_person()
    trusted = {0} | ({uid} if (uid := service_uid()) is not None else set())
    groups = groups_of(person)
    chain = [path, *path.parents]
    real = path.resolve()
    chain += [p for p in (real, *real.parents) if p not in chain]  # a symlink (a ConfigMap's ..data) and its target
    for i, step in enumerate(chain):
        try:
            reason = _why_untrusted(step, person, trusted, groups, ancestor=i > 0 and step != real)
        except OSError as exc:
            return f"{step}: {exc.strerror or exc}"
        if reason:
            return reason
    return ""


# -- reading the policy ----------------------------------------------------------------------------------------


def _checked_value(file: Path, key: str, value: Any) -> Any:
    kind = POLICY_KEYS[key][0]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PolicyProblem("type", file=str(file), key=key, kind=kind.__name__, value=value)
    if key in ("web_roles", "oidc_roles") and any(v not in ROLE_RANK for v in value.values()):
        raise PolicyProblem("type", file=str(file), key=key, kind="table of viewer / operator / approver",
                            value=value)
    return value


def _read(file: Path, person: Person) -> dict[str, Any]:
    from bulkprov.io.shared.guard import read_small, why_unreadable

    reason = why_untrusted(file, person)
    if reason:
        raise PolicyProblem("untrusted", file=str(file), reason=reason, person=person.name)
    try:
        data = tomllib.loads(read_small(file).decode("utf-8"))
    except OSError as exc:
        raise PolicyProblem("unreadable", file=str(file), reason=why_unreadable(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyProblem("unreadable", file=str(file), reason=str(exc)) from None
    if not isinstance(data.get("host"), str) or not isinstance(data.get("client_id"), str):
        raise PolicyProblem("account", file=str(file))
    values = {}
    for key, value in data.items():
        if key in ("host", "client_id"):
            continue
        if key not in POLICY_KEYS:
            raise PolicyProblem("unknown", file=str(file), key=key, known=", ".join(sorted(POLICY_KEYS)))
        values[key] = _checked_value(file, key, value)
    return {"host": data["host"], "client_id": data["client_id"], **values}


def policy_file(account: Account, person: Person | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The account's policy file and what it says, or None.  Every file of the folder is checked: one that
    cannot be believed stops everything (it might be the account's)."""
    from bulkprov.kore.hosts import normalize_host

    folder = policy_dir()
    if not folder.exists():
        return None
    person = person or cli_person()
    reason = why_untrusted(folder, person)
    if reason:
        raise PolicyProblem("untrusted", file=str(folder), reason=reason, person=person.name)
    found: tuple[Path, dict[str, Any]] | None = None
    for file in sorted(folder.glob("*.toml")):
        values = _read(file, person)
        try:
            host = normalize_host(values["host"])
        except Exception as exc:  # noqa: BLE001 -- a bad host in a policy is that policy's problem
            raise PolicyProblem("unreadable", file=str(file), reason=str(exc)) from None
        if host == account.host and values["client_id"] == account.client_id:
            if found is not None:
                raise PolicyProblem("twice", account=str(account), first=str(found[0]), second=str(file))
            found = (file, values)
    return found


def _loosens(key: str, mine: Any, theirs: Any) -> bool:
    """Would a profile's ``mine`` loosen the policy's ``theirs``?"""
    if key in LIMITS:
        return mine > theirs
    if key == "approvers":
        allowed = {a.casefold() for a in theirs}
        return any(a.casefold() not in allowed for a in mine)
    if key == "web_roles":  # a local user the policy does not name is an operator
        return any(ROLE_RANK[r] > ROLE_RANK[theirs.get(name, "operator")] for name, r in mine.items())
    if key == "oidc_roles":  # a group the policy does not map gives no access at all
        return any(group not in theirs or ROLE_RANK[r] > ROLE_RANK[theirs[group]] for group, r in mine.items())
    return False  # protected: a profile adds to it, never removes


def policy_for(account: Account | None, profile: dict[str, Any], person: Person | None = None) -> Policy:
    """The account's policy: its policy file tightened by the profile, or the profile's own keys when the
    account has no policy file (see the module docstring)."""
    found = policy_file(account, person) if account is not None else None
    mine = {k: v for k, v in profile.items() if k in POLICY_KEYS}
    if found is None:
        policy = Policy(**{k: v for k, v in {**{k: d for k, (_t, d) in POLICY_KEYS.items()}, **mine}.items()})
        if mine:
            policy.notice = _("the profile's {keys} act as this account's policy; move them to a policy file in {folder} "
                              "so that no config file can loosen them").format(keys=", ".join(sorted(mine)),
                                                                             folder=policy_dir())
        return policy
    file, theirs = found
    base = {k: theirs.get(k, default) for k, (_t, default) in POLICY_KEYS.items()}
    merged = dict(base)
    for key, value in mine.items():
        if _loosens(key, value, base[key]):
            raise PolicyProblem("loosens", key=key, value=value, account=str(account), file=str(file), policy=base[key])
        if key == "protected":
            value = [*base[key], *(p for p in value if p not in base[key])]
        elif key in ("web_roles", "oidc_roles"):
            value = {**base[key], **value}
        merged[key] = value
    return Policy(**merged, file=str(file))
