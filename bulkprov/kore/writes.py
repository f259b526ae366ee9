"""The one rule for a write reply: which 2xx replies to add, update or remove settle their users.

Only the documented words do (:func:`write_verdict`): the page's success sentence, compared ignoring
case, or a failure list (read in :mod:`bulkprov.kore.replies`).  Anything else leaves the users to be
checked; :func:`reply_words` quotes such a reply to the person reading the result.  The README's
table of write replies (``bulkprov.kore.facts.WRITE_REPLIES``) is this rule, example by example.
"""

from __future__ import annotations

import json
from typing import Any

from bulkprov.kore.errors import one_line

SUCCESS_SENTENCES = {"add": "Users are created Successfully", "update": "Users are updated Successfully",
                     "remove": "Users are removed Successfully"}
"""The documented success replies' ``msg``: the only words that make every user of a write a success."""

def write_verdict(status: int, body: Any, op: str) -> bool:
    """Does a write reply without a failure list say, in the documented words, that every user
    succeeded?  Only a 2xx (not 202, "accepted") whose ``msg`` is the documented sentence for the
    call, ignoring case, and that carries no sign of an error."""
    if not (200 <= status < 300) or status == 202 or not isinstance(body, dict):
        return False
    msg = body.get("msg")
    if not isinstance(msg, str) or msg.strip().casefold() != SUCCESS_SENTENCES.get(op, "").casefold():
        return False
    marked = str(body.get("status", "")).casefold() in ("error", "failure", "failed", "fail")
    return not (marked or body.get("error") or body.get("failedUserDetails") not in (None, []))


def reply_words(status: int, body: Any) -> str:
    """A reply as a person reads it on one line (the undocumented shapes are quoted to the user)."""
    text = json.dumps(body, ensure_ascii=False, default=str) if body is not None else ""
    return f"HTTP {status} {one_line(text, 120)}".strip()
