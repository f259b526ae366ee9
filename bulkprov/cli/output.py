"""How the command line prints: text for a person, or -- with ``--log-format json`` -- one JSON object per
line, stdout and stderr alike, each with the run id (the log handler's own format, :func:`bulkprov.logs.json_line`).

A scheduler's log store then reads every line of a night, errors and the ABORTED line included,
and groups them by run; nothing a run prints is plain text in a JSON stream.
"""

from __future__ import annotations

import sys
from typing import Any

_MODE: dict[str, Any] = {"json": False, "argv": []}


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


def remember(argv: list[str]) -> None:
    """The command line as typed, for an error argparse reports before any option is read."""
    _MODE["argv"] = list(argv)


def wants_json(argv: list[str] | None = None) -> bool:
    """Whether a command line argparse refused asked for JSON lines: ``--log-format json`` on it, or
    ``log_format = "json"`` in the profile it names (a scheduler's line is its profile's)."""
    import argparse

    argv = list(_MODE.get("argv") or []) if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--log-format=json" or (arg == "--log-format" and argv[i + 1:i + 2] == ["json"]):
            return True
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--config")
    early.add_argument("--profile")
    try:
        known, _rest = early.parse_known_args(argv)
        from bulkprov.config import config_path, load_profile

        return load_profile(config_path(known.config), known.profile).get("log_format") == "json"
    except (Exception, SystemExit):  # a broken config is the command's to report
        return False
