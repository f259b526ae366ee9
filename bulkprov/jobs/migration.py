"""What a migration cannot carry, said before anything is sent.

An export of one account (``bulkprov export --host A``) added to another (``bulkprov add account.xlsx --host
B``) is a migration: the file's About sheet (or its lookup sheets' stamps) names another host than the one
written to.  Names are looked up on B (:mod:`bulkprov.jobs.names`); what they cannot bring along is listed
before the first request -- printed, and in the Summary -- so an administrator knows what to do by hand:

* names B lacks (creating roles, bots and groups is not in the documented API: an administrator creates them
  first; their rows are invalid, each naming it);
* fields no reply of A carried (the documented usersInfo gives names and the email only: ``dept``, the
  address...), as the export's About sheet lists them;
* bot tasks (dialogs have ids and no names: A's mean nothing on B);
* the activation state (no documented reply carries it: a user deactivated on A arrives active on B);
* how many activation emails B will send.
"""

from __future__ import annotations

from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.jobs.frame import Job

SHOWN = 12


def migration_lines(job: Job) -> list[str]:
    """The lines of what cannot be carried, or [] when the file is no other account's export."""
    validator, settings = job.validator, job.settings
    if validator is None or not validator.migrating:
        return []
    origin, target = validator.origin, settings.host or ""
    lines = [_("migration from {origin} to {target}: what is not carried").format(origin=origin, target=target)]
    missing = _missing_names(job)
    if missing:
        shown = ", ".join(missing[:SHOWN]) + (" …" if len(missing) > SHOWN else "")
        lines.append(_("- {count} names {target} lacks (create them there first; the rows naming them are invalid): "
                       "{names}").format(count=len(missing), target=target, names=shown))
    fields = [f.strip() for f in job.table.about.get("not-carried", "").split(",") if f.strip()]
    if fields:
        lines.append(_("- fields no reply of {origin} carried, blank for every user: {fields}").format(
            origin=origin, fields=", ".join(fields)))
    if validator.tasks_not_carried:
        lines.append(_("- users whose bot tasks are not carried: {count} (dialogs have ids and no names, and "
                       "{origin}'s name nothing on {target})").format(count=len(validator.tasks_not_carried),
                                                                     origin=origin, target=target))
    lines.append(_("- activation state: no documented reply carries it, so every user arrives active on {target} "
                   "(one deactivated on {origin} too)").format(origin=origin, target=target))
    emails = _activation_emails(job)
    lines.append(_("- activation emails {target} sends: {count}").format(target=target, count=emails) if emails
                 else _("- no activation emails are sent"))
    return lines


def _missing_names(job: Job) -> list[str]:
    assert job.validator is not None
    words = {"role": _("role"), "bot": _("bot"), "group": _("group")}
    return [f"{words[kind]} '{name}'" for kind, name in job.validator.missing]


def _activation_emails(job: Job) -> int:
    default = job.settings.send_email
    return sum(1 for row in job.checked.valid if row.action == "add"
               and (row.send_email if row.send_email is not None else default))


def say_before_sending(job: Job, log: Any) -> None:
    """Print (log) and keep in the Summary what a migration cannot carry, before the first request."""
    lines = migration_lines(job)
    for line in lines:
        log.warning(line)
    job.summary.warnings.extend(lines)
