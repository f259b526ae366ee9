"""``bulkprov directory``'s file: the account's roles, bots and groups, stamped with the host they are of.

* ``.xlsx`` (the default): ``Roles`` (name, roleId, type, description), ``Bots`` (name, botId, status,
  description) and ``Groups`` (name, groupId, members, description) -- each with a ``host`` column on
  every row, so a sheet copied into a roster still says which account its ids belong to -- and
  ``About`` (the host, when it was read, what was not read whole).  The three sheets are lookup sheets:
  the workbook serves as a run's lookups as it is.
* ``.csv``: one table, a row per role, bot and group (``kind`` first); ``.jsonl``: one object per line.

Every value is text as the server gave it (never a formula: the streaming writer writes inline
strings only), and no secret is in it: :class:`~bulkprov.kore.directory.Entry` holds none.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bulkprov import schema
from bulkprov.errors import OutputUnwritable
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import AtomicFile
from bulkprov.kore.directory import Directory
from bulkprov.outputs.results import csv_safe

FORMATS = {".xlsx": "xlsx", ".csv": "csv", ".jsonl": "jsonl"}
ABOUT_HOST = "host"  # the About sheet's stamp: a code, never translated (a run reads it back)
# sheet -> (its columns after name and id, the entries' kind in Directory)
SHEETS = {"Roles": ("type", "description"), "Bots": ("status", "description"), "Groups": ("members", "description")}
KIND_OF = {"Roles": "roles", "Bots": "bots", "Groups": "groups"}
FLAT_COLUMNS = ("kind", "name", "id", "type", "status", "members", "description", "host")


def directory_format(path: Path) -> str:
    """The format a file name asks for (``xlsx``, ``csv``, ``jsonl``), or ``output-unwritable``."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise OutputUnwritable("directory-format", target=str(path))
    return fmt


def sheet_rows(sheet: str, directory: Directory) -> list[list[str | int | None]]:
    """A lookup sheet's rows, sorted by name as people read them."""
    rows: list[list[str | int | None]] = []
    for entry in sorted(directory.of(KIND_OF[sheet]), key=lambda e: (e.type if sheet == "Roles" else "",
                                                                      e.name.casefold())):
        extra = entry.type if sheet != "Groups" else entry.members
        rows.append([entry.name, entry.id, extra, entry.description, directory.host])
    return rows


def about_rows(directory: Directory, gaps: list[str]) -> list[list[str | int | None]]:
    rows: list[list[str | int | None]] = [
        [ABOUT_HOST, directory.host, _("the account these names and ids belong to")],
        ["read-at", directory.read_at, _("when they were read")],
        ["roles", len(directory.roles), _("roles (admin and bot)")],
        ["bots", len(directory.bots), _("bots")],
        ["groups", len(directory.groups), _("groups")],
        ["complete", "yes" if directory.complete and not directory.unmapped_admin_roles() else "no",
         _("every listing read whole, every role with its id")],
    ]
    rows += [["", "", line] for line in gaps]
    rows.append(["", "", _("The Roles, Bots and Groups sheets map names to ids on this host only; a roster may "
                           "use this workbook as its lookups. Ids on another host differ even where names match.")])
    return rows


def write_directory(path: Path, directory: Directory, gaps: list[str] | None = None) -> Path:
    """Write the directory to ``path`` (atomically, owner-only) in the format its name asks for."""
    fmt = directory_format(path)
    target = AtomicFile(Path(path))
    try:
        if fmt == "xlsx":
            _write_xlsx(target.temp, directory, gaps or [])
        else:
            _write_flat(target.temp, directory, fmt)
    except BaseException:
        target.discard()
        raise
    target.commit()
    return Path(path)


def flat_rows(directory: Directory) -> list[dict[str, str | int | None]]:
    out: list[dict[str, str | int | None]] = []
    for kind, entries in (("role", directory.roles), ("bot", directory.bots), ("group", directory.groups)):
        for entry in entries:
            out.append({"kind": kind, "name": entry.name, "id": entry.id,
                        "type": entry.type if kind == "role" else "", "status": entry.type if kind == "bot" else "",
                        "members": entry.members if kind == "group" else None, "description": entry.description,
                        "host": directory.host})
    return out


def _write_flat(temp: Path, directory: Directory, fmt: str) -> None:
    rows = flat_rows(directory)
    if fmt == "jsonl":
        with open(temp, "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps({**row, "read_at": directory.read_at}, ensure_ascii=False) + "\n")
        return
    with open(temp, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FLAT_COLUMNS)
        for row in rows:
            writer.writerow([csv_safe("" if row[c] is None else str(row[c])) for c in FLAT_COLUMNS])


def _write_xlsx(temp: Path, directory: Directory, gaps: list[str]) -> None:
    from bulkprov.io.writers.xlsxstream import TEXT, Sheet, StreamingWorkbook

    sheets = []
    for name, (extra, description) in SHEETS.items():
        name_col, id_col, _pattern = schema.LOOKUP_SHEETS[name]
        sheets.append(Sheet(name, [name_col, id_col, extra, description, "host"],
                            widths=[(1, 1, 34), (2, 2, 42), (3, 3, 12), (4, 4, 48), (5, 5, 30)], column_style=TEXT,
                            selected=name == "Roles"))
    about = Sheet("About", ["item", "value", _("what it is")], widths=[(1, 1, 14), (2, 2, 34), (3, 3, 90)])
    book = StreamingWorkbook(temp, [*sheets, about], primary="Roles")
    try:
        for sheet in sheets:
            sheet.add_rows(sheet_rows(sheet.name, directory))
        about.add_rows(about_rows(directory, gaps))
        book.close()
    except BaseException:
        book.abandon()
        raise
