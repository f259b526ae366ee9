"""Every run that talks to an account is an audit record, on every front end.

:func:`prepare` runs before a job reads its file: it finds the account (host and client id), applies the
account's current policy to the run's settings (so sync's plan and every guard see the same limits),
refuses to start when the account's audit trail cannot be written (nothing unaudited is ever sent), and
records a change of policy.  :func:`record_run` writes the run's record when it ends — who, from where,
the command, the file's name and SHA-256, the account, the counts by status, the exit code, the approval
it consumed and the overrides it used — and returns the trail's head for the webhook.
:func:`record_refused` records a run refused before it ended (exit 2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bulkprov.approvals.audit import AuditTrail
from bulkprov.approvals.flow import run_actor
from bulkprov.errors import AuditUnwritable, BulkprovError
from bulkprov.i18n import gettext as _

log = logging.getLogger("bulkprov.approvals")


def _audited(settings: Any) -> bool:
    return settings.account is not None and settings.command != "validate" and not (
        settings.dry_run and settings.command not in ("plan", "sync"))


def prepare(settings: Any, credentials: Any) -> None:
    """The account, its policy in the settings, a writable trail and a record of a changed policy."""
    from bulkprov.approvals.gate import effective_policy
    from bulkprov.approvals.policy import account_of

    if settings.account is None:
        settings.account = account_of(settings.host, credentials)
    if settings.account is None:
        return
    policy = effective_policy(settings)
    settings.max_deletes, settings.max_delete_percent = policy.max_deletes, policy.max_delete_percent
    settings.builder_confirm, settings.protected = policy.builder_confirm, list(policy.protected)
    if not _audited(settings):
        return
    trail = AuditTrail.of(settings.account)
    reason = trail.writable()
    if reason:
        raise AuditUnwritable(trail=str(trail.path), reason=reason)
    actor = run_actor(settings)
    trail.note_policy(policy.digest, actor.person, actor.where, file=policy.file or "",
                      account=str(settings.account), **policy.values())


def record_run(settings: Any, summary: Any, exit_code: int, stops: list[Any]) -> dict[str, Any] | None:
    """The run's record; the trail's head after it (None when the run talked to no account)."""
    if not _audited(settings):
        return None
    from bulkprov.approvals.gate import overrides_of

    actor = run_actor(settings)
    approved = settings.approved
    trail = AuditTrail.of(settings.account)
    try:
        record = trail.append(
            "run", actor.person, actor.where, source=actor.source, command=settings.command,
            input=settings.input_name or Path(summary.input_path).name, input_sha256=summary.input_sha256, host=settings.account.host,
            client_id=settings.account.client_id, run_id=summary.run_id or "", counts=dict(summary.status_totals()),
            exit_code=exit_code, stopped=[e.code for e in stops], overrides=overrides_of(settings),
            request=approved.id if approved else "", approved_by=approved.decided_by if approved else "")
    except OSError as exc:  # after the run: say it loudly, never lose the run's own outcome
        log.error(_("audit trail %s could not be written: %s"), trail.path, exc)
        return None
    return {"records": record["seq"], "hash": record["hash"]}


def record_refused(settings: Any, path: Path, error: BulkprovError) -> None:
    """A run that stopped with an error before it ended (nothing or part of it happened): recorded too."""
    if not _audited(settings) or isinstance(error, AuditUnwritable):
        return
    actor = run_actor(settings)
    try:
        AuditTrail.of(settings.account).append(
            "run", actor.person, actor.where, source=actor.source, command=settings.command,
            input=settings.input_name or path.name,
            host=settings.account.host, client_id=settings.account.client_id, exit_code=error.exit_code,
            stopped=[error.code])
    except OSError as exc:
        log.error(_("audit trail of %s could not be written: %s"), settings.account, exc)
