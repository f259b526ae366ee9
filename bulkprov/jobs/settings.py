"""What a run is asked to do (:class:`JobSettings`) and what it gives back (:class:`JobOutcome`)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkprov.errors import RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.io import LoaderLimits
from bulkprov.jobs.phrasing import Phrasing
from bulkprov.model import FAILED_STATUSES, RowResult
from bulkprov.outputs.results import RunSummary, read_results

if TYPE_CHECKING:
    from bulkprov.approvals.flow import Approvals
    from bulkprov.approvals.policy import Account

COMMANDS = ("validate", "add", "update", "remove", "lookup", "apply", "plan", "sync")
ROSTER_COMMANDS = ("plan", "sync")  # the roster is checked as adds: every row a complete user
EXIT_OK, EXIT_ROWS_FAILED, EXIT_UNUSABLE, EXIT_ABORTED, EXIT_PENDING = 0, 1, 2, 3, 4
ATTENTION_KEPT = 1000  # rows needing attention a JobOutcome keeps in memory; the rest are in its workbook

ProgressFn = Callable[[dict[str, Any]], None]
ConfirmFn = Callable[[str, int], bool]
"""Asked before something a guard would stop (``("builder", 12)``): True goes on.  Front ends
supply it (the CLI asks on a terminal); the library never prompts."""


@dataclass(frozen=True)
class JobSettings:
    """Everything a run needs except secrets (those live in :class:`bulkprov.kore.auth.Credentials`).

    Frozen: a run's settings are made once (by :func:`bulkprov.config.job_settings`, or a library caller) and
    replaced with :func:`dataclasses.replace`, never edited while the run goes on.  Each stage reads them
    through its own read-only view (:class:`bulkprov.send.options.SendOptions`, ...); lists given are kept
    as tuples.
    """

    command: str
    sheet: str | None = None
    output: Path | None = None
    failures_output: Path | None = None  # also write the failed rows as a workbook of their own
    replace_output: bool = True  # False: refuse a named ``output`` that exists (the CLI's default: a user named it)
    results_format: str = "xlsx"
    dry_run: bool = False
    send_email: bool = True
    builder_default: bool = False
    lookups_file: Path | None = None
    encoding: str | None = None  # a text input's encoding, instead of detecting it
    ignore_columns: tuple[str, ...] = ()  # headers left unread (a misspelt one, on purpose)
    limits: LoaderLimits = field(default_factory=LoaderLimits)
    host: str | None = None
    batch_size: int = 100
    concurrency: int = 4
    rate: str = "60/min,1800/h"
    max_attempts: int = 6
    rate_wait_cap: float | None = None  # how long rate refusals may go on (None: the longest rate window)
    timeout: float = 60.0
    breaker_window: int = 20
    command_line: str = ""
    state_dir: Path | None = None      # default: .bulkprov/ beside the input
    use_ledger: bool = True
    resume: bool = False
    force: bool = False
    retry_failed: str | None = None
    webhook: str | None = None
    max_runtime: float | None = None
    settle: float = 0.0                # wait until the input has not changed for this long before reading it
    run_id: str | None = None          # the id this invocation logs under (None: chosen when the run starts)
    # sync / plan guards (config: max_deletes, max_delete_percent, protected, builder_confirm)
    max_deletes: int = 500
    max_delete_percent: float = 10.0
    allow_deletes: int | None = None
    protected: tuple[str, ...] = ()   # emails or orgUserIds, or patterns of them (fnmatch)
    builder_confirm: int = 10
    allow_builder: int | None = None
    allow_role_removals: int | None = None
    allow_protected: int | None = None  # change or remove up to N protected users (only where nobody approves)
    plan_file: Path | None = None
    strict_ids: bool = True            # off: unusual id shapes and over-long values are warnings, not refusals
    lang: str | None = None            # en, ko, ja: messages and workbooks of the run (None: the caller's language)
    report_strays: bool = False        # plan/sync list the account's users the roster does not mention
    remove_strays: bool = False        # ... and sync removes them, under the same guards (implies reporting)
    directory_max_age_hours: float = 24.0  # the account's directory kept in state_dir is read again when older
    refresh_directory: bool = False    # read the account's directory now, however young the kept copy
    approvals: Approvals | None = None  # who runs, and the approvers a profile names
    account: Account | None = None      # host + client id: found from the credentials before the run starts
    upload_id: str = ""    # the page's upload, linked from a request it makes
    input_name: str = ""   # the input's name as its owner knows it (the page's upload: the user's file name)
    phrasing: Phrasing = field(default_factory=Phrasing)

    def __post_init__(self) -> None:
        for name in ("ignore_columns", "protected"):  # a caller's list is copied: nobody appends to a run's
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def public_settings(self) -> dict[str, str]:
        """Settings for the Summary sheet: the ones that mattered for this run, never a secret.
        Labels and yes/no in the run's language; values (host, rate, numbers) as given."""
        yes_no = {True: _("yes"), False: _("no")}
        out = {_("command"): self.command}
        if self.command != "validate":
            out[_("dry run")] = yes_no[bool(self.dry_run)]
        if self.command in ("add", "apply", "plan", "sync"):
            out[_("send activation emails")] = yes_no[bool(self.send_email)]
        if self.command != "validate" and not self.dry_run:
            out.update({_("host"): self.host or "", _("batch size"): str(self.batch_size),
                        _("concurrency"): str(self.concurrency), _("rate"): self.rate,
                        _("max attempts"): str(self.max_attempts), _("timeout (s)"): str(self.timeout)})
            if self.max_runtime:
                out[_("run-time limit (s)")] = f"{self.max_runtime:g}"
        return out


@dataclass
class JobOutcome:
    """What a run produced: the summary (counts), the workbook, the exit code, and the rows that
    need attention -- the first :data:`ATTENTION_KEPT` in memory, the rest read back from the
    workbook on demand, so an outcome stays small for a million rows.

    ``attention`` may be given as every row's result (``{row: RowResult}``, as the sending paths
    hold them): only the first rows needing attention are kept.
    """

    summary: RunSummary
    results_path: Path
    exit_code: int
    undo_path: Path | None = None
    attention: Sequence[RowResult] | Mapping[int, RowResult] = field(default_factory=list)
    stop_errors: list[RunStopped] = field(default_factory=list)
    audit_head: dict[str, Any] | None = None  # the account's audit trail after this run's record (records, hash)

    def __post_init__(self) -> None:
        if isinstance(self.attention, Mapping):
            every = self.attention
            self.attention = list(itertools.islice(
                (every[row] for row in sorted(every) if every[row].status in FAILED_STATUSES), ATTENTION_KEPT))

    @property
    def attention_total(self) -> int:
        """How many rows need attention (failed, invalid, not attempted)."""
        totals = self.summary.status_totals()
        return max(len(self.attention), sum(totals[s] for s in FAILED_STATUSES))

    def rows_needing_attention(self, limit: int | None = None) -> Iterator[RowResult]:
        """The failed, invalid and not-attempted rows, in input order (beyond the ones kept in
        memory, read back from the result file)."""
        wanted = self.attention_total if limit is None else min(limit, self.attention_total)
        yield from itertools.islice(self.attention, wanted)
        if wanted <= len(self.attention):
            return
        more = (r for r in read_results(self.results_path) if r.status in FAILED_STATUSES)
        yield from itertools.islice(more, len(self.attention), wanted)


def default_output(path: Path, command: str, fmt: str, when: dt.datetime) -> Path:
    """``users.add-results-20261123-105000.xlsx`` beside the input: earlier results are kept.  Runs in
    the same second get ``-2``, ``-3``... (a name whose results, undo or failures file exists is taken)."""
    stem = f"{path.stem}.{command}-results-{when:%Y%m%d-%H%M%S}"
    for n in itertools.count(1):
        name = stem if n == 1 else f"{stem}-{n}"
        taken = (f"{name}.{fmt}", f"{name}.undo.xlsx", f"{name}.failures.xlsx")
        if not any(path.with_name(t).exists() for t in taken):
            return path.with_name(taken[0])
    raise AssertionError("unreachable")


def key_column_requirement(command: str) -> tuple[str, ...]:
    """Which key columns a file must have for a command (one of them)."""
    return ("emailId",) if command in ("add", *ROSTER_COMMANDS) else ("emailId", "orgUserId")


def state_dir_for(path: Path, settings: JobSettings) -> Path:
    return settings.state_dir or path.resolve().parent / ".bulkprov"


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def now_text() -> str:
    return now().isoformat(timespec="seconds")
