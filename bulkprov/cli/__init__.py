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
from bulkprov.cli.wording import HINTS, _hint, _say_error

__all__ = ["FILE_COMMANDS", "HINTS", "_hint", "build_parser", "main"]

EXIT_UNUSABLE, EXIT_ABORTED = 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNUSABLE
    from bulkprov.errors import BulkprovError, RunStopped

    try:
        from bulkprov.cli.commands import COMMANDS

        return COMMANDS[args.command](args)
    except RunStopped as exc:
        print(f"bulkprov: aborted: {_say_error(exc)}", file=sys.stderr)
        return exc.exit_code
    except BulkprovError as exc:
        print(f"bulkprov: error: {_say_error(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("bulkprov: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except Exception as exc:  # a bug: one line, the details in a file, never a traceback here
        from bulkprov.cli.commands import _internal_error

        return _internal_error(args, exc)
