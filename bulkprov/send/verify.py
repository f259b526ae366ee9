"""Asking the server before settling: usersInfo after a lost reply, for unmatched failures, and for undo.

No row is ``success`` unless the server said so for that row.  When the outcome of an attempt is
unknown (a timeout, a dropped connection, a 5xx that may have come after the work was done) or a
reply's failure list does not match the request, the dispatcher asks usersInfo which users exist
now, and settles from that.  Before an update or a removal it fetches the users as they are (the
before-image the undo file restores), and commits each one through the hooks as it arrives.

:class:`Verifier` asks for one dispatch.  Its interface with :class:`bulkprov.send.dispatcher.Dispatcher` is
narrow: the client and the orgUserId resolver to ask with, a rate-limited ``slot`` for each check, ``failed``
to count a failed check (the breaker, a refused login), ``finish`` to settle a row and ``keep_before`` to
record a before-image; it reads the results so far and fills the before-images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bulkprov.bodies import update_applied
from bulkprov.errors import OUTCOME_CODES, SUCCESS_NOTES
from bulkprov.i18n import gettext as _
from bulkprov.kore import CallFailed, CallResult, KoreClient, OutcomeUnknown, UserOutcome
from bulkprov.kore.listing import merge_user
from bulkprov.kore.lookup import OrgIdResolver
from bulkprov.model import Action, CheckedRow, RowResult, Status, match_key
from bulkprov.send.batches import Batch


class Aborted(Exception):
    """The run is stopping (a stop request or an abort): leave the batch as it is."""

log = logging.getLogger("bulkprov.dispatch")

VERIFY_CHUNK = 200


def confirmed(variant: str) -> str:
    return SUCCESS_NOTES["confirmed"].render(variant)


def _shows_update(row: CheckedRow, outcome: UserOutcome | None) -> bool:
    return outcome is not None and outcome.ok and outcome.detail is not None and update_applied(row.user,
                                                                                                outcome.detail)


def _email_of(user: dict[str, Any] | None) -> str:
    info = (user or {}).get("userInfo") or {}
    return str(info.get("emailId") or "")


class Finish(Protocol):
    """Settle one row (the dispatcher's, which records it and hands it to the ledger)."""

    def __call__(self, row: CheckedRow, status: Status, reason: str, code: str, http_status: int | None = None,
                 batch: str = "") -> None: ...


class Verifier:
    """usersInfo checks for one dispatch.

    A check settles a row only by what an entry of its reply *names*: a found user, or the failure
    entry that says the user is not there.  A user the reply leaves out is still unknown."""

    def __init__(self, client: KoreClient, orgs: OrgIdResolver, *,
                 slot: Callable[[], AbstractAsyncContextManager[None]], failed: Callable[[Batch, CallFailed], None],
                 finish: Finish, keep_before: Callable[[int, dict[str, Any]], None],
                 results: dict[int, RowResult], before: dict[int, dict[str, Any]]) -> None:
        self.client = client
        self._orgs = orgs
        self._slot = slot
        self._failed = failed
        self._finish = finish
        self._keep_before = keep_before
        self._results = results  # the dispatch's results so far (read)
        self.before = before  # update/remove: the users before the change (filled here)
        self.absent_before: set[int] = set()  # rows usersInfo did not find before we removed them
        self._queued: set[int] = set()  # rows a 202 left unknown (not done yet is not "not done")
        self._said_unknown: set[tuple[str, str]] = set()  # undocumented replies already logged
        self._listing_said = False  # the listing read for before-images is announced once

    async def verify(self, batch: Batch, rows: list[CheckedRow], uncertain_rows: set[int]) -> list[CheckedRow]:
        """Resolve an uncertain attempt through usersInfo; returns the rows still to send (the reply to
        sending them again then says what happened: "already exists" after an uncertain add is ours).
        ``uncertain_rows``: the rows an attempt may have applied."""
        if batch.op == Action.UPDATE:
            return await self._verify_updates(batch, rows, uncertain_rows)
        # Only rows an attempt may have applied: a user that was there before is not our creation.
        uncertain = [r for r in rows if r.row in uncertain_rows]
        there = await self._named_state(batch, uncertain)
        remaining = [r for r in rows if r not in uncertain]
        for row in uncertain:
            state = there.get(row.key.id)
            if batch.op == Action.ADD and state is True:
                self._finish(row, Status.SUCCESS, confirmed("created-info"), "", 200, batch.id)
            elif batch.op == Action.REMOVE and state is False and row.row in self.absent_before:
                self._finish(row, Status.FAILED, OUTCOME_CODES["not-found"].render("absent-before"), "not-found", 200,
                             batch.id)
            elif batch.op == Action.REMOVE and state is False:
                self._finish(row, Status.SUCCESS, confirmed("removed-info"), "", 200, batch.id)
            else:
                remaining.append(row)
        return remaining

    async def _verify_updates(self, batch: Batch, rows: list[CheckedRow], uncertain_rows: set[int]
                              ) -> list[CheckedRow]:
        """An update whose reply was lost is confirmed when the user already shows every change it
        makes (a field the reply does not carry cannot confirm it: the update is then sent again,
        which is harmless, since an update sets values)."""
        uncertain = [r for r in rows if r.row in uncertain_rows]
        info = await self._users_info(batch, uncertain)
        remaining = [r for r in rows if r not in uncertain]
        for row in uncertain:
            if _shows_update(row, info.get(row.key.id)):
                self._finish(row, Status.SUCCESS, confirmed("updated-info"), "", 200, batch.id)
            else:
                remaining.append(row)
        return remaining

    async def _named_state(self, batch: Batch, rows: list[CheckedRow]) -> dict[str, bool]:
        """key -> True when usersInfo names the user as found, False when its failure entry names the
        user as not there; a user the reply leaves out (or cannot be paired) is absent from the dict."""
        out: dict[str, bool] = {}
        for key, outcome in (await self._users_info(batch, rows)).items():
            if outcome.ok:
                out[key] = True
            elif outcome.named and outcome.code in ("not-found", "invalid-email"):
                out[key] = False
        return out

    async def snapshot(self, batch: Batch, rows: list[CheckedRow]) -> None:
        """The users as they are before this batch changes them (for the undo file), kept in the ledger."""
        missing = [r for r in rows if r.row not in self.before and r.row not in self.absent_before]
        if not missing:
            return
        info = await self._users_info(batch, missing)
        for row in missing:
            outcome = info.get(row.key.id)
            if outcome is not None and outcome.ok and outcome.detail is not None:
                self.before[row.row] = await self._complete_image(batch, row, outcome.detail)
                self._keep_before(row.row, self.before[row.row])
            elif outcome is not None and outcome.code == "not-found" and outcome.named:
                self.absent_before.add(row.row)

    async def _users_info(self, batch: Batch, rows: list[CheckedRow]) -> dict[str, UserOutcome]:
        """usersInfo for rows of any key kind (an update batch may mix emails and orgUserIds), keyed by
        each row's key.  A row known only by orgUserId is asked by the email of its before-image when
        there is one: the documented not-found entry names ``emailId``."""
        found: dict[str, UserOutcome] = {}
        by_email: dict[str, list[CheckedRow]] = {}
        by_org: list[CheckedRow] = []
        for row in rows:
            email = row.email or _email_of(self.before.get(row.row))
            if email:
                by_email.setdefault(email, []).append(row)
            else:
                by_org.append(row)
        emails = list(by_email)
        for i in range(0, len(emails), VERIFY_CHUNK):
            chunk = emails[i:i + VERIFY_CHUNK]
            info = await self._info_call(batch, email_ids=chunk)
            for email in chunk:
                outcome = info.outcomes.get(match_key(email))
                for row in by_email[email]:
                    if outcome is not None:
                        found[row.key.id] = outcome
        for i in range(0, len(by_org), VERIFY_CHUNK):
            ids = [r.org_user_id for r in by_org[i:i + VERIFY_CHUNK]]
            info = await self._info_call(batch, org_user_ids=ids)
            info = await self._orgs.complete(info, ids)
            found.update(info.outcomes)
        return found

    async def _info_call(self, batch: Batch, **keys: list[str]) -> CallResult:
        try:
            async with self._slot():
                return await self.client.users_info(**keys)
        except CallFailed as exc:
            self._failed(batch, exc)
            raise

    async def _complete_image(self, batch: Batch, row: CheckedRow, user: dict[str, Any]) -> dict[str, Any]:
        """A before-image as exact as the replies allow: usersInfo's details (names, groups, tasks) with
        what only the account listing knows (orgUserId, and flags or roles the reply lacks).  Needed for a
        removal (the undo file adds the user back) and for an update that changes the orgUserId; the
        listing is read once per run, and only when the reply lacks the orgUserId."""
        info = user.get("userInfo") or {}
        changes_org = "orgUserId" in (row.user.get("userInfo") or {}) and row.action == Action.UPDATE
        if info.get("orgUserId") or not (row.action == Action.REMOVE or changes_org):
            return user
        if not row.email and row.org_user_id:  # removed by its orgUserId: that is the one it has
            return {**user, "userInfo": {**info, "orgUserId": row.org_user_id}}
        if not self._listing_said:
            self._listing_said = True
            log.info(_("reading the account listing: usersInfo does not give the orgUserIds the undo file needs"))
        try:
            listing = await self._orgs.account()
        except OutcomeUnknown:  # the undo file's About sheet names what it cannot restore
            return user
        listed = listing.user_of(email=row.email or str(info.get("emailId") or ""))
        return merge_user(listed, user) if listed is not None else user

    async def verify_unmatched(self, batch: Batch, rows: list[CheckedRow], result: CallResult) -> None:
        """Rows the reply did not settle (a reply that is not a documented shape, a failure we could not
        map, a 4xx that named others): never assume success; check them with usersInfo and settle only
        what its reply names."""
        open_rows = [r for r in rows if r.row not in self._results]
        if not open_rows:
            return
        reason = "; ".join(o.message or o.code for o in result.unmatched if not o.ok)
        if result.unknown:
            self._say_unknown(batch.op, result.unknown)
        if batch.op == Action.UPDATE:
            await self._check_updates(batch, open_rows, result, reason)
            return
        there = await self._named_state(batch, open_rows)
        for row in open_rows:
            state = there.get(row.key.id)
            done = state is (batch.op == Action.ADD)
            if state is None:
                self._finish(row, Status.FAILED, self._unknown_text(result, reason), "unverified", result.status, batch.id)
            elif done and batch.op == Action.REMOVE and row.row in self.absent_before:
                self._finish(row, Status.FAILED, OUTCOME_CODES["not-found"].render("absent-before"), "not-found", 200,
                             batch.id)
            elif done:  # the check's reply (usersInfo, 200) is what confirmed it, not the write's status
                note = (SUCCESS_NOTES["confirmed"].render("unknown-reply", said=result.unknown) if result.unknown
                        else confirmed("unmatched"))
                self._finish(row, Status.SUCCESS, note, "", 200, batch.id)
            elif result.status == 202:  # queued: not done yet is not "not done"
                self._queued.add(row.row)
                self._finish(row, Status.FAILED, OUTCOME_CODES["unverified"].render("queued", said=result.unknown),
                             "unverified", result.status, batch.id)
            elif reason:
                self._finish(row, Status.FAILED, reason, "server-refused", result.status, batch.id)
            elif result.unknown:
                self._finish(row, Status.FAILED, OUTCOME_CODES["not-applied"].render(said=result.unknown), "not-applied",
                             result.status, batch.id)
            else:
                self._finish(row, Status.FAILED, OUTCOME_CODES["server-refused"].render("unnamed", status=result.status),
                             "server-refused", result.status, batch.id)

    async def _check_updates(self, batch: Batch, rows: list[CheckedRow], result: CallResult,
                             reason: str) -> None:
        """Updates the reply did not settle: a success only when usersInfo shows every change; otherwise
        unverified (a field its reply does not carry cannot be checked)."""
        info = await self._users_info(batch, rows)
        for row in rows:
            if _shows_update(row, info.get(row.key.id)):
                note = (SUCCESS_NOTES["confirmed"].render("unknown-reply", said=result.unknown) if result.unknown
                        else confirmed("unmatched"))
                self._finish(row, Status.SUCCESS, note, "", 200, batch.id)
            elif result.unknown:
                self._finish(row, Status.FAILED, OUTCOME_CODES["unverified"].render("update-unchecked", said=result.unknown),
                             "unverified", result.status, batch.id)
            else:
                text = (OUTCOME_CODES["unverified"].render("other-key", said=reason) if reason
                        else OUTCOME_CODES["unverified"].render("unnamed", status=result.status))
                self._finish(row, Status.FAILED, text, "unverified", result.status, batch.id)

    def _unknown_text(self, result: CallResult, reason: str) -> str:
        if result.unknown:
            return OUTCOME_CODES["unverified"].render("unknown-reply", said=result.unknown)
        if reason:
            return OUTCOME_CODES["unverified"].render("other-key", said=reason)
        return OUTCOME_CODES["unverified"].render("unnamed", status=result.status)

    def _say_unknown(self, op: str, words: str) -> None:
        """Once per run and kind of reply: the server's words were not the documented ones."""
        if (op, words) in self._said_unknown:
            return
        self._said_unknown.add((op, words))
        log.warning(_("the server answered a %s request with %s, which is not a documented reply: its users are "
                      "checked with usersInfo"), op, words)

    async def verify_leftovers(self, rows: list[CheckedRow]) -> None:
        """At the end of a run: rows whose attempts all ended with no known outcome are checked once
        more with usersInfo, so the workbook says what happened instead of "unverified"."""
        by_op: dict[Action, list[CheckedRow]] = {}
        for row in rows:
            result = self._results.get(row.row)
            if result is not None and result.error_code == "unverified" and row.action in (Action.ADD, Action.REMOVE):
                by_op.setdefault(row.action, []).append(row)
        for op, open_rows in by_op.items():
            batch = Batch("verify", op, open_rows)
            try:
                there = await self._named_state(batch, open_rows)
            except (CallFailed, Aborted) as exc:  # they stay unverified; a resumed run checks them
                log.warning(_("could not check %d rows with an unknown outcome: %s"), len(open_rows), exc)
                return
            for row in open_rows:
                state = there.get(row.key.id)
                if state is None:
                    continue  # still unknown: the check's reply does not name the user
                before = self._results[row.row]
                if state is (op == Action.ADD):
                    self._finish(row, Status.SUCCESS, confirmed("created-info" if op == Action.ADD else "removed-info"),
                                 "", 200, before.batch)
                elif row.row not in self._queued and before.http_status != 202:
                    reason = OUTCOME_CODES["server-error"].render(attempts=before.attempts, said=before.reason)
                    self._finish(row, Status.FAILED, reason, "server-error", before.http_status, before.batch)
