"""Do two versions of bulkprov write the same results?  ``python bench/same_results.py run OUT.json [--tree DIR]``
then ``python bench/same_results.py compare A.json B.json``.

``run`` plays the sample data (``sample_data/``) through every command against the emulator (``bulkprov
mock-server``, another process), with the bulkprov of ``--tree`` (default: this checkout): validate of every
roster, a dry run, add, the same add again (skipped as done), lookup, remove of the leavers, plan and sync of
the Korean roster (with strays), apply, a rerun of the results (``runs show``) and export.  It writes every
workbook each run leaves (results, failures, undo, plan, export: every sheet, cell by cell, read back with
openpyxl; csv and jsonl results line by line), every table of the ledger (row by row), and each command's exit
code, to one JSON file.  Times, durations, run ids, the emulator's port and the temporary folder are masked, so
two runs of one version compare equal; ``compare`` prints every difference and exits 1 when there is one.

Used to show that a restructuring changed no behaviour (#32): run it on the commit before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "sample_data"
CLIENT_ID, CLIENT_SECRET = "cs-demo-client", "demo-secret-change-me"

# (name, arguments): each a separate process, in this order, in one folder and one state directory
STEPS: list[tuple[str, list[str]]] = [
    ("validate-en", ["validate", "roster.xlsx", "-o", "validate-en.xlsx"]),
    ("validate-ko", ["--lang", "ko", "validate", "roster-ko.xlsx", "-o", "validate-ko.xlsx"]),
    ("validate-ja", ["--lang", "ja", "validate", "roster-ja.csv", "-o", "validate-ja.xlsx"]),
    ("validate-cp949", ["validate", "roster-cp949.csv", "-o", "validate-cp949.csv"]),
    ("add-dry", ["add", "roster.xlsx", "--dry-run", "-o", "add-dry.xlsx"]),
    ("add", ["add", "roster.xlsx", "-o", "add.xlsx", "--allow-builder", "50"]),
    ("add-again", ["add", "roster.xlsx", "-o", "add-again.xlsx", "--allow-builder", "50"]),
    ("lookup", ["lookup", "roster.xlsx", "-o", "lookup.xlsx"]),
    ("remove", ["remove", "leavers.csv", "-o", "remove.xlsx"]),
    ("plan", ["plan", "roster-ko.xlsx", "--strays", "-o", "plan.xlsx"]),
    ("sync", ["sync", "roster-ko.xlsx", "--strays", "--allow-deletes", "100", "--allow-builder", "200",
              "-o", "sync.xlsx"]),
    ("sync-again", ["sync", "roster-ko.xlsx", "--allow-builder", "200", "-o", "sync-again.jsonl"]),
    ("apply", ["apply", "apply.csv", "-o", "apply.xlsx"]),
    ("export", ["export", "-o", "export.xlsx"]),
]

INPUTS: set[str] = set()  # the SHA-256 of every input file: kept, never masked
LEDGER_MASKED = {"pid", "machine"}  # who ran it: another process every time
MASKS = [
    (re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}"), "<run-id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?"), "<time>"),
    (re.compile(r"\d{4}[.年]\s?\d{1,2}[.月]\s?\d{1,2}[.日]?\s?(오전|오후)?\s?\d{1,2}:\d{2}(:\d{2})?"), "<time>"),
    (re.compile(r"127\.0\.0\.1[:_]\d+"), "127.0.0.1:<port>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "<clock>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(s|ms|seconds?|min|minutes?|h|hours?|초|분|시간|秒|分|時間)\b"), "<duration>"),
    (re.compile(r"\b\d{10}\.\d+\b"), "<clock>"),  # wall-clock seconds (the ledger's request times)
    (re.compile(r"\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}(:\d{2})?"), "<time>"),
    (re.compile(r"\bu-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<user-id>"),  # the server's
    (re.compile(r"(--cs-demo-client-)[0-9a-f]{10}"), r"\1<account>"),
]


def mask(value: object, root: str) -> object:
    if isinstance(value, float) and value > 1e9:
        return "<clock>"
    if not isinstance(value, str):
        return value
    text = value.replace(root, "<dir>")
    # fingerprints, digests and the audit chain cover the host (its port) or a time; the inputs' SHA-256s stay
    text = re.sub(r"\b[0-9a-f]{64}\b", lambda m: m.group(0) if m.group(0) in INPUTS else "<hash>", text)
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workbook_cells(path: Path, root: str) -> dict[str, list[list[object]]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        return {ws.title: [[mask(c, root) for c in row] for row in ws.iter_rows(values_only=True)]
                for ws in book.worksheets}
    finally:
        book.close()


def ledger_tables(path: Path, root: str) -> dict[str, list[list[object]]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {}
        for name in names:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({name})")]
            rows = [["<masked>" if c in LEDGER_MASKED else mask(v, root) for c, v in zip(columns, row, strict=True)]
                    for row in db.execute(f"SELECT * FROM {name}")]
            out[name] = [columns, *sorted(rows, key=json.dumps)]
        return out
    finally:
        db.close()


def run(out: Path, tree: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bulkprov-same-"))
    root = str(work)
    for name in ("roster.xlsx", "roster-ko.xlsx", "roster-ja.csv", "roster-cp949.csv", "leavers.csv"):
        shutil.copy(SAMPLES / name, work / name)
    import hashlib
    (work / "apply.csv").write_text(
        "Email,Employee ID,First Name,Last Name,action\n"
        "new.person@acme-corp.com,E99001,New,Person,add\n"
        "kim.000@acme-corp.com,,,Kim-Lee,update\n"
        "sato.001@acme-corp.com,,,,remove\n"
        "not an email,E99002,Bad,Row,add\n", encoding="utf-8")
    INPUTS.update(hashlib.sha256(p.read_bytes()).hexdigest() for p in work.iterdir())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "BULKPROV_"))}
    port = free_port()
    env.update(PYTHONPATH=str(tree), KORE_CLIENT_ID=CLIENT_ID, KORE_CLIENT_SECRET=CLIENT_SECRET,
               KORE_HOST=f"http://127.0.0.1:{port}", BULKPROV_RECORDS_DIR=str(work / "records"),
               BULKPROV_POLICY_DIR=str(work / "policy.d"), LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC")
    server = subprocess.Popen([sys.executable, "-m", "bulkprov", "mock-server", "--port", str(port), "--rate", "none"],
                              cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    dump: dict[str, object] = {"exit codes": {}, "said": {}, "files": {}}
    try:
        server.stdout.readline()  # the line with its URL: it listens
        for name, args in STEPS:
            done = subprocess.run([sys.executable, "-m", "bulkprov", *args, *(() if args[0] in ("validate", "--lang", "export")
                                                                               else ("--settle", "0"))],
                                  cwd=work, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            dump["exit codes"][name] = done.returncode
            dump["said"][name] = [mask(line, root) for line in (done.stdout + done.stderr).splitlines()]
        runs = subprocess.run([sys.executable, "-m", "bulkprov", "runs", "--state-dir", ".bulkprov"], cwd=work,
                              env=env, capture_output=True, text=True)
        dump["exit codes"]["runs"] = runs.returncode
        first = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", runs.stdout)
        if first:
            shown = subprocess.run([sys.executable, "-m", "bulkprov", "runs", "show", first.group(0), "--state-dir",
                                    ".bulkprov", "-o", "runs-show.xlsx"], cwd=work, env=env, capture_output=True)
            dump["exit codes"]["runs show"] = shown.returncode
    finally:
        server.terminate()
        server.wait(timeout=30)
    files: dict[str, object] = dump["files"]  # type: ignore[assignment]
    for path in sorted(work.rglob("*")):
        rel = str(mask(str(path.relative_to(work)), root))
        if path.suffix == ".xlsx" and not path.name.startswith(("roster", ".")):
            files[rel] = workbook_cells(path, root)
        elif path.suffix in (".csv", ".jsonl") and rel.split(".")[0] not in ("roster-ja", "roster-cp949", "leavers",
                                                                              "apply"):
            files[rel] = [mask(line, root) for line in path.read_text(encoding="utf-8").splitlines()]
        elif path.name == "ledger.sqlite3":
            files[rel] = ledger_tables(path, root)
    out.write_text(json.dumps(dump, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{out}: {len(files)} files, exit codes {dump['exit codes']}")


def compare(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8"))
    differences = 0

    def walk(x: object, y: object, where: str) -> None:
        nonlocal differences
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                if key not in x or key not in y:
                    differences += 1
                    print(f"{where}/{key}: only in {'B' if key not in x else 'A'}")
                else:
                    walk(x[key], y[key], f"{where}/{key}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (p, q) in enumerate(zip(x, y, strict=True)):
                walk(p, q, f"{where}[{i}]")
        elif x != y:
            differences += 1
            print(f"{where}: {json.dumps(x, ensure_ascii=False)[:300]} != {json.dumps(y, ensure_ascii=False)[:300]}")

    walk(left, right, "")
    count = sum(len(v) if isinstance(v, dict) else 1 for v in left["files"].values())
    print(f"{len(left['files'])} files ({count} sheets and tables), {len(left['exit codes'])} exit codes: "
          f"{differences} differences")
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--tree", type=Path, default=HERE.parent)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.what == "run":
        run(args.out, args.tree.resolve())
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
