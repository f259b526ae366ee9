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
ALL = "every page above"
PAGES = (ADD, UPDATE, REMOVE, INFO, LIST, ALL)


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
    Fact("A user a write reply does not name succeeded, when the reply is a 2xx and every failure in it names a "
         "user that was sent.",
         if_wrong="Any other reply (a 4xx, a failure naming a key not sent) leaves the unnamed users unconfirmed: "
                  "they are checked with usersInfo (removals and adds) or failed as unverified (updates)."),
    Fact("The Update Users failure reply has the shape of the add failure (the page shows none).",
         if_wrong="A failure bulkprov cannot match to a sent user leaves that batch's unnamed rows failed as "
                  "unverified, never success."),
    Fact("usersInfo's `userInfo` may hold only `emailId`, `userId`, `firstName` and `lastName` (the documented "
         "sample); whether it returns `orgUserId`, `dept` or the address fields is not documented.",
         if_wrong="lookup and export leave fields the reply lacks blank (export takes `orgUserId` from the "
                  "listing); plan and sync cannot see a field the reply does not carry, so a filled cell for it "
                  "shows as a change."),
    Fact("A usersInfo failure for a well-formed address (\"Invalid emailId\" or any other reason) means the user "
         "is not in the account.",
         if_wrong="Such a user is reported not-found and sync plans an add, which the server then refuses as "
                  "existing: a failed row, nothing created twice."),
    Fact("A usersInfo reply to `orgUserIds` may not echo `orgUserId`.",
         if_wrong="Found users are matched through the account listing (or directly when one id was asked); if "
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
    Fact("The listing honours any `limit`, and `availableMore` is always present.",
         if_wrong="bulkprov advances `offset` by the users a page really held and stops on `availableMore: "
                  "false`, an empty page or `offset >= total`: a lower cap costs requests, not users."),
)


def markdown_table() -> str:
    """The README's API-facts table."""
    lines = ["| what bulkprov relies on | documented or assumed | where / if it is not so |", "|---|---|---|"]
    for f in FACTS:
        lines.append(f"| {f.fact} | {'documented' if f.documented else '**assumed**'} | "
                     f"{f.page if f.documented else f.if_wrong} |")
    return "\n".join(lines)
