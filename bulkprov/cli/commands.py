"""The commands: each turns its arguments into library calls and prints what a person needs."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bulkprov.cli.connection import (
    _credentials,
    _dry_run_credentials,
    _env_host,
    _require_host,
    _validate_host,
)
from bulkprov.cli.output import emit
from bulkprov.cli.parser import FILE_COMMANDS, ROSTER
from bulkprov.cli.wording import _, _cli_phrasing, _hint, headline, say, yes
from bulkprov.errors import UsageProblem
from bulkprov.model import Status

if TYPE_CHECKING:
    from bulkprov.jobs.export import ExportOutcome
    from bulkprov.jobs.settings import JobSettings

T = TypeVar("T")
EXIT_UNUSABLE, EXIT_ABORTED = 2, 3


def _state_dir_of(args: argparse.Namespace) -> Path:
    """The state directory a command works in: --state-dir, the profile's state_dir, beside FILE, or .bulkprov."""
    from bulkprov.errors import BulkprovError

    if getattr(args, "state_dir", None) is not None:
        return Path(args.state_dir)
    if hasattr(args, "profile"):
        from bulkprov.config import config_path, load_profile

        try:
            chosen = load_profile(config_path(getattr(args, "config", None)), args.profile).get("state_dir")
        except BulkprovError:
            chosen = None
        if chosen:
            return Path(chosen)
    if getattr(args, "file", None) is not None:
        return Path(args.file).resolve().parent / ".bulkprov"
    return Path(".bulkprov")


def state_dir_problem(args: argparse.Namespace, exc: OSError):
    """A file-system refusal inside the state directory or the account's records directory (another
    user's, 0700: the service account's) as ``state-dir-unusable``; None for anything else (a bug)."""
    import errno

    from bulkprov.errors import StateDirUnusable

    if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not exc.filename:
        return None
    from bulkprov.approvals.policy import records_dir

    where = Path(str(exc.filename)).absolute()
    for place in (_state_dir_of(args).absolute(), records_dir().absolute()):  # the run's, the account's records
        if where == place or place in where.parents:
            return StateDirUnusable(state_dir=str(place), reason=exc.strerror or str(exc))
    return None


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    from bulkprov.jobs.internal import internal_error

    error = internal_error(_state_dir_of(args), exc)
    emit(f"bulkprov: {error.message}", err=True, level="error", code=error.code, exit_code=error.exit_code)
    return error.exit_code


# -- commands --------------------------------------------------------------------------------------


def cmd_template(args: argparse.Namespace) -> int:
    from bulkprov.outputs.template import write_template

    path = write_template(args.output, replace=args.replace_output)  # in the language main() chose
    print(say("template", path=path))
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from bulkprov.config import config_path, load_profile, resolve
    from bulkprov.jobs import run_job
    from bulkprov.logs import ProgressPrinter

    profile = load_profile(config_path(args.config), args.profile)  # validate too: its lang, strict_ids, host
    log_format = resolve("log_format", getattr(args, "log_format", None), profile)
    args.env_file = resolve("env_file", getattr(args, "env_file", None), profile)
    args.secret_file = resolve("secret_file", getattr(args, "secret_file", None), profile)
    _check_usage(args, profile)
    json_lines = log_format == "json"
    _setup_logging(log_format, args.quiet)
    _invocation(args, profile)  # the night's run id, before its first line (the credentials' warnings too)
    credentials = None
    reads_account = args.command in ROSTER  # even a dry run compares with the live account
    if args.command == "validate":
        args.online_host = _validate_host(args, profile)
        if args.online_host:
            credentials = _credentials(args)
    elif reads_account or not args.dry_run:
        credentials = _before_the_run(args, lambda: _settings(args, profile, None), lambda: _credentials(args))
    else:
        credentials = _dry_run_credentials(args, profile)
    settings = _settings(args, profile, credentials)
    approvers = settings.approvals.approvers if settings.approvals else []
    outcome = run_job(args.file, settings, credentials=credentials,
                      progress=ProgressPrinter(enabled=not args.quiet, bar=not json_lines),
                      confirm=None if approvers else _confirm)
    if args.command == "validate" and not args.quiet:  # online or offline: one line, before the outcome's
        online = getattr(args, "online_host", None)
        emit(say("validate-online", host=online) if online else say("validate-offline"), err=True)
    _print_outcome(outcome, args.quiet, settings.phrasing.typed)
    return outcome.exit_code


def _before_the_run(args: argparse.Namespace, settings: Callable[[], JobSettings], step: Callable[[], T]) -> T:
    """A step before the run (the credentials): a refusal there is still a night with its run id, its
    webhook and its line in ``runs`` (``settings`` makes the run's settings, as far as they can be known)."""
    from bulkprov.errors import BulkprovError

    try:
        return step()
    except BulkprovError as exc:
        import asyncio

        from bulkprov.jobs.runs import report_refusal
        from bulkprov.jobs.settings import now_text

        asyncio.run(report_refusal(Path(args.file), settings(), exc, now_text()))
        raise


def _confirm(what: str, count: int) -> bool:
    """On a terminal, ask before handing out Builder access widely (only where nobody approves: a yes is an
    override, and the audit trail records it); unattended, the guard stands."""
    if what != "builder" or not sys.stdin.isatty():
        return False
    return yes(input(say("builder-confirm", count=count)))


ALLOW = ("allow_deletes", "allow_builder", "allow_role_removals", "allow_protected")


def _check_usage(args: argparse.Namespace, profile: dict) -> None:
    """What the command line itself gets wrong, said in its own words (flags), before anything else."""
    from bulkprov.config import resolve

    if args.command == "validate":
        return
    if any(resolve(name, getattr(args, name, None), profile) < 1 for name in ("batch_size", "concurrency",
                                                                              "max_attempts")):
        raise UsageProblem(reason=_("--batch-size, --concurrency and --max-attempts must be at least 1"))
    if getattr(args, "resume", False) and (getattr(args, "force", False) or getattr(args, "retry_failed", None)):
        raise UsageProblem(reason=_("--resume cannot be combined with --force or --retry-failed"))
    host = resolve("host", args.host, profile) or _env_host(args.env_file)
    if not args.dry_run or args.command in ROSTER:
        _require_host(host)
    _check_rate(resolve("rate", args.rate, profile))


def _settings(args: argparse.Namespace, profile: dict, credentials):
    """The run's settings: :func:`bulkprov.config.job_settings`, the one function every front end uses."""
    import socket

    from bulkprov.approvals.identity import cli_person
    from bulkprov.config import RUN_SETTINGS, job_settings, resolve
    from bulkprov.io import LoaderLimits

    limits = LoaderLimits()
    if args.max_rows:
        limits = _replace(limits, max_rows=args.max_rows)
    if args.max_file_mb:
        limits = _replace(limits, max_bytes=int(args.max_file_mb * 1024 * 1024))
    fields = dict(sheet=args.sheet, output=args.output, replace_output=args.replace_output, encoding=args.encoding,
                  results_format=args.results_format or _format_of(args.output), lookups_file=args.lookups,
                  limits=limits, command_line=" ".join(shlex.quote(a) for a in ["bulkprov", *sys.argv[1:]]),
                  phrasing=_cli_phrasing(args), dry_run=getattr(args, "dry_run", False),
                  resume=getattr(args, "resume", False), force=getattr(args, "force", False),
                  retry_failed=getattr(args, "retry_failed", None), use_ledger=not getattr(args, "no_ledger", False),
                  plan_file=getattr(args, "plan", None), **{name: getattr(args, name, None) for name in ALLOW})
    fields["refresh_directory"] = bool(getattr(args, "refresh_directory", False))
    overrides = {name: getattr(args, name, None) for name in RUN_SETTINGS}
    overrides["env_file"] = getattr(args, "env_file", None)  # resolved from the profile by cmd_file
    if args.command == "validate":  # the profile's lang, strict_ids, ignore_columns... as for every command
        # offline unless a host was given by a flag or a profile: no account to compare lookup sheets with
        return replace(job_settings("validate", profile, overrides, **fields), host=getattr(args, "online_host", None))
    from bulkprov.logs import current_run_id

    person = cli_person()
    overrides["settle"] = _settle(resolve("settle", getattr(args, "settle", None), profile), args)
    settings = job_settings(args.command, profile, overrides, credentials=credentials, person=person.name,
                            where=f"cli@{socket.gethostname()}", source="cli",
                            run_id=current_run_id() or None,  # chosen by _invocation before the first line
                            **fields)
    if settings.approvals.approvers and any(getattr(args, name, None) for name in ALLOW):
        raise UsageProblem(reason=_("this account's policy names approvers: a second person approves with "
                                    "`bulkprov approve ID`, not --allow-deletes / --allow-builder / "
                                    "--allow-role-removals / --allow-protected"))
    return settings


def _invocation(args: argparse.Namespace, profile: dict) -> None:
    """The run id of this night, before anything else is printed (an interrupted run's own id when
    --resume finishes it): it needs only where the ledger is, not the account."""
    from bulkprov.config import job_settings
    from bulkprov.jobs.runs import invocation_run_id
    from bulkprov.logs import set_run_id

    if args.command == "validate":
        return
    needed = ("host", "state_dir", "env_file")  # where the ledger is: nothing else is known or said yet
    where = job_settings(args.command, {k: v for k, v in profile.items() if k in needed},
                         {name: getattr(args, name, None) for name in needed}, resume=getattr(args, "resume", False),
                         use_ledger=not getattr(args, "no_ledger", False))
    set_run_id(invocation_run_id(Path(args.file), where))


def _settle(value: float | None, args: argparse.Namespace) -> float:
    """How long FILE must be unchanged before it is read: as asked, else 10 s for a sync or a profile's
    run when nobody sits at a terminal (a scheduler's: an HR export may still be being written), else 0."""
    if value is not None:
        if value < 0:
            raise UsageProblem(reason=_("--settle must be 0 or more seconds"))
        return float(value)
    unattended = args.command == "sync" or bool(getattr(args, "profile", None))
    return 10.0 if unattended and not sys.stdin.isatty() else 0.0


def _format_of(output: Path | None) -> str:
    """The results format an -o name asks for (results.csv: csv), when --results-format does not say."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return suffix if suffix in ("csv", "jsonl") else "xlsx"


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _setup_logging(fmt: str, quiet: bool) -> None:
    from bulkprov.logs import configure_logging

    configure_logging(fmt, logging.WARNING if quiet else logging.INFO)


def _print_outcome(outcome, quiet: bool, typed: dict | None = None) -> None:
    """One summary block: counts, the top reasons, the first rows to look at, the workbook, the next step
    (``typed``: the arguments as given, for the next step's command line).  Quiet, one line.  With JSON logs
    each line is a JSON object; the counts line carries the outcome as data."""
    summary = outcome.summary
    totals = summary.status_totals()
    if typed is not None:
        counts = headline(typed["command"], bool(typed.get("dry_run")), totals)
    else:
        counts = f"{summary.command}: " + (", ".join(f"{n:,} {s}" for s, n in sorted(totals.items())) or say("no-rows"))
    codes = [e.code for e in outcome.stop_errors]
    shown_codes = "".join(f" [{c}]" for c in codes)
    data = dict(event="outcome", exit_code=outcome.exit_code, totals=dict(totals), codes=codes,
                results_path=str(Path(outcome.results_path).absolute()),
                undo_path=str(Path(outcome.undo_path).absolute()) if outcome.undo_path else None)
    if quiet:  # one line for a scheduler's log: the counts, the workbook, and why the run stopped if it did
        aborted = "; " + say("aborted-line", reason=summary.aborted) + shown_codes if summary.aborted else ""
        emit(say("quiet", headline=counts, path=outcome.results_path) + aborted, **data)
        return
    for warning in summary.warnings:
        emit(say("warning", warning=warning), err=True, level="warning")
    if summary.aborted:
        hints = [h for h in (_hint(e) for e in outcome.stop_errors) if h]
        emit(say("aborted-line", reason=summary.aborted) + shown_codes + "".join(f"; {h}" for h in hints),
             err=True, level="error", codes=codes, exit_code=outcome.exit_code)
    emit(counts, **data)
    _print_attention(outcome, summary.command == "validate")
    emit(say("results", path=outcome.results_path))
    if outcome.undo_path is not None:
        emit(say("undo-file", path=outcome.undo_path))
    _print_next(outcome, typed)


def _print_next(outcome, typed: dict | None) -> None:
    """The next step as a command line to copy: after a dry run, the run itself; after rows that need
    attention, the file to fix and run again, with the options that make it the same run -- for sync and
    plan the roster itself, never a partial file (a sync removes the users a roster does not list)."""
    from bulkprov.cli.wording import next_run

    command = outcome.summary.command.split()[0]
    if command in ROSTER:
        if outcome.attention_total:
            emit(say("next-roster", roster=_short(Path(outcome.summary.input_path))))
        return
    if typed is None:
        if outcome.attention_total:
            emit(say("next", command=command, results=_short(outcome.results_path)))
        return
    stop = outcome.stop_errors[0] if outcome.stop_errors else None
    if stop is not None:
        from bulkprov.cli.wording import GUARD_FLAGS, next_after_stop

        after = next_after_stop(typed, stop)
        if after is not None:
            kind, line = after
            emit(say(f"next-{kind}", command=line, request_id=stop.params.get("request_id", ""),
                     flag=GUARD_FLAGS.get(stop.variant, "")))
        return
    if not typed.get("dry_run") and not outcome.attention_total:
        return
    kind, line = next_run(typed, Path(outcome.results_path), _short(outcome.results_path))
    emit(say(f"next-{kind}", command=line, file=typed["file"]))


SHOWN_PROBLEMS, SHOWN_ROWS = 20, 5


def _print_attention(outcome, validating: bool) -> None:
    """What needs attention, on screen: the user should not have to open Excel to learn what is wrong.

    Rows a stopped run did not send are counted, not listed: the ABORTED line says why, once."""
    rows = list(outcome.rows_needing_attention())
    unsent = [r for r in rows if r.status == Status.NOT_ATTEMPTED]
    rows = [r for r in rows if r.status != Status.NOT_ATTEMPTED]
    if unsent:
        key = "not-sent-stopped" if outcome.summary.aborted else "not-sent"
        emit(say(key + ("-one" if len(unsent) == 1 else ""), count=f"{len(unsent):,}"))
    if not rows:
        return
    reasons = Counter(r.error_code or r.status for r in rows)
    top = ", ".join(f"{n:,} × {code}" for code, n in reasons.most_common(6))
    more = len(reasons) - 6
    key = "attention-more" if more > 0 else "attention-one" if len(rows) == 1 else "attention"
    emit(say(key, count=f"{len(rows):,}", top=top, more=more))
    problems = [(r, e) for r in rows for e in (r.errors or (None,))]
    limit = SHOWN_PROBLEMS if validating else SHOWN_ROWS
    for result, error in problems[:limit]:
        who = result.email or result.org_user_id
        if error is not None:
            emit(say("row-problem", row=result.row, column=error.shown_column, code=error.code,
                     message=error.message), row=result.row, code=error.code)
        elif result.ref.synthetic:
            emit(f"  {who}: {result.error_code or result.status} — {result.reason}", code=result.error_code)
        else:
            emit(say("row-outcome", row=result.row, who=who, code=result.error_code or result.status,
                     reason=result.reason), row=result.row, code=result.error_code or result.status)
    if len(problems) > limit:
        emit(say("more-rows", count=f"{len(problems) - limit:,}"))


def cmd_export(args: argparse.Namespace) -> int:
    from bulkprov.config import config_path, job_settings, load_profile, resolve
    from bulkprov.jobs.export import export_account
    from bulkprov.logs import ProgressPrinter

    profile = load_profile(config_path(args.config), args.profile)
    _require_host(resolve("host", args.host, profile) or _env_host(resolve("env_file", args.env_file, profile)))
    if any(resolve(name, getattr(args, name, None), profile) < 1 for name in ("concurrency", "max_attempts")):
        raise UsageProblem(reason=_("--concurrency and --max-attempts must be at least 1"))
    _check_rate(resolve("rate", args.rate, profile))
    args.env_file = resolve("env_file", args.env_file, profile)
    args.secret_file = resolve("secret_file", args.secret_file, profile)
    credentials = _credentials(args)
    log_format = resolve("log_format", args.log_format, profile)
    _setup_logging(log_format, args.quiet)
    overrides = {name: getattr(args, name, None) for name in ("host", "rate", "concurrency", "max_attempts",
                                                                "timeout", "state_dir", "env_file")}
    settings = job_settings("export", profile, overrides, credentials=credentials, output=args.output,
                            replace_output=args.replace_output, phrasing=_cli_phrasing())
    outcome = export_account(settings, credentials, progress=ProgressPrinter(enabled=not args.quiet,
                                                                             bar=log_format != "json"))
    _record_export(settings, outcome)
    for warning in outcome.warnings:
        emit(say("warning", warning=warning), err=True, level="warning")
    emit(say("export", users=outcome.users, requests=outcome.requests, path=outcome.path))
    return outcome.exit_code


def _record_export(settings: JobSettings, outcome: ExportOutcome) -> None:
    """An export writes every user of the account to a file: an audit record (who, where, how many)."""
    import socket

    from bulkprov.approvals.flow import audit
    from bulkprov.approvals.identity import cli_person

    if settings.account is not None:
        audit(settings.account, "export", cli_person().name, f"cli@{socket.gethostname()}", kind="account",
              output=str(outcome.path), users=outcome.users, exit_code=outcome.exit_code)


def _check_rate(rate: str) -> None:
    from bulkprov.send.limiter import parse_rate

    parse_rate(rate)  # a bad --rate (or a profile's rate) is bad-rate, before anything is read


def cmd_mock_server(args: argparse.Namespace) -> int:
    from bulkprov.emulator import EmulatorConfig, run_server
    from bulkprov.send.limiter import parse_rate

    config = EmulatorConfig.from_json(args.seed) if args.seed else EmulatorConfig()
    config.rate_windows = [] if args.rate == "none" else parse_rate(args.rate)
    config.fail_5xx, config.fail_rate = args.fail_5xx, args.fail_rate
    config.commit_then_drop, config.latency = args.commit_then_drop, args.latency
    config.max_users_per_request = args.max_users
    for name in ("replies", "rate_refusal", "other_client_rate", "prefill", "directory_offset"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    config.odd = [*config.odd, *(args.odd or [])]
    try:
        config.__post_init__()  # the same checks as a seed file's settings
    except ValueError as exc:
        raise UsageProblem(reason=str(exc)) from None
    run_server(args.port, host=args.bind, config=config)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bulkprov.cli.demo import run_demo, sample_data_dir
    from bulkprov.errors import FileNotFound

    try:
        return run_demo(args.out, args.data)
    except FileNotFound as exc:
        where = args.data or sample_data_dir()
        raise UsageProblem(reason=_("{path} is missing: the demo reads its sample files from {where} "
                                    "(pass --data DIR)").format(path=exc.path, where=where)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bulkprov.config import config_path, load_profile, resolve
    from bulkprov.kore.auth import Credentials, env_file_or_default
    from bulkprov.web import build_config, serve

    _setup_logging(args.log_format, quiet=False)
    profile = load_profile(config_path(args.config), args.profile)
    env_file = resolve("env_file", args.env_file, profile)
    _require_host(resolve("host", args.host, profile) or _env_host(env_file))
    if not 0 < args.max_upload_mb <= 500:
        raise UsageProblem(reason=_("--max-upload-mb must be between 0 and 500"))
    credentials = Credentials.from_sources(env_file=env_file_or_default(env_file),
                                           secret_file=resolve("secret_file", args.secret_file, profile))
    overrides = {"host": args.host, "state_dir": args.state_dir, "env_file": env_file}
    config = build_config(profile, overrides, credentials=credentials, max_upload_mb=args.max_upload_mb,
                          secure_cookies=args.secure_cookies, reload=_reloader(args))
    serve(config, args.bind, args.port)
    return 0


def _reloader(args: argparse.Namespace):
    """How the page reads the profile again (logins and roles are checked as they are now, at each decision)."""
    from bulkprov.config import config_path, load_profile

    path, name = config_path(args.config), args.profile
    return lambda: load_profile(path, name)


def cmd_hash_password(args: argparse.Namespace) -> int:
    from bulkprov.web.security import hash_password, read_new_password

    print(hash_password(read_new_password(sys.stdin, sys.stdin.isatty())))
    return 0


def cmd_approvals(args: argparse.Namespace) -> int:
    """approve, reject, approvals, audit, prune: :mod:`bulkprov.cli.approvals`, imported only when one runs."""
    from bulkprov.cli import approvals

    return approvals.COMMANDS[args.command](args)


COMMANDS = {"export": cmd_export, "mock-server": cmd_mock_server, "demo": cmd_demo,
             "serve": cmd_serve, "hash-password": cmd_hash_password,
             **dict.fromkeys(("approve", "reject", "approvals", "audit", "prune"), cmd_approvals),
             **dict.fromkeys(FILE_COMMANDS, cmd_file)}


def _short(path: Path) -> str:
    """A path as the user would type it: relative to where they are, when it is below it."""
    try:
        return shlex.quote(str(path.resolve().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))
