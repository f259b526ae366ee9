"""How the command line prints: text for a person, or -- with ``--log-format json`` -- one JSON object per
line, stdout and stderr alike, each with the run id (the log handler's own format, :func:`bulkprov.logs.json_line`).

A scheduler's log store then reads every line of a night, errors and the ABORTED line included,
and groups them by run; nothing a run prints is plain text in a JSON stream.
"""

from __future__ import annotations

import sys
from typing import Any

_MODE = {"json": False}


def use_json(enabled: bool) -> None:
    _MODE["json"] = bool(enabled)


def is_json() -> bool:
    return _MODE["json"]


def emit(text: str, *, err: bool = False, level: str = "info", **data: Any) -> None:
    """One line: ``text`` as is, or a JSON object carrying it as ``message`` with ``data`` beside it."""
    stream = sys.stderr if err else sys.stdout
    if _MODE["json"]:
        from bulkprov.logs import json_line

        print(json_line(level, "bulkprov.cli", text.strip(), **data), file=stream, flush=True)
    else:
        print(text, file=stream)


def wants_json(argv: list[str]) -> bool:
    """``--log-format json`` on a command line argparse refused (its error must be JSON too)."""
    for i, arg in enumerate(argv):
        if arg == "--log-format=json" or (arg == "--log-format" and argv[i + 1:i + 2] == ["json"]):
            return True
    return False
