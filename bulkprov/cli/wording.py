"""The command line's own words: hints and next steps that name flags (the library's never do)."""

from __future__ import annotations

from pathlib import Path

HINTS = {
    "state-dir": "or use another --state-dir",
    "resume-or-force": "add --resume to finish it (rows already done are not sent again), or --force to start a "
                       "new run anyway",
    "host": "pass --host https://bots.kore.ai, set KORE_HOST, or use a --profile",
    "rate": "check --rate",
    "output": "choose another place with -o",
    "output-exists": "name another file with -o, or add --replace-output to replace it",
    "resume": "run the same command with --resume to send the rest",
    "disk": "free some space (or use another --state-dir / -o) and run it again with --resume",
    "encoding": "if you know the file's encoding, name it with --encoding NAME (e.g. --encoding mac-roman)",
    "approve": "another person approves it with `bulkprov approve ID` (or on the page), then run the same command "
               "again",
}
GUARD_FLAGS = {"deletes": "--allow-deletes", "roles": "--allow-role-removals", "builder": "--allow-builder"}


def _hint(error) -> str:
    from bulkprov.errors import GuardStopped, Interrupted, OutputUnwritable

    if isinstance(error, GuardStopped) and error.variant in GUARD_FLAGS:
        return f"if that is right, approve it with {GUARD_FLAGS[error.variant]} {error.params['count']}"
    if error.hint == "encoding" and error.variant in ("binary", "unknown-name", "named"):
        return ""  # not a question of naming the encoding (or it was named already)
    if isinstance(error, OutputUnwritable) and error.variant.startswith("exists"):
        return HINTS["output-exists"]
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

