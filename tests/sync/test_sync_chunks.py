"""Sync in bounded memory (#30): what changed in how it holds its rows changes nothing a user sees."""

from __future__ import annotations

import hashlib
import json

from bulkprov.model import SYNTHETIC_ROW_BASE, Action, CheckedRow
from bulkprov.sync import plan as planning


def _whole_blob_fingerprint(plan: planning.Plan) -> str:
    """The fingerprint as it was computed before #30: the whole plan as one JSON text, then hashed."""
    parts = [[i.action, i.row.key.id, i.row.user] for i in plan.items if i.action != "unchanged"]
    state = sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in plan.current.items())
    blob = json.dumps([parts, state], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _plan(items: list[planning.PlanItem], current: dict) -> planning.Plan:
    return planning.Plan(items, [], current, None, 0)


def test_the_fingerprint_an_approved_plan_carries_is_the_same_hashed_piece_by_piece() -> None:
    """Approved plan files written before keep matching: the digest is the one of the whole JSON text."""
    add = CheckedRow.make(2, Action.ADD, "김민준@acme-corp.com", "E-1",
                          {"userInfo": {"emailId": "김민준@acme-corp.com", "firstName": "민준", "lastName": "김"},
                           "roles": [{"roleId": "r1", "botId": "b1"}], "canCreateBot": True})
    update = CheckedRow.make(3, Action.UPDATE, "sato@acme-corp.com", "", {"userInfo": {"dept": "営業"}})
    remove = CheckedRow.make(SYNTHETIC_ROW_BASE + 1, Action.REMOVE, "gone@acme-corp.com", "E-9")
    kept = CheckedRow.make(4, Action.UPDATE, "same@acme-corp.com")
    current = {"sato@acme-corp.com": {"userInfo": {"emailId": "sato@acme-corp.com", "dept": "総務"}, "groups": []},
               "gone@acme-corp.com": {"userInfo": {"emailId": "gone@acme-corp.com"}, "when": object()},
               "same@acme-corp.com": {"userInfo": {"emailId": "same@acme-corp.com", "firstName": "Ünal"}}}
    plans = [_plan([planning.PlanItem("add", add), planning.PlanItem("update", update),
                    planning.PlanItem("remove", remove), planning.PlanItem("unchanged", kept)], current),
             _plan([], {}), _plan([planning.PlanItem("unchanged", kept)], {}),
             _plan([planning.PlanItem("add", add)], {})]
    for plan in plans:
        assert planning.fingerprint(plan) == _whole_blob_fingerprint(plan)
    assert len({planning.fingerprint(p) for p in (plans[0], plans[1], plans[3])}) == 3  # and it tells plans apart
