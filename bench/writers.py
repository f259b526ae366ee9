"""The result-writer candidates side by side: ``python bench/writers.py [ROWS ...]`` (``make bench`` runs it).

Each candidate writes what ``bulkprov validate`` writes for the bench files: a Results sheet (row,
action, emailId, orgUserId, status for every row; reason and error_code for every 20th row) and a
Failures sheet (the input's 15 cells + status + reason for those rows), from the rows as validate
hands them over (chunks of valid rows' columns, and the invalid rows), made on the fly from the bench
data's own generator; each candidate takes them in the form it is fastest with.  Every candidate runs in a process of its own so its peak RSS is its own;
``rows only`` makes the rows and writes nothing (the floor every candidate pays).
Candidates that are not installed are reported as such (pyexcelerate and rustpy-xlsxwriter are in the
``bench`` extra, not runtime dependencies).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RESULT_COLUMNS = ["row", "action", "emailId", "orgUserId", "status", "reason", "error_code", "http_status",
                  "attempts", "batch"]


def chunks(n: int) -> Iterator[tuple[list[list], list[tuple[list, list]]]]:
    """What validate hands its writer, 2,048 rows at a time: the valid rows as (row, action, emailId,
    orgUserId) and the invalid ones as (Results row, Failures row).  Every 20th row is invalid."""
    from rosters import NARROW_HEADERS as HEADERS
    from rosters import narrow_row as row_values

    width = len(HEADERS)
    for start in range(0, n, 2048):
        valid, invalid = [], []
        for i in range(start, min(n, start + 2048)):
            cells = [str(v) for v in row_values(i)]
            number = i + 2
            if i % 20 == 19:
                reason = f"row {number}, column emailId: not a valid email address [invalid-email]"
                invalid.append(([number, "add", cells[0], cells[1], "invalid", reason, "invalid-email", None, None,
                                 None], cells[:width] + ["invalid", reason]))
            else:
                valid.append([number, "add", cells[0], cells[1]])
        yield valid, invalid


def in_order(valid: list[list], invalid: list[tuple[list, list]]) -> Iterator[tuple[list, list | None]]:
    """The chunk's rows in input order as full Results rows (and Failures rows)."""
    rows = [(v[0], [*v, "valid", None, None, None, None, None], None) for v in valid]
    rows += [(r[0], r, f) for r, f in invalid]
    for _, result, fail in sorted(rows, key=lambda t: t[0]):
        yield result, fail


def fail_headers() -> list[str]:
    from rosters import NARROW_HEADERS as HEADERS

    return HEADERS + ["status", "reason"]


def write_rows_only(n: int, out: Path) -> None:
    for valid, invalid in chunks(n):
        for _ in in_order(valid, invalid):
            pass


def write_xlsxwriter(n: int, out: Path) -> None:
    from bulkprov.io.writers.xlsx import new_workbook

    wb = new_workbook(out, constant_memory=True)
    results, failures = wb.add_worksheet("Results"), wb.add_worksheet("Failures")
    results.write_row(0, 0, RESULT_COLUMNS)
    failures.write_row(0, 0, fail_headers())
    # constant_memory writes one row at a time per sheet: the Failures rows wait in a list, as they
    # would in a real writer's spool file.
    pending, r = [], 0
    for valid, invalid in chunks(n):
        for result, fail in in_order(valid, invalid):
            r += 1
            results.write_row(r, 0, result)
            if fail:
                pending.append(fail)
    for r, fail in enumerate(pending, start=1):
        failures.write_row(r, 0, fail)
    wb.close()


def write_pyexcelerate(n: int, out: Path) -> None:
    from pyexcelerate import Workbook

    wb = Workbook()
    data = [RESULT_COLUMNS]
    fails = [fail_headers()]
    for valid, invalid in chunks(n):
        for result, fail in in_order(valid, invalid):
            data.append(result)
            if fail:
                fails.append(fail)
    wb.new_sheet("Results", data=data)
    wb.new_sheet("Failures", data=fails)
    wb.save(str(out))


def write_rustpy(n: int, out: Path) -> None:
    from rustpy_xlsxwriter import write_worksheets

    fails: list[dict] = []
    heads = fail_headers()

    def results():
        for valid, invalid in chunks(n):
            for result, fail in in_order(valid, invalid):
                yield dict(zip(RESULT_COLUMNS, result, strict=True))
                if fail:
                    fails.append(dict(zip(heads, fail, strict=True)))

    # Sheets are written in order: Failures (collected while Results streams) comes second.
    write_worksheets([("Results", results()), ("Failures", (f for f in fails))], str(out))


def write_ours(n: int, out: Path) -> None:
    """Ours as validate uses it (bulkprov.outputs.results.ResultWriter): valid rows a chunk at a time."""
    from rosters import NARROW_HEADERS as HEADERS

    from bulkprov.model import RowRef, RowResult, UserKey
    from bulkprov.outputs.results import ResultWriter, RunSummary

    writer = ResultWriter(out, input_headers=HEADERS)
    for valid, invalid in chunks(n):
        runs = sorted([(v[0], v) for v in valid] + [(r[0], (r, f)) for r, f in invalid], key=lambda t: t[0])
        batch: list[list] = []
        for _, item in runs:
            if isinstance(item, list):
                batch.append(item)
                continue
            if batch:
                columns = list(zip(*batch, strict=True))
                writer.add_valid(*(list(c) for c in columns), "valid")
                batch = []
            r, f = item
            writer.add(RowResult(RowRef(r[0], r[1], UserKey(r[2], r[3])), r[4], r[5], r[6]), f[:-2])
        if batch:
            writer.add_valid(*(list(c) for c in zip(*batch, strict=True)), "valid")
    writer.close(RunSummary("validate", "bench", "0" * 64, "now"))


CANDIDATES = {"rows only": write_rows_only, "XlsxWriter write_row, constant_memory": write_xlsxwriter,
              "pyexcelerate": write_pyexcelerate, "rustpy-xlsxwriter": write_rustpy,
              "own streaming writer (ResultWriter)": write_ours}


def child(name: str, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.xlsx"
        start = time.perf_counter()
        CANDIDATES[name](n, out)
        seconds = time.perf_counter() - start
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = out.stat().st_size if out.exists() else 0
        check = _read_back(out) if size else None
    return {"seconds": seconds, "rss_mb": rss_mb, "size_mb": size / 1e6, "check": check}


def _read_back(path: Path) -> list:
    """The last Results row as calamine reads it back: every candidate must write the same values."""
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Results").to_python()
    return [v if not isinstance(v, float) else int(v) for v in sheet[-1][:5]]


def run_child(name: str, n: int) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, "--child", name, str(n)], capture_output=True, text=True)
    if proc.returncode != 0:
        if "ModuleNotFoundError" in proc.stderr:
            return None
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(sizes: list[int], repeat: int = 1) -> list[str]:
    lines = ["| rows | writer | seconds | peak RSS (MB) | file (MB) | × own writer |", "|---|---|---|---|---|---|"]
    for n in sizes:
        found: dict[str, dict | None] = {}
        for name in CANDIDATES:
            runs = [run_child(name, n) for _ in range(repeat)]
            found[name] = None if runs[0] is None else min(runs, key=lambda r: r["seconds"])
        checks = {json.dumps(r["check"]) for r in found.values() if r and r["check"] is not None}
        assert len(checks) <= 1, f"candidates disagree on the content: {checks}"
        ours = found["own streaming writer (ResultWriter)"]["seconds"]  # type: ignore[index]
        for name, r in found.items():
            if r is None:
                lines.append(f"| {n:,} | {name} | not installed | | | |")
            else:
                lines.append(f"| {n:,} | {name} | {r['seconds']:.2f} | {r['rss_mb']:.0f} | "
                             f"{r['size_mb']:.1f} | {r['seconds'] / ours:.1f}× |")
            print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        print("\n".join(compare([int(a) for a in sys.argv[1:]] or [100_000])))
