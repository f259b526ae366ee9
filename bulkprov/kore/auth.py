"""Kore.ai credentials: where they come from, the JWT they make, and how they stay secret.

The Kore.ai admin API authenticates every call with a header ``auth: <JWT>``: an HS256 token
signed with the app's client secret, whose claims carry ``appId`` (the client id) and ``sub``.
An account may enforce a unique ``jti`` per token, so :class:`Credentials` mints a *fresh*
token for every request (``iat`` now, ``exp`` 60 s later, ``jti`` a random uuid4): a retried
request never reuses a token, and a token captured from a log or a proxy is useless a minute
later.  A ready token (``KORE_JWT``) is also accepted and passed through unchanged.

Secrets never travel on the command line.  :meth:`Credentials.from_sources` reads them from,
in order of precedence:

* ``secret_file`` -- a file whose whole (stripped) content is the client secret, the way
  Docker and Kubernetes mount secrets; an explicit argument, so it wins for the secret;
* the real environment: ``KORE_CLIENT_ID``, ``KORE_CLIENT_SECRET`` (or
  ``KORE_CLIENT_SECRET_FILE`` naming a secret file), ``KORE_JWT``;
* a ``.env``-style file (``KEY=VALUE`` lines, ``#`` comments, optional quotes, optional
  ``export`` prefix); a relative ``KORE_CLIENT_SECRET_FILE`` in it is relative to the file.

Each key is taken from the first source that has it.  When both a client id + secret and a
ready JWT are available, the client credentials win (they give fresh tokens).

The secret and the token live in private attributes; ``repr``/``str`` show only the client id,
and no exception raised here ever includes a secret or a token -- only the names of the
variables or files involved.  :meth:`Credentials.fingerprint` is the non-secret identity that
ledgers and result workbooks record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import jwt

from bulkprov.errors import NoCredentials
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.guard import read_small, why_unreadable

log = logging.getLogger(__name__)

ENV_CLIENT_ID = "KORE_CLIENT_ID"
ENV_CLIENT_SECRET = "KORE_CLIENT_SECRET"
ENV_CLIENT_SECRET_FILE = "KORE_CLIENT_SECRET_FILE"
ENV_JWT = "KORE_JWT"
ENV_HOST = "KORE_HOST"
DEFAULT_ENV_FILE = ".env"

TOKEN_LIFETIME = 60
"""Seconds between ``iat`` and ``exp`` of the tokens we mint (one request needs far less)."""



class Credentials:
    """Client id + secret (a fresh HS256 JWT per request), or a ready token.

    Claims of a minted token: ``appId`` (client id), ``sub`` (``subject``), ``iat``,
    ``exp = iat + 60`` and a unique ``jti`` (uuid4 hex).
    """

    __slots__ = ("_client_id", "_secret", "_jwt", "_subject")

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        jwt: str | None = None,
        subject: str = "bulkprov",
    ) -> None:
        client_id = (client_id or "").strip() or None
        client_secret = (client_secret or "").strip() or None
        token = _clean_token(jwt)
        if client_id and client_secret:
            self._client_id: str | None = client_id
            self._secret: str | None = client_secret
            self._jwt: str | None = None
        elif token:
            _check_token_shape(token)
            self._client_id, self._secret, self._jwt = None, None, token
        elif client_id:
            raise NoCredentials("partial", have=ENV_CLIENT_ID, missing=ENV_CLIENT_SECRET)
        elif client_secret:
            raise NoCredentials("partial", have=ENV_CLIENT_SECRET, missing=ENV_CLIENT_ID)
        else:
            raise NoCredentials()
        self._subject = subject or "bulkprov"

    # -- tokens ---------------------------------------------------------------------------

    def token(self) -> str:
        """A token for one request: freshly minted (new ``jti``) or the ready JWT."""
        if self._jwt is not None:
            return self._jwt
        now = int(time.time())
        claims = {
            "appId": self._client_id,
            "sub": self._subject,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        with warnings.catch_warnings():
            # The platform chooses the secret's length; warning on every request helps nobody.
            warnings.simplefilter("ignore", jwt_warning_class())
            return jwt_encode(claims, self._secret)

    # -- identity -------------------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """The client id (not a secret), or None for a ready token."""
        return self._client_id

    @property
    def app_id(self) -> str | None:
        """The app's client id: given, or the ready token's ``appId`` claim (read, not verified: the server
        verifies it); None when a ready token names none."""
        if self._client_id:
            return self._client_id
        app_id = _unverified_claims(self._jwt or "").get("appId")
        return app_id if isinstance(app_id, str) and app_id else None

    @property
    def uses_ready_token(self) -> bool:
        return self._jwt is not None

    def fingerprint(self) -> str:
        """A non-secret identity for ledgers and results.

        The client id itself, or for a ready token ``jwt:`` + the first 8 hex digits of the
        SHA-256 of its ``appId`` claim (of the whole token when it has none).
        """
        if self._client_id:
            return self._client_id
        assert self._jwt is not None
        app_id = _unverified_claims(self._jwt).get("appId")
        material = app_id if isinstance(app_id, str) and app_id else self._jwt
        return "jwt:" + hashlib.sha256(material.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        if self._jwt is not None:
            return "Credentials(jwt=***)"
        return f"Credentials(client_id={self._client_id!r}, secret=***)"

    __str__ = __repr__

    def __reduce__(self):  # pickling would write the secret somewhere: refuse
        raise TypeError("Credentials cannot be pickled (they hold a secret)")

    # -- sources --------------------------------------------------------------------------

    @classmethod
    def from_sources(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        env_file: str | Path | None = None,
        secret_file: str | Path | None = None,
    ) -> Credentials:
        """Credentials from ``secret_file``, the environment and a ``.env`` file (see module doc)."""
        environ: Mapping[str, str] = os.environ if env is None else env
        file_values: dict[str, str] = {}
        file_dir = Path.cwd()
        if env_file is not None:
            env_path = Path(env_file).expanduser()
            file_values = read_env_file(env_path)
            file_dir = env_path.parent

        def pick(key: str) -> str | None:
            """``key`` from the environment first, then the file (empty values do not count)."""
            return (environ.get(key) or "").strip() or (file_values.get(key) or "").strip() or None

        client_id = pick(ENV_CLIENT_ID)
        token = pick(ENV_JWT)

        secret: str | None = None
        if secret_file is not None:
            secret = read_secret_file(secret_file)
        else:
            for values, base in ((environ, Path.cwd()), (file_values, file_dir)):
                direct = (values.get(ENV_CLIENT_SECRET) or "").strip()
                if direct:
                    secret = direct
                    break
                named = (values.get(ENV_CLIENT_SECRET_FILE) or "").strip()
                if named:
                    path = Path(named).expanduser()
                    if not path.is_absolute():
                        path = base / path
                    secret = read_secret_file(path, variable=ENV_CLIENT_SECRET_FILE)
                    break

        if client_id and secret and token:
            log.info(_("both client credentials and %s are set: using the client credentials of %s"),
                     ENV_JWT, client_id)
        if client_id and secret:
            return cls(client_id=client_id, client_secret=secret)
        if token:
            return cls(jwt=token)
        return cls(client_id=client_id, client_secret=secret)  # raises the right NoCredentials


# -- helpers ------------------------------------------------------------------------------


def jwt_warning_class() -> type[Warning]:
    """PyJWT's short-key warning class (absent in older PyJWT: then a harmless stand-in)."""
    return getattr(jwt, "InsecureKeyLengthWarning", _NoWarning)


class _NoWarning(Warning):
    pass


def jwt_encode(claims: dict, secret: str | None) -> str:
    token = jwt.encode(claims, secret or "", algorithm="HS256")
    return token if isinstance(token, str) else token.decode()  # PyJWT < 2 returned bytes


def _clean_token(token: str | None) -> str | None:
    token = (token or "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token or None


def _check_token_shape(token: str) -> None:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]) or not isinstance(_unverified_claims(token, strict=True), dict):
        raise NoCredentials("not-jwt")


def _unverified_claims(token: str, *, strict: bool = False) -> dict | None:
    """The payload of a JWT without checking its signature (only to read non-secret claims)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None if strict else {}
    if isinstance(data, dict):
        return data
    return None if strict else {}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out, i = [], 0
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while i < len(inner):
            ch = inner[i]
            if ch == "\\" and i + 1 < len(inner) and inner[i + 1] in escapes:
                out.append(escapes[inner[i + 1]])
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out)
    # Unquoted: an inline comment starts at whitespace + '#'.
    for sep in (" #", "\t#"):
        cut = value.find(sep)
        if cut != -1:
            value = value[:cut]
    return value.strip()


def parse_env_text(text: str) -> dict[str, str]:
    """Parse ``.env`` text: ``KEY=VALUE`` lines, comments, quotes, ``export`` prefix.

    Lines that are not assignments are skipped (reported by line number, never by content).
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            log.warning(_(".env line %d is not KEY=VALUE; skipped"), number)
            continue
        values[key] = _unquote(value)
    return values


def read_env_file(path: str | Path, *, warn: bool = True) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of a ``.env`` file (``warn``: say so when others may read it)."""
    path = Path(path)
    try:
        text = read_small(path).decode("utf-8-sig")
    except FileNotFoundError:
        raise NoCredentials("env-missing", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NoCredentials("env-unreadable", path=path, reason=_why(exc)) from None
    if warn:
        _warn_if_shared(path)
    return parse_env_text(text)


def env_file_or_default(env_file: str | Path | None) -> Path | None:
    """The ``.env`` file a front end reads: the one named, else ``./.env`` when there is one."""
    if env_file is not None:
        return Path(env_file)
    return Path(DEFAULT_ENV_FILE) if Path(DEFAULT_ENV_FILE).is_file() else None


def host_from_sources(*, env: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> str | None:
    """``KORE_HOST`` from the environment, else from the ``.env`` file: the precedence of the credentials
    (the file is read only when the environment has no host)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    host = (environ.get(ENV_HOST) or "").strip()
    if not host and env_file is not None:
        # No warning here: Credentials.from_sources reads the same file and warns once.
        host = (read_env_file(Path(env_file).expanduser(), warn=False).get(ENV_HOST) or "").strip()
    return host or None


def read_secret_file(path: str | Path, *, variable: str | None = None) -> str:
    """The whole stripped content of a secret file; never echoes the content in errors."""
    path = Path(path).expanduser()
    what = _("the secret file named by {variable}").format(variable=variable) if variable else _("the secret file")
    try:
        secret = read_small(path, limit=64 * 1024).decode("utf-8-sig").strip()
    except FileNotFoundError:
        raise NoCredentials("secret-missing", path=path, what=what) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NoCredentials("secret-unreadable", path=path, what=what, reason=_why(exc)) from None
    if not secret:
        raise NoCredentials("secret-empty", path=path, what=what)
    _warn_if_shared(path, level=logging.INFO)  # K8s mounts secrets 0644 by default: only a note
    return secret


def _why(exc: BaseException) -> str:
    return why_unreadable(exc) if isinstance(exc, OSError) else type(exc).__name__


def _warn_if_shared(path: Path, *, level: int = logging.WARNING) -> None:
    """Like ssh: say so when a file holding secrets is readable by group or others."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) and mode & 0o077:
        log.log(level, _("%s is readable by other users (mode %o); consider chmod 600"), path, mode & 0o777)
