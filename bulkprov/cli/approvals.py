"""``bulkprov approve ID`` / ``reject ID`` / ``approvals`` / ``audit verify|export`` / ``prune``.

The person is the one the system names (:func:`bulkprov.approvals.identity.cli_person`); who may approve is
the request's account's policy as it is now (or, where a profile acted as the policy, the approvers named
when the request was made) — never the caller's own config.  Every name, file name and comment printed
has its control characters escaped.  Called by :mod:`bulkprov.cli` (which owns the arguments and every
word that names a flag).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
from pathlib import Path
from typing import Any

from bulkprov.chars import printable
from bulkprov.errors import N_
from bulkprov.i18n import gettext as _


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    from bulkprov.config import config_path, load_profile

    return load_profile(config_path(args.config), args.profile)


def _where() -> str:
    return f"cli@{socket.gethostname()}"


def approvers_now(request: Any) -> list[str]:
    """Who may decide ``request`` now: the account's policy file as it is, else the names the request kept."""
    from bulkprov.approvals.flow import account_of_request
    from bulkprov.approvals.policy import policy_for

    account = account_of_request(request)
    policy = policy_for(account, {}) if account is not None else None
    return list(policy.approvers) if policy is not None and policy.file else list(request.approvers)


def cmd_decide(args: argparse.Namespace) -> int:
    """``bulkprov approve ID`` / ``bulkprov reject ID``."""
    import asyncio

    from bulkprov.approvals import ApprovalStore
    from bulkprov.approvals.flow import decide, may_approve
    from bulkprov.approvals.identity import cli_person
    from bulkprov.approvals.policy import records_dir
    from bulkprov.config import job_settings

    profile = _profile(args)
    person = cli_person()
    approve = args.command == "approve"
    store = ApprovalStore(records_dir())
    found = store.get(args.request_id)
    may = may_approve(person.name, approvers_now(found))
    webhook = job_settings(args.command, profile).webhook  # announced where the caller's runs are announced
    request = asyncio.run(decide(store, args.request_id, person.name, _where(), approve, args.comment, may, webhook))
    print(_("request {request_id} {state} by {person}: {command} {input} ({reasons})").format(
        request_id=request.id, state=request.state, person=printable(person.name), command=request.command,
        input=printable(request.input_name), reasons=printable("; ".join(request.reasons))))
    if approve:
        print(_("the next `bulkprov {command}` of the same file against the same account goes ahead (until "
                "{expires})").format(command=request.command, expires=request.expires))
    return 0


def cmd_approvals(args: argparse.Namespace) -> int:
    from bulkprov.approvals import ApprovalStore
    from bulkprov.approvals.gate import reasons_in_words
    from bulkprov.approvals.policy import records_dir
    from bulkprov.cli.wording import REQUEST_STATES, command_name, padded, say

    _profile(args)  # a broken config is said, as everywhere
    requests = ApprovalStore(records_dir()).all()
    for r in requests:
        decided = say("request-decided-by", person=printable(r.decided_by)) if r.decided_by else ""
        emails = (r.summary.get("counts") or {}).get("emails") if isinstance(r.summary, dict) else None
        said = say("request-emails", count=f"{emails:,}") if isinstance(emails, int) else ""
        state = _(REQUEST_STATES[r.state]) if r.state in REQUEST_STATES else r.state
        print(say("request-line", request_id=r.id, state=padded(state, 8), decided=decided, created=r.created,
                  requester=printable(r.requester), command=command_name(r.command), input=printable(r.input_name),
                  host=printable(r.host), reasons=printable("; ".join(reasons_in_words(r))), emails=said))
    if not requests:
        print(say("no-requests", folder=printable(records_dir() / "approvals")))
    return 0


def client_id(args: argparse.Namespace, profile: dict[str, Any]) -> str | None:
    """The account's client id without its secret: the environment, then the .env file (or a ready token's appId)."""
    from bulkprov.config import resolve
    from bulkprov.kore.auth import ENV_CLIENT_ID, ENV_JWT, Credentials, read_env_file

    values = dict(os.environ)
    env_file = resolve("env_file", getattr(args, "env_file", None), profile) or (
        Path(".env") if Path(".env").is_file() else None)
    if env_file is not None:
        values = {**read_env_file(Path(env_file)), **{k: v for k, v in os.environ.items() if v}}
    if values.get(ENV_CLIENT_ID, "").strip():
        return values[ENV_CLIENT_ID].strip()
    if values.get(ENV_JWT, "").strip():
        return Credentials(jwt=values[ENV_JWT]).app_id
    return None


def trail_of(args: argparse.Namespace, profile: dict[str, Any]):
    """The trail ``audit`` works on: ``--trail``, else the account's (host and client id), else the only one."""
    from bulkprov.approvals.audit import AuditTrail
    from bulkprov.approvals.policy import Account, records_dir
    from bulkprov.cli.wording import say
    from bulkprov.config import job_settings
    from bulkprov.errors import UsageProblem
    from bulkprov.kore.hosts import normalize_host

    if getattr(args, "trail", None):
        return AuditTrail(args.trail)
    host = job_settings("audit", profile, {"host": getattr(args, "host", None)}).host
    app = client_id(args, profile)
    if host and app:
        return AuditTrail.of(Account(normalize_host(host), app))
    trails = sorted((records_dir() / "audit").glob("*.jsonl"))
    if len(trails) == 1:
        return AuditTrail(trails[0])
    names = ", ".join(t.stem for t in trails) or _("none yet")
    raise UsageProblem(reason=say("which-trail", folder=records_dir() / "audit", names=names))


def cmd_audit(args: argparse.Namespace) -> int:
    from bulkprov.approvals.audit import parse_expect
    from bulkprov.approvals.flow import audit
    from bulkprov.approvals.identity import cli_person
    from bulkprov.cli.wording import say
    from bulkprov.errors import UsageProblem
    from bulkprov.io.writers.xlsx import check_new

    profile = _profile(args)
    trail = trail_of(args, profile)
    if args.action == "verify":
        expect = None
        if args.expect is not None:
            expect = parse_expect(args.expect)
            if expect is None:
                raise UsageProblem(reason=say("bad-expect", given=printable(args.expect)))
        return _verify(trail, expect)
    if args.output:
        check_new(args.output, replace=args.replace_output)
        with open(os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", newline="",
                  encoding="utf-8") as fh:
            count = trail.export(fh, args.format)
        print(_("{count} audit records written to {path}").format(count=count, path=args.output))
    else:
        count = trail.export(sys.stdout, args.format)
    if trail.path.is_file() and not getattr(args, "trail", None):  # reading the trail out is recorded in it
        audit(trail.path, "export", cli_person().name, _where(), kind="audit", records=count,
              output=str(args.output or "-"), format=args.format)
    return 0


def _verify(trail: Any, expect: tuple[int, str] | None) -> int:
    verdict = trail.verify(expect)
    for problem in verdict.problems:
        if problem.line:
            print(_("audit trail {path}: line {line} (record {seq}) {reason}").format(
                path=trail.path, line=problem.line, seq=printable(problem.seq), reason=problem.reason), file=sys.stderr)
        else:
            print(_("audit trail {path} {reason}").format(path=trail.path, reason=problem.reason), file=sys.stderr)
    head = f"{verdict.count}:{verdict.last_hash}"
    if verdict.problems:
        print(_("audit trail {path}: {count} records read, {problems} problems: the trail cannot be trusted as it "
                "is").format(path=trail.path, count=verdict.count, problems=len(verdict.problems)), file=sys.stderr)
        return 1
    print(_("audit trail {path}: {count} records, the chain holds; head {head}").format(
        path=trail.path, count=verdict.count, head=head))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """``bulkprov prune --older-than DAYS``: personal data goes; the audit chain stays verifiable."""
    from bulkprov.approvals import ApprovalStore
    from bulkprov.approvals.audit import AuditTrail
    from bulkprov.approvals.flow import audit
    from bulkprov.approvals.identity import cli_person
    from bulkprov.approvals.policy import Account, records_dir
    from bulkprov.config import job_settings
    from bulkprov.jobs.retention import prune_state
    from bulkprov.kore.hosts import normalize_host

    profile = _profile(args)
    settings = job_settings("prune", profile, {"host": getattr(args, "host", None), "state_dir": args.state_dir})
    state_dir = settings.state_dir or Path(".bulkprov")
    before = dt.datetime.now().astimezone() - dt.timedelta(days=args.older_than)
    person = cli_person().name
    done = prune_state(state_dir, before, dry_run=args.dry_run)
    done[N_("decided requests")] = 0 if args.dry_run else ApprovalStore(records_dir()).prune(before)
    app = client_id(args, profile)
    account = Account(normalize_host(settings.host), app) if settings.host and app else None
    if account is not None and not args.dry_run:
        done[N_("audit records (one record now says how many)")] = AuditTrail.of(account).prune(before, person,
                                                                                                 _where())
        audit(account, "prune", person, _where(), state_dir=str(state_dir), before=before.isoformat(timespec="seconds"),
              removed={k: v for k, v in done.items()})
    counts = ", ".join(f"{n} {_(what)}" for what, n in done.items())
    print((_("would remove: {counts}") if args.dry_run else _("removed: {counts}")).format(counts=counts))
    return 0


COMMANDS = {"approve": cmd_decide, "reject": cmd_decide, "approvals": cmd_approvals, "audit": cmd_audit,
            "prune": cmd_prune}
