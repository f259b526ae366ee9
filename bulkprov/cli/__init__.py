"""The command line: a thin layer over :mod:`bulkprov.jobs` and friends.

Parses arguments (``parser``), turns them into :class:`~bulkprov.jobs.JobSettings` and library calls
(``commands``), prints the outcome and maps it to the exit codes of SPEC section 3.  This package is
the one place whose wording names command-line flags (``wording``: :data:`HINTS`, ``CliPhrasing``);
the library's messages never do.  Heavy libraries are
imported inside the command functions so ``bulkprov --help`` starts fast.  A user error is one line
on stderr, never a traceback.
"""

from __future__ import annotations

import sys

from bulkprov.cli.parser import FILE_COMMANDS, build_parser
from bulkprov.cli.wording import HINTS, _hint, _say_error, say

__all__ = ["FILE_COMMANDS", "HINTS", "_hint", "build_parser", "main"]

EXIT_UNUSABLE, EXIT_ABORTED = 2, 3


def main(argv: list[str] | None = None) -> int:
    from bulkprov.cli import output

    output.remember(list(sys.argv[1:] if argv is None else argv))  # argparse's own error may have to be JSON
    output.use_json(False)
    _new_run_id()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNUSABLE
    from bulkprov import i18n

    profile = _peek_profile(args)
    if hasattr(args, "log_format"):  # a run's command: every line it prints follows its log format
        output.use_json((args.log_format or profile.get("log_format")) == "json")
    with i18n.using(_language(args, profile)):
        return _run(args)


def _new_run_id() -> None:
    """Every line of an invocation carries a run id from the first one (the run itself may take over
    an interrupted run's id before anything is printed)."""
    from bulkprov.logs import new_run_id, set_run_id

    set_run_id(new_run_id())


def _peek_profile(args) -> dict:
    """The profile's settings, read early for the language and the log format (a broken config is
    reported by the command itself)."""
    from bulkprov.errors import BulkprovError

    if not hasattr(args, "profile"):
        return {}
    from bulkprov.config import config_path, load_profile

    try:
        return load_profile(config_path(getattr(args, "config", None)), args.profile)
    except BulkprovError:
        return {}


def _language(args, profile: dict) -> str:
    """--lang, else the profile's ``lang``, else the locale (LC_ALL, LC_MESSAGES, LANG)."""
    import os

    from bulkprov import i18n

    if getattr(args, "lang", None):
        return args.lang
    if profile.get("lang"):
        return i18n.pick(profile["lang"])
    return i18n.from_environment(dict(os.environ))


EXIT_READER_GONE = 141  # 128 + SIGPIPE: what other command-line tools exit with when their reader leaves


def _reader_gone() -> int:
    """Stop quietly, as other tools do: what is left to flush goes nowhere, so Python's exit does not
    report the broken pipe again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_READER_GONE


def _run(args) -> int:
    from bulkprov.cli.output import emit
    from bulkprov.errors import BulkprovError, RunStopped

    try:
        if args.command in ("template", "directory"):  # the account's names: bulkprov.cli.directory
            from bulkprov.cli.directory import COMMANDS
        elif args.command == "runs":
            from bulkprov.cli.runs import COMMANDS
        else:
            from bulkprov.cli.commands import COMMANDS

        return COMMANDS[args.command](args)
    except RunStopped as exc:
        emit(say("aborted", error=_say_error(exc)), err=True, level="error", code=exc.code, exit_code=exc.exit_code)
        return exc.exit_code
    except BulkprovError as exc:
        emit(say("error", error=_say_error(exc)), err=True, level="error", code=exc.code, exit_code=EXIT_UNUSABLE)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        emit(say("interrupted"), err=True, level="error", code="interrupted", exit_code=EXIT_ABORTED)
        return EXIT_ABORTED
    except BrokenPipeError:  # the reader of our output went away (`bulkprov runs | head`): not a bug
        return _reader_gone()
    except OSError as exc:  # refused by the file system: a state directory that is not ours is exit 2
        from bulkprov.cli.commands import _internal_error, state_dir_problem

        problem = state_dir_problem(args, exc)
        if problem is None:
            return _internal_error(args, exc)
        emit(say("error", error=_say_error(problem)), err=True, level="error", code=problem.code,
             exit_code=EXIT_UNUSABLE)
        return EXIT_UNUSABLE
    except Exception as exc:  # a bug: one line, the details in a file, never a traceback here
        from bulkprov.cli.commands import _internal_error

        return _internal_error(args, exc)
