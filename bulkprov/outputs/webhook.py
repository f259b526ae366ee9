"""What a webhook is sent: a run's summary when it ends, a refused run, approval events (a failure to post is
a warning, never a failed run).  The URL may carry a token (Slack-style hooks): only its host is ever logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bulkprov.errors import BulkprovError
from bulkprov.i18n import gettext as _
from bulkprov.outputs.results import RunSummary

log = logging.getLogger("bulkprov")


def _absolute(path: Path | None) -> str | None:
    """Paths a monitor can open: never relative to the job's working directory."""
    return str(Path(path).absolute()) if path else None


def run_body(summary: RunSummary, *, exit_code: int, codes: list[str], results_path: Path | None,
             undo_path: Path | None, audit_head: dict[str, Any] | None, run_id: str = "") -> dict[str, Any]:
    """A finished run: its counts, exit code, stop codes, warnings and files."""
    s = summary
    return {"run_id": s.run_id or run_id, "command": s.command, "input": s.input_path,
            "input_sha256": s.input_sha256, "started": s.started, "finished": s.finished,
            "exit_code": exit_code, "aborted": s.aborted,
            "codes": codes, "totals": dict(s.status_totals()),
            "counts": [{"action": a, "status": st, "rows": n} for (a, st), n in sorted(s.counts.items())],
            "warnings": list(s.warnings),
            "results_path": _absolute(results_path), "undo_path": _absolute(undo_path),
            "audit_head": audit_head or {}}


def refusal_body(*, run_id: str, command: str, path: Path, started: str, finished: str,
                 error: BulkprovError) -> dict[str, Any]:
    """The same fields for a run that never got going (exit 2, or stopped before its results were written):
    monitoring learns of every night from the webhook, not only from an exit code."""
    return {"run_id": run_id, "command": command, "input": _absolute(path), "input_sha256": "",
            "started": started, "finished": finished, "exit_code": error.exit_code, "aborted": error.message,
            "codes": [error.code], "totals": {}, "counts": [], "warnings": [], "results_path": None,
            "undo_path": None}


async def notify_run(url: str, body: dict[str, Any], timeout: float = 10.0) -> bool:
    """POST a finished run's summary (:func:`run_body`)."""
    if await notify_event(url, body, timeout):
        log.info(_("run summary posted to the webhook on %s"), _host(url))
        return True
    return False


def _host(url: str) -> str:
    import urllib.parse

    return urllib.parse.urlsplit(url).netloc or "?"


async def notify_event(url: str, body: dict[str, Any], timeout: float = 10.0) -> bool:
    """POST any event (an approval request, a decision) to the same webhook; failures are warnings."""
    import aiohttp

    host = _host(url)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(url, json=body) as resp:
                if resp.status >= 300:
                    log.warning(_("webhook on %s answered HTTP %s"), host, resp.status)
                    return False
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning(_("webhook on %s failed: %s"), host, type(exc).__name__)
        return False
    return True
