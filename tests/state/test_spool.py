"""The spool a sending run's checked rows wait in (#30): every row back exactly as it went in, in order, and the
approval's digest the same whichever way the rows are read."""

from __future__ import annotations

from bulkprov.approvals.gate import rows_digest
from bulkprov.errors import RowError
from bulkprov.model import Action, CheckedRow
from bulkprov.state.spool import RowSpool


def rows() -> list[CheckedRow]:
    update = CheckedRow.make(5, Action.UPDATE, "", "E0005", {
        "userInfo": {"orgUserId": "E0005", "firstName": "지유", "lastName": "김"},
        "roles": {"addTo": [{"roleId": "r1", "botId": "b1"}], "removeFrom": []}, "canCreateBot": True})
    update.notes = ["firstName: an invisible character was removed"]
    update.names = {"r1": "Reviewer"}
    add = CheckedRow.make(2, Action.ADD, "hana@example.jp", "", {"userInfo": {"emailId": "hana@example.jp",
                                                                            "firstName": "花子"}}, send_email=False)
    bad = CheckedRow.make(9, Action.NONE, "x", "")
    bad.errors = [RowError.of(9, "emailId", "x", "invalid-email")]
    return [add, update, bad]


def test_rows_come_back_exactly_and_in_order_as_often_as_asked(tmp_path):
    with RowSpool(tmp_path) as spool:
        spool.add(rows()[:2])
        spool.add(rows()[2:])
        assert len(spool) == 3
        assert list(spool) == rows() and list(spool) == rows(), "read twice, the same rows"
        assert [len(chunk) for chunk in spool.chunks()] == [2, 1]


def test_the_light_view_gives_the_approval_the_same_digest(tmp_path):
    with RowSpool(tmp_path) as spool:
        spool.add(rows())
        assert rows_digest(spool.fields()) == rows_digest(spool) == rows_digest(rows())
