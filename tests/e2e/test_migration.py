"""An account migrates in two plain commands (#28): ``bulkprov export --host A -o account.xlsx`` then ``bulkprov
add account.xlsx --host B``, both real processes against two emulators whose roles, bots and groups have the same
names and other ids -- no edit in between."""

from __future__ import annotations

import uuid

from bulkprov.emulator import demo_seed
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import read_sheet, results_by_row
from tests.directory.test_directory_cli import _everything_in

SEED = demo_seed()
ROLE_A = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT_A = {b["name"]: b["botId"] for b in SEED["bots"]}
DIALOGS_A = {b["name"]: b["dialogs"] for b in SEED["bots"]}
GROUP_A = {g["name"]: g["groupId"] for g in SEED["groups"]}
CANARY = "CANARY-7e2a-secret-of-a-bot-app"


def _other(prefix: str, name: str) -> str:
    return f"{prefix}-{uuid.uuid5(uuid.NAMESPACE_URL, f'account-b/{prefix}/{name}')}"


# Account B: the same names, other ids.
ROLE_B = {name: uuid.uuid5(uuid.NAMESPACE_URL, f"account-b/role/{name}").hex[:24] for name in ROLE_A}
BOT_B = {name: _other("st", name) for name in BOT_A}
GROUP_B = {name: _other("e", name) for name in GROUP_A}
TYPES = {r["name"]: r["type"] for r in SEED["roles"]}


def account_b(**extra) -> dict:
    holder = {"userInfo": {"emailId": "root@beta-corp.com"}, "roles": [{"roleId": ROLE_B["Bot Admin"]}]}
    return dict(roles={ROLE_B[n]: n for n in ROLE_B}, role_types={ROLE_B[n]: TYPES[n] for n in ROLE_B},
                bots={BOT_B[n]: n for n in BOT_B}, dialogs={BOT_B[n]: [] for n in BOT_B},
                groups={GROUP_B[n]: n for n in GROUP_B}, users=[holder], descriptions={}, **extra)


def account_a_users(n: int = 50) -> list[dict]:
    groups = list(GROUP_A)
    users = []
    for i in range(n):
        user = {"userInfo": {"emailId": f"emp{i:03d}@acme-corp.com", "orgUserId": f"E{i:05d}", "firstName": f"F{i}",
                             "lastName": f"L{i}", "dept": "Sales", "city": "Seoul"},
                "groups": [GROUP_A[groups[i % 5]], GROUP_A[groups[(i + 2) % 5]]],
                "roles": [{"roleId": ROLE_A["Bot Tester"], "botId": BOT_A["Support Bot"]}],
                "canCreateBot": i % 10 == 0, "isDeveloper": False}
        if i % 3 == 0:
            user["roles"].append({"roleId": ROLE_A["Bot Developer"], "botId": BOT_A["HR Assistant"]})
        if i % 4 == 0:
            user["roles"].append({"roleId": ROLE_A["Bot Admin"]})
        if i % 7 == 0:
            user["assignBotTasks"] = [{"botId": BOT_A["IT Helpdesk"], "dialogs": DIALOGS_A["IT Helpdesk"][:1]}]
        users.append(user)
    return users


def expected_on_b(user: dict) -> tuple[set, set]:
    name_of_role = {v: k for k, v in ROLE_A.items()}
    name_of_bot = {v: k for k, v in BOT_A.items()}
    name_of_group = {v: k for k, v in GROUP_A.items()}
    roles = {(ROLE_B[name_of_role[r["roleId"]]], BOT_B[name_of_bot[r["botId"]]] if r.get("botId") else None)
             for r in user["roles"]}
    return roles, {GROUP_B[name_of_group[g]] for g in user["groups"]}


def roles_of(user: dict) -> set:
    roles = user.get("roles") or {}
    return ({(r["roleId"], r.get("botId")) for r in roles.get("btRoles", [])}
            | {(r["roleId"], None) for r in roles.get("adminRoles", [])})


def test_export_then_add_migrates_50_users_with_roles_bots_groups_and_org_user_ids(make_emulator, tmp_path):
    source = account_a_users(50)
    a = make_emulator(replies="documented", users=source, bot_app_secret=CANARY)
    b = make_emulator(replies="documented", bot_app_secret=CANARY, **account_b())
    exported = bulkprov("export", "--host", a.url, "-o", "account.xlsx", env=kore_env(a), cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    added = bulkprov("add", "account.xlsx", "--host", b.url, "--no-send-email", "-o", "r.xlsx", env=kore_env(a),
                     cwd=tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr

    on_b = {u["userInfo"]["emailId"]: u for u in b.state()["users"]}
    landed = 0
    for user in source:
        email = user["userInfo"]["emailId"]
        there = on_b[email]
        roles, groups = expected_on_b(user)
        assert roles_of(there) == roles, email
        assert {g["groupId"] for g in there["groups"]} == groups, email
        assert there["userInfo"]["orgUserId"] == user["userInfo"]["orgUserId"], email
        assert there["userInfo"]["firstName"] == user["userInfo"]["firstName"], email
        assert there.get("canCreateBot", False) == user["canCreateBot"], email
        landed += 1
    assert landed == 50
    results = results_by_row(tmp_path / "r.xlsx")
    assert sum(1 for r in results.values() if r["status"] == "success") == 50
    # the README's figures: a listing page, a usersInfo chunk and 4 directory calls; 4 directory calls, a listing
    # page for the admin roles' ids, one add
    assert len(a.state()["requests"]) == 6 and len(b.state()["requests"]) == 6

    # what cannot be carried, printed before sending and kept in the Summary
    said = added.stderr
    assert f"migration from {a.url} to {b.url}: what is not carried" in said
    assert "dept" in said and "city" in said, "the documented usersInfo never carried them"
    assert "users whose bot tasks are not carried: 8" in said and "activation state" in said and "no activation emails" in said
    assert said.index("what is not carried") < said.index("plan:"), "said before the plan's first request"
    summary = str(read_sheet(tmp_path / "r.xlsx", "Summary"))
    assert "what is not carried" in summary and "activation state" in summary
    by_email = {r["emailId"]: r for r in results.values()}
    assert "bot tasks not carried" in (by_email["emp007@acme-corp.com"]["reason"] or ""), "its row says so"
    assert not by_email["emp001@acme-corp.com"]["reason"]

    # the bots replies' secrets: in no file, log or workbook of either command
    assert any(r["path"] == "/api/public/bots" for r in a.state()["requests"] + b.state()["requests"])
    assert CANARY not in exported.stdout + exported.stderr + added.stdout + added.stderr
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert CANARY.encode() not in _everything_in(path), path


def test_names_the_target_lacks_are_row_errors_listed_for_an_administrator(make_emulator, tmp_path):
    source = account_a_users(6)
    a = make_emulator(replies="documented", users=source)
    config = account_b()
    gone = GROUP_B["Managers"]
    config["groups"] = {k: v for k, v in config["groups"].items() if k != gone}
    b = make_emulator(replies="documented", **config)
    assert bulkprov("export", "--host", a.url, "-o", "account.xlsx", env=kore_env(a), cwd=tmp_path).returncode == 0
    added = bulkprov("add", "account.xlsx", "--host", b.url, "--no-send-email", "-o", "r.xlsx", env=kore_env(a),
                     cwd=tmp_path)
    assert added.returncode == 1, added.stdout + added.stderr
    assert "1 names" in added.stderr and "group 'Managers'" in added.stderr
    results = results_by_row(tmp_path / "r.xlsx")
    bad = [r for r in results.values() if r["status"] == "invalid"]
    assert bad and all(r["error_code"] == "unknown-group" and "'Managers'" in r["reason"] for r in bad)
    assert len(bad) + sum(1 for r in results.values() if r["status"] == "success") == 6


def test_without_the_targets_directory_another_hosts_names_supply_no_ids(make_emulator, tmp_path):
    source = account_a_users(4)
    a = make_emulator(replies="documented", users=source)
    b = make_emulator(replies="documented", role_management_scope=False, **account_b())
    assert bulkprov("export", "--host", a.url, "-o", "account.xlsx", env=kore_env(a), cwd=tmp_path).returncode == 0
    added = bulkprov("add", "account.xlsx", "--host", b.url, "--no-send-email", "-o", "r.xlsx", env=kore_env(a),
                     cwd=tmp_path)
    assert added.returncode == 1, added.stdout + added.stderr
    results = results_by_row(tmp_path / "r.xlsx")
    assert {r["error_code"] for r in results.values()} == {"directory-unavailable"}
    assert [u["userInfo"]["emailId"] for u in b.state()["users"]] == ["root@beta-corp.com"], "nothing sent"


def test_lookup_by_email_takes_the_org_user_id_from_the_listing(make_emulator, tmp_path):
    a = make_emulator(replies="documented", users=account_a_users(5))
    roster = tmp_path / "who.csv"
    roster.write_text("emailId\nemp001@acme-corp.com\nemp003@acme-corp.com\n", encoding="utf-8")
    proc = bulkprov("lookup", str(roster), "-o", "found.xlsx", env=kore_env(a), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    users = {u["emailId"]: u for u in read_sheet(tmp_path / "found.xlsx", "Users")}
    assert users["emp001@acme-corp.com"]["orgUserId"] == "E00001"
    assert users["emp003@acme-corp.com"]["orgUserId"] == "E00003"


def test_export_writes_the_id_where_a_name_cannot_say_which(make_emulator, tmp_path):
    twin_a, twin_b = "e-55555555-6666-4777-8888-999999999999", "e-66666666-7777-4888-8999-aaaaaaaaaaaa"
    sep = "e-77777777-8888-4999-8aaa-bbbbbbbbbbbb"
    groups = {**{g["groupId"]: g["name"] for g in SEED["groups"]}, twin_a: "Night Shift", twin_b: "night shift",
              sep: "Sales; EMEA"}
    users = [{"userInfo": {"emailId": "n1@acme-corp.com"}, "groups": [twin_a, GROUP_A["Sales"]]},
             {"userInfo": {"emailId": "n2@acme-corp.com"}, "groups": [sep]}]
    a = make_emulator(replies="documented", users=users, groups=groups)
    proc = bulkprov("export", "--host", a.url, "-o", "account.xlsx", env=kore_env(a), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cells = {u["emailId"]: u for u in read_sheet(tmp_path / "account.xlsx", "Users")}
    assert cells["n1@acme-corp.com"]["groups"] == f"{twin_a}; Sales"
    assert cells["n2@acme-corp.com"]["groups"] == sep
    sheet = {r["name"]: r["groupId"] for r in read_sheet(tmp_path / "account.xlsx", "Groups")}
    assert "Night Shift" not in sheet and "night shift" not in sheet, "a name held twice maps to no one id"
    assert sheet["Sales; EMEA"] == sep
    # the file is an input file as it is, offline (its own sheets) and against its account (the directory)
    offline = bulkprov("validate", "account.xlsx", "-o", "v1.xlsx", cwd=tmp_path)
    online = bulkprov("validate", "account.xlsx", "--host", a.url, "-o", "v2.xlsx", env=kore_env(a), cwd=tmp_path)
    assert (offline.returncode, online.returncode) == (0, 0), offline.stdout + online.stdout + online.stderr


def test_an_export_whose_directory_is_refused_names_what_its_users_hold(make_emulator, tmp_path):
    source = account_a_users(3)
    a = make_emulator(replies="documented", users=source, odd=["directory-forbidden"])
    proc = bulkprov("export", "--host", a.url, "-o", "account.xlsx", env=kore_env(a), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "could not be read" in proc.stderr and "names only what its users hold" in proc.stderr
    cells = {u["emailId"]: u for u in read_sheet(tmp_path / "account.xlsx", "Users")}
    assert cells["emp000@acme-corp.com"]["roles"] == "Bot Admin; Bot Tester@Support Bot; Bot Developer@HR Assistant"
    assert cells["emp000@acme-corp.com"]["groups"] == "Support Agents; HR"
    assert {r["name"] for r in read_sheet(tmp_path / "account.xlsx", "Groups")} == {
        "Support Agents", "HR", "Sales", "IT Operations", "Managers"} & {
        GROUP_NAME for u in source for GROUP_NAME in [n for n, i in GROUP_A.items() if i in u["groups"]]}
