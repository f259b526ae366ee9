"""The roster sync applied, per host: the only source of removals (the User Management scope cannot list users).

A mixin of :class:`bulkprov.state.ledger.Ledger` (its ``synced_users`` table): who sync provisioned,
with the fields it last applied (compared when usersInfo does not return a field).  It follows the
ledger: a sync writes its baseline before sending (users that exist as the roster says, earlier ones
not yet removed) and :meth:`AppliedRoster.settle_sync` changes it in the same transaction that records
each add, update and removal -- so a sync killed at any instant leaves a roster that says who exists as
sync provisioned them.
"""

from __future__ import annotations

import json
from typing import Any

from bulkprov.model import RowResult


def host_key(host: str) -> str:
    return host.rstrip("/").lower()


class AppliedRoster:
    """The ``synced_users`` queries; ``self.db``, ``self._tx`` and ``self._done`` are the ledger's."""

    db: Any
    def applied_roster(self, host: str) -> tuple[str | None, list[tuple[str, str, str]]]:
        """The latest sync that changed it, and (key, email, orgUserId) of every user sync applied."""
        rows = self.db.execute("SELECT key, email, org_user_id, run_id FROM synced_users WHERE host=? ORDER BY key",
                               (host_key(host),)).fetchall()
        return (max(r[3] for r in rows) if rows else None), [(k, e, o) for k, e, o, _ in rows]

    def maybe_added_by_sync(self, host: str) -> list[tuple[str, str, str]]:
        """Users a sync sent an add for without learning the outcome (its process died), in syncs no
        later sync has finished: they may exist, and only the account can say."""
        cur = self.db.execute(
            "SELECT rows.key, rows.email, rows.org_user_id FROM rows JOIN runs ON rows.run_id = runs.id "
            "WHERE runs.host=? AND runs.command='sync' AND runs.finished_by IS NULL AND rows.action='add' AND "
            "(rows.state='in_flight' OR rows.error_code='unverified') ORDER BY rows.key", (host,))
        return [(k, e, o) for k, e, o in cur]

    def applied_fields(self, host: str) -> dict[str, dict[str, Any]]:
        """key -> the fields bulkprov last applied to that user (sync compares them when usersInfo is silent)."""
        cur = self.db.execute("SELECT key, applied FROM synced_users WHERE host=? AND applied IS NOT NULL",
                              (host_key(host),))
        return {key: json.loads(applied) for key, applied in cur}

    def set_applied_roster(self, host: str, run_id: str, users: list[tuple[str, str, str]],
                           applied: dict[str, dict[str, Any]] | None = None) -> None:
        applied = applied or {}
        with self._tx():
            self.db.execute("DELETE FROM synced_users WHERE host=?", (host_key(host),))
            self.db.executemany("INSERT OR REPLACE INTO synced_users VALUES (?,?,?,?,?,?)",
                                ((host_key(host), k, e, o, run_id,
                                  json.dumps(applied[k], ensure_ascii=False) if k in applied else None)
                                 for k, e, o in users))

    def settle_sync(self, run_id: str, results: list[RowResult], host: str,
                    applied: list[tuple[str, str, str, dict[str, Any] | None]], gone: list[str]) -> None:
        """A sync's outcomes and the applied roster they change, in one transaction: whatever instant
        the process dies at, the roster sync applied says who exists as it provisioned them.
        ``applied``: (key, email, orgUserId, fields) of users added or updated; ``gone``: keys removed."""
        results = [r for r in results if r.final]
        if not results:
            return
        with self._tx():
            self._done(run_id, results)
            self.db.executemany("INSERT OR REPLACE INTO synced_users VALUES (?,?,?,?,?,?)",
                                ((host_key(host), k, e, o, run_id,
                                  json.dumps(f, ensure_ascii=False) if f is not None else None)
                                 for k, e, o, f in applied))
            self.db.executemany("DELETE FROM synced_users WHERE host=? AND key=?",
                                ((host_key(host), k) for k in gone))

