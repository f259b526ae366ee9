"""The pages after login: upload, the check (validation report and plan), run, a run's page, runs, downloads.

A page calls what the CLI calls: the check is :func:`bulkprov.jobs.runner.load` +
:func:`~bulkprov.jobs.runner.check_rows` + :func:`~bulkprov.jobs.runner.dry_run_plan`; a run is
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
from pathlib import Path
from typing import Any

from aiohttp import web

from bulkprov.errors import InputError
from bulkprov.jobs.history import list_runs
from bulkprov.jobs.settings import JobSettings
from bulkprov.model import FAILED_STATUSES
from bulkprov.outputs.results import failures_path
from bulkprov.units import human_size
from bulkprov.web.approvals import gate
from bulkprov.web.common import (
    ACTIONS,
    APPROVED,
    CONFIG,
    EMAIL_CHOICES,
    JOBS,
    PREVIEWS,
    SESSION,
    XLSX_TYPE,
    WebPhrasing,
    download,
    explain,
    message,
    page,
    record,
)
from bulkprov.web.config import WebConfig
from bulkprov.web.html import TEMPLATES, Markup, esc, join, options, render, tag
from bulkprov.web.preview import Preview, PreviewBusy, plan_lines
from bulkprov.web.runner import Job, Jobs
from bulkprov.web.security import Session
from bulkprov.web.uploads import Upload, ascii_stem, find_upload

log = logging.getLogger("bulkprov.web")

RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


def job_settings(config: WebConfig, action: str, email: str, **changes: Any) -> JobSettings:
    return dataclasses.replace(config.job, command=action, send_email=email != "no", state_dir=config.state_dir,
                               phrasing=WebPhrasing(), **changes)


def _choices(query: Any) -> tuple[str, str]:
    action = str(query.get("action") or "add")
    return (action if action in ACTIONS else "add"), ("no" if query.get("email") == "no" else "yes")


async def preview_of(request: web.Request, upload: Upload, action: str) -> Preview | web.Response:
    """The upload's preview for ``action`` (computed once per upload), or the "busy" page."""
    config: WebConfig = request.app[CONFIG]
    fresh = request.app[PREVIEWS].cached(upload.id) is None
    try:
        previews = await request.app[PREVIEWS].get(upload.id, upload.path, job_settings(config, "add", "yes",
                                                                                         dry_run=True))
    except PreviewBusy:
        return message(request, "Busy", "The server is checking other files right now: reload this page in a "
                       "few seconds.", status=503, kind="warning")
    if fresh:
        await record(request, "validation", upload=upload.id, input=upload.name, input_sha256=upload.sha256,
               results={a: {"rows": p.rows, "invalid": p.invalid, "problem": p.problem.code if p.problem else ""}
                        for a, p in previews.items()})
    return previews[action]


async def upload_report(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, "Not found", "There is no such upload.", status=404)
    action, email = _choices(request.query)
    result = await preview_of(request, upload, action)
    if isinstance(result, web.Response):
        return result
    content = (_problem_block(result.problem) if result.problem
               else _checked_block(request, upload, action, email, result))
    body = render("report", filename=upload.name, size=human_size(upload.size), uploader=upload.user,
                  uploaded=upload.uploaded.replace("T", " "), upload_id=upload.id,
                  actions=options(ACTIONS, action), emails=options(EMAIL_CHOICES, email), content=content)
    return page(request, "Check: " + upload.name, body)


def _problem_block(problem: InputError) -> Markup:
    return tag("p", Markup(f"This file cannot be used: {esc(explain(problem))} "
                           f"<span class=\"code\">[{esc(problem.code)}]</span>"), class_="message error", id="message")


def _checked_block(request: web.Request, upload: Upload, action: str, email: str, result: Preview) -> Markup:
    valid = result.rows - result.invalid
    warnings = join(tag("li", w) for w in result.warnings)
    errors = Markup("")
    if result.errors:
        rows = join(Markup(f"<tr>{tag('td', e.row, class_='num')}{tag('td', e.column)}"
                           f"{tag('td', e.value, class_='value')}{tag('td', e.message)}"
                           f"{tag('td', e.code, class_='code')}</tr>") for e in result.errors)
        more = (tag("p", f"… and {result.error_count - len(result.errors):,} more: every one is in the result "
                    "workbook's Failures sheet.", class_="hint") if result.error_count > len(result.errors) else "")
        errors = Markup(f'<section id="errors" class="card"><h2>Problems to fix ({result.error_count:,} in '
                        f'{result.invalid:,} rows)</h2><table id="error-table"><thead><tr><th>row</th><th>column</th>'
                        f'<th>value</th><th>problem</th><th>code</th></tr></thead><tbody>{rows}</tbody></table>'
                        f'{more}</section>')
    note = (f"The {result.invalid:,} invalid rows will not be sent: they come back in the Failures file, to fix and "
            "upload again." if result.invalid else "Every row is valid.")
    running = request.app[JOBS].running()
    if valid == 0:
        run_form = tag("p", "Nothing to send: fix the rows above and upload the file again.", class_="message warning")
    elif running is not None:
        run_form = Markup(f'<p class="message warning">A run is in progress: '
                          f'{tag("a", "follow it here", href=f"/jobs/{running.id}")}; start this one when it has '
                          'finished.</p>')
    else:
        session: Session = request[SESSION]
        run_form = render("run_form", upload_id=upload.id, csrf=session.csrf, action=action, email=email, mode="",
                          button_id="run", button_class="", label=f"Run: {action} {valid:,} users")
    return render("report_checked", rows=f"{result.rows:,}", valid=f"{valid:,}", invalid=f"{result.invalid:,}",
                  invalid_class="bad" if result.invalid else "ok",
                  warnings=tag("ul", warnings, class_="warnings") if result.warnings else "",
                  errors=errors, plan=join(tag("li", line) for line in plan_lines(result, email)), invalid_note=note,
                  run_form=run_form)




async def run_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    jobs: Jobs = request.app[JOBS]
    session: Session = request[SESSION]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, "Not found", "There is no such upload.", status=404)
    form = await request.post()
    action = str(form.get("action") or "add")
    email = "no" if form.get("email") == "no" else "yes"
    mode = str(form.get("mode") or "")
    if action not in ACTIONS or mode not in ("", "resume", "force"):
        return message(request, "Bad request", "Unknown action.", status=400)
    checked = await preview_of(request, upload, action)
    if isinstance(checked, web.Response):
        return checked
    if checked.problem is not None or checked.valid == 0:  # the page offers no Run button: neither does the server
        return message(request, "Nothing to run", "This file has no valid rows for this action: fix the rows the "
                       "check lists and upload the file again.", status=409,
                       links=tag("a", "Back to the check", href=f"/uploads/{upload.id}?action={action}&email={email}"))
    running = jobs.running()
    if running is not None:
        return _busy(request, running)
    pending = await gate(request, upload, action, email, checked)  # four eyes (bulkprov.web.approvals)
    if pending is not None:
        raise web.HTTPSeeOther(pending)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = config.results / f"{upload.id}.{action}-results-{stamp}.xlsx"
    config.results.mkdir(parents=True, exist_ok=True)
    settings = job_settings(config, action, email, output=output, resume=mode == "resume", force=mode == "force",
                            command_line=f"bulkprov serve: {action} by {session.user}",
                            failures_output=failures_path(output))
    job = Job(uuid.uuid4().hex, upload, action, email, session.user or "")
    if not jobs.start(job, settings, config.credentials):
        return _busy(request, jobs.running())
    log.info("%s started %s of %s (job %s)", session.user, action, upload.path.name, job.id)
    approved = request.get(APPROVED)
    await record(request, "run", command=action, upload=upload.id, input=upload.name, input_sha256=upload.sha256,
           valid=checked.valid, job=job.id, approval=approved.id if approved else "",
           approved_by=approved.decided_by if approved else "")
    raise web.HTTPSeeOther(f"/jobs/{job.id}")


def _busy(request: web.Request, running: Job | None) -> web.Response:
    link = tag("a", "Follow the run in progress", href=f"/jobs/{running.id}") if running else tag("a", "Runs",
                                                                                                  href="/runs")
    return message(request, "A run is in progress", "Another run is in progress for this Kore.ai account. One run "
                   "at a time: wait for it to finish, then press Run again.", status=409, kind="warning", links=link)


async def job_page(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return message(request, "Not found", "There is no such run (runs started before the server restarted are "
                       "on the Runs page).", status=404, links=tag("a", "Runs", href="/runs"))
    status = job.status()
    outcome = _finished_block(job) if job.state == "finished" else _failed_block(request, job) if job.error else ""
    body = render("job", what=f"{ACTIONS[job.action].capitalize()}: {job.upload.name}, started by {job.user}.",
                  job_id=job.id, state=job.state, phase=status["phase"], percent=status["percent"],
                  done=f"{status['done']:,}", failed=f"{status['failed']:,}", total=f"{status['total']:,}",
                  requests=f"{status['requests']:,}", eta=status["eta_text"], outcome=outcome)
    return page(request, "Run", body)


def _finished_block(job: Job) -> Markup:
    assert job.outcome is not None
    summary = job.outcome.summary
    totals = summary.status_totals()
    bad = sum(totals[s] for s in FAILED_STATUSES)
    rows = join(Markup(f"<tr>{tag('td', s)}{tag('td', f'{n:,}', class_='num')}</tr>") for s, n in sorted(totals.items()))
    run = summary.run_id
    downloads = [tag("a", "Download the result workbook", href=f"/runs/{run}/results.xlsx", id="download-results",
                     download="")]
    if bad:
        downloads.append(tag("a", f"Download the {bad:,} failed rows to fix and upload again",
                             href=f"/runs/{run}/failures.xlsx", id="download-failures", download=""))
    if job.outcome.undo_path is not None:
        downloads.append(tag("a", "Download the undo file", href=f"/runs/{run}/undo.xlsx", id="download-undo",
                             download=""))
    notes = join(tag("li", w) for w in summary.warnings)
    attention = Markup("")
    if job.attention:
        cells = join(Markup(f"<tr>{tag('td', r[0], class_='num')}{tag('td', r[1], class_='value')}{tag('td', r[2])}"
                            f"{tag('td', r[3])}</tr>") for r in job.attention)
        more = (tag("p", f"… and {bad - len(job.attention):,} more in the failures file.", class_="hint")
                if bad > len(job.attention) else "")
        attention = Markup(f'<h2>Rows that need attention</h2><table id="attention"><thead><tr><th>row</th>'
                           f'<th>user</th><th>status</th><th>reason</th></tr></thead><tbody>{cells}</tbody>'
                           f'</table>{more}')
    headline = ("Done: every row succeeded." if not bad and not summary.aborted else
                f"Done: {bad:,} rows need attention." if not summary.aborted else "The run stopped early.")
    return render("job_finished", headline=headline,
                  aborted=tag("p", f"Stopped: {summary.aborted}", class_="message error") if summary.aborted else "",
                  totals=rows, notes=tag("ul", notes, class_="hint") if summary.warnings else "",
                  downloads=join(downloads), attention=attention)


def _failed_block(request: web.Request, job: Job) -> Markup:
    session: Session = request[SESSION]
    text = job.error
    extra = Markup("")
    if job.error_code == "interrupted-run":
        common = {"upload_id": job.upload.id, "csrf": session.csrf, "action": job.action, "email": job.email}
        extra = join([render("run_form", mode="resume", button_id="resume", button_class="",
                             label="Resume the interrupted run", **common),
                      render("run_form", mode="force", button_id="force", button_class="secondary",
                             label="Start a new run anyway", **common)])
    return Markup(f'<section id="outcome" class="card">{tag("p", text, class_="message error", id="message")}'
                  f'{extra}</section>')


async def job_progress(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return web.json_response({"error": "no such run"}, status=404)
    return web.json_response(job.status())


async def runs_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    jobs: Jobs = request.app[JOBS]
    try:
        runs = await asyncio.to_thread(list_runs, config.state_dir)
    except InputError:
        runs = []
    rows = []
    for run in reversed(runs):
        upload = find_upload(config, Path(run.input_path).stem)
        name = upload.name if upload and Path(run.input_path).parent == config.uploads else Path(run.input_path).name
        counts = ", ".join(f"{n:,} {s}" for s, n in sorted(run.counts.items())) or "—"
        links = []
        if _own_result(config, run.results_path):
            links.append(tag("a", "results", href=f"/runs/{run.id}/results.xlsx", download=""))
            if any(run.counts.get(s) for s in FAILED_STATUSES) and failures_path(Path(run.results_path)).is_file():
                links.append(tag("a", "failures", href=f"/runs/{run.id}/failures.xlsx", download=""))
        rows.append(Markup(f'<tr id="run-{esc(run.id)}">{tag("td", run.started.replace("T", " "))}{tag("td", name)}'
                           f'{tag("td", run.command)}{tag("td", run.state)}{tag("td", counts)}'
                           f'{tag("td", Markup(" · ".join(links)) if links else "—")}</tr>'))
    running = jobs.running()
    notice = (Markup(f'<p class="message info">A run is in progress: '
                     f'{tag("a", running.upload.name, href=f"/jobs/{running.id}")}.</p>') if running else "")
    body = render("runs", running=notice, rows=join(rows),
                  empty=tag("p", "No runs yet.", class_="hint") if not rows else "")
    return page(request, "Runs", body)


def _own_result(config: WebConfig, results_path: str | None) -> Path | None:
    """A result file this server wrote (under STATE_DIR/results), or None: never any other path."""
    if not results_path:
        return None
    path = Path(results_path).resolve()
    if not path.is_relative_to(config.results.resolve()) or path.suffix != ".xlsx" or not path.is_file():
        return None
    return path


def _run_results(config: WebConfig, run_id: str) -> tuple[Path, str] | None:
    """The result workbook of a ledger run and the file name to offer, or None."""
    from bulkprov.jobs.ledger import Ledger

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
    return path, path.name.replace(Path(info.input_path).stem, stem, 1)


async def run_download(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    kind = request.match_info["kind"]
    found = await asyncio.to_thread(_run_results, config, request.match_info["run_id"])
    if found is None:
        return message(request, "Not found", "There is no result workbook for this run.", status=404)
    path, name = found
    if kind == "failures":
        path = failures_path(path)
        name = name.replace("-results-", "-failures-", 1)
        if not path.is_file():
            return message(request, "Not found", "This run left no failures file.", status=404)
    elif kind == "undo":
        from bulkprov.outputs.undo import undo_path

        path = undo_path(path)
        name = name[: -len(".xlsx")] + ".undo.xlsx"
        if not path.is_file():
            return message(request, "Not found", "This run left no undo file.", status=404)
    await record(request, "download", run=request.match_info["run_id"], kind=kind, file=name)
    return download(path, name)


async def index(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    running = request.app[JOBS].running()
    notice = (Markup(f'<p class="message info">A run is in progress: '
                     f'{tag("a", running.upload.name, href=f"/jobs/{running.id}")}.</p>') if running else "")
    body = render("upload", csrf=session.csrf, actions=options(ACTIONS, "add"),
                  emails=options(EMAIL_CHOICES, "yes" if config.job.send_email else "no"),
                  max_mb=f"{config.max_upload_bytes / 1024 / 1024:g}", max_bytes=config.max_upload_bytes,
                  running=notice)
    return page(request, "Upload users", body)


async def template_download(request: web.Request) -> web.StreamResponse:
    from bulkprov.outputs.template import write_template

    config: WebConfig = request.app[CONFIG]
    fmt = request.match_info["fmt"]
    path = config.state_dir / "template" / f"users-template.{fmt}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(write_template, path)
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
    return message(request, "Not found", "There is no such page.", status=404)
