"""Where the account is and how to sign in to it, as the command line says: the host (a flag, a profile, the
environment or a .env file), the credentials, and whether ``validate`` (and a dry run) goes online."""

from __future__ import annotations

import argparse
from pathlib import Path

from bulkprov.cli.output import emit
from bulkprov.cli.wording import say


def _validate_host(args: argparse.Namespace, profile: dict) -> str | None:
    """The host validate checks names against: given by --host, a profile, or the --env-file named -- never
    KORE_HOST from the environment alone (a validate must not start talking to an account unasked)."""
    from bulkprov.config import resolve
    from bulkprov.kore.auth import host_from_sources

    host = resolve("host", args.host, profile)
    if not host and getattr(args, "env_file", None):
        host = host_from_sources(env={}, env_file=args.env_file)
    return host or None


def _dry_run_credentials(args: argparse.Namespace, profile: dict):
    """A dry run checks names against the account when it can sign in; without credentials it stays offline
    and says so (a dry run never needs them)."""
    from bulkprov.config import resolve
    from bulkprov.errors import BulkprovError

    if not (resolve("host", args.host, profile) or _env_host(args.env_file)):
        return None
    try:
        return _credentials(args)
    except BulkprovError:
        if not args.quiet:
            emit(say("dry-run-offline"), err=True)
        return None


def _require_host(host: str | None) -> None:
    if not host:
        from bulkprov.errors import NoHost

        raise NoHost()  # printed with HINTS["host"], which names --host and --profile


def _credentials(args: argparse.Namespace):
    from bulkprov.kore.auth import Credentials, env_file_or_default

    return Credentials.from_sources(env_file=env_file_or_default(args.env_file), secret_file=args.secret_file)


def _env_host(env_file: str | Path | None) -> str | None:
    """KORE_HOST from the environment, else from the .env file the credentials come from."""
    from bulkprov.kore.auth import env_file_or_default, host_from_sources

    return host_from_sources(env_file=env_file_or_default(env_file))
