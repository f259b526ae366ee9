"""Regenerate the sample data: ``python sample_data/generate.py``.

Writes, deterministically:

* ``roster.xlsx`` — 150 users of a fictional company (Korean, Japanese and Western names), with
  the ``Roles``/``Bots``/``Groups`` lookup sheets filled from the demo emulator's seed so names
  resolve, phones typed as numbers, a zip column formatted ``00000``, and a few deliberately
  broken rows (each says in its ``note`` column what is wrong with it).
* ``leavers.csv`` — 12 of those users to remove (one unknown to the server).
* ``roster-cp949.csv`` — 20 Korean users as Excel saves "CSV" on a Korean Windows (cp949).
* ``roster-ko.xlsx`` — the same 150 users as ``roster.xlsx``, as a Korean HR team keeps them: Korean
  headers (이메일 주소, 사번, 이름, 성 …), 예/아니오 for yes/no; every row classified as in the English one.
* ``roster-ja.csv`` — the same 150 users as a Japanese HR team's export, saved by Excel as "CSV" on a
  Japanese Windows (cp932): Japanese headers, one 氏名 column (family name first, split by bulkprov),
  はい/いいえ, some employee numbers and phones typed in full-width digits (normalised, with a note).
  cp932 has no Hangul, é, ü or í: Korean colleagues' names are in kanji and katakana (金 ミンジュン), as a
  Japanese roster writes them, and Excel's best-fit writes é, ü, í as e, u, i.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bulkprov.emulator import demo_seed  # noqa: E402

HERE = Path(__file__).resolve().parent
KOREAN = [("김", "민준"), ("이", "서연"), ("박", "지호"), ("최", "수아"), ("정", "도윤"), ("강", "하은"),
          ("조", "예준"), ("윤", "지유"), ("장", "시우"), ("임", "서윤")]
JAPANESE = [("佐藤", "花子"), ("鈴木", "一郎"), ("高橋", "結衣"), ("田中", "蓮"), ("伊藤", "陽菜"),
            ("渡辺", "湊"), ("山本", "さくら"), ("中村", "大翔")]
WESTERN = [("Olivia", "Martin"), ("Liam", "Bernard"), ("Emma", "Dubois"), ("Noah", "Schmidt"),
           ("Ava", "O'Brien"), ("Lucas", "García"), ("Mia", "Rossi"), ("Ethan", "Novak"),
           ("Sofia", "Jensen"), ("Mateo", "Silva"), ("Chloé", "Lefèvre"), ("Jonas", "Müller")]
KOREAN_ROMAN = {"김": "kim", "이": "lee", "박": "park", "최": "choi", "정": "jung", "강": "kang", "조": "cho",
                "윤": "yoon", "장": "jang", "임": "lim"}
JAPANESE_ROMAN = {"佐藤": "sato", "鈴木": "suzuki", "高橋": "takahashi", "田中": "tanaka", "伊藤": "ito",
                  "渡辺": "watanabe", "山本": "yamamoto", "中村": "nakamura"}
DEPTS = ["Customer Care", "Sales", "Human Resources", "IT Operations", "Finance"]
CITIES = [("Seoul", "KR", "04524"), ("Tokyo", "JP", "1000005"), ("Boston", "US", "02128"),
          ("Paris", "FR", "75008"), ("Berlin", "DE", "10115")]
HEADERS = ["Email Address", "Employee ID", "First Name", "Last Name", "Department", "Work Phone", "City",
           "Zip Code", "Country", "groups", "roles", "botTasks", "canCreateBot", "isDeveloper", "note"]


def people(rng: random.Random) -> list[dict[str, object]]:
    seed = demo_seed()
    bots = {b["name"]: b for b in seed["bots"]}
    rows = []
    for i in range(150):
        pool = (KOREAN, JAPANESE, WESTERN)[i % 3]
        a, b = pool[(i // 3) % len(pool)]
        if pool is KOREAN:
            last, first, local = a, b, f"{KOREAN_ROMAN[a]}.{i:03d}"
        elif pool is JAPANESE:
            last, first, local = a, b, f"{JAPANESE_ROMAN[a]}.{i:03d}"
        else:
            first, last, local = a, b, f"{a.lower()}.{i:03d}"
        city, country, zipcode = CITIES[i % len(CITIES)]
        dept = DEPTS[i % len(DEPTS)]
        groups = {"Customer Care": "Support Agents", "Sales": "Sales", "Human Resources": "HR",
                  "IT Operations": "IT Operations", "Finance": ""}[dept]
        roles = "Bot Tester@Support Bot" if dept == "Customer Care" else ""
        if i % 10 == 0:
            groups = f"{groups}; Managers" if groups else "Managers"
        tasks = ""
        if dept == "Customer Care" and i % 2 == 0:
            tasks = f"Support Bot:{bots['Support Bot']['dialogs'][0]},{bots['Support Bot']['dialogs'][1]}"
        rows.append({"Email Address": f"{local}@acme-corp.com", "Employee ID": f"E{10000 + i}",
                     "First Name": first, "Last Name": last, "Department": dept,
                     "Work Phone": 8212330000 + i, "City": city, "Zip Code": int(zipcode),
                     "Country": country, "groups": groups, "roles": roles, "botTasks": tasks,
                     "canCreateBot": rng.choice([False, False, False, True]) if dept == "IT Operations" else None,
                     "isDeveloper": True if dept == "IT Operations" and i % 4 == 0 else None, "note": ""})
    broken = [
        (7, {"Email Address": "kim.broken@", "note": "invalid email"}),
        (19, {"Email Address": rows[4]["Email Address"].upper(), "note": "duplicate of row 6 (case differs)"}),
        (33, {"groups": "Marketing", "note": "unknown group name"}),
        (48, {"canCreateBot": "maybe", "note": "not a yes/no value"}),
        (61, {"roles": "12345@Support Bot", "note": "unknown role name"}),
        (77, {"Email Address": "", "note": "missing email"}),
        (90, {"First Name": "X" * 120, "note": "first name too long"}),
        (104, {"botTasks": "Support Bot:dg-123", "note": "malformed dialog id"}),
    ]
    for index, change in broken:
        rows[index].update(change)
    rows[120]["First Name"] = '=HYPERLINK("http://example.invalid","click me")'
    rows[120]["note"] = "valid: a formula-looking name must stay text"
    return rows


def write_roster(rows: list[dict[str, object]]) -> None:
    _write_workbook(HERE / "roster.xlsx", "Acme Corp roster", list(HEADERS), rows, lang=None)


def _write_workbook(path: Path, title: str, headers: list[str], rows: list[dict[str, object]],
                    lang: str | None) -> None:
    """A roster workbook as HR keeps one: Users (zip codes 00000-formatted) and the lookup sheets.
    ``lang``: write yes/no in that language's words instead of TRUE/FALSE."""
    import datetime as dt

    seed = demo_seed()
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False})
    wb.set_properties({"created": dt.datetime(2026, 1, 1), "title": title})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    zip_fmt = wb.add_format({"num_format": "00000"})
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, headers, head)
    for r, row in enumerate(rows, start=1):
        for c, name in enumerate(HEADERS):
            value = _local_bool(row[name], lang) if lang else row[name]
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int):
                ws.write_number(r, c, value, zip_fmt if name == "Zip Code" else None)
            else:
                ws.write_string(r, c, str(value))
    for sheet, items, id_key in (("Roles", seed["roles"], "roleId"), ("Bots", seed["bots"], "botId"),
                                 ("Groups", seed["groups"], "groupId")):
        lookup = wb.add_worksheet(sheet)
        lookup.write_row(0, 0, ["name", id_key], head)
        for r, item in enumerate(items, start=1):
            lookup.write_row(r, 0, [item["name"], item[id_key]])
    wb.close()


def write_leavers(rows: list[dict[str, object]]) -> None:
    picks = [rows[i] for i in (2, 3, 10, 14, 25, 40, 55, 70, 85, 100, 130)]
    with open(HERE / "leavers.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "Employee ID", "Last day"])
        for row in picks:
            writer.writerow([row["Email Address"], row["Employee ID"], "2026-11-30"])
        writer.writerow(["never.hired@acme-corp.com", "E99999", "2026-11-30"])


def write_cp949(rows: list[dict[str, object]]) -> None:
    korean = [r for r in rows if r["Last Name"] in KOREAN_ROMAN and r["note"] == ""][:20]
    with open(HERE / "roster-cp949.csv", "w", newline="", encoding="cp949") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "First Name", "Last Name", "Department", "Work Phone"])
        for r in korean:
            writer.writerow([str(r["Email Address"]).replace("@", ".kr@"), r["First Name"], r["Last Name"],
                             "고객 지원", r["Work Phone"]])


KO_HEADERS = {"Email Address": "이메일 주소", "Employee ID": "사번", "First Name": "이름", "Last Name": "성",
              "Department": "부서", "Work Phone": "회사 전화", "City": "도시", "Zip Code": "우편번호",
              "Country": "국가", "groups": "그룹", "roles": "역할", "botTasks": "봇 작업",
              "canCreateBot": "봇 생성 권한", "isDeveloper": "개발자", "note": "비고"}
JA_HEADERS = ["メールアドレス", "社員番号", "氏名", "部署", "勤務先電話番号", "市区町村", "郵便番号", "国",
              "グループ", "ロール", "ボットタスク", "ボット作成権限", "開発者", "備考"]
YES_NO = {"ko": ("예", "아니오"), "ja": ("はい", "いいえ")}


def _local_bool(value: object, lang: str) -> object:
    if isinstance(value, bool):
        return YES_NO[lang][0] if value else YES_NO[lang][1]
    return value


def write_roster_ko(rows: list[dict[str, object]]) -> None:
    """roster.xlsx's people with the headers and yes/no words of a Korean HR sheet."""
    _write_workbook(HERE / "roster-ko.xlsx", "Acme Corp 직원 명단", [KO_HEADERS[h] for h in HEADERS], rows, lang="ko")


def _best_fit(text: str) -> str:
    """What Excel's cp932 "CSV" save writes for letters cp932 lacks (é → e)."""
    import unicodedata

    return "".join(ch if _in_cp932(ch) else unicodedata.normalize("NFKD", ch)[0] for ch in text)


def _in_cp932(ch: str) -> bool:
    try:
        ch.encode("cp932")
        return True
    except UnicodeEncodeError:
        return False


FULL_WIDTH = str.maketrans("0123456789E", "０１２３４５６７８９Ｅ")
# cp932 has no Hangul: a Japanese roster writes Korean colleagues' names in kanji and katakana.
KOREAN_IN_JAPANESE = {"김": "金", "이": "李", "박": "朴", "최": "崔", "정": "鄭", "강": "姜", "조": "趙", "윤": "尹",
                      "장": "張", "임": "林", "민준": "ミンジュン", "서연": "ソヨン", "지호": "ジホ", "수아": "スア",
                      "도윤": "ドユン", "하은": "ハウン", "예준": "イェジュン", "지유": "ジユ", "시우": "シウ",
                      "서윤": "ソユン"}


def write_roster_ja(rows: list[dict[str, object]]) -> None:
    """roster.xlsx's people as a Japanese HR export: 氏名 (family name first), cp932, full-width digits."""
    with open(HERE / "roster-ja.csv", "w", newline="", encoding="cp932") as fh:
        writer = csv.writer(fh)
        writer.writerow(JA_HEADERS)
        for i, row in enumerate(rows):
            cells = {name: _local_bool(row[name], "ja") for name in HEADERS}
            cells = {k: "" if v is None else str(v) for k, v in cells.items()}
            cells["Zip Code"] = f"{int(row['Zip Code']):05d}"  # Excel writes the 00000-formatted text
            if i % 7 == 1:  # typed with the IME left in full-width mode
                cells["Employee ID"] = cells["Employee ID"].translate(FULL_WIDTH)
                cells["Work Phone"] = cells["Work Phone"].translate(FULL_WIDTH)
            last, first = (KOREAN_IN_JAPANESE.get(cells[k], cells[k]) for k in ("Last Name", "First Name"))
            full_name = f"{last}\u3000{first}" if i % 2 else f"{last} {first}"
            writer.writerow([_best_fit(v) for v in (
                cells["Email Address"], cells["Employee ID"], full_name, cells["Department"], cells["Work Phone"],
                cells["City"], cells["Zip Code"], cells["Country"], cells["groups"], cells["roles"],
                cells["botTasks"], cells["canCreateBot"], cells["isDeveloper"], cells["note"])])


def main() -> None:
    rows = people(random.Random(42))
    write_roster(rows)
    write_leavers(rows)
    write_cp949(rows)
    write_roster_ko(rows)
    write_roster_ja(rows)
    print(f"wrote {HERE / 'roster.xlsx'}, leavers.csv, roster-cp949.csv, roster-ko.xlsx, roster-ja.csv")


if __name__ == "__main__":
    main()
