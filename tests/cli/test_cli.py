"""The command line as a user meets it: real subprocesses, exit codes, one-line errors, secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from bulkprov.emulator import DEMO_CLIENT_SECRET, EmulatorConfig
from tests.conftest import ROOT, read_sheet, results_by_row, write_roster


def bulkprov(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bulkprov", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def kore_env(emu) -> dict[str, str]:
    config = EmulatorConfig()
    return {"KORE_HOST": emu.url, "KORE_CLIENT_ID": config.client_id, "KORE_CLIENT_SECRET": config.client_secret}


def test_validate_sample_roster_writes_a_formula_safe_workbook(tmp_path):
    out = tmp_path / "result.xlsx"
    proc = bulkprov("validate", "sample_data/roster.xlsx", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "8 invalid, 142 valid" in proc.stdout
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Results", "Failures"]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
    assert wb["Results"].freeze_panes == "A2" and wb["Results"].auto_filter.ref
    results = results_by_row(out)
    assert len(results) == 150
    formula_name = [r for r in read_sheet(out, "Failures")]
    assert len(formula_name) == 8
    users = {r["Email Address"]: r for r in read_sheet(ROOT / "sample_data" / "roster.xlsx", "Users")}
    assert any(str(r["First Name"]).startswith("=HYPERLINK") for r in users.values())
    # The Failures sheet is itself an input file: validate it again.  The same problems come back,
    # except the duplicate: alone in the Failures sheet, its earlier twin is not there any more.
    again = bulkprov("validate", str(out), "-o", str(tmp_path / "again.xlsx"))
    assert again.returncode == 1 and "7 invalid, 1 valid" in again.stdout, again.stderr


def test_unwritable_results_path_is_a_clear_error_before_sending(make_emulator):
    emu = make_emulator()
    proc = bulkprov("add", "sample_data/roster.xlsx", "-o", "/dev/null/x.xlsx", env=kore_env(emu))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr
    assert emu.state()["requests"] == []


def test_validate_cp949_csv_reads_korean(tmp_path):
    out = tmp_path / "r.xlsx"
    proc = bulkprov("validate", "sample_data/roster-cp949.csv", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(results_by_row(out)) == 20


@pytest.mark.parametrize("content, code", [
    (None, "file-not-found"),
    (b"", "file-empty"),
    (b"Email,First Name\n", "no-data-rows"),
    (b"First Name,Last Name\nJane,Doe\n", "missing-column"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, code):
    path = tmp_path / "users.csv"
    if content is not None:
        path.write_bytes(content)
    proc = bulkprov("validate", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert code in lines[0] and "users.csv" in lines[0]


def test_binary_named_xlsx_is_refused(tmp_path):
    path = tmp_path / "users.xlsx"
    path.write_bytes(os.urandom(4096))
    proc = bulkprov("add", str(path), "--host", "http://127.0.0.1:9",
                    env={"KORE_CLIENT_ID": "x", "KORE_CLIENT_SECRET": "y"})
    assert proc.returncode == 2 and "corrupt-file" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_exit_2_before_anything_is_sent(tmp_path):
    roster = tmp_path / "r.csv"
    write_roster(roster, 3)
    env = {"KORE_CLIENT_ID": "x", "KORE_CLIENT_SECRET": "y"}
    cases = [
        (["add", str(roster)], "no Kore.ai host"),
        (["add", str(roster), "--host", "http://bots.example.com"], "http://"),
        (["add", str(roster), "--host", "https://bots.example.com", "--rate", "lots"], "--rate"),
    ]
    for args, needle in cases:
        proc = bulkprov(*args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr
    proc = bulkprov("add", str(roster), "--host", "https://bots.example.com")
    assert proc.returncode == 2 and "KORE_CLIENT_ID" in proc.stderr


def test_secrets_never_reach_output_logs_or_results(make_emulator, tmp_path):
    emu = make_emulator(fail_5xx=0.2, seed=3)
    roster = tmp_path / "r.csv"
    write_roster(roster, 60, invalid={4: {"Email": "broken"}})
    out = tmp_path / "res.xlsx"
    env = kore_env(emu)
    proc = bulkprov("add", str(roster), "-o", str(out), "--batch-size", "10", "--rate", "none",
                    "--log-format", "json", env=env)
    assert proc.returncode == 1, proc.stderr
    blobs = [proc.stdout, proc.stderr]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    import zipfile

    with zipfile.ZipFile(out) as z:
        blobs += [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
    for blob in blobs:
        assert DEMO_CLIENT_SECRET not in blob
        assert "eyJ" not in blob, "something that looks like a JWT was written"
    json_lines = [line for line in proc.stderr.splitlines() if line.startswith("{")]
    assert json_lines and all('"run_id"' in line for line in json_lines)


def test_sigterm_stops_cleanly_with_a_result_for_every_row(make_emulator, tmp_path):
    emu = make_emulator(latency=0.3)
    roster = tmp_path / "r.csv"
    write_roster(roster, 200)
    out = tmp_path / "res.xlsx"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    env.update(kore_env(emu))
    proc = subprocess.Popen([sys.executable, "-m", "bulkprov", "add", str(roster), "-o", str(out),
                             "--batch-size", "5", "--concurrency", "2", "--rate", "4/1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(emu.state()["users"]) < 10:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr
    results = results_by_row(out)
    assert len(results) == 200
    statuses = {r["status"] for r in results.values()}
    assert statuses <= {"success", "not_attempted"} and "not_attempted" in statuses
    created = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    succeeded = {r["emailId"] for r in results.values() if r["status"] == "success"}
    assert created == succeeded, "every user on the server is reported success, and only those"
    assert any("interrupted" in (r["reason"] or "") for r in results.values() if r["status"] == "not_attempted")


def test_results_formats_csv_and_jsonl(make_emulator, tmp_path):
    import csv
    import json

    emu = make_emulator()
    roster = tmp_path / "r.csv"
    write_roster(roster, 5, invalid={1: {"First Name": "=cmd|' /C calc'!A0", "Email": "bad"}})
    proc = bulkprov("add", str(roster), "-o", str(tmp_path / "res.csv"), "--results-format", "csv",
                    "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 1, proc.stderr
    with open(tmp_path / "res.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["success", "invalid", "success", "success", "success"]
    proc = bulkprov("lookup", str(roster), "-o", str(tmp_path / "res.jsonl"), "--results-format", "jsonl",
                    "--rate", "none", env=kore_env(emu))
    records = [json.loads(line) for line in (tmp_path / "res.jsonl").read_text().splitlines()]
    assert len(records) == 5 and records[0]["status"] == "success" and records[0]["row"] == 2


def test_demo_runs_end_to_end(tmp_path):
    proc = bulkprov("demo", "--out", str(tmp_path), timeout=180)
    assert proc.returncode == 0, proc.stderr
    for step in ("validate", "add", "lookup", "remove"):
        assert step in proc.stdout
    assert (tmp_path / "roster.add-results.xlsx").is_file()
    results = results_by_row(tmp_path / "roster.add-results.xlsx")
    assert sum(r["status"] == "success" for r in results.values()) == 142


def test_a_reader_that_goes_away_is_no_internal_error(tmp_path):
    """`bulkprov validate … | head -0`: the reader closes the pipe before bulkprov prints; bulkprov stops quietly
    with 141 (as other tools do), not "internal error … please report it" (exit 70) and no traceback."""
    roster = tmp_path / "roster.csv"
    roster.write_text("Email,First Name,Last Name\na@example.com,A,B\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    proc = subprocess.Popen([sys.executable, "-m", "bulkprov", "validate", str(roster),
                             "-o", str(tmp_path / "r.xlsx")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "internal error" not in err and "Traceback" not in err, err


def test_a_next_step_repeats_numbers_as_they_were_typed():
    """`--settle 0` comes back as `--settle 0`, not `--settle 0.0`; a fraction stays a fraction."""
    from bulkprov.cli.parser import build_parser
    from bulkprov.cli.wording import command_line

    typed = vars(build_parser().parse_args(["add", "users.csv", "--settle", "0", "--timeout", "2.5",
                                            "--max-runtime", "3600"]))
    line = command_line(typed, "users.csv", extra=("--resume",))
    assert "--settle 0 " in line and "--timeout 2.5" in line and "--max-runtime 3600 " in line, line
