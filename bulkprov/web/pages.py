"""The pages after login: upload, the check (validation report and plan), run, a run's page, runs, downloads.

A page calls what the CLI calls: the check is :func:`bulkprov.jobs.frame.load` +
:func:`~bulkprov.jobs.frame.check_rows` + :func:`~bulkprov.jobs.checkonly.dry_run_plan`; a run is
:func:`bulkprov.jobs.run_job_async` in a worker thread (:mod:`bulkprov.web.runner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from bulkprov import i18n, units
from bulkprov.approvals.flow import Approvals
from bulkprov.errors import InputError
from bulkprov.jobs.history import list_runs
from bulkprov.jobs.settings import JobSettings
from bulkprov.model import FAILED_STATUSES
from bulkprov.outputs.results import TOP_REASONS, failures_path
from bulkprov.web.config import WebConfig
from bulkprov.web.frame import XLSX_TYPE, address, display_stem, download, message, page
from bulkprov.web.html import TEMPLATES
from bulkprov.web.keys import CONFIG, SESSION
from bulkprov.web.lang import N_, _, text
from bulkprov.web.preview import PREVIEWS, Preview, PreviewBusy, plan_lines
from bulkprov.web.records import record
from bulkprov.web.runner import JOBS, Job, Jobs
from bulkprov.web.security import Session
from bulkprov.web.uploads import Upload, ascii_stem, find_upload
from bulkprov.web.wording import (
    ACTION_NAMES,
    ACTIONS,
    EMAIL_CHOICES,
    ENCODING_CHOICES,
    WebPhrasing,
    explain,
    label,
    labels,
)

log = logging.getLogger("bulkprov.web")

RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
GATE_WAIT = 30.0  # seconds Run waits for the gate's verdict (a huge file: the run's page follows it instead)


def job_settings(config: WebConfig, action: str, email: str, **changes: Any) -> JobSettings:
    """A page run's settings: the page's own (made by :func:`bulkprov.config.job_settings`, like the command
    line's) with this run's action, email choice and file."""
    return dataclasses.replace(config.job, command=action, send_email=email != "no", state_dir=config.state_dir,
                               phrasing=WebPhrasing(), **changes)


def run_by(request: web.Request, config: WebConfig) -> Approvals:
    """Who runs from the page: the signed-in person, from their address; a guard always becomes a request."""
    session: Session = request[SESSION]
    return Approvals(person=session.user or "?", where=address(request), source="page",
                     expiry_hours=config.approval_expiry_hours, webhook=config.webhook, page=True)


def _choices(query: Any) -> tuple[str, str]:
    action = str(query.get("action") or "add")
    return (action if action in ACTIONS else "add"), ("no" if query.get("email") == "no" else "yes")


# A check request waits this long for its result; a check still in line by then gets a page that says its
# place and refreshes itself every CHECK_REFRESH seconds until the result is there.
CHECK_WAIT, CHECK_REFRESH = 2.0, 2


async def preview_of(request: web.Request, upload: Upload, action: str, email: str = "yes") -> Preview | web.Response:
    """The upload's preview for ``action`` (computed once per upload), or the page that says its place in
    the line of checks (200, refreshing itself), or that the line is full (503 with Retry-After, retried
    by the page itself)."""
    config: WebConfig = request.app[CONFIG]
    checks = request.app[PREVIEWS]
    key = f"{upload.id}.{i18n.current()}"  # a preview's messages and plan are worded in one language
    session: Session = request[SESSION]
    here = f"/uploads/{upload.id}?action={action}&email={email}"
    try:
        previews = await checks.get(key, upload.path, job_settings(
            config, "add", "yes", dry_run=True, encoding=upload.encoding or None), person=session.user or "",
            wait=CHECK_WAIT, credentials=config.credentials)
    except PreviewBusy as busy:
        return _line_full(request, busy, here)
    if previews is None:
        place = checks.place(key) or 0
        return page(request, "waiting.html", text(N_("Check: {name}"), name=upload.name), upload=upload,
                    place=place, refresh=CHECK_REFRESH, refresh_url=here)
    if checks.first_view(key):
        await record(request, "validation", upload=upload.id, input=upload.name, input_sha256=upload.sha256,
               results={a: {"rows": p.rows, "invalid": p.invalid, "problem": p.problem.code if p.problem else ""}
                        for a, p in previews.items()})
    return previews[action]


def _line_full(request: web.Request, busy: PreviewBusy, here: str) -> web.Response:
    """503 with Retry-After; the page itself tries again then (a browser does not honour the header)."""
    if busy.mine:
        said = _("Your other files are still being checked: this one joins the line when one of them is done. "
                 "This page tries again by itself.")
    else:
        said = _("Many files are waiting to be checked right now: this page tries again by itself in a few seconds.")
    response = page(request, "message.html", _("Busy"), 503, kind="warning", message=said, refresh=busy.retry_after,
                    refresh_url=here, links=[(here, _("Try again now"))])
    response.headers["Retry-After"] = str(busy.retry_after)
    return response


RUN_LABELS = {"add": N_("Run: add {count} users"), "update": N_("Run: update {count} users"),
              "remove": N_("Run: remove {count} users"), "apply": N_("Run: apply the action column to {count} users")}


async def upload_report(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, _("Not found"), _("There is no such upload."), status=404)
    action, email = _choices(request.query)
    result = await preview_of(request, upload, action, email)
    if isinstance(result, web.Response):
        return result
    session: Session = request[SESSION]
    return page(request, "report.html", text(N_("Check: {name}"), name=upload.name), upload=upload,
                actions=labels(ACTIONS), emails=labels(EMAIL_CHOICES), action=action, email=email, result=result,
                problem=result.problem, problem_text=explain(result.problem) if result.problem else "",
                plan=plan_lines(result, email), running=request.app[JOBS].running(), csrf=session.csrf,
                run_label=text(RUN_LABELS[action], count=units.number(result.valid)))


async def run_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    jobs: Jobs = request.app[JOBS]
    session: Session = request[SESSION]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, _("Not found"), _("There is no such upload."), status=404)
    form = await request.post()
    action = str(form.get("action") or "add")
    email = "no" if form.get("email") == "no" else "yes"
    mode = str(form.get("mode") or "")
    if action not in ACTIONS or mode not in ("", "resume", "force"):
        return message(request, _("Bad request"), _("Unknown action."), status=400)
    checked = await preview_of(request, upload, action, email)
    if isinstance(checked, web.Response):  # still in line (or the line is full): the check page says so
        if checked.status == 503:
            return checked
        raise web.HTTPSeeOther(f"/uploads/{upload.id}?action={action}&email={email}")
    if checked.problem is not None or checked.valid == 0:  # the page offers no Run button: neither does the server
        return message(request, _("Nothing to run"), _("This file has no valid rows for this action: fix the rows the "
                                                       "check lists and upload the file again."), status=409,
                       links=[(f"/uploads/{upload.id}?action={action}&email={email}", _("Back to the check"))])
    running = jobs.running()
    if running is not None:
        return _busy(request, running)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = config.results / f"{upload.id}.{action}-results-{stamp}.xlsx"
    config.results.mkdir(parents=True, exist_ok=True)
    settings = job_settings(config, action, email, output=output, resume=mode == "resume", force=mode == "force",
                            command_line=f"bulkprov serve: {action} by {session.user}",
                            failures_output=failures_path(output), encoding=upload.encoding or None,
                            approvals=run_by(request, config), upload_id=upload.id, input_name=upload.name)
    job = Job(uuid.uuid4().hex, upload, action, email, session.user or "")
    if not jobs.start(job, settings, config.credentials):
        return _busy(request, jobs.running())
    log.info("%s started %s of %s (job %s)", session.user, action, upload.path.name, job.id)
    # The run judges the whole file through the one gate (bulkprov.approvals.gate) before it sends anything:
    # wait for its verdict so that a run needing approval lands on its request at once.
    await asyncio.to_thread(job.judged.wait, GATE_WAIT)
    raise web.HTTPSeeOther(job.request_url() or f"/jobs/{job.id}")


def _busy(request: web.Request, running: Job | None) -> web.Response:
    link = (f"/jobs/{running.id}", _("Follow the run in progress")) if running else ("/runs", _("Runs"))
    return message(request, _("A run is in progress"), _("Another run is in progress for this Kore.ai account. One "
                                                         "run at a time: wait for it to finish, then press Run again."),
                   status=409, kind="warning", links=[link])


async def job_page(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return message(request, _("Not found"), _("There is no such run (runs started before the server restarted "
                                                  "are on the Runs page)."), status=404, links=[("/runs", _("Runs"))])
    if job.request_url():  # the run waits for a second person: its request is the page to see
        raise web.HTTPSeeOther(job.request_url())
    session: Session = request[SESSION]
    action = _(ACTIONS[job.action])
    context: dict[str, Any] = {"job": job, "progress": job.status(), "action_label": action[:1].upper() + action[1:],
                               "csrf": session.csrf, "failure": job.failure(), "aborted": "", "bad": 0}
    if job.state == "finished":
        assert job.outcome is not None
        summary = job.outcome.summary
        totals = summary.status_totals()
        context.update(aborted=summary.aborted, bad=sum(totals[s] for s in FAILED_STATUSES),
                       totals=sorted(totals.items()), all_rows=max(1, sum(totals.values())),
                       reasons=_top_reasons(summary.reasons), notes=summary.warnings, run_id=summary.run_id,
                       undo=job.outcome.undo_path is not None)
    return page(request, "job.html", _("Run"), **context)


def _top_reasons(reasons: Counter) -> list[tuple[str, str, int]]:
    """The commonest reasons rows failed (as the Summary sheet's chart has them): code, what it means
    in the reader's language, rows."""
    from bulkprov.errors import describe

    return [(code, describe(code), n) for code, n in reasons.most_common(TOP_REASONS)]


async def job_progress(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return web.json_response({"error": "no such run"}, status=404)
    return web.json_response(job.status())


RUN_STATES = {"running": N_("running"), "finished": N_("finished"), "interrupted": N_("interrupted"),
              "failed": N_("failed"), "aborted": N_("stopped")}


async def runs_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    try:
        runs = await asyncio.to_thread(list_runs, config.state_dir)
    except InputError:
        runs = []
    rows = []
    for run in reversed(runs):
        upload = find_upload(config, Path(run.input_path).stem)
        name = upload.name if upload and Path(run.input_path).parent == config.uploads else Path(run.input_path).name
        results = _own_result(config, run.results_path) is not None
        failures = (results and any(run.counts.get(s) for s in FAILED_STATUSES)
                    and failures_path(Path(run.results_path)).is_file())
        rows.append({"id": run.id, "started": run.started, "name": name, "state": run.state,
                     "what": label(ACTION_NAMES, run.command), "state_label": label(RUN_STATES, run.state),
                     "counts": sorted(run.counts.items()), "results": results, "failures": failures})
    return page(request, "runs.html", _("Runs"), runs=rows, running=request.app[JOBS].running())


def _own_result(config: WebConfig, results_path: str | None) -> Path | None:
    """A result file this server wrote (under STATE_DIR/results), or None: never any other path."""
    if not results_path:
        return None
    path = Path(results_path).resolve()
    if not path.is_relative_to(config.results.resolve()) or path.suffix != ".xlsx" or not path.is_file():
        return None
    return path


def _run_results(config: WebConfig, run_id: str) -> tuple[Path, str, str] | None:
    """The result workbook of a ledger run and the file names to offer (ASCII, and the user's own), or None."""
    from bulkprov.state.ledger import Ledger

    if not RUN_ID.match(run_id) or not (config.state_dir / "ledger.sqlite3").is_file():
        return None
    with contextlib.closing(Ledger(config.state_dir)) as ledger:
        try:
            info = ledger.run(run_id)
        except InputError:
            return None
    path = _own_result(config, info.results_path)
    if path is None:
        return None
    upload = find_upload(config, Path(info.input_path).stem)
    stem = ascii_stem(upload.name) if upload else "users"
    own = (display_stem(upload.name) if upload else "") or stem
    return (path, path.name.replace(Path(info.input_path).stem, stem, 1),
            path.name.replace(Path(info.input_path).stem, own, 1))


async def run_download(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    kind = request.match_info["kind"]
    found = await asyncio.to_thread(_run_results, config, request.match_info["run_id"])
    if found is None:
        return message(request, _("Not found"), _("There is no result workbook for this run."), status=404)
    path, name, full = found
    if kind == "failures":
        path = failures_path(path)
        name, full = (n.replace("-results-", "-failures-", 1) for n in (name, full))
        if not path.is_file():
            return message(request, _("Not found"), _("This run left no failures file."), status=404)
    elif kind == "undo":
        from bulkprov.outputs.undo import undo_path

        path = undo_path(path)
        name, full = (n[: -len(".xlsx")] + ".undo.xlsx" for n in (name, full))
        if not path.is_file():
            return message(request, _("Not found"), _("This run left no undo file."), status=404)
    await record(request, "download", run=request.match_info["run_id"], kind=kind, file=name)
    return download(path, name, full)


async def index(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    return page(request, "upload.html", _("Upload users"), csrf=session.csrf, actions=labels(ACTIONS),
                emails=labels(EMAIL_CHOICES), email="yes" if config.job.send_email else "no",
                encodings=labels(ENCODING_CHOICES),
                max_mb=round(config.max_upload_bytes / 1024 / 1024, 2), max_bytes=config.max_upload_bytes,
                running=request.app[JOBS].running())


async def template_download(request: web.Request) -> web.StreamResponse:
    from bulkprov.outputs.template import write_template

    config: WebConfig = request.app[CONFIG]
    fmt = request.match_info["fmt"]
    language = i18n.current()  # the reader's template: its headers, column order and example row
    path = config.state_dir / "template" / language / f"users-template.{fmt}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(write_template, path, lang=language, replace=True)
    content_type = XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    return web.FileResponse(path, headers={"Content-Type": content_type,
                                           "Content-Disposition": f'attachment; filename="users-template.{fmt}"'})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kinds = {"app.js": "text/javascript", "app.css": "text/css"}
    return web.Response(body=(TEMPLATES / name).read_bytes(), content_type=kinds[name], charset="utf-8")


async def favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    return message(request, _("Not found"), _("There is no such page."), status=404)
