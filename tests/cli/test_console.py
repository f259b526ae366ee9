"""What a person reads (#19): hints that help, nothing overwritten silently, options that fit the command."""

from __future__ import annotations

import pytest

from bulkprov.io import open_table
from bulkprov.outputs.results import is_result_file
from tests.cli.test_cli import bulkprov, kore_env


@pytest.mark.parametrize("header, hint", [("fristName", "firstName"), ("E-mial", "emailId"),
                                          ("Departmnet", "dept"), ("Surnme", "lastName")])
def test_a_typo_of_a_column_stops_the_file_naming_the_column(tmp_path, header, hint):
    from bulkprov.errors import MisspeltColumn

    path = tmp_path / "u.csv"
    path.write_text(f"emailId,{header}\na@acme-corp.com,x\n", encoding="utf-8")
    with pytest.raises(MisspeltColumn) as refused:
        open_table(path)
    assert f"'{header}'" in refused.value.message and f"bulkprov's {hint}" in refused.value.message


@pytest.mark.parametrize("header, hint", [("Frist Nmae", "firstName"), ("Employe Numbr", "orgUserId")])
def test_two_slips_of_a_column_get_a_did_you_mean(tmp_path, header, hint):
    path = tmp_path / "u.csv"
    path.write_text(f"emailId,{header}\na@acme-corp.com,x\n", encoding="utf-8")
    (warning,) = [w.message for w in open_table(path).warnings]
    assert f"did you mean {hint}?" in warning


@pytest.mark.parametrize("header", ["Last day", "Manager", "Start date", "Role ID", "Last Day of Work"])
def test_a_different_word_gets_no_hint(tmp_path, header):
    path = tmp_path / "u.csv"
    path.write_text(f"emailId,{header}\na@acme-corp.com,x\n", encoding="utf-8")
    (warning,) = [w.message for w in open_table(path).warnings]
    assert "did you mean" not in warning and "is ignored" in warning


def test_the_sample_leavers_file_gets_no_lastname_hint(tmp_path):
    proc = bulkprov("validate", "sample_data/leavers.csv", "-o", str(tmp_path / "v.xlsx"))
    assert "Last day" in proc.stderr and "did you mean" not in proc.stderr


def test_template_never_overwrites_silently(tmp_path):
    target = tmp_path / "users.xlsx"
    first = bulkprov("template", "-o", str(target))
    assert first.returncode == 0
    target.write_bytes(b"a filled-in roster HR spent a day on")
    again = bulkprov("template", "-o", str(target))
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "already exists" in again.stderr and "--replace-output" in again.stderr  # template's --force, too
    assert target.read_bytes() == b"a filled-in roster HR spent a day on"
    forced = bulkprov("template", "-o", str(target), "--force")
    assert forced.returncode == 0 and target.read_bytes().startswith(b"PK")


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "jsonl"])
def test_a_named_output_replaces_only_our_own_results_unasked(tmp_path, fmt):
    """`-o` naming a roster (or any file bulkprov did not write) refuses before anything is read or
    sent, and the flag the hint names replaces it; a result file bulkprov wrote -- the run being
    resumed, a nightly `latest.xlsx` -- is replaced (the ledger can write it again)."""
    target = tmp_path / f"latest.{fmt}"
    target.write_bytes(b"emailId,firstName\njane@acme.com,Jane\n")
    args = ("validate", "sample_data/leavers.csv", "-o", str(target), "--results-format", fmt)
    refused = bulkprov(*args)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "is not a result file" in refused.stderr and "--replace-output" in refused.stderr
    assert target.read_bytes() == b"emailId,firstName\njane@acme.com,Jane\n"
    assert bulkprov(*args, "--replace-output").returncode in (0, 1)
    written = target.read_bytes()
    assert written != b"emailId,firstName\njane@acme.com,Jane\n" and is_result_file(target)
    assert bulkprov(*args).returncode in (0, 1), "our own result file is replaced unasked"


@pytest.mark.parametrize("command, offered", [("add", True), ("apply", True), ("sync", True), ("update", False),
                                              ("remove", False), ("lookup", False)])
def test_send_email_is_offered_only_where_users_are_added(command, offered):
    help_text = bulkprov(command, "--help").stdout
    assert ("--send-email" in help_text) is offered


# -- one console voice -------------------------------------------------------------------------------------


def _lines(proc) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def _once(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, f"{needle!r} said {len(found)} times:\n" + "\n".join(lines)
    return found[0]


def test_validate_prints_the_reasons_row_by_column(tmp_path):
    proc = bulkprov("validate", "sample_data/roster.xlsx", "-o", str(tmp_path / "v.xlsx"))
    lines = _lines(proc)
    assert proc.returncode == 1
    _once(lines, "8 rows need attention")
    # Columns are named as the roster names them ("Email Address"), not by bulkprov's ids (emailId).
    assert _once(lines, "row 9:Email Address:").endswith("invalid-email — not a valid email address: write it like "
                                                         "jane.doe@example.com")
    _once(lines, "row 21:Email Address: duplicate-email — ")
    # Nothing was sent: the rows are fixed in the roster itself, which is then checked again.
    _once(lines, "next: fix them in sample_data/roster.xlsx and run it again: bulkprov validate sample_data/roster.xlsx")


def test_one_row_is_said_as_one_row(tmp_path):
    """A single typo is the most common failure: English says "1 row needs attention", never "1 rows"; Korean
    and Japanese say it as they say any count."""
    from tests.conftest import write_roster

    roster = tmp_path / "roster.csv"
    write_roster(roster, 3, invalid={2: {"Email": "broken"}})
    proc = bulkprov("validate", str(roster), "-o", str(tmp_path / "v.xlsx"))
    assert proc.returncode == 1
    _once(_lines(proc), "  1 row needs attention: 1 × invalid-email")
    assert "1 rows" not in proc.stdout + proc.stderr
    for lang, said in (("ko_KR.UTF-8", "확인이 필요한 행 1개: 1 × invalid-email"),
                       ("ja_JP.UTF-8", "確認が必要な行 1 件: 1 × invalid-email")):
        proc = bulkprov("validate", str(roster), "-o", str(tmp_path / f"v-{lang[:2]}.xlsx"),
                        env={"LC_ALL": "", "LC_MESSAGES": "", "LANG": lang})
        _once(_lines(proc), said)


def test_a_dry_run_says_its_plan_once_as_information(tmp_path):
    proc = bulkprov("add", "sample_data/roster.xlsx", "--dry-run", "--host", "http://127.0.0.1:9",
                    "-o", str(tmp_path / "d.xlsx"))
    lines = _lines(proc)
    plan = _once(lines, "142 to add")
    assert " INFO " in plan and "warning" not in plan.lower()
    _once(lines, "activation emails that will be sent: 142")
    assert not [line for line in lines if line.startswith("warning: plan")]


def test_a_run_with_failures_ends_with_one_summary_block(make_emulator, tmp_path):
    from tests.conftest import write_roster

    emu = make_emulator(poison_pattern=r"^user0000[3]@")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 12, invalid={5: {"Email": "broken"}})
    proc = bulkprov("add", str(roster), "-o", str(tmp_path / "r.xlsx"), "--rate", "none", env=kore_env(emu))
    lines = _lines(proc)
    assert proc.returncode == 1
    _once(lines, "add: 1 failed, 1 invalid, 10 success")
    _once(lines, "2 rows need attention: 1 × request-refused, 1 × invalid-email")
    _once(lines, "row 5, user00003@acme-corp.com: request-refused — ")
    _once(lines, "row 7:Email: invalid-email")
    _once(lines, "results: ")
    _once(lines, "undo file: ")
    progress = [line for line in lines if "progress:" in line]
    assert len(progress) == len(set(progress)), "no progress line twice"


def test_a_sync_over_the_guard_says_why_once(make_emulator, tmp_path):
    from tests.conftest import write_roster

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 20)
    env = kore_env(emu)
    assert bulkprov("sync", str(roster), "-o", str(tmp_path / "s1.xlsx"), "--rate", "none", "--settle", "0", env=env).returncode == 0
    write_roster(roster, 5)
    proc = bulkprov("sync", str(roster), "-o", str(tmp_path / "s2.xlsx"), "--rate", "none", "--settle", "0", env=env)
    lines = _lines(proc)
    assert proc.returncode == 3, "over the guard with nobody to approve, a sync stops and says how to pass it"
    aborted = _once(lines, "15 users would be removed")
    assert aborted.startswith("ABORTED:") and "[guard]" in aborted and "approve it with --allow-deletes 15" in aborted
    assert "waits for approval" not in proc.stderr, "nobody could approve it: no request is made"
    _once(lines, "15 rows not sent (the run stopped: see ABORTED above)")
    assert not [line for line in lines if "to lookup" in line], "sync's own lookups are not a plan of their own"
    _once(lines, "0 to add, 0 to update")


def test_the_plan_shows_names_beside_ids(make_emulator, tmp_path):
    import openpyxl

    from bulkprov.emulator import demo_seed

    seed = demo_seed()
    group = {g["name"]: g["groupId"] for g in seed["groups"]}
    emu = make_emulator(users=[{"userInfo": {"emailId": "kim@acme-corp.com"},
                                "groups": [group["Sales"], group["Managers"]]}])
    roster = tmp_path / "roster.csv"
    roster.write_text(f"emailId,groups\nkim@acme-corp.com,{group['Managers']}\n", encoding="utf-8")
    proc = bulkprov("plan", str(roster), "-o", str(tmp_path / "p.xlsx"), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 0, proc.stderr
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx")["Update"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert (row["field"], row["new"]) == ("groups", "Managers")
    assert set(row["old"].split("; ")) == {"Sales", "Managers"}, "names a reviewer can read"
    assert set(row["old (ids)"].split("; ")) == {group["Sales"], group["Managers"]} and row["new (ids)"] == group["Managers"]
