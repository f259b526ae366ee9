"""What a row says when no request reached it: one wording for the dispatcher's last chunk and for the chunks a
stopped run never sent (read back from the ledger).  No network stack here: the workbook's writer imports it."""

from __future__ import annotations

from bulkprov.errors import OUTCOME_CODES
from bulkprov.i18n import gettext as _
from bulkprov.model import NOT_ATTEMPTED_CODE, Status


def unreached(uncertain: bool, aborted: str, interrupted: bool) -> tuple[Status, str, str]:
    """What a row no request of this process reached says (status, reason, code): ``failed``/``unverified``
    when an earlier attempt may have been applied, else ``not_attempted`` -- ``interrupted`` for a stop
    request, ``not-attempted`` for an abort (``aborted``: why)."""
    stopped = aborted or _("the run was interrupted")
    if uncertain:
        return Status.FAILED, OUTCOME_CODES["unverified"].render("stopped", stopped=stopped), "unverified"
    code = "interrupted" if interrupted else NOT_ATTEMPTED_CODE
    return Status.NOT_ATTEMPTED, OUTCOME_CODES[code].render(stopped=stopped), code
