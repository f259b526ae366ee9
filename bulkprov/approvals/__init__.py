"""Four-eyes approval: a dangerous run waits until a *different* person approves exactly its plan.

A run that exceeds the deletion guard, grants Builder access or touches protected users does not
start: it becomes a pending request (:mod:`bulkprov.approvals.store`) showing its plan.  A person
allowed to approve — never the requester — approves or rejects it with a comment.  The approval is
bound to the plan's fingerprint (the exact file and, for sync, the account state it was planned
against); a changed roster or account makes a new plan with a new fingerprint, which needs a new
approval.  Requests expire (24 hours by default).  The page and the command line share one store in
the state directory, and each decision is written to the audit trail and sent to the webhook.
"""

from bulkprov.approvals.store import ApprovalStore, Request

__all__ = ["ApprovalStore", "Request"]
