"""The check page's preview: computed once per upload, for every action in one pass, a few at a time.

A hostile or just huge workbook costs memory while it is read, so

* the file is read **once** per upload: one pass feeds a validator per action (add, update, remove,
  apply) and the result — counts, the first problems, the plan lines for both activation-email
  choices — is small and cached (:class:`Previews`);  what needs a second person's approval is judged
  by the run itself, through the one gate every front end shares (:mod:`bulkprov.approvals.gate`);
* requests for an upload whose preview is being computed wait for that computation (single flight);
* at most ``max_previews`` computations run at once in the whole server, and at most ``queue``
  wait; more are refused (the page says "busy").

What a preview calls is what the CLI's ``--dry-run`` calls: :func:`bulkprov.jobs.runner.load`, the
validator, :func:`bulkprov.jobs.runner.dry_run_plan`.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from bulkprov.errors import InputError, MissingColumn, RowError
from bulkprov.jobs.runner import dry_run_plan, load
from bulkprov.jobs.settings import JobSettings
from bulkprov.model import CheckedRow
from bulkprov.validation import Validator

ACTIONS = ("add", "update", "remove", "apply")
MAX_ERRORS_SHOWN = 500


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
    """Too many checks are running or waiting: try again in a moment."""


def compute(path: Path, settings: JobSettings) -> dict[str, Preview]:
    """Read ``path`` once and check it for every action (blocking: run it in a thread)."""
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
        validator = Validator(table, action, builder_default=settings.builder_default, strict_ids=settings.strict_ids)
        if action == "apply" and "action" not in validator.index:
            previews[action] = Preview(problem=MissingColumn("action", path=table.path))
            continue
        validators[action] = validator
        previews[action] = Preview(warnings=[w.message for w in table.warnings])
    valid: dict[str, list[CheckedRow]] = {a: [] for a in validators}
    try:
        for raw in table.rows:
            for action, validator in validators.items():
                _count(previews[action], validator.check(raw), valid[action])
    except InputError as exc:  # found while reading on (too many rows, a bad byte)
        return {a: Preview(problem=exc) for a in ACTIONS}
    for action in validators:
        for email in ("yes", "no"):
            plan_settings = dataclasses.replace(settings, command=action, send_email=email != "no")
            previews[action].plan[email] = dry_run_plan(valid[action], plan_settings)
    return previews


def _count(result: Preview, row: CheckedRow, valid: list[CheckedRow]) -> None:
    result.rows += 1
    if row.errors:
        result.invalid += 1
        result.error_count += len(row.errors)
        result.errors.extend(row.errors[: max(0, MAX_ERRORS_SHOWN - len(result.errors))])
        return
    row.user = {}  # the plan needs the action, key and sendEmail only: keep memory small
    valid.append(row)


class Previews:
    """The per-upload cache, single flight per upload, and the global limit on running checks."""

    def __init__(self, running: int = 1, queue: int = 8, keep: int = 64) -> None:
        self._slots = asyncio.Semaphore(running)
        self._capacity = running + queue
        self._active = 0
        self._keep = keep
        self._done: collections.OrderedDict[str, dict[str, Preview]] = collections.OrderedDict()
        self._flight: dict[str, asyncio.Future[dict[str, Preview]]] = {}
        self.computed = 0  # how many files were read: tests check that one upload is read once

    def cached(self, upload_id: str) -> dict[str, Preview] | None:
        return self._done.get(upload_id)

    async def get(self, upload_id: str, path: Path, settings: JobSettings) -> dict[str, Preview]:
        if upload_id in self._done:
            self._done.move_to_end(upload_id)
            return self._done[upload_id]
        if upload_id in self._flight:
            return await asyncio.shield(self._flight[upload_id])
        if self._active >= self._capacity:
            raise PreviewBusy()
        future: asyncio.Future[dict[str, Preview]] = asyncio.get_running_loop().create_future()
        self._flight[upload_id] = future
        self._active += 1
        try:
            async with self._slots:
                result = await asyncio.to_thread(compute, path, settings)
                self.computed += 1
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._active -= 1
            self._flight.pop(upload_id, None)
        future.set_result(result)
        self._done[upload_id] = result
        while len(self._done) > self._keep:
            self._done.popitem(last=False)
        return result

    def forget(self, upload_id: str) -> None:
        self._done.pop(upload_id, None)


def plan_lines(preview: Preview, email: str) -> list[str]:
    return preview.plan.get(email) or preview.plan.get("yes") or []
