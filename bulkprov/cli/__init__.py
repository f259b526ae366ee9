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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNUSABLE
    from bulkprov import i18n

    with i18n.using(_language(args)):
        return _run(args)


def _language(args) -> str:
    """--lang, else the profile's ``lang``, else the locale (LC_ALL, LC_MESSAGES, LANG)."""
    import os

    from bulkprov import i18n
    from bulkprov.errors import BulkprovError

    if getattr(args, "lang", None):
        return args.lang
    if hasattr(args, "profile"):
        from bulkprov.config import config_path, load_profile

        try:
            lang = load_profile(config_path(getattr(args, "config", None)), args.profile).get("lang")
        except BulkprovError:
            lang = None  # the command itself reports a broken config, in the locale's language
        if lang:
            return i18n.pick(lang)
    return i18n.from_environment(dict(os.environ))


def _run(args) -> int:
    from bulkprov.errors import BulkprovError, RunStopped

    try:
        from bulkprov.cli.commands import COMMANDS

        return COMMANDS[args.command](args)
    except RunStopped as exc:
        print(say("aborted", error=_say_error(exc)), file=sys.stderr)
        return exc.exit_code
    except BulkprovError as exc:
        print(say("error", error=_say_error(exc)), file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print(say("interrupted"), file=sys.stderr)
        return EXIT_ABORTED
    except Exception as exc:  # a bug: one line, the details in a file, never a traceback here
        from bulkprov.cli.commands import _internal_error

        return _internal_error(args, exc)
