"""``bulkprov runs`` and ``bulkprov runs show ID``: the ledger's runs, in the reader's words.

Run ids, times, file names and notes stay as they are (data); the headings, states, commands and counts are
worded in the reader's language (English keeps the words scripts have read so far).  Dispatched by
:mod:`bulkprov.cli`.
"""

from __future__ import annotations

import argparse

from bulkprov.cli.commands import _state_dir_of
from bulkprov.cli.wording import _, say
from bulkprov.errors import UsageProblem


def cmd_runs(args: argparse.Namespace) -> int:
    from bulkprov.jobs.history import list_runs, rewrite_results

    state_dir = _state_dir_of(args)
    if args.action == "show":
        if not args.run_id:
            raise UsageProblem(reason=_("runs show needs a run ID (bulkprov runs lists them)"))
        if args.undo:
            from bulkprov.jobs.history import rewrite_undo

            path = rewrite_undo(state_dir, args.run_id, args.output, replace=args.replace_output)
            print(say("undo-of-run", run_id=args.run_id, path=path) if path
                  else say("run-changed-nothing", run_id=args.run_id))
            return 0
        path = rewrite_results(state_dir, args.run_id, args.output, replace=args.replace_output)
        print(say("results-of-run", run_id=args.run_id, path=path))
        return 0
    from bulkprov.chars import printable
    from bulkprov.cli.wording import RUNS_HEADINGS, command_name, counts_in_words, padded, run_state, width

    runs = list_runs(state_dir)
    if not runs:
        print(say("no-runs", state_dir=printable(state_dir)))
        return 0
    heading = [_(h) for h in RUNS_HEADINGS]
    rows = []
    for run in runs:
        counts = counts_in_words(run.counts) or "—"
        state = run_state(run.state)
        later = "  " + _("(finished by {run_id})").format(run_id=run.finished_by) if run.finished_by else ""
        why = f" [{run.note}]" if run.note and run.state in ("refused", "interrupted", "stopped-by-guard") else ""
        # a file name can hold ESC or CR: it is shown, never obeyed
        end = say("run-line-end", counts=counts, file=printable(run.input_path)) + why + later
        rows.append(((run.id, run.started, command_name(run.command), state), end))
    # columns as wide as their widest cell (Korean and Japanese words take two columns a character)
    widths = [max([24, 26, 8, 17][i], width(heading[i]), *(width(cells[i]) for cells, _end in rows)) for i in range(4)]
    print(" ".join(padded(h, w) for h, w in zip(heading, widths, strict=False)) + " " + heading[-1])
    for cells, end in rows:
        print(" ".join(padded(c, w) for c, w in zip(cells, widths, strict=True)) + " " + end)
    return 0


COMMANDS = {"runs": cmd_runs}
