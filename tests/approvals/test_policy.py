"""The account's policy file: believed only when nobody running bulkprov could have edited it.

The ownership check runs on temporary folders owned by root (the tests run as root: files are handed to
other accounts with chown, as an administrator's mistakes would), with the person running bulkprov being
``daemon``.  A read-only mount is made in a mount namespace of its own (``unshare``), as a Kubernetes
ConfigMap is mounted.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bulkprov.approvals.identity import Person
from bulkprov.approvals.policy import Account, Policy, policy_dir, policy_for, why_untrusted
from bulkprov.errors import PolicyProblem
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the ownership check is tested as root (chown)")

DAEMON = Person("daemon", pwd.getpwnam("daemon").pw_uid)
BIN = Person("bin", pwd.getpwnam("bin").pw_uid)
ACCOUNT = Account("https://bots.kore.ai", "cs-1234")


def toml(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def write_policy(folder: Path, name: str = "acme.toml", **keys) -> Path:
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    folder.chmod(0o755)
    body = ['host = "https://bots.kore.ai"', 'client_id = "cs-1234"']
    body += [f"{k} = {toml(v)}" for k, v in keys.items()]
    path = folder / name
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


@pytest.fixture
def folder(records) -> Path:
    return policy_dir()


def test_a_root_owned_policy_nobody_else_may_write_is_believed(folder):
    path = write_policy(folder, approvers=["alice"], max_deletes=20)
    assert why_untrusted(path, DAEMON) == ""
    policy = policy_for(ACCOUNT, {}, DAEMON)
    assert policy.file == str(path) and policy.approvers == ["alice"] and policy.max_deletes == 20
    assert policy.builder_confirm == 10, "what the file does not say keeps its default"
    assert policy_for(Account("https://other.kore.ai", "cs-1234"), {}, DAEMON).file == "", "another account"


@pytest.mark.parametrize("damage, reason", [
    (lambda p: os.chown(p, DAEMON.uid, -1), "owned by daemon"),
    (lambda p: p.chmod(0o666), "writable by daemon"),
    (lambda p: (os.chown(p, -1, pwd.getpwnam("daemon").pw_gid), p.chmod(0o664)), "writable by daemon"),
    (lambda p: p.parent.chmod(0o777), "writable by daemon"),
    (lambda p: os.chown(p.parent, DAEMON.uid, -1), "owned by daemon"),
])
def test_a_policy_someone_else_could_edit_stops_everything(folder, damage, reason):
    path = write_policy(folder, approvers=["alice"])
    damage(path)
    assert reason in why_untrusted(path, DAEMON)
    with pytest.raises(PolicyProblem) as caught:
        policy_for(ACCOUNT, {}, DAEMON)
    assert caught.value.variant == "untrusted" and "is not believed" in caught.value.message
    with pytest.raises(PolicyProblem):  # any account: an untrusted file might be anyone's
        policy_for(Account("https://other.kore.ai", "cs-9"), {}, DAEMON)


def test_group_write_for_a_group_the_person_is_not_in_is_harmless(folder):
    path = write_policy(folder)
    os.chown(path, -1, 0)  # group root: daemon is not in it
    path.chmod(0o664)
    assert why_untrusted(path, DAEMON) == ""


def test_the_service_account_may_own_a_policy_but_not_edit_it_itself(folder, records):
    path = write_policy(folder)
    records.mkdir(parents=True, exist_ok=True)
    os.chown(records, BIN.uid, -1)  # the service account owns /var/lib/bulkprov
    os.chown(path, BIN.uid, -1)
    assert why_untrusted(path, DAEMON) == "", "owned by the service account, read-only to the operator"
    assert "writable by bin" in why_untrusted(path, BIN), "the service account itself could have changed it"


def test_a_configmap_mount_is_believed_through_its_symlinks(folder):
    """A ConfigMap volume: ``acme.toml -> ..data/acme.toml``, ``..data -> ..2026_01_02_…`` (root's)."""
    folder.mkdir(mode=0o755, parents=True)
    stamp = folder / "..2026_01_02_03_04_05.000"
    write_policy(stamp, approvers=["alice"])
    (folder / "..data").symlink_to(stamp.name)
    (folder / "acme.toml").symlink_to("..data/acme.toml")
    assert policy_for(ACCOUNT, {}, DAEMON).approvers == ["alice"]
    stamp.chmod(0o777)  # a writable folder behind the link is found too
    assert "writable by daemon" in why_untrusted(folder / "acme.toml", DAEMON)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_read_only_mount_is_not_writable_whatever_its_mode_bits(tmp_path, folder):
    path = write_policy(folder)
    path.chmod(0o666)  # a ConfigMap's defaultMode can be anything: the mount is read-only
    folder.chmod(0o777)
    assert "writable by daemon" in why_untrusted(path, DAEMON)
    check = ("import sys; from bulkprov.approvals.identity import Person; "
             "from bulkprov.approvals.policy import why_untrusted; from pathlib import Path; "
             f"print(repr(why_untrusted(Path({str(path)!r}), Person('daemon', {DAEMON.uid}))))")
    script = (f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && "
              f"{sys.executable} -c \"{check}\"")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("this machine allows no mount namespaces")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "''", "a read-only mount cannot be changed by anyone"


def test_a_profile_may_only_tighten_the_policy(folder):
    write_policy(folder, approvers=["alice", "dave"], max_deletes=20, protected=["ceo@acme-corp.com"],
                 web_roles={"alice": "approver"}, oidc_roles={"hr-approvers": "approver", "hr": "operator"})
    tight = policy_for(ACCOUNT, {"max_deletes": 5, "approvers": ["dave"], "protected": ["cfo@acme-corp.com"],
                                 "oidc_roles": {"hr-approvers": "operator"}}, DAEMON)
    assert tight.max_deletes == 5 and tight.approvers == ["dave"]
    assert tight.protected == ["ceo@acme-corp.com", "cfo@acme-corp.com"]
    assert tight.oidc_roles == {"hr-approvers": "operator", "hr": "operator"}
    for loose in ({"max_deletes": 21}, {"approvers": ["mallory"]}, {"builder_confirm": 11},
                  {"web_roles": {"mallory": "approver"}}, {"oidc_roles": {"everyone": "viewer"}},
                  {"approval_expiry_hours": 48.0}):
        with pytest.raises(PolicyProblem) as caught:
            policy_for(ACCOUNT, loose, DAEMON)
        assert caught.value.variant == "loosens", loose


def test_without_a_policy_file_the_profile_is_the_policy_and_says_so(folder):
    policy = policy_for(ACCOUNT, {"approvers": ["alice"], "max_deletes": 7}, DAEMON)
    assert policy.file == "" and policy.approvers == ["alice"] and policy.max_deletes == 7
    assert "approvers, max_deletes act as this account's policy" in policy.notice
    assert policy_for(ACCOUNT, {}, DAEMON).notice == "" and policy_for(ACCOUNT, {}, DAEMON) == Policy()


def test_two_policies_for_one_account_and_bad_keys_are_refused(folder):
    write_policy(folder, "a.toml")
    write_policy(folder, "b.toml")
    with pytest.raises(PolicyProblem, match="two policy files"):
        policy_for(ACCOUNT, {}, DAEMON)
    (folder / "b.toml").unlink()
    write_policy(folder, "a.toml", max_deletes="many")
    with pytest.raises(PolicyProblem, match="max_deletes must be a int"):
        policy_for(ACCOUNT, {}, DAEMON)
    write_policy(folder, "a.toml", client_secret="x")
    with pytest.raises(PolicyProblem, match="unknown setting"):
        policy_for(ACCOUNT, {}, DAEMON)
    (folder / "a.toml").write_text('approvers = ["x"]\n')
    with pytest.raises(PolicyProblem, match="must name its account"):
        policy_for(ACCOUNT, {}, DAEMON)


def test_only_root_may_move_the_fixed_places_of_a_machine_set_up_for_bulkprov(tmp_path):
    """Where /etc/bulkprov/policy.d and /var/lib/bulkprov exist, only root may move them; where they do not
    (a developer's machine), the variables move a person's own records and policy (nothing to protect)."""
    public = Path(tempfile.mkdtemp(prefix="bulkprov-setup-"))  # a place nobody may look at, unlike tmp_path
    public.chmod(0o755)
    setup = public / "etc-policy.d", public / "var-lib-bulkprov"  # the fixed places, as a set-up machine has
    setup[0].mkdir(), setup[1].mkdir()
    code = ("import sys; from pathlib import Path; from bulkprov.approvals import policy as p\n"
            "p.POLICY_DIR, p.RECORDS_DIR = Path(sys.argv[1]), Path(sys.argv[2])\n"
            "print(p.policy_dir(), p.records_dir())")
    env = {**os.environ, "BULKPROV_POLICY_DIR": str(tmp_path / "p"), "BULKPROV_RECORDS_DIR": str(tmp_path / "r"),
           "HOME": str(tmp_path), "XDG_STATE_HOME": ""}
    moved = [str(tmp_path / "p"), str(tmp_path / "r")]
    as_root = subprocess.run([sys.executable, "-c", code, *map(str, setup)], capture_output=True, text=True,
                             env=env, cwd=ROOT)
    assert as_root.stdout.split() == moved, as_root.stderr
    nobody = pwd.getpwnam("nobody")
    system_python = shutil.which("python3", path="/usr/bin:/bin")  # the test's own may live in root's home
    if system_python is None:
        pytest.skip("no system python3 that nobody may run")

    def as_nobody(*fixed: Path) -> list[str]:
        run = subprocess.run([system_python, "-c", code, *map(str, fixed)], capture_output=True, text=True,
                             cwd="/", env={**env, "PYTHONPATH": str(ROOT)}, user=nobody.pw_uid, group=nobody.pw_gid,
                             extra_groups=[])
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    assert as_nobody(*setup) == [str(setup[0]), str(setup[1])], "on a set-up machine: ignored for anyone but root"
    assert as_nobody(public / "no-etc", public / "no-var") == moved, "on a machine nobody set up: a person's own"
    shutil.rmtree(public)
