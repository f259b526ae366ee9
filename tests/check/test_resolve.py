"""Names to ids (#28), as a pure function of what is known: the account's directory, lookup sheets with
the host they were made for, and the admin roles users hold.  No network: every rule on its own."""

from __future__ import annotations

import pytest

from bulkprov.check.names import NameBook, Sheet, fold, resolve_role, same_host, short_id
from bulkprov.kore.directory import Directory, Entry, ListingRead

TARGET = "https://bots.kore.ai"
OTHER = "https://eu-bots.kore.ai"
R_TESTER, R_OWNER, R_AUDIT = "5c9d0a7e3f1b2a4c6d8e0f12", "5c9d0a7e3f1b2a4c6d8e0f13", "6a1b2c3d4e5f60718293a4b5"
B_SUPPORT, B_HR = "st-6c5a1c5e-8b1f-5e0b-9d3c-2f4e6a8b0c1d", "st-11111111-2222-4333-8444-555555555555"
G_SUPPORT, G_SALES1, G_KO, G_JA = ("e-06b41cdd-7678-5394-b958-40ca5662f502", "e-22222222-3333-4444-8555-666666666666",
                                   "e-33333333-4444-4555-8666-777777777777", "e-44444444-5555-4666-8777-888888888888")
G_TWIN_A, G_TWIN_B = "e-55555555-6666-4777-8888-999999999999", "e-66666666-7777-4888-8999-aaaaaaaaaaaa"
G_SEP = "e-77777777-8888-4999-8aaa-bbbbbbbbbbbb"
READS = [ListingRead(n, total=0) for n in ("roles/bot", "roles/admin", "bots", "groups")]


def directory(*, reads=READS, admin_id: str = "") -> Directory:
    return Directory(TARGET, "2026-12-01T09:00:00+09:00", roles=[
        Entry(R_TESTER, "Bot Tester", type="bot"), Entry(R_OWNER, "Bot Owner", type="bot"),
        Entry(admin_id, "Audit Viewer", type="admin"), Entry("", "Never Held", type="admin")],
        bots=[Entry(B_SUPPORT, "Support Bot"), Entry(B_HR, "HR Assistant")],
        groups=[Entry(G_SUPPORT, "Support Agents"), Entry(G_SALES1, "영업 1팀"), Entry(G_JA, "サポート担当"),
                Entry(G_TWIN_A, "Night Shift"), Entry(G_TWIN_B, "night shift"), Entry(G_SEP, "Sales; EMEA")],
        reads=[ListingRead(r.name, total=r.total, gap=r.gap) for r in reads])


def book(**kw) -> NameBook:
    kw.setdefault("target", TARGET)
    return NameBook(kw.pop("directory", directory()), **kw)


# -- comparing names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("written, expected", [
    ("Support Agents", G_SUPPORT), ("  support   AGENTS ", G_SUPPORT), ("ＳＵＰＰＯＲＴ　Ａｇｅｎｔｓ", G_SUPPORT),
    ("영업 1팀", G_SALES1), ("영업 １팀", G_SALES1), ("サポート担当", G_JA), ("ｻﾎﾟｰﾄ担当", G_JA),
])
def test_names_compare_after_nfkc_and_case_folding(written, expected):
    found = book().resolve("group", written)
    assert (found.id, found.source, found.ok) == (expected, "directory", True)
    assert found.written == written.strip(), "the cell is kept as typed, for messages"


def test_fold_is_nfkc_casefold_and_single_spaces():
    assert fold("  Straße  Team ") == fold("STRASSE team") == "strasse team"
    assert fold("ｻﾎﾟｰﾄ") == fold("サポート")


def test_an_id_is_taken_as_written_and_named_from_the_directory():
    found = book().resolve("group", "e-" + G_SUPPORT[2:].upper())
    assert (found.id, found.name, found.source) == (G_SUPPORT, "Support Agents", "id")
    full_width = book().resolve("role", "５ｃ９ｄ０ａ７ｅ３ｆ１ｂ２ａ４ｃ６ｄ８ｅ０ｆ１２", role_type="bot")
    assert full_width.id == R_TESTER


def test_roles_and_bots_of_a_bot_role_resolve_apart():
    role, bot = resolve_role(book(), "bot tester@support BOT")
    assert (role.id, role.name, bot.id, bot.name) == (R_TESTER, "Bot Tester", B_SUPPORT, "Support Bot")


def test_a_bot_role_written_without_its_bot_is_the_wrong_type():
    role, bot = resolve_role(book(), "Bot Owner")
    assert bot is None and role.problem == "wrong-type" and [c.name for c in role.candidates] == ["Bot Owner"]


# -- names that match only by id ----------------------------------------------------------------------------


def test_a_name_the_account_holds_twice_matches_only_by_id_and_lists_both():
    found = book().resolve("group", "NIGHT SHIFT")
    assert found.problem == "ambiguous" and found.id == ""
    assert {c.id for c in found.candidates} == {G_TWIN_A, G_TWIN_B}
    assert book().resolve("group", G_TWIN_B).id == G_TWIN_B


def test_a_name_holding_a_separator_matches_only_by_id_with_the_candidate():
    found = book().resolve("group", "EMEA")  # what "Sales; EMEA" becomes once the cell is split
    assert found.problem == "separator" and [c.id for c in found.candidates] == [G_SEP]
    assert book().resolve("group", G_SEP).name == "Sales; EMEA"


# -- unknown names ------------------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_nearest_names():
    found = book().resolve("group", "Suport Agent")
    assert found.problem == "unknown" and found.candidates[0].name == "Support Agents"
    assert found.refreshable, "the caller reads the directory again once before it is an error"
    korean = book().resolve("group", "영업 2팀")
    assert korean.problem == "unknown" and korean.candidates[0].name == "영업 1팀"


def test_an_unknown_name_against_an_incomplete_directory_says_so():
    short = [ListingRead("groups", total=9, gap="short"), *READS[:3]]
    found = book(directory=directory(reads=short)).resolve("group", "Finance")
    assert found.problem == "incomplete"
    assert book(directory=directory(reads=short)).resolve("group", "Support Agents").id == G_SUPPORT


def test_an_id_the_account_does_not_have_is_caught_only_with_a_complete_directory():
    missing = "e-99999999-9999-4999-8999-999999999999"
    assert book().resolve("group", missing).problem == "not-on-account"
    incomplete = [ListingRead("groups", total=9, gap="repeated"), *READS[:3]]
    assert book(directory=directory(reads=incomplete)).resolve("group", missing).id == missing
    # an admin role id may be one the directory could not map: it is sent as written
    assert book().resolve("role", "f" * 24, role_type="admin").id == "f" * 24
    assert book().resolve("role", "f" * 24, role_type="bot").problem == "not-on-account"


# -- admin roles ---------------------------------------------------------------------------------------------


def test_admin_roles_map_by_name_from_the_pairs_users_hold():
    held = [(R_AUDIT, "audit viewer"), ("c" * 24, "Somebody Else's")]
    found = book(held=held).resolve("role", "Audit Viewer", role_type="admin")
    assert (found.id, found.source) == (R_AUDIT, "directory")
    unheld = book(held=held).resolve("role", "Never Held", role_type="admin")
    assert unheld.problem == "unmappable" and unheld.candidates[0].name == "Never Held"
    assert book().resolve("role", "Audit Viewer", role_type="admin").problem == "unmappable"


def test_the_roles_reply_id_of_an_admin_role_is_used_when_it_has_one():
    assert book(directory=directory(admin_id=R_AUDIT)).resolve("role", "audit viewer", role_type="admin").id == R_AUDIT


def test_learning_admin_ids_leaves_the_callers_directory_alone():
    mine = directory()
    NameBook(mine, held=[(R_AUDIT, "Audit Viewer")], target=TARGET)
    assert [r.id for r in mine.roles if r.name == "Audit Viewer"] == [""]


# -- lookup sheets and the host they were made for ----------------------------------------------------------------


def sheets(names: dict[str, str], host: str | None) -> dict[str, list[Sheet]]:
    return {"group": [Sheet({fold(k): v for k, v in names.items()}, host)]}


def test_another_hosts_sheet_never_supplies_ids_but_its_names_count():
    source_ids = sheets({"Support Agents": "e-aaaaaaaa-0000-4000-8000-000000000000",
                         "Legacy Team": "e-bbbbbbbb-0000-4000-8000-000000000000"}, OTHER)
    online = book(sheets=source_ids).resolve("group", "Support Agents")
    assert (online.id, online.source) == (G_SUPPORT, "directory"), "the target's id, not the source's"
    assert book(sheets=source_ids).resolve("group", "Legacy Team").problem == "unknown"
    offline = NameBook(None, source_ids, target=TARGET)
    assert offline.resolve("group", "Support Agents").problem == "directory-unavailable"


def test_a_sheet_for_this_account_or_unstamped_is_used_where_no_directory_can_be_read():
    for host in (TARGET, "bots.kore.ai/", None):
        offline = NameBook(None, sheets({"Helpdesk": G_SUPPORT}, host), target=TARGET)
        found = offline.resolve("group", "helpdesk")
        assert (found.id, found.source) == (G_SUPPORT, "sheet"), host
    assert NameBook(None, {}, target=TARGET).resolve("group", "Helpdesk").problem == "unknown"


def test_online_a_sheet_supplies_only_ids_the_account_has():
    nickname = book(sheets=sheets({"Helpdesk": G_SUPPORT}, None)).resolve("group", "Helpdesk")
    assert (nickname.id, nickname.name, nickname.source) == (G_SUPPORT, "Support Agents", "sheet")
    stale = book(sheets=sheets({"Helpdesk": "e-cccccccc-0000-4000-8000-000000000000"}, TARGET)).resolve("group",
                                                                                                       "Helpdesk")
    assert stale.problem == "not-on-account" and stale.sheet_id.startswith("e-cccccccc")


def test_a_sheet_that_disagrees_with_the_account_is_reported_never_applied():
    wrong = "e-dddddddd-0000-4000-8000-000000000000"
    found = book(sheets=sheets({"Support Agents": wrong}, None)).resolve("group", "Support Agents")
    assert found.problem == "disagrees" and found.id == "" and found.sheet_id == wrong
    assert found.candidates[0].id == G_SUPPORT


def test_hosts_compare_normalised_and_a_broken_stamp_matches_nothing():
    assert same_host("https://Bots.Kore.AI/", "bots.kore.ai")
    assert not same_host("https://bots.kore.ai", OTHER) and not same_host("ftp://x", TARGET) and not same_host(None, TARGET)


def test_short_ids_for_sentences():
    assert short_id(R_TESTER) == "5c9d…0f12" and short_id("e-1") == "e-1"


# -- a server's refusal in words ------------------------------------------------------------------------------


def test_refusal_words_read_which_kind_the_server_refuses():
    from bulkprov.kore.refusals import refused_kind

    said = {"INVALID_ROLE_ID": "role", "Invalid roleId": "role", "Role doesn't exist": "role", "Group not found": "group",
            "Invalid groupIds": "group", "INVALID_BOT_ID": "bot", "INVALID_DIALOG_ID": "", "INVALID_EMAIL": "",
            "User already exists": "", "role updated": ""}
    assert {message: refused_kind(message) for message in said} == said


def test_refusal_words_name_the_quoted_id_else_every_entry_of_its_kind():
    from bulkprov.kore.refusals import in_words

    update = {"userInfo": {"emailId": "a@x.com"},
              "roles": {"addTo": [{"roleId": R_TESTER, "botId": B_SUPPORT}], "removeFrom": [{"roleId": R_OWNER}]},
              "groups": {"addTo": [G_SUPPORT], "removeFrom": []}}
    names = {R_TESTER.casefold(): "Bot Tester"}
    assert in_words(f"Invalid roleId {R_OWNER}", update, names) == (
        f"role 5c9d…0f13 does not exist on this account (the server said: Invalid roleId {R_OWNER})")
    assert in_words("INVALID_ROLE_ID", update, names).startswith(
        "one of the roles 'Bot Tester' (5c9d…0f12), 5c9d…0f13 does not exist")
    assert in_words("Invalid botId", update, {}).startswith("bot st-6…0c1d does not exist")
    assert in_words("INVALID_DIALOG_ID", update, names) is None
    assert in_words("Invalid groupId", {"userInfo": {}}, names) is None, "no group sent: the server's words stand"
