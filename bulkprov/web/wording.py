"""The page's words: labels of actions, roles, choices and statuses, and the page's hints (:class:`WebPhrasing`).

A message on the page is the library's message plus the page's own hint (:class:`WebPhrasing`, which names the
page's buttons, as :mod:`bulkprov.cli.wording` names flags); the page never rewrites a library message.  Labels
are marked here and translated where they are shown (``label(ACTIONS, key)``), in gettext domain ``web``.
"""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import BulkprovError
from bulkprov.jobs.phrasing import Phrasing
from bulkprov.model import Status
from bulkprov.units import number
from bulkprov.web.lang import N_, _, text

# The page's labels are marked here and translated where they are shown (``_(ACTIONS[key])``).
ACTIONS = {
    "add": N_("add the users"),
    "update": N_("update existing users (blank cells are left unchanged)"),
    "remove": N_("remove the users"),
    "apply": N_("per-row action column (add / update / remove)"),
}
# A command's short name on the page (a run's "what", a request's action).
ACTION_NAMES = {"add": N_("add"), "update": N_("update"), "remove": N_("remove"), "apply": N_("apply"),
                "sync": N_("sync"), "lookup": N_("lookup")}
ROLE_NAMES = {"viewer": N_("viewer"), "operator": N_("operator"), "approver": N_("approver")}
EMAIL_CHOICES = {"yes": N_("send activation emails"), "no": N_("do not send activation emails")}
# A CSV's encoding when detection cannot tell (the CLI's --encoding); "" detects. Workbooks ignore it.
ENCODING_CHOICES = {"": N_("detect automatically"), "utf-8": N_("UTF-8"),
                    "cp949": N_("Korean (cp949 / EUC-KR)"), "cp932": N_("Japanese (cp932 / Shift_JIS)"),
                    "gbk": N_("Chinese, simplified (GBK)"), "cp1252": N_("Western European (Windows-1252)"),
                    "mac-roman": N_("Western European (Mac Roman)"), "utf-16": N_("UTF-16")}
# What a row's status (the workbook's stable English code) is called on the page.
STATUSES = {Status.SUCCESS: N_("success"), Status.FAILED: N_("failed"), Status.INVALID: N_("invalid"),
            Status.SKIPPED: N_("skipped"), Status.NOT_ATTEMPTED: N_("not attempted"), Status.VALID: N_("valid")}


class WebPhrasing(Phrasing):
    """The page's words for next steps and hints: buttons and pages, never command-line flags (domain ``web``)."""

    def rerun_failures(self, command: str, results: Path) -> str:
        return text(N_("Failed and invalid rows are in the failures file: download it, fix the rows and upload it "
                       "again with “{action}” as what to do."), action=label(ACTIONS, command))

    def resume(self, command: str, reason: str) -> str:
        return text(N_("The run stopped: {reason}. Fix the cause, then upload the same file and run it again; rows "
                       "already done are not sent twice."), reason=reason)

    def undo(self, path: Path, changes: int) -> str:
        return text(N_("To undo this run's {changes} changes, download the undo file and upload it with "
                       "“{action}” as what to do."), changes=changes, action=label(ACTIONS, "apply"))

    def hint(self, key: str) -> str:
        hints = {
            "state-dir": N_("Wait for the other run to finish, then press Run again."),
            "resume-or-force": N_("Resume it to send only the rows it had not done, or start a new run anyway."),
            "disk": N_("Ask the administrator to free space on the server."),
            "encoding": N_("If you know the file's encoding, upload it again and choose it under “Text encoding "
                           "of a CSV file”."),
            "misspelt-column": N_("Correct the header in your file, or delete that column if it is another one, "
                                  "and upload the file again."),
        }
        return _(hints[key]) if key in hints else ""


def explain(error: BulkprovError) -> str:
    """A library error as the page says it: its message (in the request's language), then the page's hint."""
    hint = WebPhrasing().hint(error.hint) if error.hint else ""
    message = error.message[:1].upper() + error.message[1:]
    return f"{message}. {hint}" if hint else message


def labels(table: dict[str, str]) -> dict[str, str]:
    """A table of marked labels in the request's language."""
    return {key: _(label) for key, label in table.items()}


def label(table: dict[str, str], key: str) -> str:
    """One marked label in the request's language; a key the table does not know shows as it is."""
    return _(table[key]) if key in table else key


def mb(n: int) -> str:
    """An upload limit in MB, in the reader's locale (``1 MB``, ``0.5 MB``)."""
    return f"{number(round(n / 1024 / 1024, 2))} MB"
