"""The command line's own words: hints, next steps and printed lines that name flags (the library's never do).

Every sentence is a msgid of the ``bulkprov`` gettext domain (``N_`` marks, ``_`` translates when
printed), so ``--lang ko`` and ``--lang ja`` speak Korean and Japanese; flags and commands stay as typed.
"""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import N_
from bulkprov.model import Status


def _(text: str) -> str:
    from bulkprov.i18n import gettext

    return gettext(text)


HINTS = {
    "state-dir": N_("or use another --state-dir"),
    "resume-or-force": N_("add --resume to finish it (rows already done are not sent again), or --force to start a "
                          "new run anyway"),
    "host": N_("or pass --host https://bots.kore.ai"),
    "rate": N_("check --rate, or rate in the profile"),
    "output": N_("choose another place with -o"),
    "output-exists": N_("name another file with -o, or add --replace-output to replace it"),
    "resume": N_("run the same command with --resume to send the rest"),
    "disk": N_("free some space (or use another --state-dir / -o) and run it again with --resume"),
    "encoding": N_("if you know the file's encoding, name it with --encoding NAME (e.g. --encoding mac-roman)"),
    "approve": N_("another person approves it with `bulkprov approve ID` (or on the page), then run the same "
                  "command again"),
    "max-runtime": N_("raise --max-runtime (max_runtime in the profile) to at least that, or leave it out"),
    "strays": N_("run plan or sync with --strays to list them (and --remove-strays to remove them, under the "
                 "delete guard)"),
}
GUARD_FLAGS = {"deletes": "--allow-deletes", "deletes-count": "--allow-deletes", "roles": "--allow-role-removals",
               "builder": "--allow-builder", "protected": "--allow-protected"}


def hint_text(key: str) -> str:
    """The hint for ``key`` in the reader's language ("" when there is none)."""
    return _(HINTS[key]) if key in HINTS else ""


def _hint(error) -> str:
    from bulkprov.errors import GuardStopped, Interrupted, MisspeltColumn, OutputUnwritable

    if isinstance(error, GuardStopped) and error.variant in GUARD_FLAGS:
        return _("if that is right, approve it with {flag} {count}").format(flag=GUARD_FLAGS[error.variant],
                                                                             count=error.params["count"])
    if error.hint == "encoding" and error.variant in ("binary", "unknown-name", "named", "no-bom"):
        return ""  # not a question of naming the encoding (or it was named already)
    if isinstance(error, MisspeltColumn):
        import shlex

        flags = " ".join(f"--ignore-column {shlex.quote(h)}" for h in error.params.get("headers") or ())
        return _("to have it ignored: {flags} (or ignore_columns in the profile)").format(flags=flags)
    if isinstance(error, OutputUnwritable) and error.variant.startswith("exists"):
        return hint_text("output-exists")
    if isinstance(error, OutputUnwritable) and error.variant == "format":
        return _("or pass --results-format {format}").format(format=error.params.get("suffix", ""))
    if isinstance(error, Interrupted) and error.variant == "max-runtime":
        return _("--max-runtime reached; {hint}").format(hint=hint_text("resume"))
    return hint_text(error.hint)


# The options of the run the user typed that are bound to its input file or to this run's output:
# a next step that runs another file (the Failures sheet) leaves them out; every other option -- the ones
# that change what the run means (--lookups, --lang, --relaxed-ids, --no-send-email, --profile, --host,
# --state-dir ...) -- is kept as typed.
_OF_THIS_INPUT = frozenset({"sheet", "encoding"})
_OF_THIS_RUN = frozenset({"output", "replace_output", "resume", "force", "retry_failed", "dry_run"})


def command_line(typed: dict, file: str | Path, *, leave_out: frozenset[str] = frozenset(),
                 extra: tuple[str, ...] = ()) -> str:
    """``bulkprov COMMAND FILE`` with every option of ``typed`` (the parsed arguments as the user gave
    them) that differs from its default, less ``leave_out`` (argument names), plus ``extra``."""
    import argparse
    import shlex

    from bulkprov.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[typed["command"]]
    words = ["bulkprov", typed["command"], str(file)]
    seen: set[str] = set()
    for action in sub._actions:
        name = action.dest
        if not action.option_strings or name in leave_out or name in seen or name in ("help", "file"):
            continue
        value = typed.get(name, action.default)
        if value is None or value is argparse.SUPPRESS or value == action.default:
            continue
        if action.nargs == 0:  # a switch; two may share a name (--send-email / --no-send-email)
            switch = next((a for a in sub._actions if a.dest == name and a.nargs == 0 and a.const == value), None)
            if switch is None:
                continue
            words.append(switch.option_strings[-1])
        elif isinstance(value, list):  # a repeatable option (--ignore-column A --ignore-column B)
            for item in value:
                words += [action.option_strings[-1], _as_typed(item)]
        else:
            words += [action.option_strings[-1], _as_typed(value)]
        seen.add(name)
    return " ".join(shlex.quote(w) for w in [*words, *extra])


def _as_typed(value: object) -> str:
    """A parsed value as a person types it: ``--settle 0``, ``--timeout 2.5``, not ``0.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def next_run(typed: dict, results: Path, shown: str) -> tuple[str, str]:
    """(what to do, the command that does it) after a run whose results are in ``results`` (``shown`` as
    the line will name it): a dry run is sent by the same command without --dry-run; what validate finds,
    and the failures of a run whose results are not a workbook, are fixed in the input file and run again
    (the ledger skips the rows already done); otherwise the result workbook's Failures sheet is the next input."""
    file = typed["file"]
    if typed.get("dry_run"):  # its own -o was for the dry run's result: the run writes its own
        return "dry-run", command_line(typed, file, leave_out=frozenset({"dry_run", "output", "replace_output"}))
    if typed["command"] == "validate" or results.suffix.lower() != ".xlsx":
        return "input", command_line(typed, file, leave_out=frozenset({"resume", "force", "retry_failed"}))
    return "failures", command_line(typed, shown, leave_out=_OF_THIS_INPUT | _OF_THIS_RUN, extra=("--sheet", "Failures"))


def next_after_stop(typed: dict, error) -> tuple[str, str] | None:
    """(what to do, the command that does it) after a run that stopped before its end: the same file again,
    never its Failures sheet (a new file would start another run, and ask for another approval) -- once
    approved, with the flag that passes the guard, or with --resume to finish it.  None: nothing to copy."""
    from bulkprov.errors import GuardStopped, InternalError, PendingApproval

    bound = frozenset({"resume", "force", "retry_failed", "dry_run", "output", "replace_output"})
    if isinstance(error, PendingApproval):
        return "approval", command_line(typed, typed["file"], leave_out=bound)
    if isinstance(error, GuardStopped):
        if error.variant not in GUARD_FLAGS:
            return None  # a rejected plan, an unreadable account: the ABORTED line says what to do
        flag = GUARD_FLAGS[error.variant]
        return "guard", command_line(typed, typed["file"], leave_out=bound | {flag[2:].replace("-", "_")},
                                     extra=(flag, str(error.params["count"])))
    if isinstance(error, InternalError):
        return None
    return "resume", command_line(typed, typed["file"], leave_out=bound, extra=("--resume",))


def _cli_phrasing(args=None):
    from bulkprov.jobs.phrasing import Phrasing

    class CliPhrasing(Phrasing):
        """The command line's words: commands and flags, the next steps as the user would type them."""

        def __init__(self, typed: dict | None) -> None:
            self.typed = typed  # the arguments as given, before any profile filled them in

        def rerun_failures(self, command: str, results: Path) -> str:
            if command in ("sync", "plan"):
                return super().rerun_failures(command, results)  # the roster itself, never a partial file
            if self.typed is None:
                return _("Failed and invalid rows are in the Failures sheet: fix them there and run that sheet "
                         "again (bulkprov {command} {results} --sheet Failures).").format(command=command,
                                                                                         results=results.name)
            kind, line = next_run(self.typed, results, results.name)
            template = {"failures": N_("Failed and invalid rows are in the Failures sheet: fix them there and run "
                                       "that sheet again: {command}"),
                        "input": N_("Failed and invalid rows are listed in {results}: fix them in {file} and run it "
                                    "again: {command}"),
                        "dry-run": N_("Nothing was sent (a dry run). Invalid rows are listed in {results}; the same "
                                      "command without --dry-run sends the valid ones: {command}")}[kind]
            return _(template).format(command=line, results=results.name, file=self.typed["file"])

        def resume(self, command: str, reason: str) -> str:
            if command == "sync":
                return _("The run stopped: {reason}. Fix the cause and run the same command again: a sync starts "
                         "from the account as it is, so nothing is done twice.").format(reason=reason)
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

    return CliPhrasing(dict(vars(args)) if args is not None else None)


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
    "quiet": N_("{headline} — results: {path}"),
    "undo-file": N_("  undo file: {path}"),
    "not-sent": N_("  {count} rows not sent"),
    "not-sent-stopped": N_("  {count} rows not sent (the run stopped: see ABORTED above)"),
    "attention": N_("  {count} rows need attention: {top}"),
    "attention-more": N_("  {count} rows need attention: {top} and {more} more kinds"),
    # English says one row otherwise than several (Korean and Japanese do not: their lines read the same).
    "not-sent-one": N_("  1 row not sent"),
    "not-sent-stopped-one": N_("  1 row not sent (the run stopped: see ABORTED above)"),
    "attention-one": N_("  1 row needs attention: {top}"),
    "more-rows": N_("  … and {count} more in the workbook's Failures sheet"),
    "next": N_("  next: fix them in the Failures sheet and run it again: bulkprov {command} {results} "
               "--sheet Failures"),
    "next-roster": N_("  next: fix those rows in the roster itself ({roster}) and run the same command again; never "
                      "sync a part of it (the Failures sheet, say): users it does not list would be removed"),
    "next-failures": N_("  next: fix them in the Failures sheet and run it again: {command}"),
    "next-input": N_("  next: fix them in {file} and run it again: {command}"),
    "next-dry-run": N_("  next: the same command without --dry-run sends it: {command}"),
    "next-approval": N_("  next: once someone else has approved request {request_id} (bulkprov approve {request_id}), "
                        "run the same command again: {command}"),
    "next-guard": N_("  next: if that is right, run it again with {flag}: {command}"),
    "next-resume": N_("  next: once the cause is fixed, finish the run (rows already done are not sent again): "
                      "{command}"),
    "row-problem": N_("  row {row}:{column}: {code} — {message}"),
    "row-outcome": N_("  row {row}, {who}: {code} — {reason}"),
    "export": N_("export: {users} users, {requests} requests — {path}"),
    "directory": N_("directory: {roles} roles, {bots} bots, {groups} groups, {requests} requests — {path}"),
    "template-account": N_("template written with the account's names ({roles} roles, {bots} bots, {groups} "
                           "groups): {path}"),
    "template-account-kept": N_("template written with the account's names as kept on {read_at} ({roles} roles, "
                                "{bots} bots, {groups} groups; --refresh-directory reads them again): {path}"),
    "validate-online": N_("validate: role, bot and group names are checked against the account at {host}"),
    "validate-offline": N_("validate (offline): role, bot and group names are checked against the file's lookup "
                           "sheets only; --host or --profile checks them against the account"),
    "dry-run-offline": N_("dry run (offline, no credentials): role, bot and group names are checked against the "
                          "file's lookup sheets only"),
    "run-line-end": N_("{counts} — {file}"),
    "no-runs": N_("no runs in {state_dir} yet"),
    "request-line": N_("{request_id}  {state}{decided}  {created}  {requester}: {command} {input} on {host} — "
                       "{reasons}{emails}"),
    "request-decided-by": N_(" by {person}"),
    "request-emails": N_("; activation emails it would send: {count}"),
    "no-requests": N_("no approval requests in {folder}"),
    "undo-of-run": N_("undo file of run {run_id}: {path}"),
    "run-changed-nothing": N_("run {run_id} changed nothing"),
    "results-of-run": N_("results of run {run_id}: {path}"),
    "yes-words": N_("y, yes"),
    "which-trail": N_("which account's audit trail? There are several in {folder} ({names}): name it with --host "
                      "(and KORE_CLIENT_ID), a --profile, or --trail FILE"),
    "bad-expect": N_("--expect takes COUNT:HASH as audit verify prints it (a number, a colon and 64 hex digits), not "
                     "{given}"),
}


# The headline of a run ("validate: 6 invalid, 4 valid") in the reader's words; the workbooks keep the
# statuses as English codes, and English keeps them here too.
COMMAND_NAMES = {"validate": N_("validate"), "add": N_("add"), "update": N_("update"), "remove": N_("remove"),
                 "lookup": N_("lookup"), "apply": N_("apply"), "plan": N_("plan"), "sync": N_("sync")}
STATUS_COUNTS = {Status.SUCCESS: N_("{count} success"), Status.FAILED: N_("{count} failed"),
                 Status.INVALID: N_("{count} invalid"), Status.SKIPPED: N_("{count} skipped"),
                 Status.NOT_ATTEMPTED: N_("{count} not_attempted"), Status.VALID: N_("{count} valid"),
                 Status.PLANNED: N_("{count} planned")}
COUNTS_MORE = N_("{counts}, {more}")  # one more count in a headline (Japanese writes 、)


def headline(command: str, dry_run: bool, totals: dict[str, int]) -> str:
    """``add (dry run): 1 invalid, 250 valid`` -- ``추가 (시험 실행): 오류 1건, 정상 250건``."""
    name = command_name(command)
    if dry_run:
        name += _(" (dry run)")
    return _("{command}: {counts}").format(command=name, counts=counts_in_words(totals) or _(SAID["no-rows"]))


# `bulkprov runs` and `bulkprov approvals` in the reader's words; run ids, request ids, times, file names and
# hosts stay as they are (data), and English keeps the words scripts have read so far.
RUN_STATES = ("running", "finished", "interrupted", "stopped-by-guard", "awaiting-approval", "refused")


def run_state(state: str) -> str:
    """A run's state in the reader's words ("finished" as a state, not the Summary's "finished" time)."""
    from bulkprov.i18n import pgettext

    words = {"running": pgettext("run state", "running"), "finished": pgettext("run state", "finished"),
             "interrupted": pgettext("run state", "interrupted"),
             "stopped-by-guard": pgettext("run state", "stopped by guard"),
             "awaiting-approval": pgettext("run state", "awaiting approval"),
             "refused": pgettext("run state", "refused")}
    return words.get(state, state.replace("-", " "))

REQUEST_STATES = {"pending": N_("pending"), "approved": N_("approved"), "rejected": N_("rejected"),
                  "used": N_("used"), "expired": N_("expired")}
RUNS_HEADINGS = (N_("run"), N_("started"), N_("command"), N_("state"), N_("counts / file"))


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal: a Hangul syllable or a kanji takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def padded(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (wide characters counted twice)."""
    return text + " " * max(0, columns - width(text))


def counts_in_words(totals: dict[str, int]) -> str:
    """``1 invalid, 2 success`` -- ``오류 1건, 성공 2건``, as a run's headline counts them."""
    counts = ""
    for status, n in sorted(totals.items()):
        if not n:
            continue
        said = _(STATUS_COUNTS[status]).format(count=f"{n:,}") if status in STATUS_COUNTS else f"{n:,} {status}"
        counts = _(COUNTS_MORE).format(counts=counts, more=said) if counts else said
    return counts


def command_name(command: str) -> str:
    return _(COMMAND_NAMES[command]) if command in COMMAND_NAMES else command


def say(key: str, **params) -> str:
    """A printed line of the command line, in the reader's language."""
    return _(SAID[key]).format(**params)


def yes(answer: str) -> bool:
    """A yes to a [y/N] question, in English or in the reader's language (예, はい)."""
    words = {w.strip().casefold() for w in (SAID["yes-words"] + "," + _(SAID["yes-words"])).split(",")}
    return answer.strip().casefold() in words
