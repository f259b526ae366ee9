"""The command line's own words: hints, next steps and printed lines that name flags (the library's never do).

Every sentence is a msgid of the ``bulkprov`` gettext domain (``N_`` marks, ``_`` translates when
printed), so ``--lang ko`` and ``--lang ja`` speak Korean and Japanese; flags and commands stay as typed.
"""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import N_


def _(text: str) -> str:
    from bulkprov.i18n import gettext

    return gettext(text)


HINTS = {
    "state-dir": N_("or use another --state-dir"),
    "resume-or-force": N_("add --resume to finish it (rows already done are not sent again), or --force to start a "
                          "new run anyway"),
    "host": N_("or pass --host https://bots.kore.ai"),
    "rate": N_("check --rate"),
    "output": N_("choose another place with -o"),
    "output-exists": N_("name another file with -o, or add --replace-output to replace it"),
    "resume": N_("run the same command with --resume to send the rest"),
    "disk": N_("free some space (or use another --state-dir / -o) and run it again with --resume"),
    "encoding": N_("if you know the file's encoding, name it with --encoding NAME (e.g. --encoding mac-roman)"),
    "approve": N_("another person approves it with `bulkprov approve ID` (or on the page), then run the same "
                  "command again"),
}
GUARD_FLAGS = {"deletes": "--allow-deletes", "roles": "--allow-role-removals", "builder": "--allow-builder"}


def hint_text(key: str) -> str:
    """The hint for ``key`` in the reader's language ("" when there is none)."""
    return _(HINTS[key]) if key in HINTS else ""


def _hint(error) -> str:
    from bulkprov.errors import GuardStopped, Interrupted, OutputUnwritable

    if isinstance(error, GuardStopped) and error.variant in GUARD_FLAGS:
        return _("if that is right, approve it with {flag} {count}").format(flag=GUARD_FLAGS[error.variant],
                                                                             count=error.params["count"])
    if error.hint == "encoding" and error.variant in ("binary", "unknown-name", "named", "no-bom"):
        return ""  # not a question of naming the encoding (or it was named already)
    if isinstance(error, OutputUnwritable) and error.variant.startswith("exists"):
        return hint_text("output-exists")
    if isinstance(error, Interrupted) and error.variant == "max-runtime":
        return _("--max-runtime reached; {hint}").format(hint=hint_text("resume"))
    return hint_text(error.hint)


def _cli_phrasing():
    from bulkprov.jobs.phrasing import Phrasing

    class CliPhrasing(Phrasing):
        """The command line's words: commands and flags."""

        def rerun_failures(self, command: str, results: Path) -> str:
            return _("Failed and invalid rows are in the Failures sheet: fix them there and run that sheet again "
                     "(bulkprov {command} {results} --sheet Failures).").format(command=command, results=results.name)

        def resume(self, command: str, reason: str) -> str:
            return _("The run stopped: {reason}. Fix the cause and run the same command again with --resume; "
                     "rows already done are reported, the rest are sent.").format(reason=reason)

        def undo(self, path: Path, changes: int) -> str:
            return _("To undo this run's {changes} changes: bulkprov apply {path}").format(changes=changes, path=path)

        def hint(self, key: str) -> str:
            return hint_text(key)

        def stopped(self, command: str, error) -> str:
            hint = _hint(error)
            text = _("The run stopped: {reason}.").format(reason=error.message)
            return text + (" " + _("To go on: {hint}.").format(hint=hint) if hint else "")

    return CliPhrasing()


def _say_error(error) -> str:
    hint = _hint(error)
    return f"{error}{'; ' + hint if hint else ''}"


# Lines the commands print (cli/commands.py), declared here beside the other words of the command line.
SAID = {
    "aborted": N_("bulkprov: aborted: {error}"),
    "error": N_("bulkprov: error: {error}"),
    "interrupted": N_("bulkprov: interrupted"),
    "template": N_("template written: {path}"),
    "builder-confirm": N_("{count} users would get Builder access. Continue? [y/N] "),
    "warning": N_("warning: {warning}"),
    "aborted-line": N_("ABORTED: {reason}"),
    "no-rows": N_("no rows"),
    "results": N_("  results: {path}"),
    "undo-file": N_("  undo file: {path}"),
    "not-sent": N_("  {count} rows not sent"),
    "not-sent-stopped": N_("  {count} rows not sent (the run stopped: see ABORTED above)"),
    "attention": N_("  {count} rows need attention: {top}"),
    "attention-more": N_("  {count} rows need attention: {top} and {more} more kinds"),
    "more-rows": N_("  … and {count} more in the workbook's Failures sheet"),
    "next": N_("  next: fix them in the Failures sheet and run it again: bulkprov {command} {results} "
               "--sheet Failures"),
    "row-problem": N_("  row {row}:{column}: {code} — {message}"),
    "row-outcome": N_("  row {row}, {who}: {code} — {reason}"),
    "export": N_("export: {users} users, {requests} requests — {path}"),
    "undo-of-run": N_("undo file of run {run_id}: {path}"),
    "run-changed-nothing": N_("run {run_id} changed nothing"),
    "results-of-run": N_("results of run {run_id}: {path}"),
    "yes-words": N_("y, yes"),
}


def say(key: str, **params) -> str:
    """A printed line of the command line, in the reader's language."""
    return _(SAID[key]).format(**params)


def yes(answer: str) -> bool:
    """A yes to a [y/N] question, in English or in the reader's language (예, はい)."""
    words = {w.strip().casefold() for w in (SAID["yes-words"] + "," + _(SAID["yes-words"])).split(",")}
    return answer.strip().casefold() in words
