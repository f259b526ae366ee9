"""Fuzzing the readers: no damaged or hostile file ever crashes bulkprov (issue 13).

Every generated file is validated through the command line's own entry point (``bulkprov.cli.main``,
in-process for speed; a few cases by subprocess in ``test_damaged_files_via_the_command_line``).
For each file: the exit code is 0, 1 or 2, nothing looks like a traceback, and an exit-2 message is
one line that names the file.  Files are made by real writers (XlsxWriter, openpyxl, xlwt, a
hand-made .ods) and then damaged: truncations, byte and bit flips in the zip directory and in the
deflate streams, broken XML, wrong magic, text in UTF-16/UTF-32 and mixed line endings, lone
surrogates, NUL bytes, huge cells, 16,384 columns; FIFOs are tested beside them.

Hypothesis is seeded (``derandomize``): every CI run tries the same ~600 files.  ``make fuzz`` sets
``BULKPROV_FUZZ=nightly`` for a longer, randomised run.  A file that once failed is kept in
``tests/corpus/`` (see its README) and replayed by ``test_corpus``; a failing example is saved under
``BULKPROV_FUZZ_SAVE`` (default: the pytest temporary folder) so it can be added there.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (test extra) generates the fuzz cases")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bulkprov.cli import main  # noqa: E402
from tests.io.loader_files import make_ods  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"

NIGHTLY = os.environ.get("BULKPROV_FUZZ") == "nightly"
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("nightly", derandomize=False, database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
PROFILE = "nightly" if NIGHTLY else "ci"


def examples(n: int) -> settings:
    """``n`` examples per CI run (x20 at night)."""
    return settings(settings.get_profile(PROFILE), max_examples=n * 20 if NIGHTLY else n)


# ---------------------------------------------------------------------------------------------
# the files to damage, made once by real writers

USERS = [
    ["Email", "First Name", "Last Name", "Zip", "Work Phone", "Start"],
    ["jane@example.com", "Jane", "Doe", 2128, 8212334444, 45000],
    ["kim@example.kr", "민준", "김", 4524, 1012345678, 45001],
    ["sato@example.jp", "花子", "佐藤", 1000005, 312345678, 45002],
]


def _xlsxwriter() -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Users")
    zip_fmt, date_fmt = wb.add_format({"num_format": "00000"}), wb.add_format({"num_format": "dd/mm/yyyy"})
    for r, row in enumerate(USERS):
        for c, value in enumerate(row):
            fmt = zip_fmt if (r and c == 3) else date_fmt if (r and c == 5) else None
            ws.write(r, c, value, fmt)
    roles = wb.add_worksheet("Roles")
    roles.write_row(0, 0, ["name", "roleId"])
    roles.write_row(1, 0, ["Tester", "0123456789abcdef01234567"])
    wb.close()
    return buf.getvalue()


def _big_xlsx() -> bytes:
    """1,200 rows: the sheet's XML runs past the 64 KB head our dimension check reads, so damage late in
    its deflate stream reaches the later passes (formats, formulas, extents) and calamine."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Users")
    pad = wb.add_format({"num_format": "00000"})
    ws.write_row(0, 0, ["Email", "First Name", "Zip", "Dept"])
    for r in range(1, 1201):
        ws.write_row(r, 0, [f"user{r}@example.com", f"Name{r}"])
        ws.write_number(r, 2, r, pad)
        ws.write_formula(r, 3, f"=B{r + 1}")
    wb.close()
    return buf.getvalue()


def _openpyxl() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Users"
    for row in USERS:
        ws.append(row)
    ws["B5"] = "=A2"  # a formula openpyxl stores without a cached value
    ws["A5"] = "x@example.com"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xls() -> bytes:
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Users")
    pad = xlwt.easyxf(num_format_str="00000")
    for r, row in enumerate(USERS):
        for c, value in enumerate(row):
            ws.write(r, c, value, pad) if (r and c == 3) else ws.write(r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ods() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return make_ods(Path(tmp) / "u.ods", {"Users": USERS}).read_bytes()


def _csv() -> bytes:
    return "\r\n".join(",".join(str(v) for v in row) for row in USERS).encode() + b"\r\n"


BASES = {"xlsx": _xlsxwriter(), "big.xlsx": _big_xlsx(), "openpyxl.xlsx": _openpyxl(), "xls": _xls(), "ods": _ods(),
         "csv": _csv()}
ZIPS = ("xlsx", "big.xlsx", "openpyxl.xlsx", "ods")


def zip_regions(data: bytes) -> dict[str, tuple[int, int]]:
    """(start, end) of the central directory and of each member's compressed data."""
    regions: dict[str, tuple[int, int]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        ends = sorted(i.header_offset for i in infos)
        for info in infos:
            h = info.header_offset
            n, e = struct.unpack("<HH", data[h + 26:h + 30])
            start = h + 30 + n + e
            regions[info.filename] = (start, start + info.compress_size)
        regions["central directory"] = (max(ends[-1], regions[infos[-1].filename][1]), len(data))
    return regions


REGIONS = {name: zip_regions(BASES[name]) for name in ZIPS}


# ---------------------------------------------------------------------------------------------
# running one file


class Crash(AssertionError):
    pass


def _save(data: bytes, name: str) -> Path:
    folder = Path(os.environ.get("BULKPROV_FUZZ_SAVE") or tempfile.mkdtemp(prefix="bulkprov-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(data)
    return target


def check_file(path: Path) -> tuple[int, str]:
    """Validate ``path`` as the command line does; assert the promises of issue 13."""
    err, out = io.StringIO(), io.StringIO()
    result = path.parent / "result.xlsx"
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["validate", str(path), "-o", str(result), "-q"])
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is the failure we look for
        if isinstance(exc, KeyboardInterrupt):
            raise
        kept = _save(path.read_bytes(), path.name)
        raise Crash(f"{type(exc).__name__}: {exc} (file kept at {kept})") from exc
    text = err.getvalue()
    problem = None
    if code not in (0, 1, 2):
        problem = f"exit {code}"
    elif "Traceback" in text or any(not ln.startswith(("bulkprov: ", "warning: ")) for ln in text.splitlines()):
        problem = "output that is not bulkprov's own one-line messages"
    elif code == 2:
        lines = [ln for ln in text.splitlines() if ln.startswith("bulkprov: error:")]
        if len(lines) != 1 or str(path) not in lines[0]:
            problem = "exit 2 without one line naming the file"
    if problem:
        kept = _save(path.read_bytes(), path.name)
        raise AssertionError(f"{problem}: {text!r} (file kept at {kept})")
    return code, text


def run_bytes(data: bytes, name: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return check_file(path)


def name_for(base: str) -> str:
    return "users." + base.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------------------------
# mutations


@st.composite
def damaged_zip(draw) -> tuple[bytes, str]:
    """A zip workbook with bytes or bits changed in one region (directory or a member's deflate stream)."""
    base = draw(st.sampled_from(ZIPS))
    data = bytearray(BASES[base])
    regions = REGIONS[base]
    region = draw(st.sampled_from(sorted(regions)))
    start, end = regions[region]
    if end <= start:
        start, end = 0, len(data)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(start, end - 1))
        if draw(st.booleans()):
            data[i] ^= 1 << draw(st.integers(0, 7))
        else:
            data[i] = draw(st.integers(0, 255))
    return bytes(data), name_for(base)


@st.composite
def truncated(draw) -> tuple[bytes, str]:
    base = draw(st.sampled_from(sorted(BASES)))
    data = BASES[base]
    cut = draw(st.integers(1, len(data) - 1))
    if draw(st.booleans()):
        return data[:cut], name_for(base)
    return data[:cut] + data[cut + draw(st.integers(1, 64)):], name_for(base)


@st.composite
def damaged_xls(draw) -> tuple[bytes, str]:
    data = bytearray(BASES["xls"])
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    return bytes(data), "users.xls"


XML_MEMBERS = {"xlsx": ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml", "xl/sharedStrings.xml",
                        "xl/_rels/workbook.xml.rels", "[Content_Types].xml"],
               "openpyxl.xlsx": ["xl/worksheets/sheet1.xml", "xl/styles.xml", "xl/workbook.xml"],
               "ods": ["content.xml", "META-INF/manifest.xml"]}
XML_JUNK = [b"<", b">", b"&", b"&#0;", b"&bogus;", b"\x00", b"\xff\xfe", b'"', b"</row>", b"<c r=\"XFD1048576\">",
            b"<v>1e308</v>", b"<f>A1</f>", b' s="99999"', b' r="A0"', b' r="ZZZZ9"', b"<row r=\"1048577\">",
            b' table:number-columns-repeated="16384"', b' table:number-rows-repeated="1000000"',
            b'<?xml version="1.0"?>', b"]]>", b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", b' uniqueCount="4000000000"',
            b' count="99999999999"', b"<dimension ref=\"A1:XFD1048576\"/>"]


def _repack(base: bytes, member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == member else zin.read(info.filename))
    return buf.getvalue()


@st.composite
def broken_xml(draw) -> tuple[bytes, str]:
    """A valid zip whose XML part is cut, spliced with junk, or has a tag removed."""
    base = draw(st.sampled_from(sorted(XML_MEMBERS)))
    with zipfile.ZipFile(io.BytesIO(BASES[base])) as zf:
        names = [m for m in XML_MEMBERS[base] if m in zf.namelist()]
        member = draw(st.sampled_from(names))
        xml = zf.read(member)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(xml)))
        how = draw(st.sampled_from(["cut", "junk", "drop"]))
        if how == "cut":
            xml = xml[:i]
        elif how == "junk":
            xml = xml[:i] + draw(st.sampled_from(XML_JUNK)) + xml[i:]
        else:
            xml = xml[:i] + xml[i + draw(st.integers(1, 40)):]
    return _repack(BASES[base], member, xml), name_for(base)


@st.composite
def wrong_magic(draw) -> tuple[bytes, str]:
    """Content and name disagree, or the magic is right and nothing behind it is."""
    ext = draw(st.sampled_from(["users.csv", "users.xlsx", "users.xls", "users.ods", "users.tsv", "users.xlsm"]))
    kind = draw(st.sampled_from(["other", "pk", "ole", "html", "xml", "random"]))
    tail = draw(st.binary(min_size=0, max_size=600))
    data = {
        "other": BASES[draw(st.sampled_from(sorted(BASES)))],
        "pk": b"PK\x03\x04" + tail, "ole": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + tail,
        "html": b"<html><table><tr><td>Email</td></tr>" + tail, "xml": b"<?xml version='1.0'?><Workbook>" + tail,
        "random": tail or b"\x00",
    }[kind]
    return data, ext


CELL = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
             "cp1252", "cp949", "cp932", "gbk", "mac-roman"]


@st.composite
def text_file(draw) -> tuple[bytes, str]:
    """CSV text: any characters (lone surrogates and NULs too), any encoding, mixed line endings."""
    header = draw(st.sampled_from([["Email", "First Name"], ["emailId", "orgUserId", "lastName"], ["Email"]]))
    rows = draw(st.lists(st.lists(CELL, min_size=1, max_size=4), min_size=0, max_size=6))
    ends = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r", "\u2028", ""]), min_size=1, max_size=3))
    delim = draw(st.sampled_from([",", ";", "\t", "|"]))
    lines = [delim.join(header)] + [delim.join(r) for r in rows]
    text = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding.replace("-sig", "") if "utf-16" in encoding or "utf-32" in encoding else encoding,
                       errors="surrogatepass" if encoding.startswith("utf") else "replace")
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    if draw(st.booleans()):
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.sampled_from([b"\x00", b"\x00\x00", b"\xed\xa0\x80", b"\xff", b"\x8e"])) + data[i:]
    return data, draw(st.sampled_from(["users.csv", "users.txt", "users.tsv"]))


# ---------------------------------------------------------------------------------------------
# the properties


@examples(220)
@given(damaged_zip())
def test_damaged_zip_workbooks(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


@examples(80)
@given(truncated())
def test_truncated_files(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


@examples(80)
@given(damaged_xls())
def test_damaged_xls(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


@examples(100)
@given(broken_xml())
def test_broken_xml(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


@examples(50)
@given(wrong_magic())
def test_wrong_magic(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


@examples(120)
@given(text_file())
def test_text_files(case: tuple[bytes, str]) -> None:
    run_bytes(*case)


# ---------------------------------------------------------------------------------------------
# big and special files (a few fixed cases each: they are slow to make)


def test_huge_cells_and_16384_columns(tmp_path: Path) -> None:
    import xlsxwriter

    wide = tmp_path / "wide.xlsx"
    wb = xlsxwriter.Workbook(str(wide), {"constant_memory": True})
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, ["Email"] + [f"c{i}" for i in range(1, 16384)])
    ws.write_row(1, 0, ["a@example.com"] + ["x"] * 16383)
    wb.close()
    assert check_file(wide)[0] in (0, 1)
    csv_wide = tmp_path / "wide.csv"
    csv_wide.write_text(",".join(["Email"] + [f"c{i}" for i in range(1, 16385)]) + "\na@example.com\n")
    assert check_file(csv_wide)[0] == 2  # 16,385 columns: one more than Excel allows
    huge = tmp_path / "huge.csv"
    huge.write_text("Email,First Name\na@example.com," + "J" * 3_000_000 + "\n")
    code, text = check_file(huge)
    assert code == 2 and "more than 131,072 characters" in text
    long_name = tmp_path / "long.xlsx"  # Excel's longest cell: a row error (too long), not a crash
    wb = xlsxwriter.Workbook(str(long_name))
    wb.add_worksheet("Users").write_column(0, 0, ["Email", "a@example.com"])
    wb.worksheets()[0].write_column(0, 1, ["First Name", "J" * 32767])
    wb.close()
    assert check_file(long_name)[0] == 1
    far = tmp_path / "far.xlsx"
    wb = xlsxwriter.Workbook(str(far))
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, ["Email", "Name"])
    ws.write_row(1, 0, ["a@example.com", "Ann"])
    ws.write(1048575, 16383, "far away")  # the grid from A1 to XFD1048576: 17 billion cells
    wb.close()
    code, text = check_file(far)
    assert code == 2 and "[sheet-too-wide]" in text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
@pytest.mark.timeout(30)
def test_fifos_are_refused_at_once(tmp_path: Path) -> None:
    for name in ("users.csv", "users.xlsx", "lookups.xlsx"):
        os.mkfifo(tmp_path / name)
    code, text = check_file(tmp_path / "users.csv")
    assert code == 2 and "named pipe" in text
    good = tmp_path / "good.csv"
    good.write_text("Email\na@example.com\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(good), "--lookups", str(tmp_path / "lookups.xlsx"), "-q",
                     "-o", str(tmp_path / "r.xlsx")])
    assert code == 2 and "named pipe" in err.getvalue() and "lookups.xlsx" in err.getvalue()
    from bulkprov.errors import PlanFileInvalid
    from bulkprov.sync.workbook import read_plan_fingerprint

    os.mkfifo(tmp_path / "plan.xlsx")
    with pytest.raises(PlanFileInvalid, match="named pipe"):
        read_plan_fingerprint(tmp_path / "plan.xlsx")


# ---------------------------------------------------------------------------------------------
# the corpus: every file that once failed


CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.name != "README.md") if CORPUS.is_dir() else []


def test_every_corpus_file_is_described() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert CORPUS_FILES
    missing = [p.name for p in CORPUS_FILES if f"`{p.name}`" not in readme]
    assert not missing, f"describe these in tests/corpus/README.md: {missing}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / ("users" + "".join(path.suffixes[-1:]))
    copy.write_bytes(path.read_bytes())
    check_file(copy)


# The reproductions of issue 13, through the real command line (a new process each).
ISSUE_13 = ["xlsx-cd-bad-offset.xlsx", "xlsx-cd-zip-version.xlsx", "xlsx-cd-encrypted-flag.xlsx",
            "xlsx-deflate-invalid.xlsx", "xlsx-deflate-crc.xlsx", "ods-name-differs.ods", "ods-deflate-invalid.ods"]


@pytest.mark.parametrize("name", ISSUE_13)
def test_damaged_files_via_the_command_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes((CORPUS / name).read_bytes())
    proc = subprocess.run([sys.executable, "-m", "bulkprov", "validate", str(path), "-o", str(tmp_path / "r.xlsx")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(path) in lines[0] and "[corrupt-file]" in lines[0] and "save it again" in lines[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_fifo_via_the_command_line(tmp_path: Path) -> None:
    fifo = tmp_path / "users.csv"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "bulkprov", "validate", str(fifo)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(fifo) in proc.stderr and "named pipe" in proc.stderr
