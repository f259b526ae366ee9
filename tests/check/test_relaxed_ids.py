"""Strict ids off: assumed id shapes and maximum lengths become warnings, not refusals."""

from __future__ import annotations

from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet


def test_over_long_values_and_unusual_ids_are_warnings_when_relaxed(tmp_path):
    lines = ["emailId,firstName,roles,groups"]
    lines += [f"u{i}@corp.com,{'N' * 150 if i == 0 else 'Ann'},role{i:02d}x0d54920a8df1e68b@st-xxx-{i},e-abc-{i}"
              for i in range(30)]
    lines += ["bad@corp.com,Bob,Administrator,"]  # a name, not an id: still unknown in relaxed mode
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    strict = run_job(path, JobSettings(command="validate", output=tmp_path / "strict.xlsx"))
    codes = {r["error_code"] for r in read_sheet(strict.results_path, "Results")}
    assert {"too-long", "unknown-role"} <= codes
    relaxed = run_job(path, JobSettings(command="validate", output=tmp_path / "relaxed.xlsx", strict_ids=False))
    results = read_sheet(relaxed.results_path, "Results")
    assert [r["status"] for r in results] == ["valid"] * 30 + ["invalid"]
    assert results[-1]["error_code"] == "unknown-role"
    warned = [w for w in relaxed.summary.warnings if "as written" in w]
    assert len(warned) == 26 and warned[-1].startswith("and ")
    assert "150 characters" in warned[0]


def test_relaxed_ids_from_the_command_line(tmp_path):
    from tests.cli.test_cli import bulkprov

    path = tmp_path / "odd.csv"
    path.write_text("emailId,botTasks\nu@corp.com,st-xxx-xx-xxx-xxx-xxxx:dg-xxxx-xx-xx-xx-xxxx\n", encoding="utf-8")
    assert bulkprov("validate", str(path), "-o", str(tmp_path / "a.xlsx")).returncode == 1
    proc = bulkprov("validate", str(path), "-o", str(tmp_path / "b.xlsx"), "--relaxed-ids")
    assert proc.returncode == 0 and "sent as written" in proc.stderr
