"""Finishing a usersInfo lookup by orgUserId when the reply does not echo ``orgUserId``.

The documented usersInfo reply names a found user by ``emailId`` and ``userId`` only; whether the
real server adds ``orgUserId`` is not documented.  When it does not, a reply to
``{"orgUserIds": [...]}`` carries found users that match no key we sent.  :class:`OrgIdResolver`
settles them without guessing: a reply is paired with the key that was asked for, never by
elimination (one id asked and one stranger found is *not* proof: the server may have answered
about someone else).  The account listing (``alluserroles``, paged once per resolver) says which
email each orgUserId has; a found user of the reply with that email is the user, and a key whose
email the reply does not hold is asked again by email.  A key the listing does not hold stays
unknown (``named`` False): the listing may itself be incomplete.

If the listing is refused (the app lacks the Role Management scope), the keys cannot be told apart:
they stay unknown (``named`` False, the refusal in the message), never a silent "not found" (a
removal would otherwise be "confirmed" by a user we merely failed to recognise).
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.keys import match_key
from bulkprov.kore.errors import AuthFailed, CallFailed, OutcomeUnknown, RequestRefused
from bulkprov.kore.listing import DEFAULT_PAGE_SIZE, AccountListing, Slot, list_account
from bulkprov.kore.replies import CallResult, UserOutcome

INFO_CHUNK = 200


class OrgIdResolver:
    """Completes usersInfo results by orgUserId; every extra request goes through ``slot``."""

    def __init__(self, client: Any, *, slot: Slot | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                 listing: AccountListing | None = None) -> None:
        self.client = client
        self.slot = slot
        self.page_size = page_size
        self._listing = listing
        self._listing_failed: CallFailed | None = None
        self._reading = asyncio.Lock()  # concurrent batches wait for one listing instead of each reading it

    async def complete(self, result: CallResult, org_ids: list[str]) -> CallResult:
        """``result`` (a usersInfo reply to ``org_ids``) with every key settled, as far as the account says."""
        open_keys = [k for k in (match_key(i) for i in org_ids)
                     if k in result.outcomes and not result.outcomes[k].named]
        strangers = [o for o in result.unmatched if o.ok]
        if not open_keys or not strangers:
            return result
        outcomes = dict(result.outcomes)
        unmatched = [o for o in result.unmatched if not o.ok]
        try:
            emails = (await self._account()).email_of_org()
        except OutcomeUnknown as exc:  # nothing says which user is which key: every open key stays unknown
            for key in open_keys:
                outcomes[key] = UserOutcome(result.outcomes[key].key, False, "not-found", exc.message, named=False)
            return replace(result, outcomes=outcomes, unmatched=unmatched)
        in_reply = {match_key(_email(o)): o for o in strangers if _email(o)}
        wanted = {key: emails[key] for key in open_keys if key in emails and match_key(emails[key]) not in in_reply}
        found = {**in_reply, **await self._by_email(list(wanted.values()))}
        for key in open_keys:
            email = emails.get(key)
            outcome = found.get(match_key(email)) if email else None
            sent = result.outcomes[key].key
            if outcome is not None and outcome.ok:
                outcomes[key] = _as_found(outcome, sent)
            elif outcome is not None and outcome.named:  # asked by its email: the server's own failure entry
                outcomes[key] = UserOutcome(sent, False, outcome.code, outcome.message)
            else:
                outcomes[key] = UserOutcome(sent, False, "not-found", _("not in the account listing"), named=False)
        return replace(result, outcomes=outcomes, unmatched=unmatched)

    async def account(self) -> AccountListing:
        """The account listing, read once for the resolver's life (:class:`OutcomeUnknown` when refused)."""
        return await self._account()

    async def _account(self) -> AccountListing:
        async with self._reading:
            if self._listing is not None:
                return self._listing
            if self._listing_failed is not None:
                raise self._listing_failed
            try:
                self._listing = await list_account(self.client, page_size=self.page_size, slot=self.slot)
            except (AuthFailed, RequestRefused) as exc:
                self._listing_failed = OutcomeUnknown(
                    _("the usersInfo reply does not say which user each orgUserId is, and the account listing "
                      "that would was refused ({said}; it needs the app's Role Management scope)").format(said=exc.message),
                    status=exc.status)
                raise self._listing_failed from exc
            return self._listing

    async def _by_email(self, emails: list[str]) -> dict[str, UserOutcome]:
        found: dict[str, UserOutcome] = {}
        for i in range(0, len(emails), INFO_CHUNK):
            chunk = emails[i:i + INFO_CHUNK]
            if self.slot is None:
                info = await self.client.users_info(email_ids=chunk)
            else:
                async with self.slot():
                    info = await self.client.users_info(email_ids=chunk)
            found.update(info.outcomes)
        return found


def _email(outcome: UserOutcome) -> str:
    info = (outcome.detail or {}).get("userInfo") or {}
    return str(info.get("emailId") or outcome.key or "")


def _as_found(outcome: UserOutcome, org_user_id: str) -> UserOutcome:
    """A found user settled for the orgUserId we asked about; its details say so too."""
    detail: dict[str, Any] | None = copy.deepcopy(outcome.detail) if outcome.detail is not None else None
    if detail is not None and isinstance(detail.get("userInfo"), dict):
        detail["userInfo"].setdefault("orgUserId", org_user_id)
    return UserOutcome(org_user_id, True, "", "found", detail)
