"""The dispatcher: valid rows in, a result for every row out.

Rows are grouped by what one request can carry and cut into batches (:mod:`bulkprov.send.batches`).
Workers (``concurrency``) send batches through the shared :class:`RateLimiter`, and each batch runs
under a tenacity retry policy (exponential backoff with jitter, Retry-After honoured, attempts
counted per row).  What happens on each kind of failure:

* **per-user refusals** in a reply: only those rows fail (the reconciler maps them back).  Users the
  reply leaves unconfirmed (a reply that is not a documented shape, a 4xx, a failure naming a key we
  did not send) may have been applied: they are checked with usersInfo once before they are settled,
  and only what the check's reply names settles them (:mod:`bulkprov.send.verify`); a lookup by
  orgUserId whose reply does not echo it is paired through the account listing
  (:class:`~bulkprov.kore.lookup.OrgIdResolver`).
* **rate refusal**: every worker pauses until the limiter's windows have a slot *and* at least the
  shortest configured window has passed since the refusal (Retry-After when the server sends one),
  with jitter.  Rate refusals do not spend ``max_attempts``: they are retried until a wall-clock cap
  (``rate_wait_cap``, by default the longest window) -- another client may be spending the account's
  budget, and six quick attempts cannot outlast a 60 s or 3,600 s window.
* **5xx / connection failure**: retried with backoff.
* **ambiguous** (timeout or dropped connection after sending): never blindly resent.  Before the
  next attempt, usersInfo is asked which users now exist (add) or are gone (remove); those rows
  are ``success`` (confirmed), only the rest are resent (:mod:`bulkprov.send.verify`).  An "already
  exists" for a row whose earlier attempt was uncertain -- in this run or an earlier one -- is
  likewise a confirmed success.
* **refused as a whole** (4xx without per-user details): the batch is split in halves until the
  offending rows are isolated; when both halves succeed, the refusal was about size, and later
  batches are cut smaller.
* **401/403** aborts the run at once; the **circuit breaker** aborts when most of the last N calls
  failed transiently; a **stop request** (Ctrl-C, SIGTERM, the run-time limit) stops sending; a
  **ledger that cannot be written** (disk full, I/O error) stops sending too.  Rows never sent are
  ``not_attempted`` with the reason; the ledger keeps them pending, so a resumed run sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from bulkprov._faults import fault_point
from bulkprov.bodies import resolve_update
from bulkprov.errors import (
    N_,
    OUTCOME_CODES,
    AuthRefused,
    BreakerOpen,
    DiskFull,
    RunStopped,
    Unreachable,
)
from bulkprov.i18n import gettext as _
from bulkprov.kore import (
    AuthFailed,
    CallFailed,
    CallResult,
    KoreClient,
    OutcomeUnknown,
    RateRefused,
    RequestRefused,
    ServerFailed,
    UserOutcome,
)
from bulkprov.kore.auth import TOKEN_LIFETIME
from bulkprov.kore.lookup import OrgIdResolver
from bulkprov.kore.refusals import in_words
from bulkprov.model import Action, CheckedRow, RowResult, Status
from bulkprov.send.batches import Batch, describe_plan, key_args, plan_batches, split_batch
from bulkprov.send.limiter import RateLimiter, parse_rate
from bulkprov.send.options import SendOptions
from bulkprov.send.outcomes import unreached
from bulkprov.send.retry import Tally, Wait, default_cap, rate_pause, retryable, stop_after
from bulkprov.send.verify import Aborted, Verifier, confirmed

log = logging.getLogger("bulkprov.dispatch")

BREAKER_SHARE = 0.6  # "most of the last N calls failed"
UNREACHABLE_LIMIT = 3  # connection failures, with no success yet, that abort the run
WAITING_FOR_WINDOW = N_("waiting for the account's rate window (another client is using it)")


def _maybe_applied(exc: CallFailed) -> bool:
    """Could the server have applied the request?  A lost reply, or a 5xx other than 503 (a gateway
    error or a crash may come after the work was done; 503 means the server did not take it)."""
    if isinstance(exc, OutcomeUnknown):
        return True
    return isinstance(exc, ServerFailed) and exc.sent and (exc.status or 0) >= 500 and exc.status != 503


# -- data ------------------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    results: dict[int, RowResult]
    aborted: str = ""
    stop_error: RunStopped | None = None                      # why the run stopped early (typed)
    run_id: str = ""
    users: dict[int, dict] = field(default_factory=dict)     # lookup: the users found
    before: dict[int, dict] = field(default_factory=dict)    # update/remove: the users before the change
    requests: int = 0
    notes: list[str] = field(default_factory=list)


class DispatchHooks:
    """Where the dispatcher reports row state (the ledger implements this; the default does nothing).

    ``sending`` is called before a request leaves and must be durable when it returns; ``settled``
    gets the rows whose outcome became known, after each batch; ``before`` the user as it was before
    an update or removal; ``forget`` the rows of a chunk sent whole.  A hook that raises stops the run (nothing is sent that is not recorded).
    """

    def sending(self, batch_id: str, rows: list[int]) -> None:
        pass

    def settled(self, results: list[RowResult]) -> None:
        pass

    def before(self, row: int, user: dict[str, Any]) -> None:
        pass

    def forget(self, rows: list[CheckedRow]) -> None:
        """A chunk is done (every outcome settled): what the hooks held for its rows may go."""


@dataclass(slots=True)
class _RowState:
    attempts: int = 0
    uncertain: bool = False       # an attempt may have been applied (timeout, drop, 5xx)


class Dispatcher:
    """Runs batches for one job; see the module docstring for the failure policy."""

    def __init__(self, client: KoreClient, *, batch_size: int = 100, concurrency: int = 4,
                 rate: str = "60/min,1800/h", max_attempts: int = 6, breaker_window: int = 20,
                 send_email: bool = True, progress: Callable[[dict[str, Any]], None] | None = None,
                 stop: asyncio.Event | None = None, backoff_max: float = 30.0,
                 hooks: DispatchHooks | None = None, uncertain: set[int] | None = None,
                 snapshot: bool = False, limiter: RateLimiter | None = None,
                 rate_wait_cap: float | None = None, announce: bool = True, total: int | None = None) -> None:
        self.client = client
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.windows = parse_rate(rate)
        self.limiter = limiter or RateLimiter(self.windows)
        self.max_attempts = max_attempts
        self.rate_wait_cap = default_cap(self.windows) if rate_wait_cap is None else rate_wait_cap
        self.send_email = send_email
        self.progress = progress
        self.stop = stop or asyncio.Event()
        self.backoff_max = backoff_max
        self.report = DispatchReport(results={}, run_id=uuid.uuid4().hex[:12])
        self.hooks = hooks or DispatchHooks()
        self.snapshot = snapshot  # fetch users before update/remove, for undo files
        # Rows an earlier, interrupted process may have sent: verified before they are sent again.
        self._rows: dict[int, _RowState] = {row: _RowState(uncertain=True) for row in uncertain or ()}
        self._unsettled: list[RowResult] = []
        self._unreachable = 0  # connection failures before any request ever succeeded
        self._recent: deque[bool] = deque(maxlen=breaker_window)
        self._size_cap: int | None = None
        self._largest_refused = 0
        self._split_note = ""
        self._total = total or 0  # every row the job sends (progress), when it sends them chunk by chunk
        self._settled = 0  # rows with an outcome so far, over every chunk
        self._failed = 0
        self._said_plan = False
        self._next_batch = 1  # batch ids go on across the chunks of a job
        self._waiting = ""
        self._announce = announce  # say the plan (sync's own lookups are part of its plan, not said apart)
        self._started = time.monotonic()
        self._orgs = OrgIdResolver(client, slot=self._extra_slot)  # usersInfo replies without orgUserId
        self.verifier = Verifier(client, self._orgs, slot=self._extra_slot, failed=self._check_failed,
                                 finish=self._finish, keep_before=self._keep_before, results=self.report.results,
                                 before=self.report.before)

    @classmethod
    def of(cls, client: KoreClient, settings: SendOptions, **kwargs: Any) -> Dispatcher:
        """A dispatcher with a run's sending options (batch size, concurrency, rate, attempts...)."""
        return cls(client, batch_size=settings.batch_size, concurrency=settings.concurrency, rate=settings.rate,
                   max_attempts=settings.max_attempts, breaker_window=settings.breaker_window,
                   send_email=settings.send_email, rate_wait_cap=settings.rate_wait_cap, **kwargs)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, rows: list[CheckedRow], *, last: bool = True) -> DispatchReport:
        """Send ``rows``; called once for a whole job, or once per chunk of it (see :meth:`forget`; ``last``:
        the job's last chunk, whose progress is the final one)."""
        batches = plan_batches(rows, self.batch_size, self.send_email, first=self._next_batch)
        self._next_batch += len(batches)
        self._total = max(self._total, self._settled + len(rows))
        if self._announce and not self._said_plan:
            self._said_plan = True
            for line in describe_plan(batches, self.batch_size, self.concurrency, self.windows):
                log.info(_("plan: %s"), line)
        queue: asyncio.Queue[Batch] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)
        workers = [asyncio.create_task(self._worker(queue)) for _n in range(max(1, self.concurrency))]
        await asyncio.gather(*workers)
        if not self.report.aborted and not self.stop.is_set():
            await self.verifier.verify_leftovers(rows)
        interrupted = self.stop.is_set() and not self.report.aborted
        for row in rows:  # whatever has no outcome yet
            if row.row in self.report.results:
                continue
            status, reason, code = unreached(self._rows.get(row.row, _RowState()).uncertain, self.report.aborted,
                                             interrupted)
            self._finish(row, status, reason, code)
        self._flush()
        self.emit_progress(final=last)
        return self.report

    async def _worker(self, queue: asyncio.Queue[Batch]) -> None:
        while not queue.empty():
            if self.report.aborted or self.stop.is_set():
                return
            batch = queue.get_nowait()
            if self._size_cap and len(batch.rows) > self._size_cap:
                for part in split_batch(batch, self._size_cap):
                    queue.put_nowait(part)
                continue
            await self._run_batch(batch)
            self._flush()
            self.emit_progress()

    async def _run_batch(self, batch: Batch) -> None:
        try:
            await self._send_with_retry(batch)
        except Aborted:
            return
        except RequestRefused as exc:
            await self._refused_whole(batch, exc)
        except AuthFailed as exc:
            self._abort(_auth_refused(exc))
        except CallFailed as exc:
            self._give_up(batch, exc)

    async def _send_with_retry(self, batch: Batch) -> None:
        retrying = AsyncRetrying(stop=stop_after(self.max_attempts, self.rate_wait_cap, Tally()),
                                 retry=retry_if_exception(retryable), wait=Wait(self.backoff_max), reraise=True,
                                 sleep=self._sleep, before_sleep=self._before_retry(batch))
        async for attempt in retrying:
            with attempt:
                self._check_running()
                pending = [r for r in batch.rows if r.row not in self.report.results]
                uncertain = {r.row for r in pending if self._rows.get(r.row, _RowState()).uncertain}
                if uncertain and batch.op != Action.LOOKUP:
                    pending = await self.verifier.verify(batch, pending, uncertain)
                if not pending:
                    return
                if self.snapshot and batch.op in (Action.UPDATE, Action.REMOVE):
                    await self.verifier.snapshot(batch, pending)
                result = await self._call(batch, pending)
                fault_point("replied")
                if batch.op == Action.LOOKUP and batch.by_org_id:
                    result = await self._orgs.complete(result, [r.org_user_id for r in pending])
                self._reconcile(batch, pending, result)
                if result.unmatched or result.unconfirmed:  # no success the reply did not state
                    for row in pending:  # it may have been applied: a resend is checked first
                        if row.key.id in result.unconfirmed:
                            self._rows[row.row].uncertain = True
                    await self.verifier.verify_unmatched(batch, pending, result)

    def _before_retry(self, batch: Batch):
        def hook(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, CallFailed) and not isinstance(exc, RateRefused):
                log.warning(_("batch %s: %s (%s); retrying"), batch.id, exc.message, exc.kind)
        return hook

    async def _sleep(self, seconds: float) -> None:
        """Backoff that a stop request cuts short (Ctrl-C must not wait out a 30 s backoff)."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _check_running(self) -> None:
        if self.report.aborted or self.stop.is_set():
            raise Aborted()

    @contextlib.asynccontextmanager
    async def _extra_slot(self):
        """A rate-limited slot for a request that checks rather than changes (usersInfo, the listing)."""
        async with self.limiter.slot():
            self._check_running()
            self.report.requests += 1
            yield

    async def _call(self, batch: Batch, rows: list[CheckedRow]) -> CallResult:
        """One request, through the limiter, with attempt counting and breaker bookkeeping."""
        try:
            async with self.limiter.slot():
                self._check_running()
                self._waiting = ""
                with self._recording():
                    self.hooks.sending(batch.id, [r.row for r in rows])
                self._check_running()  # a ledger that could not record the request: it is not sent
                fault_point("sending")
                for r in rows:
                    self._rows.setdefault(r.row, _RowState()).attempts += 1
                self.report.requests += 1
                result = await self._request(batch, rows)
        except CallFailed as exc:
            self._record_failure(batch, rows, exc)
            raise
        self._recent.append(True)
        return result

    async def _request(self, batch: Batch, rows: list[CheckedRow]) -> CallResult:
        if batch.op == Action.ADD:
            return await self.client.add_users([r.user for r in rows], send_email=batch.send_email)
        if batch.op == Action.UPDATE:
            return await self.client.update_users([resolve_update(r.user, self.report.before.get(r.row))
                                                   for r in rows])
        call = self.client.remove_users if batch.op == Action.REMOVE else self.client.users_info
        return await call(**key_args(rows))

    def _record_failure(self, batch: Batch, rows: list[CheckedRow], exc: CallFailed) -> None:
        for r in rows:
            if _maybe_applied(exc):
                self._rows[r.row].uncertain = True
        if isinstance(exc, RateRefused):
            self._rate_refused(exc)
        if isinstance(exc, ServerFailed | OutcomeUnknown):
            self._recent.append(False)
            self._check_breaker()
        if isinstance(exc, ServerFailed) and not exc.sent and not any(self._recent):
            self._unreachable += 1
            if self._unreachable >= UNREACHABLE_LIMIT:  # a wrong host or a dead network: say so now
                self._abort(Unreachable(host=self.client.base_url, said=exc.message))
        elif isinstance(exc, AuthFailed):
            self._abort(_auth_refused(exc))

    def _rate_refused(self, exc: RateRefused) -> None:
        """Hold every worker: for Retry-After when given, else for the shortest window (with jitter),
        after which the limiter's own windows decide when the next request may go."""
        pause = rate_pause(exc, self.windows)
        self.limiter.pause(pause)
        if not self._waiting:
            self._waiting = WAITING_FOR_WINDOW
            log.warning(_("the server refused a request for its rate limit: %s, about %.0f s"), _(WAITING_FOR_WINDOW),
                        pause)
            self.emit_progress()

    def _check_breaker(self) -> None:
        window = self._recent.maxlen or 0
        failures = sum(1 for ok in self._recent if not ok)
        if len(self._recent) >= window and failures >= BREAKER_SHARE * window:
            self._abort(BreakerOpen(failures=failures, window=window))

    def _abort(self, error: RunStopped) -> None:
        if not self.report.aborted:
            log.error(_("aborting: %s"), error.message)
            self.report.aborted = error.message
            self.report.stop_error = error

    def _cannot_record(self, exc: BaseException) -> None:
        """The ledger could not be written: stop sending (what is not recorded is never sent)."""
        self._abort(DiskFull(what=_("the run ledger"), reason=str(exc) or type(exc).__name__))

    # -- reconciling -------------------------------------------------------------------------------

    def _reconcile(self, batch: Batch, rows: list[CheckedRow], result: CallResult) -> None:
        for row in rows:
            outcome = result.outcomes.get(row.key.id)
            if outcome is None:
                continue  # left for the verifier (verify_unmatched)
            self._settle(batch, row, outcome, result.status)

    def _settle(self, batch: Batch, row: CheckedRow, outcome: UserOutcome, status: int | None) -> None:
        state = self._rows.setdefault(row.row, _RowState())
        if outcome.ok:
            if batch.op == Action.LOOKUP and outcome.detail is not None:
                self.report.users[row.row] = outcome.detail
            self._finish(row, Status.SUCCESS, "", "", status, batch.id)
        elif batch.op == Action.LOOKUP and not outcome.named:  # absence from a reply proves nothing
            self._finish(row, Status.FAILED, outcome.message or OUTCOME_CODES["unverified"].render("left-out"),
                         "unverified", status, batch.id)
        elif batch.op == Action.ADD and outcome.code == "already-exists" and state.uncertain:
            self._finish(row, Status.SUCCESS, confirmed("created"), "", status, batch.id)
        elif batch.op == Action.REMOVE and outcome.code == "not-found" and state.uncertain \
                and row.row not in self.verifier.absent_before:
            self._finish(row, Status.SUCCESS, confirmed("removed"), "", status, batch.id)
        else:  # a refused role, bot or group is named by the row's own name for it
            self._finish(row, Status.FAILED, in_words(outcome.message, row.user, row.names) or outcome.message
                         or outcome.code, outcome.code or "server-refused", status, batch.id)

    async def _refused_whole(self, batch: Batch, exc: CallFailed) -> None:
        if len(batch.rows) == 1:
            row = batch.rows[0]
            said = in_words(exc.message, row.user, row.names) or OUTCOME_CODES["request-refused"].render(
                said=exc.message)
            self._finish(row, Status.FAILED, said, "request-refused", exc.status, batch.id)
            return
        log.warning(_("batch %s (%d users) refused as a whole (%s); splitting it to isolate the cause"),
                    batch.id, len(batch.rows), exc.message)
        self._largest_refused = max(self._largest_refused, len(batch.rows))
        left, right = split_batch(batch, (len(batch.rows) + 1) // 2)
        await self._run_batch(left)
        await self._run_batch(right)
        succeeded = all(self.report.results.get(r.row) and self.report.results[r.row].status == Status.SUCCESS
                        for r in batch.rows)
        if succeeded and (self._size_cap is None or self._size_cap > len(left.rows)):
            self._size_cap = len(left.rows)
            note = _("the server refused {count} users in one request ({said}); batches were split and later "
                     "requests carried at most {cap} users").format(count=self._largest_refused, said=exc.message,
                                                                    cap=self._size_cap)
            log.warning(note)
            self.report.notes = [n for n in self.report.notes if n != self._split_note] + [note]
            self._split_note = note  # one note, the latest cap

    def _give_up(self, batch: Batch, exc: CallFailed) -> None:
        code = ("rate-limited" if isinstance(exc, RateRefused) else "unverified" if isinstance(exc, OutcomeUnknown)
                else "server-error")
        for row in batch.rows:
            if row.row not in self.report.results:
                attempts = self._rows[row.row].attempts
                reason = OUTCOME_CODES[code].render(attempts=attempts, said=exc.message)
                self._finish(row, Status.FAILED, reason, code, exc.status, batch.id)

    def _finish(self, row: CheckedRow, status: Status, reason: str, code: str, http_status: int | None = None,
                batch: str = "") -> None:
        state = self._rows.get(row.row, _RowState())
        result = RowResult.of(row, status, reason, code, http_status, state.attempts, batch)
        earlier = self.report.results.get(row.row)
        if earlier is None:
            self._settled += 1
        elif earlier.status != Status.SUCCESS:
            self._failed -= 1
        if status != Status.SUCCESS:
            self._failed += 1
        self.report.results[row.row] = result
        self._unsettled.append(result)

    def forget(self, rows: list[CheckedRow]) -> None:
        """After a chunk whose every outcome the hooks have recorded (the ledger): its rows' results, states
        and before-images leave memory; the client, limiter, breaker, size cap and counts go on."""
        for row in rows:
            self.report.results.pop(row.row, None)
            self.report.before.pop(row.row, None)
            self._rows.pop(row.row, None)
        self.hooks.forget(rows)

    def _flush(self) -> None:
        if self._unsettled:
            settled, self._unsettled = self._unsettled, []
            with self._recording():
                self.hooks.settled(settled)

    def _keep_before(self, row: int, user: dict[str, Any]) -> None:
        with self._recording():
            self.hooks.before(row, user)

    @contextlib.contextmanager
    def _recording(self) -> Iterator[None]:
        """Around a hook: one that cannot write (disk full, I/O error) stops the run cleanly."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the hook is the ledger: any failure means "cannot record"
            self._cannot_record(exc)

    def _check_failed(self, batch: Batch, exc: CallFailed) -> None:
        """A usersInfo check that failed counts like any request (the breaker, a refused login)."""
        self._record_failure(batch, [], exc)

    def emit_progress(self, final: bool = False) -> None:
        if not self.progress:
            return
        done, failed = self._settled, self._failed
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - done) / rate if rate > 0 else None
        self.progress({"done": done, "failed": failed, "total": self._total, "elapsed": elapsed, "eta": eta,
                       "requests": self.report.requests, "final": final, "waiting": self._waiting})


async def dispatch_rows(rows: list[CheckedRow], settings: SendOptions, credentials: Any,
                        progress: Callable[[dict[str, Any]], None] | None = None,
                        stop: asyncio.Event | None = None, hooks: DispatchHooks | None = None,
                        uncertain: set[int] | None = None, snapshot: bool = False,
                        limiter: RateLimiter | None = None, announce: bool = True) -> DispatchReport:
    """Send the valid rows of a job (the runner's entry point into the network half)."""
    async with KoreClient(settings.host, credentials, timeout=settings.timeout,
                          concurrency_hint=settings.concurrency) as client:
        dispatcher = Dispatcher.of(client, settings, progress=progress, stop=stop, hooks=hooks,
                                   uncertain=uncertain, snapshot=snapshot, limiter=limiter, announce=announce)
        return await dispatcher.run(rows)


def _auth_refused(exc: CallFailed) -> AuthRefused:
    said = re.sub(r"^HTTP \d+: ", "", exc.message)  # the template names the status already
    return AuthRefused(status=exc.status, said=said, lifetime=TOKEN_LIFETIME)
