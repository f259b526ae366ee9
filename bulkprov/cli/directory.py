"""``bulkprov directory`` and ``bulkprov template --from-account``: the account's names, on the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from bulkprov.cli.output import emit
from bulkprov.cli.wording import _, _cli_phrasing, say
from bulkprov.errors import UsageProblem


def _settings(args: argparse.Namespace, command: str, **fields):
    """The settings of a directory read: the profile, the connection options, the state directory."""
    from bulkprov.cli.commands import _check_rate, _setup_logging, _state_dir_of
    from bulkprov.cli.connection import _credentials, _env_host, _require_host
    from bulkprov.config import config_path, job_settings, load_profile, resolve

    profile = load_profile(config_path(args.config), args.profile)
    _require_host(resolve("host", args.host, profile) or _env_host(resolve("env_file", args.env_file, profile)))
    if any(resolve(name, getattr(args, name, None), profile) < 1 for name in ("max_attempts",)):
        raise UsageProblem(reason=_("--max-attempts must be at least 1"))
    if getattr(args, "directory_max_age_hours", None) is not None and args.directory_max_age_hours < 0:
        raise UsageProblem(reason=_("--directory-max-age-hours must be 0 or more"))
    _check_rate(resolve("rate", args.rate, profile))
    args.env_file = resolve("env_file", args.env_file, profile)
    args.secret_file = resolve("secret_file", args.secret_file, profile)
    credentials = _credentials(args)
    _setup_logging(resolve("log_format", args.log_format, profile), args.quiet)
    overrides = {name: getattr(args, name, None) for name in ("host", "rate", "max_attempts", "timeout", "env_file",
                                                                "directory_max_age_hours")}
    overrides["concurrency"] = 1  # one request at a time: the listings are read page after page
    overrides["state_dir"] = _state_dir_of(args)  # the directory is kept there for the runs after this one
    settings = job_settings(command, profile, overrides, credentials=credentials, phrasing=_cli_phrasing(), **fields)
    return settings, credentials


def cmd_directory(args: argparse.Namespace) -> int:
    from bulkprov.jobs.directory import write_account_directory

    settings, credentials = _settings(args, "directory", output=args.output, replace_output=args.replace_output)
    outcome = write_account_directory(settings, credentials)  # what was not read whole is logged as a warning
    directory = outcome.directory
    emit(say("directory", roles=len(directory.roles), bots=len(directory.bots), groups=len(directory.groups),
             requests=outcome.requests, path=outcome.path), exit_code=outcome.exit_code)
    return outcome.exit_code


ACCOUNT_OPTIONS = ("config", "profile", "host", "env_file", "secret_file", "rate", "max_attempts", "timeout",
                   "state_dir", "directory_max_age_hours")


def refuse_account_options(args: argparse.Namespace) -> None:
    """A template without --from-account reads no account: its connection options would be ignored silently."""
    given = [name for name in ACCOUNT_OPTIONS if getattr(args, name, None) is not None]
    if given or args.refresh_directory:
        named = ", ".join("--" + n.replace("_", "-") for n in [*given, *(["refresh_directory"] if
                                                                          args.refresh_directory else [])])
        raise UsageProblem(reason=_("{options}: only with --from-account (a template reads no account "
                                    "otherwise)").format(options=named))


def cmd_template(args: argparse.Namespace) -> int:
    """``bulkprov template``: from the account with --from-account, else the schema's (with its examples)."""
    from bulkprov.cli.commands import cmd_template as plain_template

    if args.from_account:
        return cmd_template_from_account(args)
    refuse_account_options(args)
    return plain_template(args)


def cmd_template_from_account(args: argparse.Namespace) -> int:
    """The template with the account's roles, bots and groups (kept copy while young, unless refreshed)."""
    from bulkprov.io.writers.xlsx import check_new
    from bulkprov.jobs.directory import read_account_directory
    from bulkprov.outputs.template import write_template

    if Path(args.output).suffix.lower() == ".csv":
        raise UsageProblem(reason=_("--from-account fills the Roles, Bots and Groups sheets and the dropdowns of a "
                                    "workbook: name the template .xlsx"))
    check_new(args.output, replace=args.replace_output)  # before the account is read
    settings, credentials = _settings(args, "template")
    outcome = read_account_directory(settings, credentials, refresh=args.refresh_directory)
    path = write_template(args.output, replace=args.replace_output, directory=outcome.directory)
    directory = outcome.directory
    key = "template-account" if outcome.source == "read" else "template-account-kept"
    emit(say(key, roles=len(directory.roles), bots=len(directory.bots), groups=len(directory.groups), path=path,
             read_at=directory.read_at))
    return outcome.exit_code


COMMANDS = {"template": cmd_template, "directory": cmd_directory}
