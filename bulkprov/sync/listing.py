"""What the account listing adds to sync's view of the account: the orgUserIds usersInfo does not give.

The documented usersInfo reply names a user by ``emailId`` and ``userId`` and carries names, the
Builder flags, roles and groups -- but not ``orgUserId``.  When the roster manages orgUserIds and
neither the reply nor what bulkprov last applied knows a user's, plan and sync read the account
listing (``alluserroles``, once, within the run's rate budget; it needs the Role Management scope)
and merge what it says into that user (:func:`bulkprov.kore.listing.merge_user`).  Without it, the
field's current value is "not known" -- never blank.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bulkprov.i18n import gettext as _
from bulkprov.send.options import SendOptions

log = logging.getLogger("bulkprov.sync")

if TYPE_CHECKING:  # the network stack is imported where the account is read, not by a validate
    from bulkprov.kore.listing import AccountListing


def needs_org_ids(valid: Iterable[Any], managed: set[str], current: dict[str, dict[str, Any]],
                  remembered: dict[str, dict[str, Any]]) -> bool:
    """Does the plan need the listing to know the orgUserIds the roster sets?  (``valid``: the rows' plain
    fields suffice; they are not read when the account has none of the roster's users.)"""
    if "orgUserId" not in managed or not current:
        return False
    for row in valid:
        user = current.get(row.key.id)
        if user is None or not row.org_user_id or (user.get("userInfo") or {}).get("orgUserId"):
            continue
        if "orgUserId" not in ((remembered.get(row.key.id) or {}).get("userInfo") or {}):
            return True
    return False


async def read_listing(settings: SendOptions, credentials: Any, limiter: Any) -> AccountListing | None:
    """The account listing for the orgUserIds, or None (with a warning) when it cannot be read."""
    from bulkprov.kore import CallFailed, KoreClient
    from bulkprov.kore.listing import list_account

    log.info(_("reading the account listing: usersInfo does not give the orgUserIds the roster sets"))
    try:
        async with KoreClient(settings.host, credentials, timeout=settings.timeout) as client:
            return await list_account(client, slot=limiter.slot if limiter is not None else None)
    except CallFailed as exc:
        log.warning(_("the account listing could not be read (%s): orgUserIds the server's replies do not give "
                      "are not known, and a roster's orgUserId for such a user is sent once"), exc.message)
        return None


def with_listing(current: dict[str, dict[str, Any]], listing: AccountListing) -> dict[str, dict[str, Any]]:
    """Every current user completed with what the listing says about it (orgUserId, flags, roles)."""
    from bulkprov.kore.listing import merge_user

    out = {}
    for key, user in current.items():
        listed = listing.user_of(email=str((user.get("userInfo") or {}).get("emailId") or ""))
        out[key] = merge_user(listed, user) if listed is not None else user
    return out
