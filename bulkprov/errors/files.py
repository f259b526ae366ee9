"""File codes: the input or the configuration cannot be used (exit 2, nothing sent)."""

from __future__ import annotations

from bulkprov.errors.base import N_, BulkprovError


class InputError(BulkprovError):
    """The input (or the configuration) cannot be used: nothing is sent, exit 2."""

    exit_code = 2


SAVE_AS = N_('save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"')


class FileNotFound(InputError):
    code = "file-not-found"
    description = N_("the file does not exist")
    templates = {
        "": N_("file not found: check the path and the file name"),
        "folder": N_("is a folder, not a file: give the path of the spreadsheet"),
        "special": N_("is not a regular file ({kind}): give the path of a spreadsheet saved on disk"),
    }


class FileUnreadable(InputError):
    code = "file-unreadable"
    description = N_("the file exists but cannot be read (permissions, locked, disk)")
    templates = {
        "denied": N_("cannot read the file (permission denied): close it in other programs or check its permissions"),
        "": N_("cannot read the file ({reason}): check the path and that the disk is reachable"),
    }


class FileEmpty(InputError):
    code = "file-empty"
    description = N_("the file is empty")
    templates = {
        "": N_("the file is empty (0 bytes): export the spreadsheet again"),
        "blank": N_("{where} has no data: every row is blank"),
        "sheet": N_("sheet '{sheet}' is empty: put the header row and the users on it"),
    }


class NoDataRows(InputError):
    code = "no-data-rows"
    description = N_("the file has a header row but no data rows")
    template = N_("{where} has a header row (row {header_row}) but no users below it")


class NoHeader(InputError):
    code = "no-header"
    description = N_("no header row was found")
    template = N_("row {row} looks like data, not a header row: add a first row naming the columns "
                  "(emailId, firstName, lastName, ...)")


class MissingColumn(InputError):
    code = "missing-column"
    description = N_("a required column is missing")
    templates = {
        "": N_("row {row} has no {required} column (found {found}); name a column {accepted}"),
        "header-below": N_("the header row must be the first non-empty row, but row {row} looks like the header: "
                           "delete the rows above it"),
        "lookup-file": N_("a lookup file needs a 'name' column and one of {ids}"),
        "action": N_("apply needs an 'action' (or 'User Status') column saying add, update or remove for each row"),
    }


class MisspeltColumn(InputError):
    code = "misspelt-column"
    description = N_("a header looks like a bulkprov column misspelt")
    templates = {
        "": N_("{found}: if it is, correct the header; if it is another column, have it ignored"),
        "one": N_("column {letter} ('{header}') looks like '{expected}' misspelt (bulkprov's {column})"),
    }
    hint = "misspelt-column"


class DuplicateColumn(InputError):
    code = "duplicate-column"
    description = N_("two columns of the header row mean the same bulkprov column")
    template = N_("columns {first} ('{first_header}') and {second} ('{second_header}') both mean {column}: "
                  "delete or rename one of them")


class UnsupportedFormat(InputError):
    code = "unsupported-format"
    description = N_("the file type is not supported")
    templates = {
        "": N_("bulkprov reads {supported} files, not '{ext}': "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "xlsb": N_("Excel binary workbooks (.xlsb) are not supported: "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
    }


class CorruptFile(InputError):
    code = "corrupt-file"
    description = N_("the file is damaged or is not what its name says")
    templates = {
        "html": N_("this {ext} file is really a web page (HTML), not a workbook: open it in Excel and save it as .xlsx"),
        "xml": N_("this {ext} file is an XML spreadsheet, not a real workbook: open it in Excel and save it as .xlsx"),
        "not-workbook": N_("not a valid {ext} workbook (damaged, or not really a spreadsheet): open it in Excel and "
                           "save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "ole": N_("the file is damaged (broken OLE2 structure): open it in Excel and save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "office": N_("the file is an Office document but not an Excel workbook: "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "zip": N_("the workbook is damaged (not a readable zip archive): open it in Excel and save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "odf-other": N_("the file is an OpenDocument text or presentation, not a spreadsheet: "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "archive": N_("the file is {what}, not a spreadsheet: "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "damaged": N_("the workbook cannot be read ({reason}): open it in Excel and save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "damaged-part": N_("the workbook is damaged: its part {part} cannot be read ({reason}); open it in Excel "
                           "and save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "missing-sheet": N_("sheet '{sheet}' is listed in the workbook but its data ({part}) is missing: open the "
                            "workbook in Excel and save it again, or delete that sheet"),
        "damaged-sheet": N_("sheet '{sheet}' of the workbook cannot be read ({reason}): open the workbook in Excel "
                            "and save it again, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "csv-quote": N_('a quote (") in the row starting on line {line} is never closed: close it or remove it'),
        "csv-after-quote": N_('the row starting on line {line} has text after a closing quote ("): quote the whole '
                              'cell and double the quotes inside it ("")'),
        "csv": N_("the CSV is malformed in the row starting on line {line} ({reason})"),
        "csv-huge-cell": N_("the row starting on line {line} has a cell of more than {limit:,} characters (a spreadsheet "
                            "cell holds at most 32,767): check the quotes in that row, or that the file is a roster"),
        "upload": N_("the file is not a spreadsheet: its content is neither an Excel or OpenDocument workbook nor "
                     "CSV text, whatever its name says; upload an .xlsx, .xls, .ods or .csv file"),
    }


class EncryptedFile(InputError):
    code = "encrypted-file"
    description = N_("the workbook is password-protected")
    templates = {
        "": N_("the workbook is password-protected: open it in Excel, remove the password (File > Info > Protect "
               "Workbook) and save it again"),
        "ods": N_("the spreadsheet is password-protected: open it, remove the password and save it again"),
    }


class EncodingProblem(InputError):
    code = "encoding-error"
    hint = "encoding"
    description = N_("the text encoding could not be determined")
    templates = {
        "binary": N_("the file contains binary data, not text: is it really a CSV? "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "bad-utf8": N_("line {line} is not valid UTF-8 although the file says it is: "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "mixed": N_("the file is UTF-8 except line {line}, which is in another encoding: fix that line or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "unknown": N_("cannot tell the text encoding (tried {tried}; {what}): "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "late-byte": N_("line {line} cannot be read as {encoding} (bytes {byte}), although the rest of the file "
                        "is: fix that line or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "named": N_("the file cannot be read as {encoding} (line {line}): check the encoding you named"),
        "no-bom": N_("the file is not {encoding} text: it has no byte-order mark and its bytes do not read as "
                     "{encoding}; check the encoding you named, or let bulkprov detect it"),
        "unknown-name": N_("'{encoding}' is not an encoding Python knows (try utf-8, cp949, cp932, gbk, cp1252, "
                           "mac-roman)"),
        "implausible": N_("the text reads as implausible in every encoding tried ({tried}; the best, {best}, gives "
                          "'{sample}' on line {line}): name the encoding, or "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
    }


class SheetNotFound(InputError):
    code = "sheet-not-found"
    description = N_("the sheet does not exist")
    templates = {
        "": N_("there is no sheet '{sheet}'; the workbook has {sheets}"),
        "no-data": N_("the workbook has no data sheet (only {sheets}): put the users on a sheet named 'Users'"),
    }


class FileTooLarge(InputError):
    code = "file-too-large"
    description = N_("the file is over the size cap")
    template = N_("the file is {size}, over the {limit} limit: split it into smaller files")


class TooManyRows(InputError):
    code = "too-many-rows"
    description = N_("the file is over the row cap")
    template = N_("the file has {count:,} rows after the header, over the {limit:,} row limit: split it into "
                  "smaller files")


class ZipBomb(InputError):
    code = "zip-bomb"
    description = N_("the workbook expands to an absurd size")
    templates = {
        "ratio": N_("the workbook member {member} expands {ratio:.0f}-fold (to {size}): this is not a normal "
                    "spreadsheet; "
    'save it from Excel as .xlsx or as "CSV UTF-8 (Comma delimited)"'),
        "total": N_("the workbook expands to {size}, over the {limit} limit: split it into smaller files"),
    }


class SheetTooWide(InputError):
    code = "sheet-too-wide"
    description = N_("the sheet claims an absurd number of columns or rows")
    templates = {
        "claims": N_("sheet '{sheet}' claims {count:,} columns ({ref}), over the {limit:,} limit: copy the used "
                     "cells to a new sheet and save"),
        "uses": N_("sheet '{sheet}' uses columns up to {letter} ({count:,} columns, limit {limit:,}): delete the "
                   "stray cells on the far right"),
        "header": N_("the header row has {count:,} columns, over the {limit:,} limit: delete the unused columns"),
        "grid": N_("sheet '{sheet}' spans {rows:,} rows by {columns:,} columns ({cells:,} cells, limit {limit:,}) "
                   "because of cells far apart: delete the stray cells far below or to the right of the data"),
    }


class FileChanged(InputError):
    code = "file-changed"
    description = N_("the input file changed while bulkprov was reading it")
    templates = {
        "": N_("the input file changed during the run"),
        "before-sending": N_("the input file changed while it was read (it is being written?): nothing was sent. "
                             "Write the file under another name and rename it when it is complete"),
        "still-written": N_("the input file is still being written (it kept changing for {seconds} s): nothing "
                            "was read or sent. Write it under another name and rename it when it is complete"),
    }


class NotARoster(InputError):
    code = "not-a-roster"
    description = N_("a workbook bulkprov wrote (results, undo, plan) was given as the roster")
    templates = {
        "results": N_("this is a result file, not a roster: it holds what a run did (its Failures sheet only the "
                      "rows that failed, so a sync of it would remove everyone else). Fix the rows in the roster "
                      "itself and run the same command again"),
        "undo": N_("this is a result file, not a roster: it is the undo file of a run (apply it to change the "
                   "account back)"),
        "plan": N_("this is a result file, not a roster: it is a plan workbook (give it to sync as the approved "
                   "plan, with the roster it was made from)"),
    }


class MaxRuntimeTooShort(InputError):
    code = "max-runtime-too-short"
    description = N_("the run-time limit is shorter than reading the account takes")
    template = N_("reading the account alone takes about {needed} ({requests:,} requests under the rate budget "
                  "{rate}), longer than the run-time limit of {limit}: a night of this roster needs at least "
                  "{needed} plus the time of its changes; nothing was sent")
    hint = "max-runtime"


class StateLocked(InputError):
    code = "state-locked"
    description = N_("another bulkprov run holds the state directory")
    template = N_("another bulkprov run is using the state directory {state_dir}: pid {pid} on {host} since "
                  "{started}. Wait for it to finish, or use another state directory")
    hint = "state-dir"


class InterruptedRunPending(InputError):
    code = "interrupted-run"
    description = N_("an earlier run of the same file did not finish")
    template = N_("run {run_id} of this file (started {started}) did not finish")
    hint = "resume-or-force"


class LedgerUnreadable(InputError):
    code = "ledger-unreadable"
    description = N_("the run ledger cannot be read")
    template = N_("the run ledger {ledger} cannot be read ({reason}); move it away to start a fresh history")


class LedgerVersion(InputError):
    code = "ledger-version"
    description = N_("the run ledger was made by another version of bulkprov")
    template = N_("the run ledger {ledger} was made by {made} bulkprov (schema {version}, this one reads "
                  "{supported}); finish its runs with that version, or move the file away to start a fresh history")


class StateDirUnusable(InputError):
    code = "state-dir-unusable"
    description = N_("the state directory cannot be created, written or has no space")
    templates = {
        "": N_("cannot use the state directory {state_dir}: {reason}"),
        "space": N_("the state directory {state_dir} has {free} free; a run of {rows:,} rows needs about {needed}: "
                    "free some space or use another state directory"),
    }
    hint = "state-dir"


class OutputUnwritable(InputError):
    code = "output-unwritable"
    description = N_("the result (or another output) file cannot be written")
    templates = {
        "": N_("cannot write {target}: {reason}; choose another place"),
        "exists": N_("{target} already exists: choose another name, or replace it on purpose"),
        "exists-not-results": N_("{target} already exists and is not a result file bulkprov wrote (it may be your "
                                 "roster): choose another name, or replace it on purpose"),
        "space": N_("{target}: only {free} free on that disk, about {needed} needed"),
        "format": N_("{target} is named .{suffix}, but these results are written as {fmt}: name the file "
                     ".{fmt}, or choose the {suffix} format"),
        "suffix": N_("{target}: results are written as .xlsx, .csv or .jsonl, not .{suffix}: name the file .{fmt} "
                     "(or .csv, .jsonl)"),
        "directory-format": N_("{target}: the account's directory is written as .xlsx, .csv or .jsonl; name the "
                               "file with one of them"),
    }
    hint = "output"


class PlanFileInvalid(InputError):
    code = "plan-invalid"
    description = N_("the approved plan file is not a bulkprov plan workbook")
    template = N_("{plan}: not a bulkprov plan workbook ({reason})")


class RetryOtherFile(InputError):
    code = "retry-other-file"
    description = N_("a retry names a run made from another file")
    template = N_("run {run_id} was made from another file ({input}); a retry of its failed rows needs the same "
                  "input file")


class RunNotFound(InputError):
    code = "run-not-found"
    description = N_("no such run in the ledger")
    templates = {
        "": N_("no run {run_id!r} in {ledger}"),
        "no-ledger": N_("no run ledger in {state_dir}: runs are recorded in .bulkprov/ beside the input file (or "
                        "the state directory you chose)"),
    }


class NoHost(InputError):
    code = "no-host"
    description = N_("no Kore.ai host was given")
    template = N_("no Kore.ai host: set KORE_HOST (e.g. https://bots.kore.ai) in the environment or the .env file, "
                  "or host in a profile")
    hint = "host"


class BadHost(InputError):
    code = "bad-host"
    description = N_("the Kore.ai host URL is not usable")
    templates = {
        "invalid": N_("the host is not a valid URL (e.g. https://bots.kore.ai)"),
        "scheme": N_("unsupported scheme {scheme}:// for the host; use https://"),
        "no-name": N_("the host URL has no host name (e.g. https://bots.kore.ai)"),
        "userinfo": N_("the host URL must not contain a user name or password"),
        "query": N_("the host URL must not contain a query (?...) or fragment (#...)"),
        "plain-http": N_("refusing plain http:// to a non-loopback host ({hostname}): the token would travel in "
                         "clear; use https://"),
    }


class NoCredentials(InputError):
    code = "no-credentials"
    description = N_("no usable Kore.ai credentials")
    templates = {
        "": N_("no Kore.ai credentials: set KORE_CLIENT_ID and KORE_CLIENT_SECRET (or KORE_JWT) in the environment "
               "or a .env file"),
        "partial": N_("no Kore.ai credentials: {have} is set but {missing} is not (set KORE_CLIENT_ID and "
                      "KORE_CLIENT_SECRET or KORE_CLIENT_SECRET_FILE, or KORE_JWT)"),
        "not-jwt": N_("KORE_JWT does not look like a JWT (three base64url parts separated by dots)"),
        "env-missing": N_("env file not found"),
        "env-unreadable": N_("cannot read the env file ({reason})"),
        "secret-missing": N_("{what} does not exist"),
        "secret-unreadable": N_("cannot read {what} ({reason})"),
        "secret-empty": N_("{what} is empty"),
    }


class BadRate(InputError):
    code = "bad-rate"
    description = N_("the rate budget cannot be read")
    templates = {
        "": N_("rate budget: cannot read {part!r}: write windows like 60/min, 1800/h or 10/2 (10 requests per 2 "
               "seconds), separated by commas"),
        "zero": N_("rate budget: {part!r} must allow at least 1 request per window"),
    }
    hint = "rate"


class BadConfig(InputError):
    code = "bad-config"
    description = N_("the config file or a setting is wrong")
    templates = {
        "no-file": N_("profile {profile}: no config file (create {default})"),
        "missing": N_("config file {file} does not exist"),
        "toml": N_("config file {file} is not valid TOML: {reason}"),
        "unreadable": N_("cannot read config file {file} ({reason})"),
        "no-profile": N_("config file {file} has no profile {profile!r} (profiles: {known})"),
        "secret": N_("config file {file}: {key} must not be in a config file; put credentials in the environment, "
                     "a .env file (env_file) or a secret file (secret_file)"),
        "unknown": N_("config file {file}: unknown setting {key!r} (known: {known})"),
        "type": N_("config file {file}: {key} must be a {kind}, not {value!r}"),
        "at-least-one": N_("{names} must be at least 1"),
        "range": N_("{name} must be between {low} and {high}"),
        "web-login": N_("bulkprov serve needs a way to log in: add users to web_users in the config profile (hashes "
                        "from `bulkprov hash-password`), or set BULKPROV_WEB_TOKEN or web_token_file"),
        "web-hash": N_("web_users.{name} is not a password hash: make one with `bulkprov hash-password` (plain "
                       "passwords are refused)"),
        "web-token-short": N_("the shared login token must be at least 16 characters long"),
        "web-token-file": N_("web_token_file {file}: {reason}"),
        "oidc": N_("single sign-on: {reason}"),
        "web-roles": N_("web_roles.{name}: {role!r} is not a role (viewer, operator or approver)"),
        "web-proxies": N_("web_trusted_proxies: {reason} (write addresses or networks like 10.0.0.0/8)"),
        "password-mismatch": N_("the two passwords differ"),
        "password-short": N_("the password must be at least 8 characters long"),
        "unknown-command": N_("unknown command {command!r}"),
        "combination": N_("{first} cannot be combined with {second}"),
        "lookups": N_("{file}: {reason}"),
    }


class ApprovalRefused(InputError):
    code = "approval-refused"
    description = N_("a request cannot be decided, or this person may not decide it")
    templates = {
        "not-found": N_("there is no request {request_id}"),
        "own": N_("{person} made request {request_id}: someone else must decide it (four eyes)"),
        "not-approver": N_("{person} may not approve requests (not an approver)"),
        "decided": N_("request {request_id} is already {state}"),
        "expired": N_("request {request_id} expired at {expires}: run again to make a new one"),
        "comment": N_("a rejection needs a comment saying why"),
        "changed": N_("the roster or the account changed since request {request_id} was approved: the approval no "
                      "longer holds; run again to make a new request"),
    }


class PolicyProblem(InputError):
    code = "policy"
    description = N_("the account's policy cannot be believed, or a setting would loosen it")
    templates = {
        "untrusted": N_("policy {file} is not believed: {reason}. Nothing runs until it is owned by root (or the "
                        "service account) and not writable by {person}"),
        "unreadable": N_("policy {file} cannot be read: {reason}"),
        "loosens": N_("{key} = {value} would loosen the policy of account {account} ({file} says {policy}): a profile "
                      "may only tighten it"),
        "twice": N_("two policy files name account {account}: {first} and {second}; keep one"),
        "unknown": N_("policy {file}: unknown setting {key!r} (known: {known})"),
        "type": N_("policy {file}: {key} must be a {kind}, not {value!r}"),
        "account": N_("policy {file} must name its account: host and client_id"),
        "overrides": N_("the policy of account {account} names approvers: a guard is passed by a second person's "
                        "approval, never by an override"),
    }


class AuditUnwritable(InputError):
    code = "audit-unwritable"
    description = N_("the account's audit trail cannot be written, so nothing is sent")
    template = N_("the audit trail {trail} cannot be written ({reason}); nothing was sent. Run bulkprov as the "
                  "account that owns it (the service account)")


class UsageProblem(InputError):
    """Kept for the few places where the command line itself is wrong (the CLI's own parser)."""

    code = "usage"
    description = N_("the command line or configuration is wrong")
    template = N_("{reason}")
