"""Asking the server before settling: usersInfo after a lost reply, for unmatched failures, and for undo.

No row is ``success`` unless the server said so for that row.  When the outcome of an attempt is
unknown (a timeout, a dropped connection, a 5xx that may have come after the work was done) or a
reply's failure list does not match the request, the dispatcher asks usersInfo which users exist
now, and settles from that.  Before an update or a removal it fetches the users as they are (the
before-image the undo file restores), and commits each one through the hooks as it arrives.

:class:`Verification` is the half of :class:`bulkprov.send.dispatcher.Dispatcher` that asks; it reads
the dispatcher's state (``report``, ``_rows``, ``limiter``, ``client``) and settles through ``_finish``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bulkprov.errors import OUTCOME_CODES, SUCCESS_NOTES
from bulkprov.i18n import gettext as _
from bulkprov.kore import CallFailed, CallResult, UserOutcome
from bulkprov.model import CheckedRow
from bulkprov.send.batches import Batch, key_args

if TYPE_CHECKING:
    from bulkprov.send.dispatcher import Dispatcher


class Aborted(Exception):
    """The run is stopping (a stop request or an abort): leave the batch as it is."""

log = logging.getLogger("bulkprov.dispatch")

VERIFY_CHUNK = 200


def confirmed(variant: str) -> str:
    return SUCCESS_NOTES["confirmed"].render(variant)


def update_applied(update: dict[str, Any], user: dict[str, Any]) -> bool:
    """Does the user (a usersInfo object) already show every change ``update`` makes?"""
    from bulkprov import schema

    info = user.get("userInfo") or {}
    for name, value in (update.get("userInfo") or {}).items():
        if name in ("emailId", "orgUserId"):
            continue
        if name not in info or str(info[name]) != str(value):
            return False
    groups = {g.get("groupId") if isinstance(g, dict) else g for g in user.get("groups") or []}
    change = update.get("groups")
    if isinstance(change, dict) and not (set(change.get("addTo") or []) <= groups
                                         and not set(change.get("removeFrom") or []) & groups):
        return False
    roles = set(schema.role_texts(user.get("roles")))
    change = update.get("roles")
    if isinstance(change, dict) and not ({schema.role_text(r) for r in change.get("addTo") or []} <= roles
                                         and not {schema.role_text(r) for r in change.get("removeFrom") or []} & roles):
        return False
    for name in ("canCreateBot", "isDeveloper"):
        if name in update and (name not in user or bool(user[name]) != bool(update[name])):
            return False
    return "assignBotTasks" not in update  # a task change cannot be confirmed from here: send it again


class Verification:
    """usersInfo checks for the dispatcher (mixed into :class:`~bulkprov.send.dispatcher.Dispatcher`)."""

    async def _verify(self: Dispatcher, batch: Batch, rows: list[CheckedRow]) -> list[CheckedRow]:
        """Resolve an uncertain attempt through usersInfo; returns the rows still to send."""
        if batch.op == "update":
            return await self._verify_updates(batch, rows)
        # Only rows an attempt may have applied: a user that was there before is not our creation.
        uncertain = [r for r in rows if self._rows.get(r.row) and self._rows[r.row].uncertain]
        found = await self._exists(batch, uncertain)
        remaining = [r for r in rows if r not in uncertain]
        for row in uncertain:
            exists = row.key.id in found
            if batch.op == "add" and exists:
                self._finish(row, "success", confirmed("created-info"), "", 200, batch.id)
            elif batch.op == "remove" and not exists and row.row in self._absent_before:
                self._finish(row, "failed", OUTCOME_CODES["not-found"].render("absent-before"), "not-found", 200,
                             batch.id)
            elif batch.op == "remove" and not exists:
                self._finish(row, "success", confirmed("removed-info"), "", 200, batch.id)
            else:
                remaining.append(row)
        return remaining

    async def _verify_updates(self: Dispatcher, batch: Batch, rows: list[CheckedRow]) -> list[CheckedRow]:
        """An update whose reply was lost is confirmed when the user already shows every change it
        makes (a field the reply does not carry cannot confirm it: the update is then sent again,
        which is harmless, since an update sets values)."""
        uncertain = [r for r in rows if self._rows.get(r.row) and self._rows[r.row].uncertain]
        info = await self._users_info(batch, uncertain)
        remaining = [r for r in rows if r not in uncertain]
        for row in uncertain:
            outcome = info.get(row.key.id)
            if outcome is not None and outcome.ok and outcome.detail is not None and update_applied(row.user, outcome.detail):
                self._finish(row, "success", confirmed("updated-info"), "", 200, batch.id)
            else:
                remaining.append(row)
        return remaining

    async def _exists(self: Dispatcher, batch: Batch, rows: list[CheckedRow]) -> set[str]:
        return {k for k, o in (await self._users_info(batch, rows)).items() if o.ok}

    async def _snapshot(self: Dispatcher, batch: Batch, rows: list[CheckedRow]) -> None:
        """The users as they are before this batch changes them (for the undo file), kept in the ledger."""
        missing = [r for r in rows if r.row not in self.report.before and r.row not in self._absent_before]
        if not missing:
            return
        info = await self._users_info(batch, missing)
        for row in missing:
            outcome = info.get(row.key.id)
            if outcome is not None and outcome.ok and outcome.detail is not None:
                self.report.before[row.row] = outcome.detail
                self._hook("before", row.row, outcome.detail)
            elif outcome is not None and outcome.code == "not-found":
                self._absent_before.add(row.row)

    async def _users_info(self: Dispatcher, batch: Batch, rows: list[CheckedRow]) -> dict[str, UserOutcome]:
        """usersInfo for rows of any key kind (an update batch may mix emails and orgUserIds)."""
        found: dict[str, UserOutcome] = {}
        by_email = [r for r in rows if r.email]
        by_org = [r for r in rows if not r.email]
        for group in (by_email, by_org):
            for i in range(0, len(group), VERIFY_CHUNK):
                chunk = group[i:i + VERIFY_CHUNK]
                try:
                    async with self._extra_slot():
                        info = await self.client.users_info(**key_args(chunk))
                    if group is by_org:
                        info = await self._orgs.complete(info, [r.org_user_id for r in chunk])
                except CallFailed as exc:
                    self._record_failure(batch, [], exc)
                    raise
                found.update(info.outcomes)
        return found

    async def _verify_unmatched(self: Dispatcher, batch: Batch, rows: list[CheckedRow], result: CallResult) -> None:
        """Rows the reply did not settle (a failure we could not map, a 4xx that named others): never
        assume success; check them (usersInfo), and leave unverified what cannot be checked (updates)."""
        open_rows = [r for r in rows if r.row not in self.report.results]
        reason = "; ".join(o.message or o.code for o in result.unmatched if not o.ok)
        if not open_rows:
            return
        if batch.op not in ("add", "remove"):
            text = (OUTCOME_CODES["unverified"].render("other-key", said=reason) if reason
                    else OUTCOME_CODES["unverified"].render("unnamed", status=result.status))
            for row in open_rows:
                self._finish(row, "failed", text, "unverified", result.status, batch.id)
            return
        found = await self._exists(batch, open_rows)
        for row in open_rows:
            done = (row.key.id in found) == (batch.op == "add")
            if done and batch.op == "remove" and row.row in self._absent_before:
                self._finish(row, "failed", OUTCOME_CODES["not-found"].render("absent-before"), "not-found", 200,
                             batch.id)
            elif done:  # the check's reply (usersInfo, 200) is what confirmed it, not the write's status
                self._finish(row, "success", confirmed("unmatched"), "", 200, batch.id)
            else:
                self._finish(row, "failed", reason or OUTCOME_CODES["server-refused"].render(
                    "unnamed", status=result.status), "server-refused", result.status, batch.id)

    async def _verify_leftovers(self: Dispatcher, rows: list[CheckedRow]) -> None:
        """At the end of a run: rows whose attempts all ended with no known outcome are checked once
        more with usersInfo, so the workbook says what happened instead of "unverified"."""
        by_op: dict[str, list[CheckedRow]] = {}
        for row in rows:
            result = self.report.results.get(row.row)
            if result is not None and result.error_code == "unverified" and row.action in ("add", "remove"):
                by_op.setdefault(row.action, []).append(row)
        for op, open_rows in by_op.items():
            batch = Batch("verify", op, open_rows)
            try:
                found = await self._exists(batch, open_rows)
            except (CallFailed, Aborted) as exc:  # they stay unverified; a resumed run checks them
                log.warning(_("could not check %d rows with an unknown outcome: %s"), len(open_rows), exc)
                return
            for row in open_rows:
                before = self.report.results[row.row]
                applied = (row.key.id in found) == (op == "add")
                if applied:
                    self._finish(row, "success", confirmed("created-info" if op == "add" else "removed-info"), "",
                                 200, before.batch)
                else:
                    reason = OUTCOME_CODES["server-error"].render(attempts=before.attempts, said=before.reason)
                    self._finish(row, "failed", reason, "server-error", before.http_status, before.batch)

    def _hook(self: Dispatcher, name: str, *args: Any) -> None:
        """Call a hook; a hook that cannot write (disk full, I/O error) stops the run cleanly."""
        try:
            getattr(self.hooks, name)(*args)
        except Exception as exc:  # noqa: BLE001 - the hook is the ledger: any failure means "cannot record"
            self._cannot_record(exc)
