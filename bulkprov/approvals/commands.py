"""``bulkprov approve ID`` / ``reject ID`` / ``approvals`` / ``audit verify|export``: the person is the OS user.

Called by :mod:`bulkprov.cli` (which owns the arguments and every word that names a flag).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _state_profile(args: argparse.Namespace) -> tuple[Path, dict]:
    from bulkprov.config import config_path, load_profile

    profile = load_profile(config_path(args.config), args.profile)
    return args.state_dir or Path(profile.get("state_dir") or ".bulkprov"), profile


def cmd_decide(args: argparse.Namespace) -> int:
    """``bulkprov approve ID`` / ``bulkprov reject ID``: the person is the OS user running this."""
    import asyncio
    import socket

    from bulkprov.approvals.flow import cli_person, decide, may_approve
    from bulkprov.config import resolve

    state_dir, profile = _state_profile(args)
    person = cli_person()
    approve = args.command == "approve"
    approvers = resolve("approvers", None, profile)
    request = asyncio.run(decide(state_dir, args.request_id, person, f"cli@{socket.gethostname()}", approve,
                                 args.comment, may_approve(person, approvers), resolve("webhook", None, profile)))
    print(f"request {request.id} {request.state} by {person}: {request.command} {request.input_name} "
          f"({'; '.join(request.reasons)})")
    if approve:
        print(f"the next `bulkprov {request.command}` of the same file against the same account goes ahead "
              f"(until {request.expires})")
    return 0


def cmd_approvals(args: argparse.Namespace) -> int:
    from bulkprov.approvals import ApprovalStore

    state_dir, _ = _state_profile(args)
    for r in ApprovalStore(state_dir).all():
        decided = f" by {r.decided_by}" if r.decided_by else ""
        print(f"{r.id}  {r.state:<8}{decided}  {r.created}  {r.requester}: {r.command} {r.input_name} — "
              f"{'; '.join(r.reasons)}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from bulkprov.io.xlsx import check_new
    from bulkprov.jobs.audit import AuditTrail

    state_dir, _ = _state_profile(args)
    trail = AuditTrail(state_dir)
    if args.action == "verify":
        count, broken = trail.verify()
        if broken is not None:
            print(f"audit trail {trail.path}: record {broken.seq} (line {broken.line}) {broken.reason}; the "
                  f"{count} records before it hold", file=sys.stderr)
            return 1
        print(f"audit trail {trail.path}: {count} records, the chain holds")
        return 0
    if args.output:
        check_new(args.output, replace=args.replace_output)
        with open(os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", newline="",
                  encoding="utf-8") as fh:
            count = trail.export(fh, args.format)
        print(f"{count} audit records written to {args.output}")
    else:
        trail.export(sys.stdout, args.format)
    return 0


