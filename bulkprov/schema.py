"""The one source of truth for bulkprov's columns.

Every column a user can put in a spreadsheet is declared here once: its canonical name, the
header aliases that map to it, whether it is required, how its cell is parsed, its maximum
length, where it goes in the Kore.ai API payload, and the help text and example that the
template, the README and the validator messages show.  The loader matches headers with
:func:`match_header`, the validator parses with :attr:`Column.kind`, the template and the docs
are generated from :data:`COLUMNS`, and the emulator reads :data:`USER_INFO_FIELDS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Identifier formats of the Kore.ai platform (SPEC section 2).
ROLE_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")
BOT_ID_RE = re.compile(r"^st-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DIALOG_ID_RE = re.compile(r"^dg-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
GROUP_ID_RE = re.compile(r"^e-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The shapes above are what the vendor's samples show, not a documented rule (the pages' own samples
# include st-xxx-xx-xxx-xxx-xxxx and a 25-character role id).  With strict ids off, an id that only has
# the relaxed shape below is sent as written, with a warning (JobSettings.strict_ids).
RELAXED_ID_RES = {
    "role": re.compile(r"^(?=.*\d)[0-9A-Za-z]{6,64}$"),      # a digit in it: "Administrator" stays a name
    "bot": re.compile(r"^st-[0-9A-Za-z][0-9A-Za-z-]*$"),
    "dialog": re.compile(r"^dg-[0-9A-Za-z][0-9A-Za-z-]*$"),
    "group": re.compile(r"^e-[0-9A-Za-z][0-9A-Za-z-]*$"),
}
# Pragmatic address check: one @, a dot in the domain, no spaces.  The server has the last word.
EMAIL_RE = re.compile(r"^[^@\s;,<>()\[\]\"]+@[^@\s;,<>()\[\]\"]+\.[^@\s;,<>()\[\]\".]{2,}$")

# Parser kinds (see validation.py for what each one does with a cell).
TEXT, EMAIL, BOOL, GROUPS, ROLES, BOT_TASKS, ACTION = (
    "text", "email", "bool", "groups", "roles", "botTasks", "action",
)

# Truthy / falsy spellings accepted in boolean cells, lower-cased.
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f", "off"})

# The action column accepts bulkprov's words and the admin console's "User Status" words.
ACTIONS = {
    "add": "add", "new": "add", "create": "add",
    "update": "update", "modify": "update",
    "remove": "remove", "delete": "remove",
}
ACTION_CHOICES = ("add", "update", "remove")

# Separators inside list cells: semicolons or new lines (commas separate dialogs in botTasks).
LIST_SPLIT_RE = re.compile(r"[;\n\r]+")

# What a list cell means, per command: declared here once; the validator, sync's diff, the template's
# notes and the README all read it from here.
LIST_ON_ADD = "On add: the user gets exactly these."
LIST_ON_UPDATE = {
    GROUPS: "On update: plain entries are added, -ENTRY removes that entry; entries the cell does not name "
            "are kept.",
    ROLES: "On update: plain entries are added, -ENTRY removes that entry; entries the cell does not name "
           "are kept.",
    BOT_TASKS: "On update: BOT:DIALOG,DIALOG adds those dialogs to the bot's tasks, -BOT removes all of that "
               "bot's tasks; bots the cell does not name keep theirs.",
}
LIST_ON_SYNC = "In plan/sync the cell is the complete list: entries missing from it are removed."
REMOVE_PREFIX, ADD_PREFIX = "-", "+"


def list_behaviour(kind: str) -> str:
    """The sentence the template, the README and messages use for a list column."""
    return f"{LIST_ON_ADD} {LIST_ON_UPDATE[kind]} {LIST_ON_SYNC}"


@dataclass(frozen=True)
class Column:
    """One spreadsheet column."""

    name: str
    kind: str
    help: str
    example: str
    aliases: tuple[str, ...] = ()
    api_field: str | None = None
    """Where the value goes: ``userInfo.<field>`` or a top-level user field; None for run controls."""
    max_length: int | None = None
    required: bool = False

    @property
    def in_user_info(self) -> bool:
        return bool(self.api_field and self.api_field.startswith("userInfo."))

    @property
    def is_list(self) -> bool:
        return self.kind in LIST_ON_UPDATE

    @property
    def full_help(self) -> str:
        """The help text with the list behaviour, as the template's notes and the README show it."""
        return f"{self.help} {list_behaviour(self.kind)}" if self.is_list else self.help


def _info(name: str, help: str, example: str, *aliases: str, max_length: int = 100) -> Column:
    return Column(name, TEXT, help, example, aliases, f"userInfo.{name}", max_length)


COLUMNS: tuple[Column, ...] = (
    Column("action", ACTION, "What to do with the row in `bulkprov apply`: add, update or remove "
           "(the admin console's User Status New / Update / Delete also work). Ignored by add/update/remove.",
           "add", ("User Status", "Operation", "Op")),
    Column("emailId", EMAIL, "The user's email address. Required to add a user; update and remove "
           "may use orgUserId instead.", "jane.doe@example.com",
           ("Email", "E-mail", "Email Address", "E-mail Address", "Email ID", "Mail", "User Email", "Login"),
           "userInfo.emailId", 254),
    _info("orgUserId", "Your organisation's id for the user (employee number). Optional; identifies the "
          "user for update/remove when there is no email.", "E10442",
          "Alternate ID", "Employee ID", "Employee Number", "Emp ID", "Org User ID", "User ID", max_length=100),
    _info("firstName", "Given name.", "Jane", "First Name", "Given Name", "First", "Forename"),
    _info("lastName", "Family name.", "Doe", "Last Name", "Surname", "Family Name", "Last"),
    _info("companyName", "Company name.", "Example Corp", "Company", "Organization", "Organisation"),
    _info("dept", "Department.", "Customer Care", "Department", "Dept Name", "Division"),
    _info("companyContactPhone", "Company contact phone.", "+1 212 555 0100",
          "Company Phone", "Contact Phone", "Phone", "Mobile", max_length=40),
    _info("worknumber", "Work phone number.", "8212334444", "Work Phone", "Work Number", "Office Phone",
          max_length=40),
    _info("street", "Street address.", "1 Main Street", "Street Address", "Address", "Address Line 1",
          max_length=200),
    _info("suiteNo", "Suite / apartment number.", "Suite 400", "Suite", "Suite Number", "Apt", max_length=40),
    _info("city", "City.", "New York", "Town"),
    _info("zip", "Postal code (keep leading zeros: format the column as text or 00000).", "02128",
          "Zip Code", "Postal Code", "Postcode", "ZIP", max_length=20),
    _info("state", "State / province.", "NY", "Province", "Region"),
    _info("country", "Country.", "United States", "Country Name"),
    Column("groups", GROUPS, "Groups to put the user in: group ids (e-…) or names from the Groups sheet, "
           "separated by ; or new lines.", "Support Agents", ("Group", "User Groups"), "groups"),
    Column("roles", ROLES, "Roles: ROLE for an admin role, ROLE@BOT for a bot role; ids or names from the "
           "Roles and Bots sheets; separated by ; or new lines.",
           "Bot Tester@Support Bot", ("Role", "User Roles"), "roles"),
    Column("botTasks", BOT_TASKS, "Bot tasks: BOT:DIALOG,DIALOG per bot, bots separated by ; or new lines. "
           "BOT is a bot id (st-…) or a name from the Bots sheet; dialogs are dg-… ids.",
           "Support Bot:dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
           ("Bot Tasks", "Assign Bot Tasks", "Tasks"), "assignBotTasks", 2000),
    Column("canCreateBot", BOOL, "Builder access: may create bots. TRUE/FALSE, yes/no, y/n, 1/0. "
           "Blank means FALSE (the server's own default would be TRUE).", "FALSE",
           ("Can Create Bot", "Create Bots", "Builder"), "canCreateBot"),
    Column("isDeveloper", BOOL, "Developer access. TRUE/FALSE, yes/no, y/n, 1/0. Blank means FALSE.",
           "FALSE", ("Is Developer", "Developer"), "isDeveloper"),
    Column("sendEmail", BOOL, "Send the activation email on add. Blank uses the run's send-email setting.",
           "TRUE", ("Send Email", "Send Activation Email", "Notify"), None),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
USER_INFO_FIELDS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.in_user_info)
BOOL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == BOOL)

# Lookup sheets of the workbook (SPEC 4): sheet name -> (name column, id column, id pattern).
LOOKUP_SHEETS: dict[str, tuple[str, str, re.Pattern[str]]] = {
    "Roles": ("name", "roleId", ROLE_ID_RE),
    "Bots": ("name", "botId", BOT_ID_RE),
    "Groups": ("name", "groupId", GROUP_ID_RE),
}


# The Results sheet's columns (results.py writes them).  Those that are not input columns are read
# back silently when a result file is used as input (its Failures sheet), never as data.
RESULT_COLUMNS = ("row", "action", "emailId", "orgUserId", "status", "reason",
                  "error_code", "http_status", "attempts", "batch")
# The user columns of a Users sheet that is itself an input file (lookup output, undo files).
USER_SHEET_COLUMNS = tuple(c.name for c in COLUMNS if c.name not in ("action", "sendEmail"))
# Role, group and bot *names* beside the ids of a Users sheet (lookup, export, undo: bulkprov.outputs.names),
# entry for entry; read back silently like the result columns, so the sheet stays an input file.
NAME_COLUMNS = ("roleNames", "groupNames", "botNames")


def normalize_header(text: object) -> str:
    """Key used to compare headers: case, spaces, ``_``, ``-`` and ``.`` do not matter."""
    return re.sub(r"[\s_\-.\u00a0]+", "", str(text)).lower()


RESULT_HEADERS = frozenset(normalize_header(c) for c in (*RESULT_COLUMNS, *NAME_COLUMNS) if c not in BY_NAME)


_HEADER_INDEX: dict[str, Column] = {}
for _col in COLUMNS:
    for _alias in (_col.name, *_col.aliases):
        _HEADER_INDEX.setdefault(normalize_header(_alias), _col)


def match_header(text: object) -> Column | None:
    """The column a header names, or None when it is not one of ours."""
    return _HEADER_INDEX.get(normalize_header(text))


def suggest_header(text: object) -> str | None:
    """The known column an unknown header is a near-miss of (did-you-mean), if any.

    Only the same word mistyped counts: a typo, a swapped pair of letters, case, spacing or
    punctuation ("fristName", "E-mial").  A different word never does: "Last day" is not a
    misspelt "Last" (following such a hint would write leaving dates into last names).
    """
    key = normalize_header(text)
    if len(key) < 4:
        return None
    allowed = 1 if len(key) <= 8 else 2
    best: tuple[int, str] | None = None
    for alias, column in _HEADER_INDEX.items():
        if abs(len(alias) - len(key)) > allowed:
            continue
        distance = _edit_distance(key, alias, allowed)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, column.name)
    return best[1] if best else None


def _edit_distance(a: str, b: str, cap: int) -> int:
    """Optimal-string-alignment distance (a swap of two neighbours is one edit), stopping past ``cap``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > cap:
            return cap + 1
        previous2, previous = previous, current
    return previous[-1]


# The template's example row uses this address; a row still carrying it is refused (HR forgot to delete it).
EXAMPLE_EMAIL = "jane.doe@example.com"


def example_row() -> dict[str, str]:
    return {c.name: c.example for c in COLUMNS}


def user_to_cells(user: dict) -> dict[str, str]:
    """An API user object (usersInfo shape) as template cells: the inverse of the validator.

    ``lookup`` writes these, so its output is an input file for ``add``.
    """
    info = user.get("userInfo") or {}
    cells = {name: _cell(info.get(name)) for name in USER_INFO_FIELDS}
    groups = user.get("groups") or []
    cells["groups"] = "; ".join(g.get("groupId", "") if isinstance(g, dict) else str(g) for g in groups)
    cells["roles"] = "; ".join(role_texts(user.get("roles")))
    cells["botTasks"] = "; ".join(
        f"{t.get('botId')}:{','.join(t.get('dialogs') or [])}" for t in user.get("assignBotTasks") or []
    )
    for name in BOOL_COLUMNS:
        if name in user:
            cells[name] = "TRUE" if user[name] else "FALSE"
    return cells


def role_text(role: dict[str, str]) -> str:
    """A role as a ``roles`` cell entry: ``ROLE`` (admin role) or ``ROLE@BOT`` (bot role)."""
    return f"{role['roleId']}@{role['botId']}" if role.get("botId") else role["roleId"]


def role_texts(roles: object) -> list[str]:
    """The usersInfo ``roles`` object (``adminRoles`` + ``btRoles``) as ``roles`` cell entries."""
    if not isinstance(roles, dict):
        return []
    return [role_text(r) for kind in ("adminRoles", "btRoles") for r in roles.get(kind) or [] if r.get("roleId")]


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def markdown_table() -> str:
    """The column reference table of the README, generated so docs cannot drift from code."""
    lines = ["| column | also accepted as | max | what it is | example |", "|---|---|---|---|---|"]
    for c in COLUMNS:
        aliases = ", ".join(c.aliases) or "—"
        lines.append(
            f"| `{c.name}` | {aliases} | {c.max_length or '—'} | {c.full_help} | `{c.example}` |"
        )
    return "\n".join(lines)


def list_cells_markdown() -> str:
    """What a list cell means per command, as the README shows it (generated, so it cannot drift)."""
    lines = ["| column | add | update | plan / sync |", "|---|---|---|---|"]
    for c in COLUMNS:
        if c.is_list:
            lines.append(f"| `{c.name}` | {LIST_ON_ADD} | {LIST_ON_UPDATE[c.kind]} | {LIST_ON_SYNC} |")
    return "\n".join(lines)
