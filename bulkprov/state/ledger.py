"""The run ledger: SQLite in the state directory, so no row is lost or sent twice.

A run is one (command, input file SHA-256, host).  Each of its rows moves through

    pending ──▶ in_flight (batch, attempt) ──▶ done (status, reason, …)

and the move to ``in_flight`` is committed *before* the request leaves, the move to ``done``
after its reply is reconciled, each in a transaction.  Only a *final* outcome moves a row to
``done``: a row a stop signal kept from being sent stays ``pending``, and one whose reply was lost
stays ``in_flight``.  So whatever instant the process dies at (kill -9 included), the ledger says for
every row either "known outcome", "never sent", or "maybe sent" — and ``--resume`` resolves the last
kind through usersInfo before sending anything.  A run is ``finished`` only when every row is done;
otherwise it is ``interrupted``.  A sync that a guard stopped is ``stopped-by-guard`` (or
``awaiting-approval`` when a second person must approve it), a run refused before anything was sent
(exit 2) is ``refused``; a run that died (kill -9) is still ``running`` in the ledger until the next
run under the lock marks it ``interrupted`` -- :meth:`Ledger.runs` already reports it so when the
lock's holder is gone.  An interrupted sync is finished by a later one (sync recomputes its diff):
that run's id is kept as ``finished_by``.

What the undo file needs is committed as it happens too: each user's state before the run changed
or removed it (``before_images``) and each update sent (``rows.payload``), so the undo file is
written from the ledger and covers the whole run, across crashes and resumptions.

The database runs in WAL mode (a reader never blocks the writer; a crash never corrupts it).  It
stores keys, outcomes, update bodies and before-images — user data, so the state directory is the
owner's alone — and never a secret or a JWT.  ``PRAGMA user_version`` carries the schema version;
version 1 ledgers are migrated, a newer one is refused with a message that says what to do.  The
state directory's lock is :mod:`bulkprov.state.lock`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkprov.errors import LedgerUnreadable, LedgerVersion, RunNotFound, StateDirUnusable
from bulkprov.logs import new_run_id
from bulkprov.model import Action, RowRef, RowResult, Status, UserKey
from bulkprov.state.applied import AppliedRoster, host_key
from bulkprov.state.schema import LEDGER_NAME, MIGRATE_1_TO_2, MIGRATE_2_TO_3, SCHEMA, SCHEMA_VERSION

__all__ = ["LEDGER_NAME", "OPEN_STATES", "SCHEMA_VERSION", "Ledger", "LedgerHooks", "LedgerWriteFailed", "RowRecord",
           "RunInfo", "has_ledger", "new_run_id", "payload_hash", "private_dir", "state_dir_access"]

# The schema, its version and its migrations: bulkprov.state.schema
# States of a run that may still have work to do (``--resume`` finishes the first two; a later sync all).
OPEN_STATES = ("running", "interrupted")

_KEYS_PER_QUERY = 500  # well under SQLite's limit of bound parameters


class LedgerWriteFailed(Exception):
    """The ledger could not be written (disk full, I/O error): the caller decides what that means."""


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")




def payload_hash(action: str, user: dict[str, Any]) -> str:
    data = json.dumps([action, user], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def run_identity(command: str, input_sha256: str, host: str) -> str:
    return hashlib.sha256(f"{command}\0{input_sha256}\0{host.rstrip('/').lower()}".encode()).hexdigest()


@dataclass
class RunInfo:
    id: str
    command: str
    input_path: str
    input_sha256: str
    host: str
    started: str
    finished: str | None
    state: str
    counts: dict[str, int]
    results_path: str | None
    retry_of: str | None
    pid: int | None = None
    machine: str | None = None
    finished_by: str | None = None
    note: str | None = None


@dataclass
class RowRecord:
    row: int
    action: str
    email: str
    org_user_id: str
    key: str
    payload_hash: str
    state: str
    batch: str | None
    attempt: int
    status: str | None
    reason: str | None
    error_code: str | None
    http_status: int | None
    payload: dict[str, Any] | None = None  # the update sent (``iter_rows(payloads=True)`` only)

    def result(self) -> RowResult:
        return RowResult(RowRef(self.row, Action(self.action), UserKey(self.email, self.org_user_id)),
                         Status(self.status or Status.NOT_ATTEMPTED), self.reason or "", self.error_code or "", self.http_status,
                         self.attempt, self.batch or "")


def private_dir(path: Path) -> None:
    """The state directory holds HR data: created owner-only (0700), whatever the umask."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)


@contextlib.contextmanager
def state_dir_access(state_dir: Path) -> Iterator[None]:
    """A state directory another user owns (a service account's, 0700) is one clear error, exit 2, on
    every command -- never an internal error from the first ``stat`` that is refused."""
    try:
        yield
    except OSError as exc:
        raise StateDirUnusable(state_dir=str(state_dir), reason=exc.strerror or str(exc)) from None


def has_ledger(state_dir: Path) -> bool:
    with state_dir_access(state_dir):
        return (Path(state_dir) / LEDGER_NAME).is_file()


class Ledger(AppliedRoster):
    """One SQLite ledger in a state directory (the roster sync applied: :class:`AppliedRoster`)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LEDGER_NAME
        try:
            private_dir(self.state_dir)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite's -wal/-shm files copy this mode
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise LedgerUnreadable(ledger=str(self.path), reason=str(exc)) from None
        except OSError as exc:
            raise StateDirUnusable(state_dir=str(self.state_dir), reason=exc.strerror or str(exc)) from None

    def close(self) -> None:
        self.db.close()

    # -- schema --------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and not tables:
            # One script, one transaction: a crash leaves either no schema or all of it.
            self.db.executescript(f"BEGIN;\n{SCHEMA}\nPRAGMA user_version={SCHEMA_VERSION};\nCOMMIT;")
            return
        if version == 1:
            self.db.executescript(f"BEGIN;\n{MIGRATE_1_TO_2}\nPRAGMA user_version=2;\nCOMMIT;")
            version = 2
        if version == 2:
            self.db.executescript(f"BEGIN;\n{MIGRATE_2_TO_3}\nPRAGMA user_version=3;\nCOMMIT;")
            return
        if version != SCHEMA_VERSION:
            made = "a newer" if version > SCHEMA_VERSION else "an older"
            raise LedgerVersion(ledger=str(self.path), made=made, version=version,
                                supported=SCHEMA_VERSION)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction; a write that fails (full disk, I/O error) leaves the ledger as it was."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
            raise LedgerWriteFailed(str(exc)) from exc

    # -- runs ------------------------------------------------------------------------------------------

    def create_run(self, *, command: str, input_path: str, input_sha256: str, host: str,
                   settings: dict[str, str], rows: Iterable[tuple[int, str, str, str, str, str]],
                   done: Iterable[RowResult], retry_of: str | None = None,
                   payloads: dict[int, dict] | None = None, run_id: str | None = None) -> str:
        """A new run with every row to send ``pending``; ``done`` rows (invalid, skipped) are final at once.

        ``rows``: (row, action, email, orgUserId, key, payload hash) of the rows to send; ``payloads``:
        the update bodies by row, kept so the undo file can be written after any crash; ``run_id``: the
        id this invocation already logs under (a new one when None).
        """
        with self.new_run(command=command, input_path=input_path, input_sha256=input_sha256, host=host,
                          settings=settings, retry_of=retry_of, run_id=run_id) as run_id:
            self._add_rows(run_id, rows, done, payloads)
        return run_id

    @contextlib.contextmanager
    def new_run(self, *, command: str, input_path: str, input_sha256: str, host: str, settings: dict[str, str],
                retry_of: str | None = None, run_id: str | None = None) -> Iterator[str]:
        """A new run, and one transaction to record its rows in (:meth:`add_rows_here`, chunk by chunk): a
        crash leaves either no run or the whole run.  Yields the run's id."""
        if not run_id or self.db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
            run_id = new_run_id()  # (the id a resume expected was finished by another meanwhile)
        with self._tx():
            self.db.execute(
                "INSERT INTO runs (id, identity, command, input_path, input_sha256, host, started, state, settings,"
                " retry_of, pid, machine) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, run_identity(command, input_sha256, host), command, input_path, input_sha256, host,
                 now_iso(), "running", json.dumps(settings), retry_of, os.getpid(), socket.gethostname()))
            yield run_id

    def add_rows_here(self, run_id: str, rows: Iterable[tuple[int, str, str, str, str, str]],
                      done: Iterable[RowResult], payloads: dict[int, dict] | None = None) -> None:
        """Rows of the run :meth:`new_run` is creating, inside its transaction."""
        self._add_rows(run_id, rows, done, payloads)

    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, str, str, str]], done: Iterable[RowResult],
                 payloads: dict[int, dict] | None = None) -> None:
        """Rows of a run created before they were known (a sync's, once its plan is made)."""
        with self._tx():
            self._add_rows(run_id, rows, done, payloads)

    def _add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, str, str, str]], done: Iterable[RowResult],
                  payloads: dict[int, dict] | None) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO rows (run_id, row, action, email, org_user_id, key, payload_hash, state, updated)"
            " VALUES (?,?,?,?,?,?,?,'pending',?)",
            ((run_id, r, a, e, o, k, h, stamp) for r, a, e, o, k, h in rows))
        if payloads:
            self.db.executemany("UPDATE rows SET payload=? WHERE run_id=? AND row=?",
                                ((json.dumps(p, ensure_ascii=False), run_id, r) for r, p in payloads.items()))
        self.db.executemany(
            "INSERT INTO rows (run_id, row, action, email, org_user_id, key, payload_hash, state, status,"
            " reason, error_code, updated) VALUES (?,?,?,?,?,?,'','done',?,?,?,?)",
            ((run_id, r.row, r.action, r.email, r.org_user_id, r.ref.key.id,
              r.status, r.reason, r.error_code, stamp) for r in done))

    def record_refused(self, *, run_id: str, command: str, input_path: str, input_sha256: str, host: str,
                       settings: dict[str, str], code: str) -> None:
        """A run refused before anything was sent (exit 2): listed, so every night of a schedule shows."""
        stamp = now_iso()
        with self._tx():
            self.db.execute(  # a run already begun (a sync's, before its checks) is refused as it stands
                "INSERT INTO runs (id, identity, command, input_path, input_sha256, host, started, finished,"
                " state, counts, settings, pid, machine, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) "
                "DO UPDATE SET state='refused', finished=excluded.finished, note=excluded.note",
                (run_id, run_identity(command, input_sha256, host), command, input_path, input_sha256, host, stamp,
                 stamp, "refused", "{}", json.dumps(settings), os.getpid(), socket.gethostname(), code))

    def unfinished_run(self, command: str, input_sha256: str, host: str) -> RunInfo | None:
        row = self.db.execute("SELECT * FROM runs WHERE identity=? AND state IN ('running', 'interrupted') "
                              "ORDER BY started DESC, rowid DESC LIMIT 1",
                              (run_identity(command, input_sha256, host),)).fetchone()
        return self._run_info(row) if row else None

    def mark_dead_runs(self) -> int:
        """Called under the state-directory lock: no other run is alive, so a ``running`` one died."""
        with self._tx():
            return self.db.execute("UPDATE runs SET state='interrupted', note=COALESCE(note, 'died') "
                                   "WHERE state='running'").rowcount

    def run(self, run_id: str) -> RunInfo:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id=run_id, ledger=str(self.path))
        return self._run_info(row)

    def runs(self) -> list[RunInfo]:
        return [self._run_info(r) for r in self.db.execute("SELECT * FROM runs ORDER BY started, rowid")]

    def finish_run(self, run_id: str, *, counts: dict[str, int], results_path: str, state: str | None = None,
                   note: str | None = None) -> str:
        """Record the end of a run: ``finished`` only when every row has a final outcome, else
        ``interrupted`` (what ``--resume`` finishes) -- or the ``state`` given (a guard's).  A finished sync
        also finishes every earlier sync of the host that stopped short: they are marked ``finished_by``
        it.  Returns the state recorded."""
        if state is None:
            open_rows = self.db.execute("SELECT COUNT(*) FROM rows WHERE run_id=? AND state!='done'",
                                        (run_id,)).fetchone()[0]
            state = "interrupted" if open_rows else "finished"
        with self._tx():
            self.db.execute("UPDATE runs SET finished=?, state=?, counts=?, results_path=?, note=? WHERE id=?",
                            (now_iso(), state, json.dumps(counts), results_path, note, run_id))
            info = self.db.execute("SELECT command, host FROM runs WHERE id=?", (run_id,)).fetchone()
            if state == "finished" and info is not None and info[0] == "sync":
                self.db.execute("UPDATE runs SET finished_by=? WHERE command='sync' AND host=? AND id!=? AND "
                                "finished_by IS NULL AND state IN ('running', 'interrupted', 'stopped-by-guard', "
                                "'awaiting-approval')", (run_id, info[1], run_id))
        return state

    def forget_runs(self, run_ids: list[str]) -> None:
        """Retention (``bulkprov prune``): these runs, their rows (emails, outcomes) and before-images go; the
        roster sync last applied stays (the next sync needs it)."""
        with self._tx():
            for table in ("before_images", "rows"):
                self.db.executemany(f"DELETE FROM {table} WHERE run_id=?", ((r,) for r in run_ids))  # noqa: S608
            self.db.executemany("DELETE FROM runs WHERE id=?", ((r,) for r in run_ids))

    def _run_info(self, row: tuple) -> RunInfo:
        cols = [d[0] for d in self.db.execute("SELECT * FROM runs LIMIT 0").description]
        data = dict(zip(cols, row, strict=True))
        return RunInfo(data["id"], data["command"], data["input_path"], data["input_sha256"], data["host"],
                       data["started"], data["finished"], data["state"], json.loads(data["counts"] or "{}"),
                       data["results_path"], data["retry_of"], data["pid"], data["machine"], data["finished_by"],
                       data["note"])

    # -- rows ------------------------------------------------------------------------------------------

    def rows(self, run_id: str) -> list[RowRecord]:
        return list(self.iter_rows(run_id))

    def iter_rows(self, run_id: str, *, payloads: bool = False) -> Iterator[RowRecord]:
        """A run's rows in input order, read as they are used (a million rows never sit in memory);
        with ``payloads``, each record's update body as sent (None for the rest)."""
        extra = ", payload" if payloads else ""
        cur = self.db.execute("SELECT row, action, email, org_user_id, key, payload_hash, state, batch, attempt, "
                              f"status, reason, error_code, http_status{extra} FROM rows WHERE run_id=? "  # noqa: S608
                              "ORDER BY row", (run_id,))
        for r in cur:
            record = RowRecord(*r[:13])
            if payloads:
                record.payload = json.loads(r[13]) if r[13] else None
            yield record

    def forget_unsettled(self, run_id: str) -> None:
        """A resumed run says afresh what becomes of the rows it has yet to settle (not an earlier process's
        "not attempted: interrupted" for a row it then sends, or stops before)."""
        with self._tx():
            self.db.execute("UPDATE rows SET status=NULL, reason=NULL, error_code=NULL, http_status=NULL "
                            "WHERE run_id=? AND state!='done'", (run_id,))

    def rows_needing_attention(self, run_id: str, statuses: Iterable[str]) -> tuple[int, list[tuple[int, str, str | None]]]:
        """A run's number of rows, and (row, state, status) of those with one of ``statuses`` or none yet."""
        wanted = sorted(str(s) for s in statuses)
        total = self.db.execute("SELECT COUNT(*) FROM rows WHERE run_id=?", (run_id,)).fetchone()[0]
        rows = self.db.execute("SELECT row, state, status FROM rows WHERE run_id=? AND (status IS NULL OR status IN ("
                               + ",".join("?" * len(wanted)) + ")) ORDER BY row", (run_id, *wanted)).fetchall()
        return total, rows

    def resume_state(self, run_id: str) -> tuple[set[int], set[int]]:
        """What ``--resume`` needs of an interrupted run: the rows it settled (not the invalid ones, which
        are not sent either way) and the rows whose request left with no known outcome."""
        done: set[int] = set()
        in_flight: set[int] = set()
        for row, state, status in self.db.execute("SELECT row, state, status FROM rows WHERE run_id=?", (run_id,)):
            if state == "done" and status != Status.INVALID:
                done.add(row)
            elif state == "in_flight":
                in_flight.add(row)
        return done, in_flight

    def mark_sending(self, run_id: str, rows: list[int], batch: str) -> None:
        """Committed before the request leaves: these rows may be applied from now on."""
        stamp = now_iso()
        with self._tx():
            self.db.executemany("UPDATE rows SET state='in_flight', batch=?, attempt=attempt+1, updated=? "
                                "WHERE run_id=? AND row=?", ((batch, stamp, run_id, r) for r in rows))

    def mark_done(self, run_id: str, results: list[RowResult]) -> None:
        """Final outcomes settle their rows; a row not sent (or sent with no known outcome) stays pending (in
        flight), its outcome so far kept beside that state, so the run's results can be written from here."""
        final = [r for r in results if r.final]
        unsettled = [r for r in results if not r.final]
        if not final and not unsettled:
            return
        with self._tx():
            self._done(run_id, final)
            self.db.executemany(
                "UPDATE rows SET status=?, reason=?, error_code=?, http_status=?, updated=? WHERE run_id=? AND row=?",
                ((r.status, r.reason, r.error_code, r.http_status, now_iso(), run_id, r.row) for r in unsettled))

    def _done(self, run_id: str, results: list[RowResult]) -> None:
        stamp = now_iso()
        self.db.executemany(
            "UPDATE rows SET state='done', status=?, reason=?, error_code=?, http_status=?, batch=?, "
            "attempt=MAX(attempt, ?), updated=? WHERE run_id=? AND row=?",
            ((r.status, r.reason, r.error_code, r.http_status, r.batch or None, r.attempts, stamp, run_id, r.row)
             for r in results))

    def earlier_successes(self, host: str, keys: Iterable[tuple[str, str, str]],
                          exclude_run: str | None = None) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(key, action, payload hash) → (run id, when) for rows whose *latest* successful change on this
        host was exactly this one (add X, remove X, add X again: the third add is not skipped).  Asked by
        key, a few hundred at a time (the ledger's index on key): a chunk of a big run costs its own keys."""
        wanted = set(keys)
        wanted_keys = sorted({k for k, _, _ in wanted})
        latest: dict[str, tuple[str, str, str, str, int]] = {}
        for i in range(0, len(wanted_keys), _KEYS_PER_QUERY):
            part = wanted_keys[i:i + _KEYS_PER_QUERY]
            cur = self.db.execute(
                "SELECT rows.key, rows.action, rows.payload_hash, runs.id, rows.updated, rows.rowid FROM rows "
                "JOIN runs ON rows.run_id = runs.id WHERE rows.key IN (" + ",".join("?" * len(part)) + ") "
                "AND runs.host=? AND rows.status='success' AND runs.id IS NOT ? AND rows.action != 'lookup'",
                (*part, host, exclude_run))
            for key, action, phash, run_id, when, rowid in cur:
                seen = latest.get(key)
                if seen is None or (when, rowid) > (seen[3], seen[4]):  # the latest, as ORDER BY updated, rowid
                    latest[key] = (action, phash, run_id, when, rowid)
        found: dict[tuple[str, str, str], tuple[str, str]] = {}
        for key, (action, phash, run_id, when, _rowid) in latest.items():
            if (key, action, phash) in wanted:
                found[(key, action, phash)] = (run_id, when)
        return found

    def uncertain_keys(self, host: str, action: str) -> set[str]:
        """Keys an earlier run on this host sent ``action`` for without learning the outcome: an
        "already exists" (add) or "not found" (remove) for them now is this tool's own earlier work."""
        cur = self.db.execute(
            "SELECT rows.key FROM rows JOIN runs ON rows.run_id = runs.id WHERE runs.host=? AND rows.action=? AND "
            "(rows.state='in_flight' OR rows.error_code='unverified')", (host, action))
        return {key for (key,) in cur}

    # -- what the undo file needs, committed as it happens ---------------------------------------------

    def keep_before_image(self, run_id: str, row: int, user: dict[str, Any]) -> None:
        with self._tx():
            self.db.execute("INSERT OR IGNORE INTO before_images VALUES (?,?,?)",
                            (run_id, row, json.dumps(user, ensure_ascii=False)))

    def before_images(self, run_ids: Iterable[str]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for run_id in run_ids:
            for row, user in self.db.execute("SELECT row, user FROM before_images WHERE run_id=?", (run_id,)):
                out.setdefault(row, json.loads(user))
        return out

    def payloads(self, run_id: str) -> dict[int, dict[str, Any]]:
        cur = self.db.execute("SELECT row, payload FROM rows WHERE run_id=? AND payload IS NOT NULL", (run_id,))
        return {row: json.loads(payload) for row, payload in cur}

    # -- the rate budget shared by consecutive runs ---------------------------------------------------

    def recent_requests(self, host: str) -> list[float]:
        """Ages (seconds) of requests earlier runs made to this host, newest last."""
        now = time.time()
        rows = self.db.execute("SELECT ended FROM budget WHERE host=? ORDER BY ended", (host_key(host),))
        return [now - ended for (ended,) in rows if ended <= now]

    def save_requests(self, host: str, ages: list[float]) -> None:
        now = time.time()
        with self._tx():
            self.db.execute("DELETE FROM budget WHERE host=?", (host_key(host),))
            self.db.executemany("INSERT INTO budget VALUES (?,?)", ((host_key(host), now - a) for a in ages))

class LedgerHooks:
    """The dispatcher's hooks, written to the ledger (see :class:`bulkprov.send.dispatcher.DispatchHooks`)."""

    def __init__(self, ledger: Ledger, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id

    def sending(self, batch_id: str, rows: list[int]) -> None:
        self.ledger.mark_sending(self.run_id, rows, batch_id)

    def settled(self, results: list[RowResult]) -> None:
        self.ledger.mark_done(self.run_id, results)

    def before(self, row: int, user: dict[str, Any]) -> None:
        self.ledger.keep_before_image(self.run_id, row, user)

    def forget(self, rows: list[Any]) -> None:
        """Nothing held: every outcome is in the ledger already."""
