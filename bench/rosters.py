"""Rosters shaped like the ones HR really has: every column kind filled, for the benchmark and the tests.

One generator (:func:`realistic_row`) makes row ``i`` of a roster, deterministically, in these proportions
(issue #30):

* 1-3 roles a row, 30 % of them ``role@bot`` pairs (bot roles), the rest admin roles;
* 0-4 groups a row; bot tasks (``BOT:DIALOG,DIALOG``) on 10 % of rows;
* booleans (canCreateBot, isDeveloper): 20 % as words (yes/no, 예/아니요, はい/いいえ), the rest real
  booleans (``True``/``False`` cells in a workbook, ``TRUE``/``FALSE`` in a CSV);
* numbers as numbers: the phone and the zip code (formatted ``00000`` in a workbook);
* 30 % Korean or Japanese names (and their department in that language);
* 2 % invalid rows, one problem each, cycling through the kinds HR makes (a broken email, a word that is not
  a boolean, a role id of the wrong shape, a duplicate email, a name over the length limit).

The ids are the emulator's demo seed (:func:`bulkprov.emulator.config.demo_seed`), so the valid rows are
added for real against ``bulkprov mock-server``.  :func:`write_csv` and :func:`write_xlsx` write ``n`` rows
(the workbook with XlsxWriter, as Excel types the cells); both skip a file that is already there.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

from bulkprov.emulator.config import demo_seed

HEADERS = ["Email", "Employee ID", "First Name", "Last Name", "Company", "Department", "Phone", "Work Phone",
           "Street", "City", "Zip Code", "State", "Country", "groups", "roles", "botTasks", "canCreateBot",
           "isDeveloper"]
INVALID_EVERY = 50  # 2 % of rows carry one problem
INVALID_KINDS = ("email", "boolean", "role-id", "duplicate", "too-long")

_SEED = demo_seed()
_ADMIN_ROLES = [r["roleId"] for r in _SEED["roles"] if r["type"] == "admin"]
_BOT_ROLES = [r["roleId"] for r in _SEED["roles"] if r["type"] == "bot"]
_BOTS = [(b["botId"], b["dialogs"]) for b in _SEED["bots"]]
_GROUPS = [g["groupId"] for g in _SEED["groups"]]
_LATIN = (["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"],
          ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez"],
          ["Sales", "Support", "HR", "IT", "Finance", "Marketing"])
_KOREAN = (["민준", "서연", "도윤", "지우", "하준", "서윤", "은우", "지유"], ["김", "이", "박", "최", "정", "강", "조", "윤"],
           ["영업 1팀", "고객지원팀", "인사팀", "정보기술팀"])
_JAPANESE = (["陽翔", "結菜", "蓮", "陽葵", "湊", "凛", "大翔", "葵"], ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"],
             ["営業部", "カスタマーサポート", "人事部", "情報システム部"])
_WORDS = [("yes", "no"), ("예", "아니요"), ("はい", "いいえ"), ("Y", "N")]


# The narrow file of earlier benchmarks (no list cells, text booleans): an extra line of the bench, and the rows
# bench/writers.py hands the writer candidates.
NARROW_HEADERS = ["Email", "Employee ID", "First Name", "Last Name", "Company", "Department", "Phone", "Work Phone",
                  "Street", "City", "Zip Code", "State", "Country", "groups", "canCreateBot"]


def narrow_row(i: int) -> list[object]:
    return [f"user{i:07d}@acme-corp.com", f"E{i:07d}", f"First{i}", f"Last{i}", "Acme Corp",
            ["Sales", "Support", "HR", "IT"][i % 4], 8212330000 + i, f"+1 212 555 {i % 10000:04d}",
            f"{i} Main Street", "Boston", 2128 + (i % 100), "MA", "US", "", ["TRUE", "FALSE", ""][i % 3]]


def realistic_row(i: int) -> list[object]:
    """Row ``i`` (0-based) of the realistic roster: str, int and bool values as a spreadsheet holds them."""
    rng = random.Random(i * 7919 + 17)
    names = _LATIN if rng.random() >= 0.3 else (_KOREAN if rng.random() < 0.5 else _JAPANESE)
    first, last, dept = rng.choice(names[0]), rng.choice(names[1]), rng.choice(names[2])
    roles = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            roles.append(f"{rng.choice(_BOT_ROLES)}@{rng.choice(_BOTS)[0]}")
        else:
            roles.append(rng.choice(_ADMIN_ROLES))
    groups = rng.sample(_GROUPS, rng.randint(0, 4))
    tasks = ""
    if rng.random() < 0.1:
        bot, dialogs = rng.choice(_BOTS)
        tasks = f"{bot}:{','.join(rng.sample(dialogs, rng.randint(1, len(dialogs))))}"
    row: list[object] = [f"user{i:07d}@acme-corp.com", f"E{i:07d}", first, last, "Acme Corp", dept,
                         8212330000 + i, f"+1 212 555 {i % 10000:04d}", f"{i % 999 + 1} Main Street", "Boston",
                         2128 + i % 100, "MA", "US", ";".join(groups), ";".join(dict.fromkeys(roles)), tasks,
                         _boolean(rng), _boolean(rng)]
    if i % INVALID_EVERY == INVALID_EVERY - 1:
        _spoil(row, i, INVALID_KINDS[(i // INVALID_EVERY) % len(INVALID_KINDS)])
    return row


def _boolean(rng: random.Random) -> object:
    value = rng.random() < 0.3  # most users get no Builder access
    if rng.random() < 0.2:
        yes, no = rng.choice(_WORDS)
        return yes if value else no
    return value


def _spoil(row: list[object], i: int, kind: str) -> None:
    if kind == "email":
        row[0] = f"user{i:07d}@acme-corp"  # no top-level domain
    elif kind == "boolean":
        row[16] = "maybe"
    elif kind == "role-id":
        row[14] = "5c9d0f12@st-not-a-bot"  # neither a 24-hex role id nor a name the file defines
    elif kind == "duplicate":
        row[0] = f"user{i - 1:07d}@acme-corp.com"  # the row before's email
    elif kind == "too-long":
        row[2] = "A" * 300


def rows(n: int) -> Iterator[list[object]]:
    return (realistic_row(i) for i in range(n))


def _csv_cell(value: object) -> object:
    return ("TRUE" if value else "FALSE") if isinstance(value, bool) else value


def write_csv(path: Path, n: int) -> Path:
    """``n`` realistic rows as a UTF-8 CSV (booleans as TRUE/FALSE, numbers as digits)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with open(temp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows([_csv_cell(v) for v in row] for row in rows(n))
    temp.replace(path)
    return path


def write_xlsx(path: Path, n: int) -> Path:
    """``n`` realistic rows as Excel types them: real booleans, numbers (the zip code formatted 00000), text."""
    if path.exists():
        return path
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.stem + ".tmp.xlsx")
    wb = xlsxwriter.Workbook(str(temp), {"constant_memory": True})
    ws = wb.add_worksheet("Users")
    zip_format = wb.add_format({"num_format": "00000"})
    zip_column = HEADERS.index("Zip Code")
    ws.write_row(0, 0, HEADERS)
    for r, row in enumerate(rows(n), start=1):
        for c, value in enumerate(row):
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int):
                ws.write_number(r, c, value, zip_format if c == zip_column else None)
            elif value:
                ws.write_string(r, c, value)
    wb.close()
    temp.replace(path)
    return path
