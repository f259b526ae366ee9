"""Four-eyes approval: a dangerous run waits until a *different* person approves exactly its plan.

Every command that changes an account, on every front end, passes one gate (:mod:`~bulkprov.approvals.gate`)
judged against the account's policy (:mod:`~bulkprov.approvals.policy`, one file at one fixed place).  A
run that exceeds the deletion guard, grants Builder access beyond ``builder_confirm`` or touches protected
users does not start: where the policy names approvers it becomes a pending request
(:mod:`~bulkprov.approvals.store`) showing its plan, else it stops naming the override that passes it.  A
person allowed to approve now — never the requester — approves or rejects it with a comment.  The approval
is bound to one plan on one account (the decoded rows, the command, the email choice, the encoding, the
host and client id, and for sync the account state).  Requests expire (24 hours by default).  The page
and the command line share one store in the records directory; who the person is comes from the system
(:mod:`~bulkprov.approvals.identity`); every run, request and decision is in the account's audit trail
(:mod:`~bulkprov.approvals.record`) and sent to the webhook.
"""

from bulkprov.approvals.store import ApprovalStore, Request

__all__ = ["ApprovalStore", "Request"]
