"""The command line: a thin layer over :mod:`bulkprov.jobs` and friends.

Parses arguments, turns them into :class:`~bulkprov.jobs.JobSettings`, prints the outcome and maps
it to the exit codes of SPEC section 3.  This is the one module whose wording names command-line
flags (:class:`CliPhrasing`, :data:`HINTS`); the library's messages never do.  Heavy libraries are
imported inside the command functions so ``bulkprov --help`` starts fast.  A user error is one line
on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from bulkprov import __version__
from bulkprov.errors import UsageProblem

EXIT_UNUSABLE, EXIT_ABORTED = 2, 3
SENDING = ("add", "update", "remove", "lookup", "apply")
ROSTER = ("plan", "sync")
FILE_COMMANDS = {
    "validate": "load and check every row, send nothing; write the result workbook",
    "add": "create the users of FILE",
    "update": "update existing users (blank cells are left unchanged)",
    "remove": "remove the users of FILE (by emailId, or orgUserId where there is no email)",
    "lookup": "fetch the users' current details into a workbook that is itself an input file",
    "apply": "per-row action column: add / update / remove (console User Status New/Update/Delete)",
    "plan": "compare the roster with the account; write a plan workbook, change nothing",
    "sync": "bring the account in line with the roster (adds, updates, removals), with guards",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep it one line
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"bulkprov: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bulkprov", description="Provision users into a Kore.ai XO account from "
                     "CSV/Excel spreadsheets: validated, batched, rate-limited, retried, every row accounted for.")
    parser.add_argument("--version", action="version", version=f"bulkprov {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("template", help="write the input template (xlsx, or csv by extension)")
    p.add_argument("-o", "--output", default="users-template.xlsx", help="where to write it (default %(default)s)")

    for name, help_text in FILE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _file_options(p, network=name != "validate", ledger=name in SENDING)
        if name == "sync":
            p.add_argument("--plan", type=Path, metavar="PLAN.xlsx",
                           help="execute this approved plan; refused if the account changed since")
            p.add_argument("--allow-deletes", type=int, metavar="N", help="approve up to N removals")
            p.add_argument("--allow-role-removals", type=int, metavar="N",
                           help="approve role removals for up to N users")
            p.add_argument("--allow-builder", type=int, metavar="N", help="approve Builder access for up to N users")

    p = sub.add_parser("runs", help="list past runs from the ledger; `runs show ID` rewrites a run's results")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("run_id", nargs="?", metavar="ID")
    p.add_argument("--state-dir", type=Path, default=Path(".bulkprov"),
                   help="the state directory holding the ledger (default %(default)s)")
    p.add_argument("-o", "--output", type=Path, help="with show: where to write the result workbook")

    p = sub.add_parser("mock-server", help="run the embedded Kore.ai API emulator")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--seed", type=Path, help="JSON file with roles, bots, groups, users and fault settings")
    p.add_argument("--rate", default="60/min,1800/h", help="rate windows to enforce ('none' for no limit)")
    p.add_argument("--fail-5xx", type=float, default=0.0, help="probability of a 503 reply")
    p.add_argument("--fail-rate", type=float, default=0.0, help="probability of an injected rate refusal")
    p.add_argument("--commit-then-drop", type=float, default=0.0,
                   help="probability of applying a request and dropping the connection without a reply")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    p.add_argument("--max-users", type=int, help="refuse requests with more users than this")

    p = sub.add_parser("serve", help="the HR upload page: upload, check, run and download results in a browser")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default %(default)s)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default %(default)s)")
    _connection_options(p)
    p.add_argument("--state-dir", type=Path, help="where uploads, results, the run ledger and the lock live "
                   "(default .bulkprov)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="refuse bigger uploads (default %(default)s)")
    p.add_argument("--secure-cookies", action="store_true",
                   help="mark the session cookie Secure: use when an https proxy is in front of the page")
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="text (default) or JSON lines")

    p = sub.add_parser("hash-password", help="print a password hash for web_users (password read from stdin "
                       "or asked twice on a terminal)")

    p = sub.add_parser("demo", help="start the emulator and run sample_data/ end to end")
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="where the result workbooks go")
    p.add_argument("--data", type=Path, help="sample data folder (default: the project's sample_data/)")
    return parser


def _connection_options(p: argparse.ArgumentParser) -> None:
    """Where the account is and how to log in to it: the same for every command that sends."""
    p.add_argument("--config", type=Path, help="TOML config file with profiles (default ./bulkprov.toml)")
    p.add_argument("--profile", help="profile of the config file: host, rate, guards, logins (web_users)")
    p.add_argument("--host", help="Kore.ai host URL (or KORE_HOST), e.g. https://bots.kore.ai")
    p.add_argument("--env-file", type=Path, help=".env-style file with KORE_CLIENT_ID / KORE_CLIENT_SECRET")
    p.add_argument("--secret-file", type=Path, help="file whose content is the client secret")


def _file_options(p: argparse.ArgumentParser, *, network: bool, ledger: bool) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="input .csv/.tsv/.txt/.xlsx/.xlsm/.xls/.ods")
    p.add_argument("-o", "--output", type=Path, help="result file (default: FILE.COMMAND-results-TIME.xlsx)")
    p.add_argument("--results-format", choices=("xlsx", "csv", "jsonl"), default="xlsx")
    p.add_argument("--sheet", help="sheet to read (default: Users, else the first data sheet)")
    p.add_argument("--lookups", type=Path, help="workbook with Roles/Bots/Groups sheets (names → ids)")
    p.add_argument("--encoding", metavar="NAME", help="the CSV's text encoding (e.g. utf-8, cp1252, mac-roman, cp949) "
                   "instead of detecting it")
    p.add_argument("--max-rows", type=int, help="refuse files with more data rows than this")
    p.add_argument("--max-file-mb", type=float, help="refuse files bigger than this many MB")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    if not network:
        return
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; send nothing")
    _connection_options(p)
    p.add_argument("--batch-size", type=int, help="users per request (default 100)")
    p.add_argument("--concurrency", type=int, help="requests in flight at once (default 4)")
    p.add_argument("--rate", help="rate budget: windows N/min, N/h or N/SECONDS, all honoured "
                   "(default 60/min,1800/h)")
    p.add_argument("--max-attempts", type=int, help="attempts per request (default 6)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    email = p.add_mutually_exclusive_group()
    email.add_argument("--send-email", dest="send_email", action="store_true", default=None,
                       help="send activation emails on add (default)")
    email.add_argument("--no-send-email", dest="send_email", action="store_false",
                       help="do not send activation emails")
    p.add_argument("--log-format", choices=("text", "json"), help="text (default) or JSON lines")
    p.add_argument("--state-dir", type=Path, help="where the run ledger and lock live (default: .bulkprov/ "
                   "beside FILE)")
    p.add_argument("--webhook", help="URL to POST the run summary to (JSON) when the run ends")
    p.add_argument("--max-runtime", type=float, metavar="SECONDS",
                   help="stop cleanly after this long, like SIGTERM (results written, exit 3)")
    if ledger:  # sync recomputes its diff from the account each time: it has nothing to resume or skip
        p.add_argument("--resume", action="store_true", help="finish the interrupted run of this file")
        p.add_argument("--force", action="store_true",
                       help="send rows again even if an earlier run did them; start anew over an interrupted run")
        p.add_argument("--retry-failed", metavar="RUN", help="send only the rows that failed in run RUN")
        p.add_argument("--no-ledger", action="store_true", help="do not record the run (no resume, no skipping)")


# -- wording that names flags (the library's messages never do) --------------------------------------


HINTS = {
    "state-dir": "or use another --state-dir",
    "resume-or-force": "add --resume to finish it (rows already done are not sent again), or --force to start a "
                       "new run anyway",
    "host": "pass --host https://bots.kore.ai, set KORE_HOST, or use a --profile",
    "rate": "check --rate",
    "output": "choose another place with -o",
    "resume": "run the same command with --resume to send the rest",
    "disk": "free some space (or use another --state-dir / -o) and run it again with --resume",
    "encoding": "if you know the file's encoding, name it with --encoding NAME (e.g. --encoding mac-roman)",
}
GUARD_FLAGS = {"deletes": "--allow-deletes", "roles": "--allow-role-removals", "builder": "--allow-builder"}


def _hint(error) -> str:
    from bulkprov.errors import GuardStopped, Interrupted

    if isinstance(error, GuardStopped) and error.variant in GUARD_FLAGS:
        return f"if that is right, approve it with {GUARD_FLAGS[error.variant]} {error.params['count']}"
    if error.hint == "encoding" and error.variant in ("binary", "unknown-name", "named"):
        return ""  # not a question of naming the encoding (or it was named already)
    if isinstance(error, Interrupted) and error.variant == "max-runtime":
        return "--max-runtime reached; " + HINTS["resume"]
    return HINTS.get(error.hint, "")


def _cli_phrasing():
    from bulkprov.jobs.phrasing import Phrasing

    class CliPhrasing(Phrasing):
        """The command line's words: commands and flags."""

        def rerun_failures(self, command: str, results: Path) -> str:
            return ("Failed and invalid rows are in the Failures sheet: fix them there and run that sheet again "
                    f"(bulkprov {command} {results.name} --sheet Failures).")

        def resume(self, command: str, reason: str) -> str:
            return (f"The run stopped: {reason}. Fix the cause and run the same command again with --resume; "
                    "rows already done are reported, the rest are sent.")

        def undo(self, path: Path, changes: int) -> str:
            return f"To undo this run's {changes} changes: bulkprov apply {path}"

        def hint(self, key: str) -> str:
            return HINTS.get(key, "")

        def stopped(self, command: str, error) -> str:
            hint = _hint(error)
            return f"The run stopped: {error.message}." + (f" To go on: {hint}." if hint else "")

    return CliPhrasing()


def _say_error(error) -> str:
    hint = _hint(error)
    return f"{error}{'; ' + hint if hint else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNUSABLE
    from bulkprov.errors import BulkprovError, RunStopped

    try:
        return _COMMANDS[args.command](args)
    except RunStopped as exc:
        print(f"bulkprov: aborted: {_say_error(exc)}", file=sys.stderr)
        return exc.exit_code
    except BulkprovError as exc:
        print(f"bulkprov: error: {_say_error(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("bulkprov: interrupted", file=sys.stderr)
        return EXIT_ABORTED


# -- commands --------------------------------------------------------------------------------------


def cmd_template(args: argparse.Namespace) -> int:
    from bulkprov.outputs.template import write_template

    path = write_template(args.output)
    print(f"template written: {path}")
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
    _print_outcome(outcome, args.quiet)
    return outcome.exit_code


def _confirm(what: str, count: int) -> bool:
    """On a terminal, ask before handing out Builder access widely; unattended, the guard stands."""
    if what != "builder" or not sys.stdin.isatty():
        return False
    answer = input(f"{count} users would get Builder access. Continue? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _settings(args: argparse.Namespace):
    from bulkprov.io import LoaderLimits
    from bulkprov.jobs import JobSettings

    limits = LoaderLimits()
    if args.max_rows:
        limits = _replace(limits, max_rows=args.max_rows)
    if args.max_file_mb:
        limits = _replace(limits, max_bytes=int(args.max_file_mb * 1024 * 1024))
    settings = JobSettings(command=args.command, sheet=args.sheet, output=args.output, encoding=args.encoding,
                           results_format=args.results_format, lookups_file=args.lookups, limits=limits,
                           command_line=" ".join(shlex.quote(a) for a in ["bulkprov", *sys.argv[1:]]),
                           phrasing=_cli_phrasing())
    if args.command == "validate":
        return settings
    from bulkprov.config import RUN_SETTINGS, config_path, load_profile, resolve

    profile = load_profile(config_path(args.config), args.profile)
    value = {name: resolve(name, getattr(args, name, None), profile) for name in RUN_SETTINGS}
    args.log_format, args.env_file, args.secret_file = value["log_format"], value["env_file"], value["secret_file"]
    if value["batch_size"] < 1 or value["concurrency"] < 1 or value["max_attempts"] < 1:
        raise UsageProblem(reason="--batch-size, --concurrency and --max-attempts must be at least 1")
    settings.dry_run = args.dry_run
    settings.host = value["host"] or os.environ.get("KORE_HOST")
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
    if settings.resume and (settings.force or settings.retry_failed):
        raise UsageProblem(reason="--resume cannot be combined with --force or --retry-failed")
    if not settings.dry_run or args.command in ROSTER:
        _require_host(settings.host)
    from bulkprov.errors import BadRate
    from bulkprov.send.limiter import parse_rate

    try:
        parse_rate(settings.rate)  # a bad --rate is a usage error before anything is read
    except BadRate as exc:
        raise UsageProblem(reason=f"--rate: {exc.message}") from None
    return settings


def _require_host(host: str | None) -> None:
    if not host:
        from bulkprov.errors import NoHost

        raise NoHost()  # printed with HINTS["host"], which names --host and --profile


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _credentials(args: argparse.Namespace):
    from bulkprov.kore.auth import Credentials

    env_file = args.env_file
    if env_file is None and Path(".env").is_file():
        env_file = Path(".env")
    return Credentials.from_sources(env_file=env_file, secret_file=args.secret_file)


def _setup_logging(fmt: str, quiet: bool) -> None:
    from bulkprov.logs import configure_logging

    configure_logging(fmt, logging.WARNING if quiet else logging.INFO)


def _print_outcome(outcome, quiet: bool) -> None:
    summary = outcome.summary
    totals = summary.status_totals()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(totals.items())) or "no rows"
    if not quiet:
        for warning in summary.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if summary.aborted:
            hints = [h for h in (_hint(e) for e in outcome.stop_errors) if h]
            print(f"ABORTED: {summary.aborted}" + "".join(f"; {h}" for h in hints), file=sys.stderr)
    print(f"{summary.command}: {counts} — results: {outcome.results_path}")


def cmd_runs(args: argparse.Namespace) -> int:
    from bulkprov.jobs.history import list_runs, rewrite_results

    if args.action == "show":
        if not args.run_id:
            raise UsageProblem(reason="runs show needs a run ID (bulkprov runs lists them)")
        path = rewrite_results(args.state_dir, args.run_id, args.output)
        print(f"results of run {args.run_id}: {path}")
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
    run_server(args.port, host=args.bind, config=config)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bulkprov.demo import run_demo, sample_data_dir
    from bulkprov.errors import FileNotFound

    try:
        return run_demo(args.out, args.data)
    except FileNotFound as exc:
        where = args.data or sample_data_dir()
        raise UsageProblem(reason=f"{exc.path} is missing: the demo reads its sample files from {where} "
                                  "(pass --data DIR)") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bulkprov.config import config_path, load_profile, resolve
    from bulkprov.kore.auth import Credentials
    from bulkprov.web import build_config, serve

    _setup_logging(args.log_format, quiet=False)
    profile = load_profile(config_path(args.config), args.profile)
    values = {name: resolve(name, getattr(args, name, None), profile) for name in (
        "host", "env_file", "secret_file", "rate", "batch_size", "concurrency", "max_attempts", "timeout",
        "send_email", "state_dir", "web_users", "web_token_file")}
    _require_host(values["host"] or os.environ.get("KORE_HOST"))
    if not 0 < args.max_upload_mb <= 500:
        raise UsageProblem(reason="--max-upload-mb must be between 0 and 500")
    env_file = values["env_file"] or (Path(".env") if Path(".env").is_file() else None)
    credentials = Credentials.from_sources(env_file=env_file, secret_file=values["secret_file"])
    config = build_config(values, credentials=credentials, max_upload_mb=args.max_upload_mb,
                          secure_cookies=args.secure_cookies)
    serve(config, args.bind, args.port)
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from bulkprov.web.security import hash_password, read_new_password

    print(hash_password(read_new_password(sys.stdin, sys.stdin.isatty())))
    return 0


_COMMANDS = {"template": cmd_template, "mock-server": cmd_mock_server, "demo": cmd_demo, "runs": cmd_runs,
             "serve": cmd_serve, "hash-password": cmd_hash_password, **{name: cmd_file for name in FILE_COMMANDS}}


if __name__ == "__main__":
    raise SystemExit(main())
