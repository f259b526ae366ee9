"""The input template, generated from :mod:`bulkprov.schema` (never edited by hand).

``bulkprov template -o users.xlsx`` writes a ``Users`` sheet (headers with a note each, dropdowns
for the yes/no columns and the action, one example row), the ``Roles``/``Bots``/``Groups`` lookup
sheets that let HR write names instead of ids, and an ``Instructions`` sheet.  ``-o users.csv``
writes the header and the example row.  The committed copies in ``templates/`` are checked
against this generator by a test.

The lookup sheets' ids are examples, and say so on every row (a ``note`` column): they belong to no
account.  Given the account's directory (``template --from-account``), the sheets hold the account's
own roles, bots and groups with its host on every row, the ``roles`` and ``groups`` columns get
dropdowns of its names (a hidden ``Lists`` sheet: admin roles, then every bot role at every bot), and the
example row uses them.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from bulkprov import i18n, schema
from bulkprov.errors import N_
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import HEADER_FORMAT, AtomicFile, check_new, close_workbook, new_workbook

if TYPE_CHECKING:
    from bulkprov.kore.directory import Directory

# Fixed document date so the generated file only changes when the schema does.
_CREATED = dt.datetime(2026, 1, 1)

# The lookup sheets' example names per language: the ones the example row (schema.example_row) uses.
LOOKUP_EXAMPLES = {
    "en": {"Roles": [("Bot Tester", "5c9d0a7e3f1b2a4c6d8e0f12"), ("Bot Owner", "5c9d0a7e3f1b2a4c6d8e0f13"),
                     ("Account Admin", "5c9d0a7e3f1b2a4c6d8e0f14")],
           "Bots": [("Support Bot", "st-6c5a1c5e-8b1f-5e0b-9d3c-2f4e6a8b0c1d")],
           "Groups": [("Support Agents", "e-06b41cdd-7678-5394-b958-40ca5662f502")]},
    "ko": {"Roles": [("봇 테스터", "5c9d0a7e3f1b2a4c6d8e0f12"), ("봇 소유자", "5c9d0a7e3f1b2a4c6d8e0f13"),
                     ("계정 관리자", "5c9d0a7e3f1b2a4c6d8e0f14")],
           "Bots": [("고객지원 봇", "st-6c5a1c5e-8b1f-5e0b-9d3c-2f4e6a8b0c1d")],
           "Groups": [("상담원", "e-06b41cdd-7678-5394-b958-40ca5662f502")]},
    "ja": {"Roles": [("ボットテスター", "5c9d0a7e3f1b2a4c6d8e0f12"), ("ボットオーナー", "5c9d0a7e3f1b2a4c6d8e0f13"),
                     ("アカウント管理者", "5c9d0a7e3f1b2a4c6d8e0f14")],
           "Bots": [("サポートボット", "st-6c5a1c5e-8b1f-5e0b-9d3c-2f4e6a8b0c1d")],
           "Groups": [("サポート担当", "e-06b41cdd-7678-5394-b958-40ca5662f502")]},
}

INSTRUCTIONS = [
    N_("How to fill this workbook"),
    "",
    N_("1. One user per row in the Users sheet. Delete the example row (row 2) first."),
    N_("2. emailId is required to add a user. Every other column is optional; unknown columns are ignored."),
    N_("3. Lists (groups, roles, botTasks): separate entries with ; or a new line in the cell."),
    N_("4. roles: write ROLE for an admin role or ROLE@BOT for a bot role, e.g. Bot Tester@Support Bot."),
    N_("5. Names in groups/roles/botTasks are looked up in the account written to (its roles, bots and groups);"),
    N_("   ids can also be written directly. The Roles, Bots and Groups sheets are needed only offline (their "
       "example rows never stand for an account's names)."),
    N_("6. canCreateBot / isDeveloper: blank means FALSE - nobody gets Builder access by accident."),
    N_("7. Keep leading zeros (zip, employee numbers) by formatting those columns as Text."),
    N_("8. Check the file with:  bulkprov validate users.xlsx   then run:  bulkprov add users.xlsx"),
    "",
    N_("Columns"),
]


def write_template(path: str | Path, *, replace: bool = False, lang: str | None = None,
                   directory: Directory | None = None) -> Path:
    """Write the template to ``path`` atomically; the format follows the extension (.xlsx or .csv).

    ``lang`` (en, ko, ja; default: the current language) chooses the header names, the notes, the
    dropdown words and the Instructions sheet; the loader reads every language's headers back.
    ``directory`` (the account's): its names in the lookup sheets, the dropdowns and the example row.
    An existing file is never replaced silently (it may be a filled-in roster): ``replace=True`` says so.
    """
    path = Path(path)
    check_new(path, replace=replace)
    target = AtomicFile(path)
    try:
        with i18n.using(lang) as chosen:
            if path.suffix.lower() == ".csv":
                _write_csv(target.temp, chosen, directory)
            else:
                _write_xlsx(target.temp, chosen, directory)
    except BaseException:
        target.discard()
        raise
    target.commit()
    return path


def _example(lang: str, directory: Directory | None = None) -> dict[str, str]:
    """The example row, its yes/no and action cells in the words of the dropdowns (and the account's names)."""
    example = schema.example_row(lang)
    if directory is not None:
        example.update(account_example(directory))
    yes, no = schema.BOOL_WORDS_IN[lang]
    for column in schema.TEMPLATE_COLUMNS:
        if column.kind == schema.BOOL:
            example[column.name] = yes if example[column.name] == "TRUE" else no
        elif column.kind == schema.ACTION:
            example[column.name] = schema.ACTION_WORDS_IN[lang][0]
    return example


def account_example(directory: Directory) -> dict[str, str]:
    """The example row's list cells in the account's names: its first bot role at its first bot, its first
    group; bot tasks blank (the API lists no dialogs)."""
    bot_roles = sorted((r.name for r in directory.roles if r.type == "bot" and r.id), key=str.casefold)
    bots = sorted((b.name for b in directory.bots if b.id), key=str.casefold)
    groups = sorted((g.name for g in directory.groups if g.id), key=str.casefold)
    return {"roles": f"{bot_roles[0]}@{bots[0]}" if bot_roles and bots else "",
            "groups": groups[0] if groups else "", "botTasks": ""}


def _write_csv(path: Path, lang: str, directory: Directory | None = None) -> None:
    example = _example(lang, directory)
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        columns = schema.template_columns(lang)
        writer.writerow([c.header(lang) for c in columns])
        writer.writerow([example[c.name] for c in columns])


def _write_xlsx(path: Path, lang: str, directory: Directory | None = None) -> None:
    wb = new_workbook(path)
    wb.set_properties({"title": _("bulkprov users template"), "created": _CREATED, "author": "bulkprov"})
    head = wb.add_format(HEADER_FORMAT)
    required = wb.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#C00000", "border": 1})
    text = wb.add_format({"num_format": "@"})
    lists = _lists(directory) if directory is not None else None
    _users_sheet(wb, head, required, text, lang, directory, lists)
    if directory is None:
        _example_lookup_sheets(wb, head, text, lang)
    else:
        _account_lookup_sheets(wb, head, text, directory)
    _instructions_sheet(wb, head, lang)
    if lists is not None:
        ws = wb.add_worksheet("Lists")
        for col, (title, values) in enumerate(lists.items()):
            ws.write_string(0, col, title, head)
            for r, value in enumerate(values, start=1):
                ws.write_string(r, col, value)
        ws.hide()
    close_workbook(wb)


EXAMPLE_NOTE = N_("example: not your account's id. Replace it with the name and id of your own (bulkprov "
                  "directory writes them), or delete the row")
LIST_CAP = 5000  # dropdown entries per list (bot roles x bots can be many)


def _example_lookup_sheets(wb, head, text, lang: str) -> None:
    """The lookup sheets with example names and ids, each row saying it is an example."""
    example = wb.add_format({"italic": True, "font_color": "#7F7F7F", "num_format": "@"})
    for sheet, rows in LOOKUP_EXAMPLES.get(lang, LOOKUP_EXAMPLES["en"]).items():
        name_col, id_col, _pattern = schema.LOOKUP_SHEETS[sheet]
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, [name_col, id_col, "note"], head)
        ws.set_column(0, 1, 44, text)
        ws.set_column(2, 2, 100, text)
        for r, (name, ident) in enumerate(rows, start=1):
            ws.write_string(r, 0, name)
            ws.write_string(r, 1, ident, example)
            ws.write_string(r, 2, _(EXAMPLE_NOTE), example)


def _account_lookup_sheets(wb, head, text, directory: Directory) -> None:
    """The lookup sheets with the account's own roles, bots and groups (the directory workbook's columns)."""
    from bulkprov.outputs.directory import SHEETS, sheet_rows

    for sheet, (extra, description) in SHEETS.items():
        name_col, id_col, _pattern = schema.LOOKUP_SHEETS[sheet]
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, [name_col, id_col, extra, description, "host"], head)
        ws.set_column(0, 1, 40, text)
        ws.set_column(2, 4, 30, text)
        for r, row in enumerate(sheet_rows(sheet, directory), start=1):
            for c, value in enumerate(row):
                if isinstance(value, int):
                    ws.write_number(r, c, value)
                elif value:
                    ws.write_string(r, c, str(value))
        ws.freeze_panes(1, 0)


def _lists(directory: Directory) -> dict[str, list[str]]:
    """The dropdowns' entries: admin roles, then every bot role at every bot; the groups."""
    def names(entries) -> list[str]:
        return sorted({e.name for e in entries if e.id and not any(s in e.name for s in ";@:")}, key=str.casefold)

    admin = names(r for r in directory.roles if r.type == "admin")
    bot_roles = names(r for r in directory.roles if r.type == "bot")
    bots = names(directory.bots)
    roles = admin + [f"{role}@{bot}" for bot in bots for role in bot_roles]
    return {"roles": roles[:LIST_CAP], "groups": names(directory.groups)[:LIST_CAP]}


def _users_sheet(wb, head, required, text, lang: str, directory: Directory | None = None,
                 lists: dict[str, list[str]] | None = None) -> None:
    ws = wb.add_worksheet("Users")
    example = _example(lang, directory)
    yes, no = schema.BOOL_WORDS_IN[lang]
    actions = schema.ACTION_WORDS_IN[lang]
    last = 10_000
    columns = schema.template_columns(lang)
    for col, column in enumerate(columns):
        header = column.header(lang)
        named = header if header == column.name else f"{header} ({column.name})"
        ws.write_string(0, col, header, required if column.name == "emailId" else head)
        ws.write_comment(0, col, f"{named}: {column.help_in(_)}", {"x_scale": 2.5, "y_scale": 1.6})
        ws.set_column(col, col, max(14, len(header) * (1 if header.isascii() else 2) + 4), text)
        ws.write_string(1, col, example[column.name])
        if column.kind == schema.BOOL:
            ws.data_validation(1, col, last, col, {
                "validate": "list", "source": [yes, no],
                "input_title": header,
                "input_message": _("{yes} or {no} (blank = {no})").format(yes=yes, no=no)[:255],
            })
        elif column.kind == schema.ACTION:
            ws.data_validation(1, col, last, col, {
                "validate": "list", "source": list(actions),
                "input_title": header,
                "input_message": _("{add}, {update} or {remove} (for bulkprov apply)").format(
                    add=actions[0], update=actions[1], remove=actions[2])[:255],
            })
        elif lists is not None and lists.get(column.name):
            letter = "A" if column.name == "roles" else "B"
            ws.data_validation(1, col, last, col, {
                "validate": "list", "source": f"=Lists!${letter}$2:${letter}${len(lists[column.name]) + 1}",
                "show_error": False,  # several entries separated by ; are fine: the list only offers
                "input_title": header,
                "input_message": _("pick one of the account's names, or write several separated by ;")[:255],
            })
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 1, len(columns) - 1)


def _instructions_sheet(wb, head, lang: str) -> None:
    ws = wb.add_worksheet("Instructions")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 110)
    bold = wb.add_format({"bold": True})
    for r, line in enumerate(INSTRUCTIONS):
        ws.write_string(r, 0, _(line) if line else "", bold if r in (0, len(INSTRUCTIONS) - 1) else None)
    r = len(INSTRUCTIONS)
    ws.write_row(r, 0, [_("column"), _("what it is (also accepted headers)")], head)
    for column in schema.COLUMNS:
        r += 1
        header = column.header(lang)
        local = {"ko": column.ko, "ja": column.ja}.get(lang, ())
        names = [a for a in (*local, *column.aliases) if a != header]  # every language's headers are read
        aliases = _(" (also: {names})").format(names=", ".join(names)) if names else ""
        ws.write_string(r, 0, header if header == column.name else f"{header} ({column.name})")
        ws.write_string(r, 1, column.help_in(_) + aliases)
