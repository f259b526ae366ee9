"""The run summary POSTed to a webhook when a run ends (a failure is a warning, never a failed run)."""

from __future__ import annotations

import logging
from typing import Any

from bulkprov.i18n import gettext as _
from bulkprov.jobs.settings import JobOutcome

log = logging.getLogger("bulkprov")


def webhook_body(outcome: JobOutcome) -> dict[str, Any]:
    s = outcome.summary
    return {"run_id": s.run_id, "command": s.command, "input": s.input_path, "input_sha256": s.input_sha256,
            "started": s.started, "finished": s.finished, "exit_code": outcome.exit_code, "aborted": s.aborted,
            "totals": dict(s.status_totals()),
            "counts": [{"action": a, "status": st, "rows": n} for (a, st), n in sorted(s.counts.items())],
            "results_path": str(outcome.results_path),
            "undo_path": str(outcome.undo_path) if outcome.undo_path else None,
            "audit_head": outcome.audit_head or {}}


async def notify_webhook(url: str, outcome: JobOutcome, timeout: float = 10.0) -> bool:
    """POST the run summary.  The URL may carry a token (Slack-style hooks), so only its host is
    ever logged."""
    import urllib.parse

    import aiohttp

    host = urllib.parse.urlsplit(url).netloc or "?"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(url, json=webhook_body(outcome)) as resp:
                if resp.status >= 300:
                    log.warning(_("webhook on %s answered HTTP %s"), host, resp.status)
                    return False
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning(_("webhook on %s failed: %s"), host, type(exc).__name__)
        return False
    log.info(_("run summary posted to the webhook on %s"), host)
    return True


async def notify_event(url: str, body: dict[str, Any], timeout: float = 10.0) -> bool:
    """POST any event (an approval request, a decision) to the same webhook; failures are warnings."""
    import urllib.parse

    import aiohttp

    host = urllib.parse.urlsplit(url).netloc or "?"
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
