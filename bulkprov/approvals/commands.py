"""``bulkprov approve ID`` / ``reject ID`` / ``approvals`` / ``audit verify|export``: the person is the OS user.

Called by :mod:`bulkprov.cli` (which owns the arguments and every word that names a flag).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bulkprov.i18n import gettext as _


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
    print(_("request {request_id} {state} by {person}: {command} {input} ({reasons})").format(
        request_id=request.id, state=request.state, person=person, command=request.command,
        input=request.input_name, reasons="; ".join(request.reasons)))
    if approve:
        print(_("the next `bulkprov {command}` of the same file against the same account goes ahead (until "
                "{expires})").format(command=request.command, expires=request.expires))
    return 0


def cmd_approvals(args: argparse.Namespace) -> int:
    from bulkprov.approvals import ApprovalStore

    state_dir, _profile = _state_profile(args)
    for r in ApprovalStore(state_dir).all():
        decided = _(" by {person}").format(person=r.decided_by) if r.decided_by else ""
        print(f"{r.id}  {r.state:<8}{decided}  {r.created}  {r.requester}: {r.command} {r.input_name} — "
              f"{'; '.join(r.reasons)}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from bulkprov.io.xlsx import check_new
    from bulkprov.jobs.audit import AuditTrail

    state_dir, _profile = _state_profile(args)
    trail = AuditTrail(state_dir)
    if args.action == "verify":
        count, broken = trail.verify()
        if broken is not None:
            print(_("audit trail {path}: record {seq} (line {line}) {reason}; the {count} records before it "
                    "hold").format(path=trail.path, seq=broken.seq, line=broken.line, reason=broken.reason,
                                   count=count), file=sys.stderr)
            return 1
        print(_("audit trail {path}: {count} records, the chain holds").format(path=trail.path, count=count))
        return 0
    if args.output:
        check_new(args.output, replace=args.replace_output)
        with open(os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", newline="",
                  encoding="utf-8") as fh:
            count = trail.export(fh, args.format)
        print(_("{count} audit records written to {path}").format(count=count, path=args.output))
    else:
        trail.export(sys.stdout, args.format)
    return 0


