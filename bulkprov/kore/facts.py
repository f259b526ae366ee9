"""Every fact about the Kore.ai API that bulkprov relies on: documented (which page) or assumed (and what
bulkprov does if the assumption is wrong).  The README's table is generated from :data:`FACTS`
(``python -m bulkprov._docs``); a test checks that every assumption has its degradation sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

# The vendor's pages (copies in ../shared/kore-docs/, samples in tests/fixtures/kore-docs/).
ADD = "Add Users (Korean page)"
UPDATE = "Update Users"
REMOVE = "Remove Users (Korean/Japanese/English and English pages)"
INFO = "Get Users Info (Korean and English pages)"
LIST = "Get User Roles Details"
DIRECTORY = "Get Roles, Get Groups, Get Bots (summarised in kore-docs/directory-apis.md)"
ALL = "every page above"
PAGES = (ADD, UPDATE, REMOVE, INFO, LIST, DIRECTORY, ALL)


@dataclass(frozen=True)
class Fact:
    fact: str
    page: str = ""          # documented: where
    if_wrong: str = ""      # assumed: how bulkprov behaves if it is not so

    @property
    def documented(self) -> bool:
        return bool(self.page)


FACTS: tuple[Fact, ...] = (
    Fact("Every call sends `Content-Type: application/json` and the header `auth: <JWT>` of an app created in "
         "the Bot Admin Console with the Admin API scope User Management.", ALL),
    Fact("Add users: `POST /api/public/users` with `{\"users\": [{userInfo, groups, roles, assignBotTasks, "
         "canCreateBot, isDeveloper}], \"sendEmail\"}`; `sendEmail` is optional and defaults to true.", ADD),
    Fact("Update users: `PUT /api/public/users`, each user named by `userInfo.emailId` or `userInfo.orgUserId`, "
         "`groups` and `roles` as `{\"addTo\": [...], \"removeFrom\": [...]}`.", UPDATE),
    Fact("Remove users: `DELETE /api/public/users` with `{\"deleteEmailIds\": [...]}` or `{\"orgUserIds\": [...]}`.",
         REMOVE),
    Fact("Look users up: `POST /api/public/usersInfo` with `{\"emailIds\": [...]}` or `{\"orgUserIds\": [...]}`.",
         INFO),
    Fact("Success replies are `{\"msg\": \"Users are created|updated|removed Successfully\"}`.",
         f"{ADD}; {UPDATE}; {REMOVE}"),
    Fact("An add failure is `{\"failedUserDetails\": [{\"userInfo\": {emailId, firstName, status, reason}}]}` "
         "with `reason` an object (`statusCode`, `errors[{msg, code}]`, `message`, `name`).", ADD),
    Fact("A remove failure names the user by `emailId` (with a `reason` object), also when the request named "
         "users by `orgUserIds`.", REMOVE),
    Fact("usersInfo answers with an array of found users (`userInfo` with `emailId`, `userId`, `firstName`, "
         "`lastName`; roles with role and bot names; bot tasks; groups with names; the two Builder flags) and "
         "failures `{\"userInfo\": {emailId, status: \"failure\", reason}}`, the reason a string or an object; "
         "the Korean page prints a failure as one object, not an array.", INFO),
    Fact("The account listing: `GET /api/public/alluserroles?limit=&offset=` gives `total`, `availableMore` and "
         "`users` with `username` (the email), `orgUserId`, `userId`, the Builder flags, bot roles with role and "
         "bot names and admin roles; it needs the Admin API scope Role Management.", LIST),
    Fact("The account's roles: `GET /api/public/roles?roleType=bot|admin&limit=N` (`roleType` required, `limit` at "
         "most 50) gives `total`, `availableMore` and `roles` with `roleType`, `_id` (the `roleId` Add/Update Users "
         "take), `role` (its name), `rDesc` and `permissions`; the sample's admin role has no `_id`.", DIRECTORY),
    Fact("The account's groups and bots: `GET /api/public/groups?offset=&limit=` and `GET /api/public/bots?offset="
         "&limit=` (`limit` at most 50) give `total`, `availableMore` and `groups` (`_id`, `gN` the name, `gDesc`, "
         "`users` its members, `userCount`) or `bots` (`_id` the `botId`, `name`, `purpose`, `status`, ... and "
         "`jwtApps` with each app's `clientSecret`); the three calls need the Admin API scope Role Management.",
         DIRECTORY),
    # -- assumptions -------------------------------------------------------------------------------------------
    Fact("The rate limit is 60 requests a minute and 1,800 an hour per account, rolling windows, both enforced.",
         if_wrong="The budget is a setting (rate); a refused request is retried after Retry-After or a backoff, "
                  "so a lower real limit costs time, never rows, and a higher one leaves speed unused."),
    Fact("A rate refusal is HTTP 429, or the message \"Rate limit for this API has been reached\" in any 4xx "
         "body, perhaps with Retry-After.",
         if_wrong="Another shape is read as a refusal of the request: the batch is halved until each user is "
                  "refused alone, so rows fail with the server's words instead of waiting; a 5xx shape is retried."),
    Fact("Per-user failures may come with HTTP 200 or 400; the status of each reply shape is not documented.",
         if_wrong="bulkprov reads the body whatever the status; a 4xx never makes a user it does not name a "
                  "success: such users are checked with usersInfo first."),
    Fact("A 2xx write reply whose failure list (`failedUserDetails`, an array) names only users that were sent "
         "means the users it does not name succeeded: the pages show a failure list or the success sentence, and "
         "say nothing of the others.",
         if_wrong="A failure list beside users that were not done would report them as successes; any other reply "
                  "(a 4xx, a 202, a failure naming a key not sent) already leaves the unnamed users to be checked "
                  "with usersInfo."),
    Fact("The success sentence is the page's `msg` (\"Users are created Successfully\" and its update and remove "
         "twins), compared ignoring case; any other 2xx reply -- an empty or unknown object, `error`, "
         "`status: error`, a `failedUserDetails` that is not a list, another `msg`, HTTP 202, a body that cannot be "
         "read -- says nothing about its users (the table below).",
         if_wrong="Such a reply costs one usersInfo check per batch: adds and removes settle by what the check's "
                  "reply names, updates by the fields it carries, and a user nothing settles is failed as unverified "
                  "(exit 1) -- never a success the server did not state."),
    Fact("The Update Users failure reply has the shape of the add failure (the page shows none).",
         if_wrong="A failure bulkprov cannot match to a sent user leaves that batch's unnamed rows failed as "
                  "unverified, never success."),
    Fact("usersInfo's `userInfo` may hold only `emailId`, `userId`, `firstName` and `lastName` (the documented "
         "sample); whether it returns `orgUserId`, `dept` or the address fields is not documented.",
         if_wrong="lookup leaves fields the reply lacks blank; export, plan, sync and the undo file take `orgUserId` "
                  "from the account listing; plan and sync compare a field no reply carries with what bulkprov last "
                  "applied, and show it as not known (never blank) when neither knows; an undo file names the fields "
                  "it cannot restore."),
    Fact("A usersInfo reply names every user that was asked about: found, or a failure entry.",
         if_wrong="A user the reply leaves out is unknown, never \"not found\": a lookup row is failed as "
                  "unverified, a removal is not confirmed, an add is sent again only after a check, and sync stops "
                  "before planning from such a reply."),
    Fact("A usersInfo failure for a well-formed address (\"Invalid emailId\" or any other reason) means the user "
         "is not in the account.",
         if_wrong="Such a user is reported not-found and sync plans an add, which the server then refuses as "
                  "existing: a failed row, nothing created twice."),
    Fact("A usersInfo reply to `orgUserIds` may not echo `orgUserId`.",
         if_wrong="Found users are paired with the id asked through the account listing, never by elimination; if "
                  "the listing is refused, those rows fail as unverified rather than being guessed."),
    Fact("Emails are matched ignoring case and full-width forms (the server may echo them in another case).",
         if_wrong="If the server kept case-distinct users, two such users would be one row for bulkprov; the "
                  "validator already refuses two rows that differ only in case."),
    Fact("There is no maximum number of users per request (none is documented).",
         if_wrong="A batch refused as a whole is halved until it is accepted, and later batches are cut to the "
                  "size that worked."),
    Fact("The server's defaults for `canCreateBot` and `isDeveloper` are true (the pages' samples send true but "
         "state no default).",
         if_wrong="Nothing changes: bulkprov always sends both on add (a blank cell sends false), so the "
                  "server's default never applies."),
    Fact("The token is HS256, signed with the app's client secret, with the claims `appId` and `sub`; its "
         "lifetime is free and an account may require a unique `jti`.",
         if_wrong="A refused token aborts the run at once (401/403) with a message naming the likely causes; "
                  "nothing is sent after it."),
    Fact("Ids look like the samples: role ids 24 hex digits, bot ids `st-` + UUID, dialog ids `dg-` + UUID, "
         "group ids `e-` + UUID; the maximum lengths of text fields are bulkprov's own.",
         if_wrong="With strict ids off, an id of a looser shape and an over-long value are sent as written with "
                  "a warning; the pages' own samples (st-xxx-xx-xxx-xxx-xxxx) validate that way."),
    Fact("On update, `assignBotTasks` replaces the user's list of tasks.",
         if_wrong="bulkprov sends the user's current tasks merged with the change, so adding dialogs gives the "
                  "same result either way; a -BOT removal could leave tasks in place, and the undo file still "
                  "restores the previous list."),
    Fact("The listing honours any `limit`, `offset` counts users, `availableMore` is always present and "
         "`total` is the number of users the pages hold.",
         if_wrong="bulkprov advances `offset` by the distinct users a page held (never more than `limit`) and "
                  "stops on an empty page or `offset >= total`; a read whose users differ from `total`, or whose "
                  "`total` changed meanwhile, is read again (at most twice more), and an export still short of "
                  "`total` exits 1 naming the number missing."),
    Fact("`offset` in the groups and bots calls counts either pages (the groups page: \"page number\"; one version "
         "of the bots page, with at most 10 pages) or records (another version of the bots page).",
         if_wrong="Handled both ways: the second request asks `offset=1`; a page that repeats entries of the first "
                  "means records (later requests ask for the number read so far), otherwise pages. A page that "
                  "brings nothing new, or a later page refused, ends the read once more in the other reading; then "
                  "the directory says it was not read whole (`bulkprov directory` exits 1, a name check says so)."),
    Fact("The roles call documents no `offset`: an account has at most 50 roles of one type.",
         if_wrong="`total` over 50 is followed with `offset` as for groups and bots; a server that ignores it "
                  "repeats its page, and the roles are said to be not read whole (names outside the first 50 cannot "
                  "be checked)."),
    Fact("`total` counts the entries the pages hold, and a page shorter than `limit` is not the last while `total` "
         "says more.",
         if_wrong="A listing whose entries differ from `total` is read once more; still short, it is kept as it is "
                  "and said to be incomplete (the About sheet, a warning, exit 1 for `bulkprov directory`): an unknown "
                  "name is then `incomplete`, never a plain \"does not exist\"."),
    Fact("A refused scope (an app without Role Management) answers the roles, groups and bots calls with 401 or "
         "403, as other refusals of credentials.",
         if_wrong="Any other 4xx of a first page is a refusal of the listing too: `bulkprov directory` and a "
                  "template filled from the account stop (exit 3) naming the scope; a name check falls back to the "
                  "lookup sheets made for the account, and says so."),
    Fact("An admin role's id is the `roleId` users hold it by in usersInfo and the account listing (`adminRoles` "
         "pairs `roleId` with `roleName`), since the roles reply shows admin roles without `_id`.",
         if_wrong="Admin roles are mapped from the listing's pairs (read until every admin role is mapped, at most "
                  "10 pages of 200 users); a name held with two ids, or held by nobody, has no id and is said so "
                  "(the About sheet, a warning), never guessed."),
    Fact("No documented reply (usersInfo, the account listing) carries a user's activation state.",
         if_wrong="An export cannot carry it: a migration says, before it sends, that every user arrives active on "
                  "the target (one deactivated on the source too); a reply that carried it would still be ignored."),
    Fact("Dialogs (the `dg-` ids of `assignBotTasks`) have no names in any documented reply, and a dialog id is of "
         "one account's bot.",
         if_wrong="An export added to another account does not send its bot tasks (their rows say so, the plan "
                  "counts them): the target's administrator assigns them. Added to its own account, they are sent."),
    Fact("Roles, bots and groups cannot be created through the documented API.",
         if_wrong="A name the target lacks is a row error naming it, and a migration lists every such name before "
                  "it sends, for an administrator to create first; bulkprov never creates one."),
    Fact("The bots reply's `jwtApps[].clientSecret` is the only secret in the three replies.",
         if_wrong="bulkprov removes every credential-looking key (`jwtApps`, `clientSecret`, `secret`, `token`, "
                  "`password`, `apiKey` ...) at any depth as it reads a reply, and keeps only the names, ids, "
                  "descriptions, types and member counts it uses: another secret field is dropped with the rest."),
)


@dataclass(frozen=True)
class WriteReply:
    """One shape of reply to add/update/remove and what bulkprov makes of it (the README's second table;
    tests/kore/test_api_facts.py runs every example through :func:`bulkprov.kore.replies.classify`)."""

    shape: str
    status: int
    body: str      # an example, as the server would send it
    becomes: str   # one of VERDICTS
    documented: bool = False


VERDICTS = {
    "success": "every user sent succeeded",
    "named-failed": "the users it names failed; the others succeeded",
    "named-checked": "the users it names failed; the others are checked with usersInfo",
    "checked": "nobody is settled: the users are checked with usersInfo (one check per batch, logged once)",
    "maybe-applied": "nobody is settled, and the server may have acted: checked with usersInfo before anything is "
                     "sent again",
    "refused": "the request was refused as a whole: the batch is halved until the user it is about is alone",
}

_FAILURE = ('{"failedUserDetails": [{"userInfo": {"emailId": "b@x.com", "status": "failure", "reason": '
            '{"message": "INVALID_EMAIL"}}}]}')
WRITE_REPLIES: tuple[WriteReply, ...] = (
    WriteReply("the success sentence", 200, '{"msg": "Users are created Successfully"}', "success", True),
    WriteReply("the success sentence in another case", 200, '{"msg": "users are created successfully"}', "success"),
    WriteReply("a failure list naming users that were sent", 200, _FAILURE, "named-failed", True),
    WriteReply("a failure list in a 4xx", 400, _FAILURE, "named-checked"),
    WriteReply("a failure list in a 202", 202, _FAILURE, "named-checked"),
    WriteReply("a failure naming a user that was not sent", 200,
               '{"failedUserDetails": [{"emailId": "someone@else.com", "reason": {"message": "Unauthorized"}}]}',
               "checked"),
    WriteReply("an empty object", 200, "{}", "checked"),
    WriteReply("an error status", 200, '{"status": "error", "message": "Internal error"}', "checked"),
    WriteReply("an error", 200, '{"error": "Something went wrong"}', "checked"),
    WriteReply("a failure list that is not a list", 200, '{"failedUserDetails": "all users failed"}', "checked"),
    WriteReply("another `msg`", 200, '{"msg": "OK"}', "checked"),
    WriteReply("HTTP 202 (queued; a user not done when checked stays unverified)", 202,
               '{"msg": "Request queued"}', "checked"),
    WriteReply("a body that is not JSON (an HTML page)", 200, "<html><title>Gateway</title></html>",
               "maybe-applied"),
    WriteReply("an empty body (also 204)", 200, "", "maybe-applied"),
    WriteReply("a whole-request error", 400, '{"errors": [{"msg": "Invalid user data", "code": 400}]}', "refused"),
)


def write_replies_table() -> str:
    """The README's table of write reply shapes and what each becomes."""
    lines = ["| a 2xx/4xx reply to add, update or remove | example | what bulkprov makes of it |", "|---|---|---|"]
    for r in WRITE_REPLIES:
        example = f"HTTP {r.status} `{r.body}`" if r.body else f"HTTP {r.status}, empty"
        shape = r.shape + (" (documented)" if r.documented else "")
        lines.append(f"| {shape} | {example.replace('|', '&#124;')} | {VERDICTS[r.becomes]} |")
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's API-facts table."""
    lines = ["| what bulkprov relies on | documented or assumed | where / if it is not so |", "|---|---|---|"]
    for f in FACTS:
        lines.append(f"| {f.fact} | {'documented' if f.documented else '**assumed**'} | "
                     f"{f.page if f.documented else f.if_wrong} |")
    return "\n".join(lines)
