"""Runs started from the page: each in its own thread and event loop, one at a time, progress kept in memory.

A long validation or result-writing phase never freezes the page; the progress
(``{done, failed, total, eta, requests, final}``) is polled from ``GET /jobs/ID/progress``.  The rows
that need attention come from the run's own results (:meth:`JobOutcome.rows_needing_attention`),
never from reading its workbook back.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bulkprov.errors import BulkprovError
from bulkprov.jobs import JobOutcome, JobSettings, run_job_async
from bulkprov.units import duration
from bulkprov.web.frame import MAX_ERRORS_SHOWN
from bulkprov.web.lang import N_, _
from bulkprov.web.uploads import Upload
from bulkprov.web.wording import explain

log = logging.getLogger("bulkprov.web")
UNEXPECTED = N_("The run failed unexpectedly; the server log has the details.")


@dataclass
class Job:
    """One run started from the page; progress arrives from the run's thread."""

    id: str
    upload: Upload
    action: str
    email: str
    user: str
    started: float = field(default_factory=time.time)
    state: str = "running"  # running | finished | failed
    progress: dict[str, Any] = field(default_factory=dict)
    outcome: JobOutcome | None = None
    error: str = ""
    error_code: str = ""
    problem: BulkprovError | None = None
    attention: list[list[str]] = field(default_factory=list)  # the first failed/invalid rows, for the page
    thread: threading.Thread | None = None
    judged: threading.Event = field(default_factory=threading.Event)  # past the gate, or stopped by it

    def update(self, progress: dict[str, Any]) -> None:  # called from the run's thread
        self.progress = dict(progress)
        self.judged.set()  # sending has begun: the gate let the run through

    def request_url(self) -> str:
        """The approval request this run waits for ("" when it does not wait for one)."""
        from bulkprov.errors import PendingApproval

        for error in self.outcome.stop_errors if self.outcome is not None else []:
            if isinstance(error, PendingApproval):
                return f"/requests/{error.params['request_id']}"
        return ""

    def phase(self) -> str:
        """What the run is doing, in the reader's language (worded when asked: each reader has theirs)."""
        if self.state == "finished":
            return _("Finished.")
        if self.state == "failed":
            return _("The run did not start.") if not self.progress else _("The run failed.")
        if not self.progress:
            return _("Checking the file and sending the first requests…")
        if self.progress.get("final"):
            return _("Writing the result workbook…")
        return _("Sending to Kore.ai…")

    def failure(self) -> str:
        """Why the run failed, in the reader's language (the library's message is rendered when shown)."""
        if self.problem is not None:
            return explain(self.problem)
        return _(self.error) if self.error else ""

    def percent(self) -> int:
        if self.state == "finished":
            return 100
        total, done = self.progress.get("total", 0), self.progress.get("done", 0)
        if not total:
            return 100 if self.progress.get("final") else 0
        return min(100, int(100 * done / total))

    def status(self) -> dict[str, Any]:
        eta = self.progress.get("eta")
        eta_text = "—" if self.state != "running" else duration(eta) if eta is not None else "…"
        return {"state": self.state, "phase": self.phase(), "percent": self.percent(),
                "done": self.progress.get("done", 0), "failed": self.progress.get("failed", 0),
                "total": self.progress.get("total", 0), "requests": self.progress.get("requests", 0),
                "eta": eta, "eta_text": eta_text, "error": self.failure()}


class Jobs:
    """The runs started by this server, newest last; at most one running."""

    def __init__(self, keep: int = 100) -> None:
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self.keep = keep
        self.lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def running(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state == "running"), None)

    def start(self, job: Job, settings: JobSettings, credentials: Any) -> bool:
        with self.lock:
            if self.running() is not None:
                return False
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
        # The thread runs in a copy of this request's context: its language (bulkprov.i18n) words the
        # workbook's labels and reasons, as the page that started it reads.
        context = contextvars.copy_context()
        job.thread = threading.Thread(target=context.run, args=(_run_job, job, settings, credentials),
                                      name=f"bulkprov-run-{job.id[:8]}")
        job.thread.start()
        return True


def _run_job(job: Job, settings: JobSettings, credentials: Any) -> None:
    """The run's thread: its own event loop, so the page stays responsive while the run reads and writes."""
    try:
        outcome = asyncio.run(run_job_async(job.upload.path, settings, credentials=credentials,
                                            progress=job.update))
    except BulkprovError as exc:
        job.error, job.error_code, job.problem = explain(exc), exc.code, exc
        job.state = "failed"
        log.warning("run of %s refused: %s [%s]", job.upload.path.name, exc.message, exc.code)
    except Exception:
        log.exception("run of %s failed", job.upload.path.name)
        job.error, job.error_code = UNEXPECTED, "internal"
        job.state = "failed"
    else:
        job.outcome = outcome
        job.attention = [[str(r.row) if not r.ref.synthetic else "", r.email or r.org_user_id, r.status, r.reason]
                         for r in outcome.rows_needing_attention(MAX_ERRORS_SHOWN)]
        job.state = "finished"
        log.info("run %s of %s finished: %s", outcome.summary.run_id, job.upload.path.name,
                 dict(outcome.summary.status_totals()))
    finally:
        job.judged.set()


JOBS: web.AppKey[Jobs] = web.AppKey("jobs")
