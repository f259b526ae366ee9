"""What a person reads (#19): hints that help, nothing overwritten silently, options that fit the command."""

from __future__ import annotations

import pytest

from bulkprov.io import open_table
from tests.test_cli import bulkprov


@pytest.mark.parametrize("header, hint", [("fristName", "firstName"), ("E-mial", "emailId"),
                                          ("Departmnet", "dept"), ("Surnme", "lastName")])
def test_a_typo_of_a_column_gets_a_did_you_mean(tmp_path, header, hint):
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
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert target.read_bytes() == b"a filled-in roster HR spent a day on"
    forced = bulkprov("template", "-o", str(target), "--force")
    assert forced.returncode == 0 and target.read_bytes().startswith(b"PK")


@pytest.mark.parametrize("command, offered", [("add", True), ("apply", True), ("sync", True), ("update", False),
                                              ("remove", False), ("lookup", False)])
def test_send_email_is_offered_only_where_users_are_added(command, offered):
    help_text = bulkprov(command, "--help").stdout
    assert ("--send-email" in help_text) is offered
