"""The check page's preview: computed once per upload, for every action in one pass, a few at a time.

A hostile or just huge workbook costs memory while it is read, so

* the file is read **once** per upload: one pass feeds a validator per action (add, update, remove,
  apply) and the result — counts, the first problems, the plan lines for both activation-email
  choices — is small and cached (:class:`Previews`);  what needs a second person's approval is judged
  by the run itself, through the one gate every front end shares (:mod:`bulkprov.approvals.gate`);
* requests for an upload whose preview is being computed share that computation (single flight);
* at most ``max_previews`` computations run at once in the whole server; the others wait in line and
  their pages say their place and refresh themselves; past the line's bounds (in all, per person)
  the answer is 503 with Retry-After.

What a preview calls is what the CLI's ``--dry-run`` calls: :func:`bulkprov.jobs.frame.load`, the
validator, :func:`bulkprov.jobs.checkonly.dry_run_plan`.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bulkprov.check.validator import Validator
from bulkprov.errors import InputError, MissingColumn, RowError
from bulkprov.jobs.checkonly import dry_run_plan
from bulkprov.jobs.frame import load
from bulkprov.jobs.names import account_names
from bulkprov.jobs.settings import JobSettings
from bulkprov.kore.directory import Directory
from bulkprov.model import CheckedRow
from bulkprov.web.frame import MAX_ERRORS_SHOWN

ACTIONS = ("add", "update", "remove", "apply")


@dataclass
class Preview:
    """What ``bulkprov ACTION FILE --dry-run`` finds and plans, for one action."""

    rows: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    warnings: list[str] = field(default_factory=list)
    plan: dict[str, list[str]] = field(default_factory=dict)  # email choice ("yes"/"no") -> plan lines
    problem: InputError | None = None  # the file cannot be used at all

    @property
    def valid(self) -> int:
        return self.rows - self.invalid


class PreviewBusy(Exception):
    """The line of checks is full (in all, or for this person): try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 5, mine: bool = False) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
        self.mine = mine  # this person's own checks fill their share


async def compute_with_names(path: Path, settings: JobSettings, credentials: Any) -> dict[str, Preview]:
    """:func:`compute` with role, bot and group names resolved against the account the page writes to (as a run
    does, :mod:`bulkprov.jobs.names`): no lookup sheet needed.  The pass runs in a thread and asks this loop for
    the account's directory at the first row that writes a name, and once more at the first name it lacks; the
    row is then checked again -- the file is still read once."""
    loop = asyncio.get_running_loop()
    async with account_names(path, settings, credentials) as names:
        def ask() -> tuple[bool, Directory | None]:
            """(whether the directory changed, the directory): read now, or read again once."""
            step = names.load() if names.deferred else names.refresh()
            if names.deferred:
                return True, asyncio.run_coroutine_threadsafe(step, loop).result()
            return (directory := asyncio.run_coroutine_threadsafe(step, loop).result()) is not None, directory

        previews = await asyncio.to_thread(compute, path, settings, None, ask if names.deferred else None)
    if names.source == "unavailable":
        for preview in previews.values():
            preview.warnings.insert(0, names.said)
    return previews


Ask = Callable[[], tuple[bool, "Directory | None"]]


def compute(path: Path, settings: JobSettings, directory: Directory | None = None,
            ask: Ask | None = None) -> dict[str, Preview]:
    """Read ``path`` once and check it for every action (blocking: run it in a thread); names against
    ``directory`` (else the lookup sheets), or -- with ``ask`` -- against the directory ``ask`` gives when a row
    first writes a name (and again when a name is not in it), that row checked again."""
    lenient = dataclasses.replace(settings, command="remove", dry_run=True)
    try:
        table = load(path, lenient)  # needs emailId or orgUserId: the least any action needs
    except InputError as exc:
        return {a: Preview(problem=exc) for a in ACTIONS}
    previews: dict[str, Preview] = {}
    validators: dict[str, Validator] = {}
    for action in ACTIONS:
        if action == "add" and table.column_index("emailId") is None:
            try:  # the exact message the CLI gives; cheap: it stops at the header row
                load(path, dataclasses.replace(settings, command="add"))
            except InputError as exc:
                previews[action] = Preview(problem=exc)
                continue
        validator = Validator(table, action, builder_default=settings.builder_default, strict_ids=settings.strict_ids,
                              directory=directory, target=settings.host or None, deferred=ask is not None)
        if action == "apply" and "action" not in validator.index:
            previews[action] = Preview(problem=MissingColumn("action", path=table.path))
            continue
        validators[action] = validator
        previews[action] = Preview(warnings=[w.message for w in table.warnings])
    valid: dict[str, list[CheckedRow]] = {a: [] for a in validators}
    try:
        for raw in table.rows:
            checked = {action: validator.check(raw) for action, validator in validators.items()}
            if ask is not None and any(v.refreshable for v in validators.values()):
                checked = _again(raw, validators, ask) or checked
            for action, row in checked.items():
                _count(previews[action], row, valid[action])
    except InputError as exc:  # found while reading on (too many rows, a bad byte)
        return {a: Preview(problem=exc) for a in ACTIONS}
    for action in validators:
        for email in ("yes", "no"):
            plan_settings = dataclasses.replace(settings, command=action, send_email=email != "no")
            previews[action].plan[email] = dry_run_plan(valid[action], plan_settings)
    return previews


def _again(raw: Any, validators: dict[str, Validator], ask: Ask) -> dict[str, CheckedRow] | None:
    """The row checked again once ``ask`` has the directory read (or read again); None when nothing changed."""
    changed, directory = ask()
    for validator in validators.values():
        validator.refreshable.clear()
    if not changed:
        return None
    for validator in validators.values():
        validator.use_directory(directory)
    return {action: validator.check(raw) for action, validator in validators.items()}


def _count(result: Preview, row: CheckedRow, valid: list[CheckedRow]) -> None:
    result.rows += 1
    if row.errors:
        result.invalid += 1
        result.error_count += len(row.errors)
        result.errors.extend(row.errors[: max(0, MAX_ERRORS_SHOWN - len(result.errors))])
        return
    row.user = {}  # the plan needs the action, key and sendEmail only: keep memory small
    valid.append(row)


@dataclass
class _Check:
    """One upload's check, waiting in line or running."""

    key: str
    path: Path
    settings: JobSettings
    person: str
    future: asyncio.Future[dict[str, Preview]]
    credentials: Any = None  # the account's, to read its directory (never shown)


class Previews:
    """The per-upload cache and the line of checks.

    One computation per upload (every action and email choice, every language's request for it,
    share it); ``running`` at once in the whole server; the others wait in line in the order they
    came -- at most ``queue`` waiting in all, and at most ``per_person`` of one person's, waiting or
    running -- and see their place.  Past either bound :class:`PreviewBusy` says when to try again."""

    def __init__(self, running: int = 1, queue: int = 64, per_person: int = 4, keep: int = 64) -> None:
        self._running, self._queue, self._per_person, self._keep = running, queue, per_person, keep
        self._done: collections.OrderedDict[str, dict[str, Preview]] = collections.OrderedDict()
        self._waiting: collections.deque[_Check] = collections.deque()
        self._active: dict[str, _Check] = {}
        self._failed: dict[str, BaseException] = {}  # a check that raised: said once, then tried again
        self._seen: set[str] = set()  # finished checks already shown (audited) once
        self._tasks: set[asyncio.Task[None]] = set()
        self._seconds = 5.0  # how long a check took lately: what Retry-After is made of
        self.computed = 0  # how many files were read: tests check that one upload is read once

    def cached(self, key: str) -> dict[str, Preview] | None:
        return self._done.get(key)

    def place(self, key: str) -> int | None:
        """How many checks come before this one (0: it is running), or None when it is not in line."""
        if key in self._active:
            return 0
        for i, check in enumerate(self._waiting):
            if check.key == key:
                return len(self._active) + i
        return None

    def retry_after(self) -> int:
        """Seconds until the line has likely moved on: the checks in it at the pace of the last one."""
        ahead = len(self._waiting) + len(self._active)
        return max(2, min(60, math.ceil(self._seconds * ahead / self._running)))

    def submit(self, key: str, path: Path, settings: JobSettings, person: str = "",
               credentials: Any = None) -> asyncio.Future:
        """The check of ``key``: its result when cached, else its place in line (joined if new)."""
        loop = asyncio.get_running_loop()
        if key in self._done:
            self._done.move_to_end(key)
            done: asyncio.Future[dict[str, Preview]] = loop.create_future()
            done.set_result(self._done[key])
            return done
        for check in (*self._active.values(), *self._waiting):
            if check.key == key:
                return check.future
        if key in self._failed:
            raise self._failed.pop(key)
        mine = sum(1 for c in (*self._active.values(), *self._waiting) if person and c.person == person)
        if mine >= self._per_person or len(self._waiting) >= self._queue:
            raise PreviewBusy(self.retry_after(), mine=mine >= self._per_person)
        check = _Check(key, path, settings, person, loop.create_future(), credentials)
        self._waiting.append(check)
        self._start_next()
        return check.future

    async def get(self, key: str, path: Path, settings: JobSettings, person: str = "",
                  wait: float | None = None, credentials: Any = None) -> dict[str, Preview] | None:
        """The check's result, waiting at most ``wait`` seconds for it (None: until it is done); None when
        it is still in line by then."""
        future = self.submit(key, path, settings, person, credentials)
        try:
            return await asyncio.wait_for(asyncio.shield(future), wait)
        except TimeoutError:
            return None

    def first_view(self, key: str) -> bool:
        """True the first time a finished check is shown (the audit records it then, once)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _start_next(self) -> None:
        while self._waiting and len(self._active) < self._running:
            check = self._waiting.popleft()
            self._active[check.key] = check
            task = asyncio.get_running_loop().create_task(self._compute(check))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _compute(self, check: _Check) -> None:
        started = time.monotonic()
        try:
            result = await compute_with_names(check.path, check.settings, check.credentials)
        except BaseException as exc:  # a bug: whoever waits (or comes next) is told, then it may be tried again
            self._failed[check.key] = exc
            check.future.set_exception(exc)
            check.future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._active.pop(check.key, None)
            self._start_next()
        self.computed += 1
        self._seconds = 0.5 * self._seconds + 0.5 * (time.monotonic() - started)
        self._done[check.key] = result
        while len(self._done) > self._keep:
            gone, _ = self._done.popitem(last=False)
            self._seen.discard(gone)
        check.future.set_result(result)


def plan_lines(preview: Preview, email: str) -> list[str]:
    return preview.plan.get(email) or preview.plan.get("yes") or []


PREVIEWS: web.AppKey[Previews] = web.AppKey("previews")
