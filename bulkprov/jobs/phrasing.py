"""How a front end words what the library cannot: next steps and hints that name flags or buttons.

The library (and the workbooks it writes) speak of *what* to do; a :class:`Phrasing` says *how*, in
the words of the front end that started the run.  This base class is neutral (no flag, no button);
``cli.py`` subclasses it with command lines, ``web/`` with the page's buttons.
"""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import N_, RunStopped, render


class Phrasing:
    """Neutral wording: usable in any workbook, names neither a flag nor a button."""

    def rerun_failures(self, command: str, results: Path) -> str:
        if command in ("sync", "plan"):  # a roster is whole: a sync of the Failures sheet removes everyone else
            return render(N_("Invalid rows are listed in the Failures sheet: fix them in the roster itself and run "
                             "the same command again. Never sync a part of the roster (the Failures sheet, say): "
                             "the users it does not list would be removed."), {})
        return render(N_("Failed and invalid rows are in the Failures sheet: fix them there and run that sheet "
                         "again with the same command ({command})."), {"command": command})

    def resume(self, command: str, reason: str) -> str:
        return render(N_("The run stopped: {reason}. Fix the cause and run it again; rows already done are "
                         "reported, the rest are sent."), {"reason": reason})

    def stopped(self, command: str, error: RunStopped) -> str:
        """The next step after a run stopped for ``error``."""
        hint = self.hint(error.hint) if error.hint else ""
        return self.resume(command, error.message) + (f" {hint}" if hint else "")

    def undo(self, path: Path, changes: int) -> str:
        return render(N_("To undo this run's {changes} changes, apply {path}."), {"changes": changes, "path": path})

    def hint(self, key: str) -> str:
        """Extra wording for an error's hint key (see :attr:`bulkprov.errors.BulkprovError.hint`)."""
        return ""
