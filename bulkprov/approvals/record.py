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

import dataclasses
import logging
from pathlib import Path
from typing import Any, TypeVar

from bulkprov.approvals.audit import AuditTrail
from bulkprov.approvals.flow import run_actor
from bulkprov.approvals.options import GateOptions
from bulkprov.approvals.store import Request
from bulkprov.errors import AuditUnwritable, BulkprovError
from bulkprov.i18n import gettext as _

log = logging.getLogger("bulkprov.approvals")
Run = TypeVar("Run", bound=GateOptions)


def _audited(settings: GateOptions) -> bool:
    return settings.account is not None and settings.command != "validate" and not (
        settings.dry_run and settings.command not in ("plan", "sync"))


def prepare(settings: Run, credentials: Any) -> Run:
    """The run's settings with the account and its policy's limits (a new object: settings are replaced,
    never edited), after checking the trail is writable and recording a changed policy."""
    from bulkprov.approvals.gate import effective_policy
    from bulkprov.approvals.policy import account_of

    account = settings.account if settings.account is not None else account_of(settings.host, credentials)
    if account is None:
        return settings
    settings = dataclasses.replace(settings, account=account)  # type: ignore[type-var]
    policy = effective_policy(settings)
    settings = dataclasses.replace(settings, max_deletes=policy.max_deletes,  # type: ignore[type-var]
                                   max_delete_percent=policy.max_delete_percent,
                                   builder_confirm=policy.builder_confirm, protected=list(policy.protected))
    if not _audited(settings):
        return settings
    trail = AuditTrail.of(settings.account)
    reason = trail.writable()
    if reason:
        raise AuditUnwritable(trail=str(trail.path), reason=reason)
    actor = run_actor(settings)
    trail.note_policy(policy.digest, actor.person, actor.where, file=policy.file or "",
                      account=str(settings.account), **policy.values())
    return settings


def record_run(settings: GateOptions, summary: Any, exit_code: int, stops: list[Any],
               approved: Request | None = None) -> dict[str, Any] | None:
    """The run's record (with the approved request it consumed); the trail's head after it (None when the run
    talked to no account)."""
    if not _audited(settings):
        return None
    from bulkprov.approvals.gate import overrides_of

    actor = run_actor(settings)
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


def record_refused(settings: GateOptions, path: Path, error: BulkprovError) -> None:
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
