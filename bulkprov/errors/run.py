"""Run codes: the run stopped early (exit 3); results are still written for every row."""

from __future__ import annotations

from bulkprov.errors.base import N_, BulkprovError


class RunStopped(BulkprovError):
    """The run stopped for a reason outside the input (exit 3); every row still gets a result."""

    exit_code = 3


class AuthRefused(RunStopped):
    code = "auth-refused"
    description = N_("the server refused the credentials")
    templates = {
        "": N_("the server refused the credentials ({said}). Likely causes: a wrong client id or secret; the app "
               "lacks the Admin API scope User Management; this machine's clock is off by more than the token's "
               "lifetime ({lifetime} s)"),
        "listing": N_("the server refused to list the account ({said}). Likely causes: the app lacks the Admin API "
                      "scope Role Management (listing the account needs it as well as User Management); a wrong "
                      "client id or secret; this machine's clock is off by more than the token's lifetime "
                      "({lifetime} s)"),
        "directory": N_("the server refused to list the account's roles, bots and groups ({said}). Likely causes: "
                        "the app lacks the Admin API scope Role Management (the roles, groups and bots calls need "
                        "it); a wrong client id or secret; this machine's clock is off by more than the token's "
                        "lifetime ({lifetime} s)"),
    }


class Unreachable(RunStopped):
    code = "unreachable"
    description = N_("the Kore.ai host cannot be reached at all")
    template = N_("cannot reach the server {host} ({said}); check the host address, the port and the network "
                  "(proxy, firewall)")
    hint = "host"


class BreakerOpen(RunStopped):
    code = "circuit-breaker"
    description = N_("most recent requests failed: the server looks unhealthy")
    template = N_("circuit breaker: {failures} of the last {window} requests failed (server errors or lost "
                  "connections); the server looks unhealthy")


class Interrupted(RunStopped):
    code = "interrupted"
    description = N_("a stop signal (Ctrl-C, SIGTERM) or the run-time limit stopped the run")
    templates = {
        "": N_("interrupted by a stop signal (Ctrl-C / SIGTERM)"),
        "max-runtime": N_("stopped after the run-time limit of {seconds:g} s"),
    }
    hint = "resume"


class GuardStopped(RunStopped):
    code = "guard"
    description = N_("a safety guard stopped the run before anything changed")
    templates = {
        "deletes": N_("{count} users would be removed, over the limit of {limit} (the smaller of max_deletes "
                      "{max_deletes} and max_delete_percent {percent:g} of the {previous} users of the last applied "
                      "roster); nothing was changed"),
        "deletes-count": N_("{count:,} users would be removed, over the limit of {limit:,} (max_deletes); nothing "
                            "was changed"),
        "roles": N_("{count} users would lose roles, over the limit of {limit}; nothing was changed"),
        "builder": N_("{count} users would get Builder access (canCreateBot/isDeveloper), more than {limit}; "
                      "nothing was changed"),
        "plan-changed": N_("the account or the roster changed since {plan} was made: nothing was changed; make a "
                           "new plan and approve it"),
        "account-unreadable": N_("could not read the account's current state ({reason}); nothing was changed"),
        "strays": N_("{count} users of the account are not in the roster; removing them needs an explicit approval"),
        "protected": N_("{count:,} protected users would be changed or removed ({first}); nothing was changed"),
        "rejected": N_("request {request_id} for this same plan was rejected by {person}: an override cannot run it; "
                       "nothing was changed"),
    }


class InputChanged(RunStopped):
    """The same code as the input error: the file changed; here after sending began (exit 3)."""

    code = "file-changed"
    description = N_("the input file changed after sending began: the rows sent are reported")
    template = N_("the input file changed while the run was sending (it was being written?): what was sent is "
                  "in the results, and sync remembers only what the server confirmed. Write the file under another "
                  "name and rename it when it is complete, then run again")


class DiskFull(RunStopped):
    code = "disk-full"
    description = N_("the disk filled up or failed during the run")
    templates = {
        "": N_("{what} could not be written ({reason}); sending stopped with the ledger consistent"),
        "results": N_("{what} could not be written ({reason}); the ledger knows every row: `bulkprov runs show "
                      "{run_id}` writes the workbook once there is room"),
        "finish": N_("the results were written ({results}), but the run ledger could not record that run {run_id} "
                     "finished ({reason}): it counts as interrupted until it is resumed"),
    }
    hint = "disk"


class PendingApproval(RunStopped):
    code = "pending-approval"
    description = N_("the run needs a second person's approval first")
    template = N_("{reason}: request {request_id} waits for approval by someone else")
    exit_code = 4
    hint = "approve"


class InternalError(RunStopped):
    code = "internal-error"
    description = N_("a bug in bulkprov (please report it)")
    template = N_("internal error: {kind} — please report it; details in {details}")
    exit_code = 70
