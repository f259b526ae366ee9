"""The command line's arguments: every command, every option, and the help that names them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bulkprov import __version__

SENDING = ("add", "update", "remove", "lookup", "apply")
ROSTER = ("plan", "sync")
GATED = ("add", "update", "remove", "apply", "sync")  # the commands that change the account: the one gate
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
        from bulkprov.cli.output import emit, use_json, wants_json

        if wants_json():  # --log-format json (or the profile's): this line is a JSON object too
            use_json(True)
            emit(f"bulkprov: error: {message}", err=True, level="error", code="usage", exit_code=2)
            self.exit(2)
        self.print_usage(sys.stderr)
        self.exit(2, f"bulkprov: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bulkprov", description="Provision users into a Kore.ai XO account from "
                     "CSV/Excel spreadsheets: validated, batched, rate-limited, retried, every row accounted for.")
    parser.add_argument("--version", action="version", version=f"bulkprov {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("template", help="write the input template (xlsx, or csv by extension)")
    p.add_argument("-o", "--output", default="users-template.xlsx", help="where to write it (default %(default)s)")
    p.add_argument("--force", "--replace-output", dest="replace_output", action="store_true",
                   help="replace the file if it exists (it may be a filled-in roster)")
    p.add_argument("--from-account", action="store_true",
                   help="fill the Roles, Bots and Groups sheets and the dropdowns with the account's own names "
                   "(needs the connection options below)")
    _directory_options(p, kept=True)

    p = sub.add_parser("directory", help="the account's roles, bots and groups (name, id, description; members "
                       "of groups) as a workbook stamped with its host, usable as --lookups")
    p.add_argument("-o", "--output", type=Path, help="where to write it: .xlsx (default account-directory.xlsx), "
                   ".csv or .jsonl")
    p.add_argument("--replace-output", action="store_true", help="replace the -o file if it exists")
    _directory_options(p, kept=False)

    for name, help_text in FILE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _file_options(p, network=name != "validate", ledger=name in SENDING,
                      adds=name in ("add", "apply", "plan", "sync"))
        if name in GATED:
            _override_options(p, protected=name != "sync")
        if name == "sync":
            p.add_argument("--plan", type=Path, metavar="PLAN.xlsx",
                           help="execute this approved plan; refused if the account changed since")
            p.add_argument("--remove-strays", action="store_true", default=None,
                           help="also remove the account's users the roster does not mention (guards apply)")
            p.add_argument("--resume", action="store_true",
                           help="accepted, so one command line serves every night: a sync always starts from the "
                           "account as it is now, so there is nothing to resume and nothing is done twice; this "
                           "flag changes nothing")
        if name in ROSTER:
            p.add_argument("--strays", dest="report_strays", action="store_true", default=None,
                           help="list the account's users the roster does not mention (Strays sheet; needs the "
                                "Role Management scope)")

    p = sub.add_parser("export", help="every user of the account (alluserroles, paged) as a workbook that is "
                       "itself an input file, with role, bot and group names beside their ids")
    p.add_argument("-o", "--output", type=Path, help="where to write it (default account-export-TIME.xlsx)")
    p.add_argument("--replace-output", action="store_true", help="replace the -o file if it exists")
    _connection_options(p)
    p.add_argument("--rate", help="rate budget, as for the file commands (default 60/min,1800/h)")
    p.add_argument("--concurrency", type=int, help="requests in flight at once (default 4)")
    p.add_argument("--max-attempts", type=int, help="attempts per request (default 6)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    p.add_argument("--state-dir", type=Path, help="share the rate budget with earlier runs recorded there")
    p.add_argument("--log-format", choices=("text", "json"), help="text (default) or JSON lines")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final line")

    p = sub.add_parser("runs", help="list past runs from the ledger; `runs show ID` rewrites a run's results")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("run_id", nargs="?", metavar="ID")
    _state_options(p)
    p.add_argument("-o", "--output", type=Path, help="with show: where to write the result workbook")
    p.add_argument("--replace-output", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--undo", action="store_true", help="with show: write the run's undo file (from the ledger)")

    for name, help_text in (("approve", "approve a pending request (four eyes: never your own)"),
                            ("reject", "reject a pending request, with a comment")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("request_id", metavar="ID", help="the request (bulkprov approvals lists them)")
        p.add_argument("--comment", default="", help="why (required to reject)")
        _profile_options(p)
    p = sub.add_parser("approvals", help="list the approval requests of every account, newest first")
    _profile_options(p)
    p = sub.add_parser("audit", help="check an account's tamper-evident audit trail, or write it out")
    p.add_argument("action", choices=("verify", "export"))
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="export format (default jsonl)")
    p.add_argument("-o", "--output", type=Path, help="export: where to write (default: standard output)")
    p.add_argument("--replace-output", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--expect", metavar="COUNT:HASH", help="verify: the trail must hold this head, kept elsewhere "
                   "(printed by an earlier verify, sent with every webhook)")
    p.add_argument("--trail", type=Path, metavar="FILE", help="a trail file of its own (an older STATE_DIR/audit.jsonl)")
    _profile_options(p)
    p.add_argument("--host", help="the account's host (or KORE_HOST); its client id from KORE_CLIENT_ID")
    p.add_argument("--env-file", type=Path, help=".env-style file with KORE_CLIENT_ID")

    p = sub.add_parser("prune", help="remove old uploads, results, undo files, ledger runs and decided requests; "
                       "the audit trail keeps one record of what was pruned")
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS", help="remove what is older than this")
    p.add_argument("--state-dir", type=Path, help="the state directory (default: the profile's state_dir, else "
                   ".bulkprov)")
    p.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    _profile_options(p)
    p.add_argument("--host", help="the account whose audit trail is pruned too (or KORE_HOST)")
    p.add_argument("--env-file", type=Path, help=".env-style file with KORE_CLIENT_ID")

    p = sub.add_parser("mock-server", help="run the embedded Kore.ai API emulator")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default %(default)s)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--seed", type=Path, help="JSON file with roles, bots, groups, users and fault settings")
    p.add_argument("--rate", default="60/min,1800/h", help="rate windows to enforce ('none' for no limit)")
    p.add_argument("--fail-5xx", type=float, default=0.0, help="probability of a 503 reply")
    p.add_argument("--fail-rate", type=float, default=0.0, help="probability of an injected rate refusal")
    p.add_argument("--commit-then-drop", type=float, default=0.0,
                   help="probability of applying a request and dropping the connection without a reply")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    p.add_argument("--max-users", type=int, help="refuse requests with more users than this")
    p.add_argument("--replies", choices=("full", "documented"), help="reply shapes: full (every field, "
                   "orgUserId echoed) or documented (exactly the vendor's sample replies)")
    p.add_argument("--rate-refusal", choices=("429-retry-after", "429", "400-message", "400-retry-after"),
                   help="how a rate refusal looks (default 429-retry-after)")
    p.add_argument("--other-client-rate", type=float, metavar="N",
                   help="another client of the account spends N requests per second of the same windows")
    p.add_argument("--prefill", type=int, metavar="N", help="requests another client made just before start")
    p.add_argument("--directory-offset", choices=("pages", "records"),
                   help="what offset counts in the groups and bots calls (default pages; the vendor's pages disagree)")
    p.add_argument("--odd", action="append", metavar="NAME",
                   help="answer the odd way NAME, as a real server may on a bad day (repeatable; the README lists "
                   "the names: write-empty, write-queued, info-omit, list-skip-one...)")

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
    parser.add_argument("--lang", choices=LANGUAGES, help=LANG_HELP)
    for command in sub.choices.values():  # also after the command: bulkprov template --lang ko
        command.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help=LANG_HELP)
    return parser


LANGUAGES = ("en", "ko", "ja")  # bulkprov.i18n.LANGUAGES, without importing it for --help
LANG_HELP = ("language of messages, workbooks and the template: en, ko (Korean) or ja (Japanese); default: "
             "the profile's lang, else LC_ALL / LC_MESSAGES / LANG")


def _connection_options(p: argparse.ArgumentParser, *, validate: bool = False) -> None:
    """Where the account is and how to log in to it: the same for every command that sends (and validate, which
    goes online only when a host is given by --host, --env-file or a profile, to check names against it)."""
    p.add_argument("--config", type=Path, help="TOML config file with profiles (default ./bulkprov.toml)")
    p.add_argument("--profile", help="profile of the config file: host, rate, guards, logins (web_users)")
    p.add_argument("--host", help="Kore.ai host URL, e.g. https://bots.kore.ai: check names against this account "
                   "(validate stays offline without it, whatever KORE_HOST says)" if validate else
                   "Kore.ai host URL (or KORE_HOST), e.g. https://bots.kore.ai")
    p.add_argument("--env-file", type=Path, help=".env-style file with KORE_CLIENT_ID / KORE_CLIENT_SECRET")
    p.add_argument("--secret-file", type=Path, help="file whose content is the client secret")


def _directory_options(p: argparse.ArgumentParser, *, kept: bool) -> None:
    """How the account's directory is read (and where it is kept): the connection options, as export's."""
    _connection_options(p)
    p.add_argument("--rate", help="rate budget, as for the file commands (default 60/min,1800/h)")
    p.add_argument("--max-attempts", type=int, help="attempts per request (default 6)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    p.add_argument("--state-dir", type=Path, help="where the account's directory is kept for later runs, with the "
                   "rate budget (default: the profile's state_dir, else .bulkprov)")
    if kept:
        p.add_argument("--refresh-directory", action="store_true",
                       help="read the account's directory now, however young the copy kept in the state directory")
        p.add_argument("--directory-max-age-hours", type=float, metavar="HOURS",
                       help="read the account's directory again when the kept copy is older (default 24)")
    p.add_argument("--log-format", choices=("text", "json"), help="text (default) or JSON lines")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final line")


def _state_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, help="the state directory (default: the profile's state_dir, else "
                   ".bulkprov)")
    p.add_argument("--config", type=Path, help="TOML config file with profiles (default ./bulkprov.toml)")
    p.add_argument("--profile", help="profile of the config file: state_dir")


def _profile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file with profiles (default ./bulkprov.toml)")
    p.add_argument("--profile", help="profile of the config file: host, webhook (who may approve is the account's "
                   "policy, never the caller's config)")


def _override_options(p: argparse.ArgumentParser, *, protected: bool) -> None:
    """The guards' overrides: only where the account's policy names no approvers (else a second person approves)."""
    p.add_argument("--allow-deletes", type=int, metavar="N", help="pass the removal guard for up to N removals")
    p.add_argument("--allow-role-removals", type=int, metavar="N",
                   help="pass the role-removal guard for up to N users")
    p.add_argument("--allow-builder", type=int, metavar="N", help="pass the Builder guard for up to N users")
    if protected:
        p.add_argument("--allow-protected", type=int, metavar="N",
                       help="change or remove up to N protected users")


def _file_options(p: argparse.ArgumentParser, *, network: bool, ledger: bool, adds: bool) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="input .csv/.tsv/.txt/.xlsx/.xlsm/.xls/.ods")
    p.add_argument("-o", "--output", type=Path, help="result file (default: STEM.COMMAND-results-TIME.xlsx beside "
                   "FILE, STEM being FILE's name without its extension)")
    p.add_argument("--replace-output", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--results-format", choices=("xlsx", "csv", "jsonl"),
                   help="xlsx (default), or csv / jsonl (the Results rows); default: as -o's extension says")
    p.add_argument("--sheet", help="sheet to read (default: Users, else the first data sheet)")
    p.add_argument("--lookups", type=Path, help="workbook with Roles/Bots/Groups sheets (names → ids)")
    p.add_argument("--ignore-column", dest="ignore_columns", action="append", metavar="NAME",
                   help="leave the column with this header unread (e.g. one that looks like a misspelt column); "
                        "repeat for more")
    p.add_argument("--encoding", metavar="NAME", help="the CSV's text encoding (e.g. utf-8, cp1252, mac-roman, cp949) "
                   "instead of detecting it")
    p.add_argument("--max-rows", type=int, help="refuse files with more data rows than this")
    p.add_argument("--max-file-mb", type=float, help="refuse files bigger than this many MB")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    p.add_argument("--relaxed-ids", dest="strict_ids", action="store_false", default=None,
                   help="send ids of an unusual shape and over-long values as written, with a warning")
    p.add_argument("--refresh-directory", action="store_true",
                   help="read the account's roles, bots and groups now, however young the copy kept in the state "
                   "directory")
    p.add_argument("--directory-max-age-hours", type=float, metavar="HOURS",
                   help="read the account's roles, bots and groups again when the kept copy is older (default 24)")
    if not network:
        _connection_options(p, validate=True)
        p.add_argument("--state-dir", type=Path, help="where the account's roles, bots and groups are kept for later "
                       "checks and runs (default: .bulkprov/ beside FILE)")
        p.add_argument("--log-format", choices=("text", "json"), help="text (default) or JSON lines")
        return
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; send nothing")
    _connection_options(p)
    p.add_argument("--batch-size", type=int, help="users per request (default 100)")
    p.add_argument("--concurrency", type=int, help="requests in flight at once (default 4)")
    p.add_argument("--rate", help="rate budget: windows N/min, N/h or N/SECONDS, all honoured "
                   "(default 60/min,1800/h)")
    p.add_argument("--max-attempts", type=int, help="attempts per request for server errors (default 6)")
    p.add_argument("--rate-wait-cap", type=float, metavar="SECONDS",
                   help="how long to keep retrying rate refusals (default: the longest --rate window)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    if adds:
        email = p.add_mutually_exclusive_group()
        email.add_argument("--send-email", dest="send_email", action="store_true", default=None,
                           help="send activation emails to users added (default)")
        email.add_argument("--no-send-email", dest="send_email", action="store_false",
                           help="do not send activation emails")
    p.add_argument("--log-format", choices=("text", "json"), help="text (default) or JSON lines")
    p.add_argument("--state-dir", type=Path, help="where the run ledger and lock live (default: .bulkprov/ "
                   "beside FILE)")
    p.add_argument("--webhook", help="URL to POST the run summary to (JSON) when the run ends")
    p.add_argument("--max-runtime", type=float, metavar="SECONDS",
                   help="stop cleanly after this long, like SIGTERM (results written, exit 3)")
    p.add_argument("--settle", type=float, metavar="SECONDS",
                   help="read FILE only once it has not changed for this long (default: 10 for sync and --profile "
                   "runs not started at a terminal, else 0)")
    if ledger:  # sync recomputes its diff from the account each time: it has nothing to resume or skip
        p.add_argument("--resume", action="store_true",
                   help="finish the interrupted run of this file if there is one, else start a new run "
                   "(safe to pass on every run)")
        p.add_argument("--force", action="store_true",
                       help="send rows again even if an earlier run did them; start anew over an interrupted run")
        p.add_argument("--retry-failed", metavar="RUN", help="send only the rows that failed in run RUN")
        p.add_argument("--no-ledger", action="store_true", help="do not record the run (no resume, no skipping)")


# -- wording that names flags (the library's messages never do) --------------------------------------


