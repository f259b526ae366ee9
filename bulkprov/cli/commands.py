"""The commands: each turns its arguments into library calls and prints what a person needs."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections import Counter
from pathlib import Path

from bulkprov.cli.parser import FILE_COMMANDS, ROSTER
from bulkprov.cli.wording import _, _cli_phrasing, _hint, headline, say, yes
from bulkprov.errors import UsageProblem

EXIT_UNUSABLE, EXIT_ABORTED = 2, 3


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    from bulkprov.jobs.preflight import internal_error

    state_dir = getattr(args, "state_dir", None)
    if state_dir is None and getattr(args, "file", None) is not None:
        state_dir = Path(args.file).resolve().parent / ".bulkprov"
    error = internal_error(Path(state_dir or ".bulkprov"), exc)
    print(f"bulkprov: {error.message}", file=sys.stderr)
    return error.exit_code


# -- commands --------------------------------------------------------------------------------------


def cmd_template(args: argparse.Namespace) -> int:
    from bulkprov.outputs.template import write_template

    path = write_template(args.output, replace=args.replace_output)  # in the language main() chose
    print(say("template", path=path))
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from bulkprov.jobs import run_job
    from bulkprov.logs import ProgressPrinter

    settings = _settings(args)
    credentials = None
    reads_account = args.command in ROSTER  # even a dry run compares with the live account
    if args.command != "validate" and (reads_account or not settings.dry_run):
        credentials = _credentials(args)
    _setup_logging(getattr(args, "log_format", None) or "text", args.quiet)
    outcome = run_job(args.file, settings, credentials=credentials, progress=ProgressPrinter(enabled=not args.quiet),
                      confirm=_confirm)
    _print_outcome(outcome, args.quiet, settings.phrasing.typed)
    return outcome.exit_code


def _confirm(what: str, count: int) -> bool:
    """On a terminal, ask before handing out Builder access widely; unattended, the guard stands."""
    if what != "builder" or not sys.stdin.isatty():
        return False
    return yes(input(say("builder-confirm", count=count)))


def _settings(args: argparse.Namespace):
    from bulkprov.io import LoaderLimits
    from bulkprov.jobs import JobSettings

    limits = LoaderLimits()
    if args.max_rows:
        limits = _replace(limits, max_rows=args.max_rows)
    if args.max_file_mb:
        limits = _replace(limits, max_bytes=int(args.max_file_mb * 1024 * 1024))
    settings = JobSettings(command=args.command, sheet=args.sheet, output=args.output,
                           replace_output=args.replace_output, encoding=args.encoding,
                           results_format=args.results_format or _format_of(args.output), lookups_file=args.lookups,
                           limits=limits,
                           command_line=" ".join(shlex.quote(a) for a in ["bulkprov", *sys.argv[1:]]),
                           phrasing=_cli_phrasing(args))
    settings.strict_ids = args.strict_ids is not False
    settings.ignore_columns = list(args.ignore_columns or [])
    if args.command == "validate":
        return settings
    from bulkprov.config import RUN_SETTINGS, config_path, load_profile, resolve

    profile = load_profile(config_path(args.config), args.profile)
    value = {name: resolve(name, getattr(args, name, None), profile) for name in RUN_SETTINGS}
    args.log_format, args.env_file, args.secret_file = value["log_format"], value["env_file"], value["secret_file"]
    if value["batch_size"] < 1 or value["concurrency"] < 1 or value["max_attempts"] < 1:
        raise UsageProblem(reason=_("--batch-size, --concurrency and --max-attempts must be at least 1"))
    settings.dry_run = args.dry_run
    settings.host = value["host"] or _env_host(value["env_file"])
    for name in RUN_SETTINGS - {"host", "env_file", "secret_file", "state_dir", "log_format"}:
        setattr(settings, name, value[name])  # the rest are JobSettings fields of the same name
    settings.state_dir = Path(value["state_dir"]) if value["state_dir"] else None
    settings.resume = getattr(args, "resume", False)
    settings.force = getattr(args, "force", False)
    settings.retry_failed = getattr(args, "retry_failed", None)
    settings.use_ledger = not getattr(args, "no_ledger", False)
    settings.allow_deletes = getattr(args, "allow_deletes", None)
    settings.allow_builder = getattr(args, "allow_builder", None)
    settings.allow_role_removals = getattr(args, "allow_role_removals", None)
    settings.plan_file = getattr(args, "plan", None)
    if args.command == "sync":
        _four_eyes(settings, profile, value)
    if settings.resume and (settings.force or settings.retry_failed):
        raise UsageProblem(reason=_("--resume cannot be combined with --force or --retry-failed"))
    if not settings.dry_run or args.command in ROSTER:
        _require_host(settings.host)
    _check_rate(settings.rate)
    return settings


def _format_of(output: Path | None) -> str:
    """The results format an -o name asks for (results.csv: csv), when --results-format does not say."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return suffix if suffix in ("csv", "jsonl") else "xlsx"


def _four_eyes(settings, profile: dict, value: dict) -> None:
    """sync over a guard becomes a request a second person approves (bulkprov approve ID)."""
    import socket

    from bulkprov.approvals.flow import Approvals, cli_person
    from bulkprov.config import resolve

    approvers = resolve("approvers", None, profile)
    if approvers and (settings.allow_deletes or settings.allow_builder or settings.allow_role_removals):
        raise UsageProblem(reason=_("this profile names approvers: a second person approves with `bulkprov approve "
                                    "ID`, not --allow-deletes / --allow-builder / --allow-role-removals"))
    settings.approvals = Approvals(person=cli_person(), where=f"cli@{socket.gethostname()}", source="cli",
                                   approvers=list(approvers), webhook=value["webhook"],
                                   expiry_hours=resolve("approval_expiry_hours", None, profile))


def _require_host(host: str | None) -> None:
    if not host:
        from bulkprov.errors import NoHost

        raise NoHost()  # printed with HINTS["host"], which names --host and --profile


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _credentials(args: argparse.Namespace):
    from bulkprov.kore.auth import Credentials, env_file_or_default

    return Credentials.from_sources(env_file=env_file_or_default(args.env_file), secret_file=args.secret_file)


def _env_host(env_file: str | Path | None) -> str | None:
    """KORE_HOST from the environment, else from the .env file the credentials come from."""
    from bulkprov.kore.auth import env_file_or_default, host_from_sources

    return host_from_sources(env_file=env_file_or_default(env_file))


def _setup_logging(fmt: str, quiet: bool) -> None:
    from bulkprov.logs import configure_logging

    configure_logging(fmt, logging.WARNING if quiet else logging.INFO)


def _print_outcome(outcome, quiet: bool, typed: dict | None = None) -> None:
    """One summary block: counts, the top reasons, the first rows to look at, the workbook, the next step
    (``typed``: the arguments as given, for the next step's command line).  Quiet, one line."""
    summary = outcome.summary
    totals = summary.status_totals()
    if typed is not None:
        counts = headline(typed["command"], bool(typed.get("dry_run")), totals)
    else:
        counts = f"{summary.command}: " + (", ".join(f"{n:,} {s}" for s, n in sorted(totals.items())) or say("no-rows"))
    codes = "".join(f" [{e.code}]" for e in outcome.stop_errors)
    if quiet:  # one line for a scheduler's log: the counts, the workbook, and why the run stopped if it did
        aborted = "; " + say("aborted-line", reason=summary.aborted) + codes if summary.aborted else ""
        print(say("quiet", headline=counts, path=outcome.results_path) + aborted)
        return
    for warning in summary.warnings:
        print(say("warning", warning=warning), file=sys.stderr)
    if summary.aborted:
        hints = [h for h in (_hint(e) for e in outcome.stop_errors) if h]
        print(say("aborted-line", reason=summary.aborted) + codes + "".join(f"; {h}" for h in hints),
              file=sys.stderr)
    print(counts)
    _print_attention(outcome, summary.command == "validate")
    print(say("results", path=outcome.results_path))
    if outcome.undo_path is not None:
        print(say("undo-file", path=outcome.undo_path))
    _print_next(outcome, typed)


def _print_next(outcome, typed: dict | None) -> None:
    """The next step as a command line to copy: after a dry run, the run itself; after rows that need
    attention, the file to fix and run again, with the options that make it the same run."""
    from bulkprov.cli.wording import next_run

    command = outcome.summary.command.split()[0]
    if typed is None or command in ROSTER:
        if outcome.attention_total:
            print(say("next", command=command, results=_short(outcome.results_path)))
        return
    if not typed.get("dry_run") and not outcome.attention_total:
        return
    kind, line = next_run(typed, Path(outcome.results_path), _short(outcome.results_path))
    print(say(f"next-{kind}", command=line, file=typed["file"]))


SHOWN_PROBLEMS, SHOWN_ROWS = 20, 5


def _print_attention(outcome, validating: bool) -> None:
    """What needs attention, on screen: the user should not have to open Excel to learn what is wrong.

    Rows a stopped run did not send are counted, not listed: the ABORTED line says why, once."""
    rows = list(outcome.rows_needing_attention())
    unsent = [r for r in rows if r.status == "not_attempted"]
    rows = [r for r in rows if r.status != "not_attempted"]
    if unsent:
        print(say("not-sent-stopped" if outcome.summary.aborted else "not-sent", count=f"{len(unsent):,}"))
    if not rows:
        return
    reasons = Counter(r.error_code or r.status for r in rows)
    top = ", ".join(f"{n:,} × {code}" for code, n in reasons.most_common(6))
    more = len(reasons) - 6
    print(say("attention-more" if more > 0 else "attention", count=f"{len(rows):,}", top=top, more=more))
    problems = [(r, e) for r in rows for e in (r.errors or (None,))]
    limit = SHOWN_PROBLEMS if validating else SHOWN_ROWS
    for result, error in problems[:limit]:
        who = result.email or result.org_user_id
        if error is not None:
            print(say("row-problem", row=result.row, column=error.shown_column, code=error.code, message=error.message))
        elif result.ref.synthetic:
            print(f"  {who}: {result.error_code or result.status} — {result.reason}")
        else:
            print(say("row-outcome", row=result.row, who=who, code=result.error_code or result.status,
                      reason=result.reason))
    if len(problems) > limit:
        print(say("more-rows", count=f"{len(problems) - limit:,}"))


def cmd_export(args: argparse.Namespace) -> int:
    from bulkprov.config import config_path, load_profile, resolve
    from bulkprov.jobs import JobSettings
    from bulkprov.jobs.export import export_account
    from bulkprov.logs import ProgressPrinter

    profile = load_profile(config_path(args.config), args.profile)
    value = {name: resolve(name, getattr(args, name, None), profile) for name in (
        "host", "env_file", "secret_file", "rate", "concurrency", "max_attempts", "timeout", "state_dir",
        "log_format")}
    settings = JobSettings(command="export", output=args.output, replace_output=args.replace_output, host=value["host"] or _env_host(value["env_file"]),
                           rate=value["rate"], concurrency=value["concurrency"], max_attempts=value["max_attempts"],
                           timeout=value["timeout"], state_dir=Path(value["state_dir"]) if value["state_dir"] else None,
                           phrasing=_cli_phrasing())
    _require_host(settings.host)
    if settings.concurrency < 1 or settings.max_attempts < 1:
        raise UsageProblem(reason=_("--concurrency and --max-attempts must be at least 1"))
    _check_rate(settings.rate)
    args.env_file, args.secret_file = value["env_file"], value["secret_file"]
    credentials = _credentials(args)
    _setup_logging(value["log_format"], args.quiet)
    outcome = export_account(settings, credentials, progress=ProgressPrinter(enabled=not args.quiet))
    for warning in outcome.warnings:
        print(say("warning", warning=warning), file=sys.stderr)
    print(say("export", users=outcome.users, requests=outcome.requests, path=outcome.path))
    return outcome.exit_code


def _check_rate(rate: str) -> None:
    from bulkprov.send.limiter import parse_rate

    parse_rate(rate)  # a bad --rate (or a profile's rate) is bad-rate, before anything is read


def cmd_runs(args: argparse.Namespace) -> int:
    from bulkprov.jobs.history import list_runs, rewrite_results

    if args.action == "show":
        if not args.run_id:
            raise UsageProblem(reason=_("runs show needs a run ID (bulkprov runs lists them)"))
        if args.undo:
            from bulkprov.jobs.history import rewrite_undo

            path = rewrite_undo(args.state_dir, args.run_id, args.output, replace=args.replace_output)
            print(say("undo-of-run", run_id=args.run_id, path=path) if path
                  else say("run-changed-nothing", run_id=args.run_id))
            return 0
        path = rewrite_results(args.state_dir, args.run_id, args.output, replace=args.replace_output)
        print(say("results-of-run", run_id=args.run_id, path=path))
        return 0
    runs = list_runs(args.state_dir)
    print(f"{'run':<24} {'started':<26} {'command':<8} {'state':<9} counts / file")
    for run in runs:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(run.counts.items())) or "—"
        print(f"{run.id:<24} {run.started:<26} {run.command:<8} {run.state:<9} {counts} — {run.input_path}")
    return 0


def cmd_mock_server(args: argparse.Namespace) -> int:
    from bulkprov.emulator import EmulatorConfig, run_server
    from bulkprov.send.limiter import parse_rate

    config = EmulatorConfig.from_json(args.seed) if args.seed else EmulatorConfig()
    config.rate_windows = [] if args.rate == "none" else parse_rate(args.rate)
    config.fail_5xx, config.fail_rate = args.fail_5xx, args.fail_rate
    config.commit_then_drop, config.latency = args.commit_then_drop, args.latency
    config.max_users_per_request = args.max_users
    for name in ("replies", "rate_refusal", "other_client_rate", "prefill"):
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
    from bulkprov.demo import run_demo, sample_data_dir
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
    values = {name: resolve(name, getattr(args, name, None), profile) for name in (
        "host", "env_file", "secret_file", "rate", "batch_size", "concurrency", "max_attempts", "timeout",
        "send_email", "state_dir", "ignore_columns", "web_users", "web_token_file", "web_trusted_proxies", "web_roles",
        "web_check_queue", "web_check_queue_per_person", "max_deletes",
        "protected", "webhook", "approval_expiry_hours", "oidc_issuer", "oidc_client_id", "oidc_client_secret_file",
        "oidc_user_claim", "oidc_groups_claim", "oidc_roles", "oidc_scopes", "oidc_redirect_url")}
    values["host"] = values["host"] or _env_host(values["env_file"])
    _require_host(values["host"])
    if not 0 < args.max_upload_mb <= 500:
        raise UsageProblem(reason=_("--max-upload-mb must be between 0 and 500"))
    env_file = env_file_or_default(values["env_file"])
    credentials = Credentials.from_sources(env_file=env_file, secret_file=values["secret_file"])
    config = build_config(values, credentials=credentials, max_upload_mb=args.max_upload_mb,
                          secure_cookies=args.secure_cookies)
    serve(config, args.bind, args.port)
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from bulkprov.web.security import hash_password, read_new_password

    print(hash_password(read_new_password(sys.stdin, sys.stdin.isatty())))
    return 0


def _later(name: str):
    """A command of :mod:`bulkprov.approvals.commands`, imported only when it runs (fast --help)."""

    def run(args: argparse.Namespace) -> int:
        from bulkprov.approvals import commands

        return getattr(commands, name)(args)

    return run


COMMANDS = {"template": cmd_template, "export": cmd_export, "mock-server": cmd_mock_server, "demo": cmd_demo,
             "runs": cmd_runs, "serve": cmd_serve, "hash-password": cmd_hash_password,
             "approve": _later("cmd_decide"), "reject": _later("cmd_decide"), "approvals": _later("cmd_approvals"),
             "audit": _later("cmd_audit"), **{name: cmd_file for name in FILE_COMMANDS}}




def _short(path: Path) -> str:
    """A path as the user would type it: relative to where they are, when it is below it."""
    try:
        return shlex.quote(str(path.resolve().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))
