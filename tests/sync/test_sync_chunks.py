"""Sync in bounded memory (#30): what changed in how it holds its rows changes nothing a user sees."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from bulkprov.jobs import JobSettings, frame, run_job
from bulkprov.jobs.settings import JobOutcome
from bulkprov.model import Action, CheckedRow
from bulkprov.send import chunked as sending
from bulkprov.sync import plan as planning
from tests.conftest import read_sheet
from tests.sync.test_sync import TESTER, account, assert_account_equals, person, write


class HeldRows:
    """A list of checked rows as the plan reads a spool (:class:`bulkprov.sync.rows.RowSource`)."""

    def __init__(self, rows: list[CheckedRow], chunk: int = 5_000) -> None:
        self.rows, self.chunk = rows, chunk

    def chunks(self):
        for i in range(0, len(self.rows), self.chunk):
            yield self.rows[i:i + self.chunk]

    def fields(self):
        return iter(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _whole_blob_fingerprint(plan: planning.Plan) -> str:
    """The fingerprint as it was computed before #30: the whole plan as one JSON text, then hashed -- the
    parts of every change in the plan's order (the roster's rows in row order, adds among them, then the
    removals)."""
    roster = [(r.row, ["add", r.key.id, r.user]) for r in plan.adds]
    roster += [(i.row.row, [i.action, i.row.key.id, i.row.user]) for i in plan.items
               if i.action != "unchanged" and not i.row.ref.synthetic]
    parts = [part for _row, part in sorted(roster, key=lambda p: p[0])]
    parts += [[i.action, i.row.key.id, i.row.user] for i in plan.items
              if i.action != "unchanged" and i.row.ref.synthetic]
    state = sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in plan.current.items())
    blob = json.dumps([parts, state], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _plan(valid: list[CheckedRow], current: dict, previous: list | None = None) -> planning.Plan:
    return planning.build_plan(HeldRows(valid, chunk=2), [], {}, {"dept", "firstName"}, current, previous or [],
                               "R1" if previous else None, JobSettings(command="sync", max_delete_percent=100))


def test_the_fingerprint_an_approved_plan_carries_is_the_same_hashed_piece_by_piece() -> None:
    """Approved plan files written before keep matching: the digest is the one of the whole JSON text, though
    the adds are hashed as the plan reads them back and never held."""
    def add(n: int, email: str) -> CheckedRow:
        return CheckedRow.make(n, Action.ADD, email, f"E-{n}",
                               {"userInfo": {"emailId": email, "firstName": "민준", "lastName": "김"},
                                "roles": [{"roleId": "r1", "botId": "b1"}], "canCreateBot": True})

    update = CheckedRow.make(3, Action.ADD, "sato@acme-corp.com", "",
                             {"userInfo": {"emailId": "sato@acme-corp.com", "dept": "営業"}})
    kept = CheckedRow.make(5, Action.ADD, "same@acme-corp.com", "",
                           {"userInfo": {"emailId": "same@acme-corp.com", "firstName": "Ünal"}})
    current = {"sato@acme-corp.com": {"userInfo": {"emailId": "sato@acme-corp.com", "dept": "総務"}, "groups": []},
               "gone@acme-corp.com": {"userInfo": {"emailId": "gone@acme-corp.com"}, "when": object()},
               "same@acme-corp.com": {"userInfo": {"emailId": "same@acme-corp.com", "firstName": "Ünal"}}}
    everything = _plan([add(2, "김민준@acme-corp.com"), update, add(4, "田中@acme-corp.com"), kept], current,
                       [("gone@acme-corp.com", "gone@acme-corp.com", "E-9")])
    assert [everything.count(a) for a in ("add", "update", "remove", "unchanged")] == [2, 1, 1, 1]
    plans = [everything, _plan([], {}), _plan([kept], current), _plan([add(2, "김민준@acme-corp.com")], {})]
    for plan in plans:
        assert planning.fingerprint(plan) == _whole_blob_fingerprint(plan)
    assert len({planning.fingerprint(p) for p in (plans[0], plans[1], plans[3])}) == 3  # and it tells plans apart


# -- a sync sent in many small chunks is the sync sent whole ------------------------------------------------


def _sync(emu, creds, roster: Path, out: Path, state: Path, command: str = "sync", **extra) -> JobOutcome:
    settings = JobSettings(command=command, host=emu.url, rate="none", batch_size=5, concurrency=2, output=out,
                           state_dir=state, **extra)
    return run_job(roster, settings, credentials=creds)


def _results(out: Path) -> list[tuple]:
    return [(r["row"], r["action"], r["emailId"], r["status"], r["reason"], r["error_code"])
            for r in read_sheet(out, "Results")]


def _batches(out: Path) -> set[frozenset]:
    """The requests, as the rows each carried (a batch's number is the order it was sent in: a chunk's
    adds may go before the updates of the chunk before, sent whole they go after)."""
    rows: dict[str, set] = {}
    for r in read_sheet(out, "Results"):
        if r["batch"]:
            rows.setdefault(r["batch"], set()).add(r["row"] or r["emailId"])
    return {frozenset(v) for v in rows.values()}


def _plan_sheet(path: Path, sheet: str) -> list[dict]:
    """A plan workbook's sheet, the run ids its reasons name made alike (each emulator's nights had their own)."""
    return [{k: re.sub(r"\d{8}-\d{6}-[0-9a-f]+", "RUN", v) if isinstance(v, str) else v for k, v in r.items()}
            for r in read_sheet(path, sheet)]


def _nights(emu, creds, tmp_path: Path, name: str) -> list[JobOutcome]:
    """Three nights: 60 joiners (one row invalid, one going through with a note, two rows claiming one email:
    both held); 6 leavers, 4 joiners, changed departments and roles (and the plan of that night); then every
    second user leaves (approved)."""
    night1 = [person(i) for i in range(60)]
    night1[7]["Email"] = "not-an-email"
    night1[30]["First Name"] = "Zero\u200bWidth"
    night1[45]["Email"] = night1[12]["Email"]
    roster = write(tmp_path / f"{name}.csv", night1)
    state = tmp_path / f"{name}-state"
    outs = [_sync(emu, creds, roster, tmp_path / f"{name}-1.xlsx", state)]
    night2 = [p for i, p in enumerate(night1) if i not in {3, 17, 22, 38, 41, 55}]
    for p in night2[::4]:
        p["Department"] = "Legal"
    for p in night2[1::9]:
        p["roles"] = TESTER if not p["roles"] else ""
    night2 += [person(i) for i in (60, 61, 62, 63)]
    write(roster, night2)
    _sync(emu, creds, roster, tmp_path / f"{name}-plan.xlsx", state, command="plan")
    outs.append(_sync(emu, creds, roster, tmp_path / f"{name}-2.xlsx", state, allow_deletes=6))
    write(roster, night2[::2])
    outs.append(_sync(emu, creds, roster, tmp_path / f"{name}-3.xlsx", state, allow_deletes=len(night2) // 2))
    return outs


def test_a_sync_sent_in_many_chunks_is_the_sync_sent_whole(make_emulator, creds, tmp_path, monkeypatch):
    whole_emu, chunked_emu = make_emulator(), make_emulator()
    whole = _nights(whole_emu, creds, tmp_path, "whole")
    monkeypatch.setattr(sending, "SEND_CHUNK", 7)  # ~58 changes a night: many chunk edges
    monkeypatch.setattr(frame, "CHECK_CHUNK", 3)  # and the plan reads the roster back from many spool chunks
    sent: list[int] = []  # the changes sent in each chunk (the lookups go in chunks too)
    real = sending._send_chunk

    async def counted(d, chunk):
        sent.append(sum(1 for r in chunk if r.action != "lookup"))
        return await real(d, chunk)

    monkeypatch.setattr(sending, "_send_chunk", counted)
    chunked = _nights(chunked_emu, creds, tmp_path, "chunked")
    assert len([n for n in sent if n]) >= 10 and max(sent) < 20, sent  # (whole batches of 5 of each kind)
    assert [o.exit_code for o in chunked] == [o.exit_code for o in whole] == [1, 1, 1]  # the invalid row
    for night in (1, 2, 3):
        assert _results(tmp_path / f"chunked-{night}.xlsx") == _results(tmp_path / f"whole-{night}.xlsx")
        assert _batches(tmp_path / f"chunked-{night}.xlsx") == _batches(tmp_path / f"whole-{night}.xlsx")
        assert read_sheet(tmp_path / f"chunked-{night}.undo.xlsx", "Users") == \
            read_sheet(tmp_path / f"whole-{night}.undo.xlsx", "Users")
    for sheet in ("Add", "Update", "Unchanged", "Remove", "Invalid"):  # the plan, read back from the spool
        assert _plan_sheet(tmp_path / "chunked-plan.xlsx", sheet) == _plan_sheet(tmp_path / "whole-plan.xlsx", sheet)
    assert _plan_sheet(tmp_path / "chunked-plan.xlsx", "Add"), "night 2 adds its four joiners"
    first = {r["row"]: r for r in read_sheet(tmp_path / "chunked-1.xlsx", "Results")}
    assert first[14]["status"] == first[47]["status"] == "invalid", "two rows claiming one email change neither"
    assert first[14]["error_code"] == "duplicate-email" and first[16]["status"] == "success"
    noted = next(r for r in read_sheet(tmp_path / "chunked-1.xlsx", "Results") if r["row"] == 32)
    assert noted["status"] == "success" and noted["reason"], "the row's note is in its reason, as when held"
    statuses = {(r["action"], r["status"]) for r in read_sheet(tmp_path / "chunked-2.xlsx", "Results")}
    assert {("add", "success"), ("update", "success"), ("remove", "success"), ("update", "skipped"),
            ("add", "invalid")} <= statuses, statuses
    # The roster sync applied followed each change: the same account, the same requests.
    assert account(chunked_emu) == account(whole_emu)
    for calls in ("add_calls", "update_calls", "remove_calls"):
        assert chunked_emu.state()["counts"][calls] == whole_emu.state()["counts"][calls], calls


def test_a_sync_stopped_between_chunks_is_finished_by_the_next_night(make_emulator, creds, tmp_path, monkeypatch):
    """The applied roster follows each chunk's settled rows: the joiners a stop left out are added the next
    night, and nobody is removed who was not added."""
    monkeypatch.setattr(sending, "SEND_CHUNK", 10)
    emu = make_emulator(latency=0.1)
    people = [person(i) for i in range(120)]
    roster = write(tmp_path / "roster.csv", people)
    first = _sync(emu, creds, roster, tmp_path / "n1.xlsx", tmp_path / "state", max_runtime=1.5)
    assert first.exit_code == 3
    rows = read_sheet(tmp_path / "n1.xlsx", "Results")
    added = {r["emailId"] for r in rows if r["status"] == "success"}
    left = [r for r in rows if r["status"] != "success"]
    assert added and left and len(rows) == 120
    assert {r["error_code"] for r in left} == {"interrupted"}, "rows of chunks never sent say why, as sent ones"
    assert set(account(emu)) == added, "every success is a user the server holds"
    second = _sync(emu, creds, roster, tmp_path / "n2.xlsx", tmp_path / "state")
    assert second.exit_code == 0
    assert_account_equals(emu, people)
    again = {r["emailId"]: r["action"] for r in read_sheet(tmp_path / "n2.xlsx", "Results") if r["status"] == "success"}
    assert set(again) == {p["Email"] for p in people} - added and set(again.values()) == {"add"}
    assert all(n == 1 for n in emu.state()["counts"]["create_attempts_per_email"].values()), "nothing sent twice"
    assert emu.state()["counts"]["remove_calls"] == 0


def test_a_sync_run_as_a_library_without_use_ledger_still_leaves_its_undo_file(make_emulator, creds, tmp_path):
    """sync records its run whatever ``use_ledger`` says (its applied roster lives there), so its undo file is
    written from the ledger as for any night: the update and the removal, as the account had them."""
    emu = make_emulator()
    people = [person(i) for i in range(6)]
    roster = write(tmp_path / "roster.csv", people)
    assert _sync(emu, creds, roster, tmp_path / "n1.xlsx", tmp_path / "state").exit_code == 0
    people[1]["Department"] = "Legal"
    write(roster, people[:5])
    out = _sync(emu, creds, roster, tmp_path / "n2.xlsx", tmp_path / "state", use_ledger=False, allow_deletes=1)
    assert out.exit_code == 0 and out.undo_path is not None
    undo = {r["emailId"]: r for r in read_sheet(out.undo_path, "Users")}
    assert set(undo) == {"emp001@acme-corp.com", "emp005@acme-corp.com"}
    assert undo["emp001@acme-corp.com"]["dept"] == "HR"


def test_a_sync_never_holds_its_roster_rows(make_emulator, creds, tmp_path, monkeypatch):
    """What the README promises for a million-row first sync: the checked rows go to the spool on disk and
    the plan holds no object per add (the bench measures the memory this saves)."""
    def held(self, raw, row):
        raise AssertionError("a roster row held in memory")

    monkeypatch.setattr(frame.Checked, "take", held)
    built: list[planning.Plan] = []
    real = planning.build_plan

    def keep(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(planning, "build_plan", keep)
    emu = make_emulator()
    people = [person(i) for i in range(30)]
    roster = write(tmp_path / "roster.csv", people)
    assert _sync(emu, creds, roster, tmp_path / "plan.xlsx", tmp_path / "state", command="plan").exit_code == 0
    assert _sync(emu, creds, roster, tmp_path / "n1.xlsx", tmp_path / "state").exit_code == 0
    assert_account_equals(emu, people)
    assert [len(p.adds) for p in built] == [30, 30] and all(p.items == [] for p in built), "no item per add"
    assert len(read_sheet(tmp_path / "plan.xlsx", "Add")) == 30
