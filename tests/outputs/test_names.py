"""Names beside ids: lookup results and undo files show role, bot and group names and stay input files."""

from __future__ import annotations

from bulkprov.emulator import demo_seed
from bulkprov.jobs import JobSettings, run_job
from bulkprov.outputs.names import Names, user_cells
from tests.conftest import read_sheet, results_by_row
from tests.docs_sample import reply_json, samples

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}


def test_names_of_the_documented_users_info_sample():
    (sample,) = [s for s in samples(call="usersInfo", case="success") if s.language == "en"]
    user = reply_json(sample)[0]
    cells = user_cells(user)
    assert cells["roles"].split("; ")[:2] == ["5cd4081158217217cccabb7e", "5d9d8d930d54920a8df1e689"]
    assert cells["roleNames"] == ("admin; sample admin role1; sample bot role 2@bot6ent; Bot Tester@dashboardtest; "
                                  "sample bot role1@bot5ent")
    assert cells["groupNames"] == "group1"
    assert cells["botNames"] == "st-xxxxx-xxx-xxx-xxx-xxxxx", "a bot no reply named is shown by its id"


def test_signed_entries_keep_their_sign():
    names = Names([{"roles": {"btRoles": [{"roleId": "r1", "roleName": "Tester", "botId": "st-1", "botName": "Bot"}]},
                    "groups": [{"groupId": "e-1", "groupName": "Sales"}]}])
    assert names.cells({"roles": "-r1@st-1; +R1", "groups": "+e-1", "botTasks": "-st-1"}) == {
        "roleNames": "-Tester@Bot; +Tester", "groupNames": "+Sales", "botNames": "-Bot"}


def _account(n: int) -> list[dict]:
    return [{"userInfo": {"emailId": f"p{i}@corp.com", "firstName": f"P{i}"}, "groups": [GROUP["Sales"]],
             "roles": [{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"]}, {"roleId": ROLE["Bot Admin"]}],
             "canCreateBot": False, "isDeveloper": False} for i in range(n)]


def test_lookup_and_undo_show_names_and_read_back_as_input(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=_account(3))
    roster = tmp_path / "who.csv"
    roster.write_text("Email\np0@corp.com\np1@corp.com\n", encoding="utf-8")
    job = JobSettings(command="lookup", host=emu.url, rate="none", output=tmp_path / "lookup.xlsx",
                      state_dir=tmp_path / "s")
    out = run_job(roster, job, credentials=creds)
    users = read_sheet(out.results_path, "Users")
    assert users[0]["roleNames"] == "Bot Admin; Bot Tester@Support Bot"
    assert users[0]["roles"] == f"{ROLE['Bot Admin']}; {ROLE['Bot Tester']}@{BOT['Support Bot']}"
    assert users[0]["groupNames"] == "Sales" and users[0]["groups"] == GROUP["Sales"]
    checked = run_job(out.results_path, JobSettings(command="validate", output=tmp_path / "v.xlsx"))
    assert checked.exit_code == 0 and not checked.summary.warnings, "name columns are read back silently"

    job = JobSettings(command="remove", host=emu.url, rate="none", output=tmp_path / "remove.xlsx",
                      state_dir=tmp_path / "s")
    removed = run_job(roster, job, credentials=creds)
    assert {r["status"] for r in results_by_row(removed.results_path).values()} == {"success"}
    undo = read_sheet(removed.undo_path, "Users")
    assert [(u["action"], u["emailId"], u["roleNames"], u["groupNames"]) for u in undo] == [
        ("add", "p0@corp.com", "Bot Admin; Bot Tester@Support Bot", "Sales"),
        ("add", "p1@corp.com", "Bot Admin; Bot Tester@Support Bot", "Sales")]
    back = run_job(removed.undo_path, JobSettings(command="apply", host=emu.url, rate="none",
                                                  output=tmp_path / "back.xlsx", state_dir=tmp_path / "s"),
                   credentials=creds)
    assert back.exit_code == 0 and len(emu.state()["users"]) == 3
