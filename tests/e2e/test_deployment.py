"""The guide's deployment examples run as written (#34): the systemd unit and its operators' lines, the
cron line, the Kubernetes CronJob with its own profile and the state on the volume -- with the paths
moved under a temporary directory and the emulator as the host.  Also: a state directory that is not
this user's is ``state-dir-unusable`` (exit 2) on every command, and a lost one is noticed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from bulkprov.emulator import EmulatorConfig
from tests.conftest import ROOT, bare_env, documented
from tests.e2e.test_nightly import Hooks, accounts, staff

README = documented()  # the examples are in docs/nightly-sync.md and docs/sign-in-and-approvals.md
BULKPROV = "/opt/bulkprov/.venv/bin/bulkprov"


def block(lang: str, marker: str) -> str:
    """The README's ``lang`` code block that contains ``marker``."""
    for body in re.findall(rf"```{lang}\n(.*?)```", README, re.S):
        if marker in body:
            return body
    raise AssertionError(f"no {lang} block with {marker!r} in the README")


def _state_in_the_profiles_language(state: str) -> str:
    """A run state as `bulkprov runs` words it in the language of the example's nightly profile."""
    from bulkprov import i18n
    from bulkprov.cli.wording import run_state

    lang = re.search(r'^lang = "(\w+)"', block("toml", "[profiles.nightly]\nhost"), re.M)
    with i18n.using(lang.group(1) if lang else "en"):
        return run_state(state)


def roster_xlsx(path: Path, people: list[dict[str, str]]) -> Path:
    """An HR export written by another program (openpyxl), hours before the scheduler runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Users"
    headers = ["Email", "First Name", "Last Name", "Department", "Employee ID"]
    ws.append(headers)
    for p in people:
        ws.append([p[h] for h in headers])
    wb.save(path)
    then = time.time() - 3 * 3600
    os.utime(path, (then, then))
    return path


class Machine:
    """The README's paths, moved under ``root``; the emulator stands for bots.kore.ai."""

    def __init__(self, root: Path, emu, hook_url: str) -> None:
        self.root, self.emu, self.hook_url = root, emu, hook_url

    PATHS = re.compile(r"(?<![\w./-])/(etc/bulkprov|var/lib/bulkprov|srv/hr|data|config|secrets|tmp)(?=/|\s|\"|$)")

    def path(self, text: str) -> str:
        """Every README path under the test's own root, in one pass (never a path moved twice)."""
        return self.PATHS.sub(lambda m: str(self.root / m.group(1)), text)

    def config(self, toml: str) -> str:
        toml = toml.replace("https://bots.kore.ai", self.emu.url)
        toml = re.sub(r"https://hooks\.example\.com/\S+?\"", self.hook_url + '"', toml)
        return self.path(toml)

    def argv(self, line: str) -> list[str]:
        words = shlex.split(self.path(line))
        if words[:3] == ["sudo", "-u", "bulkprov"]:
            words = words[3:]  # the test runs as the state directory's owner already
        assert words[0] == BULKPROV, words
        return [sys.executable, "-m", "bulkprov", *words[1:]]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = bare_env()
        env["PYTHONPATH"] = str(ROOT)
        env.update(extra or {})
        return env

    def run(self, argv: list[str], cwd: Path, extra_env: dict[str, str] | None = None):
        cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=self.env(extra_env), timeout=120,
                              stdin=subprocess.DEVNULL)


def test_the_systemd_unit_and_the_cron_line_run_as_written(make_emulator, tmp_path):
    unit = block("ini", "[Service]")
    assert re.search(r"^User=bulkprov$", unit, re.M) and re.search(r"^StateDirectory=bulkprov$", unit, re.M)
    assert re.search(r"^StateDirectoryMode=0700$", unit, re.M), "the state directory is the service user's alone"
    assert "useradd --system" in block("sh", "useradd")
    emu = make_emulator()
    config = EmulatorConfig()
    with Hooks() as hooks:
        box = Machine(tmp_path, emu, hooks.url)
        (tmp_path / "etc/bulkprov").mkdir(parents=True)
        (tmp_path / "etc/bulkprov/bulkprov.toml").write_text(box.config(block("toml", "[profiles.nightly]\nhost")),
                                                             encoding="utf-8")
        (tmp_path / "etc/bulkprov/kore.env").write_text(
            f"KORE_CLIENT_ID={config.client_id}\nKORE_CLIENT_SECRET={config.client_secret}\n", encoding="utf-8")
        people = [staff(i) for i in range(25)]
        roster_xlsx(tmp_path / "srv/hr/roster.xlsx", people)
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        workdir = Path(box.path(re.search(r"^WorkingDirectory=(.*)$", unit, re.M).group(1)))
        night1 = box.run(box.argv(exec_start), workdir)
        assert night1.returncode == 0, night1.stderr
        state = tmp_path / "var/lib/bulkprov"
        assert oct(state.stat().st_mode & 0o777) == "0o700"
        assert set(accounts(emu)) == {p["Email"] for p in people}

        roster_xlsx(tmp_path / "srv/hr/roster.xlsx", people[:23])  # two leavers
        cron = block("cron", "bulkprov sync").strip()
        # The README's paths first, then the interpreter (its own path may well be under /tmp).
        command = box.path(cron.split(None, 5)[5]).replace(BULKPROV, f"{shlex.quote(sys.executable)} -m bulkprov")
        night2 = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                                env=box.env(), stdin=subprocess.DEVNULL)
        assert night2.returncode == 0, (state / "nightly.log").read_text()
        assert set(accounts(emu)) == {p["Email"] for p in people[:23]}
        log = [json.loads(line) for line in (state / "nightly.log").read_text(encoding="utf-8").splitlines()]
        assert log and len({line["run_id"] for line in log}) == 1, "JSON lines, one night's run id"

        operators = [line for line in block("sh", "sudo -u bulkprov").splitlines() if line.startswith("sudo")]
        listing = box.run(box.argv(operators[0]), tmp_path)
        assert listing.returncode == 0, listing.stderr
        runs = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
        finished = _state_in_the_profiles_language("finished")  # the example's profile says lang = "ko"
        assert len(runs) == 2 and all(f" {finished} " in line for line in listing.stdout.splitlines()[1:])
        (tmp_path / "tmp").mkdir()
        shown = box.run(box.argv(operators[1].replace("RUN", runs[1])), tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert (tmp_path / "tmp/night.xlsx").is_file()
    assert [h["exit_code"] for h in hooks.received] == [0, 0]


def test_the_kubernetes_cronjob_keeps_its_state_on_the_volume(make_emulator, tmp_path):
    emu = make_emulator()
    config = EmulatorConfig()
    cronjob = block("yaml", "kind: CronJob")
    args = json.loads(re.search(r"args: (\[.*\])", cronjob).group(1))
    assert "concurrencyPolicy: Forbid" in cronjob and "/data" in cronjob
    with Hooks() as hooks:
        box = Machine(tmp_path, emu, hooks.url)
        toml = block("toml", "ConfigMap bulkprov-config")
        assert "state_dir = \"/data/" in toml and "env_file" not in toml, "the state on the volume, no env file"
        (tmp_path / "config").mkdir()
        (tmp_path / "config/bulkprov.toml").write_text(box.config(toml), encoding="utf-8")
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets/client-secret").write_text(config.client_secret, encoding="utf-8")
        env = {"KORE_CLIENT_ID": config.client_id, "KORE_CLIENT_SECRET_FILE": box.path("/secrets/client-secret")}
        argv = [sys.executable, "-m", "bulkprov", *[box.path(a) for a in args]]
        people = [staff(i) for i in range(20)] + [staff(i) for i in range(100, 120)]
        roster_xlsx(tmp_path / "data/roster.xlsx", people)
        first = box.run(argv, tmp_path / "pod1", env)  # each night a new pod: nothing but the volume survives
        assert first.returncode == 0, first.stderr
        roster_xlsx(tmp_path / "data/roster.xlsx", people[:38])  # two leavers
        second = box.run(argv, tmp_path / "pod2", env)
        assert second.returncode == 0, second.stderr
        assert set(accounts(emu)) == {p["Email"] for p in people[:38]}, "the leavers are removed"
        assert not (tmp_path / "pod2/.bulkprov").exists()
    assert [h["exit_code"] for h in hooks.received] == [0, 0]


def test_a_lost_state_directory_is_noticed_loudly(make_emulator, tmp_path):
    from tests.e2e.test_nightly import cli, write

    earlier = [staff(i) for i in range(30)]
    seeded = [{"userInfo": {"emailId": p["Email"], "orgUserId": p["Employee ID"], "firstName": p["First Name"],
                            "lastName": p["Last Name"], "dept": p["Department"]}} for p in earlier]
    for scope in (True, False):
        emu = make_emulator(users=seeded, role_management_scope=scope)
        roster = write(tmp_path / "roster.csv", earlier[:25])  # 5 left while the state directory was lost
        with Hooks() as hooks:
            proc = cli("sync", str(roster), "--state-dir", str(tmp_path / f"fresh-{scope}"), "--rate", "none",
                       "--webhook", hooks.url, "-o", str(tmp_path / f"n-{scope}.xlsx"), emu=emu)
        assert proc.returncode == 0, proc.stderr
        said = proc.stderr
        assert "this is the first sync recorded in" in said and "--strays" in said, said
        if scope:
            assert "already holds 5 users this roster does not mention" in said
        else:
            assert "25 of the roster's users already exist" in said
        (hook,) = hooks.received
        assert any("state directory was lost" in w for w in hook["warnings"])
        assert len(accounts(emu)) == 30, "a first sync removes nobody: that is why it must say so"


def _as_another_user(state: Path):
    """Run as someone who does not own ``state`` (0700): root without its file-permission override, or
    a user for whom the directory is closed."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is needed to drop root's file-permission override")
        os.chown(state, 65534, 65534)
        for inner in state.rglob("*"):
            os.chown(inner, 65534, 65534, follow_symlinks=False)
        caps = "-dac_override,-dac_read_search"
        return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    state.chmod(0o000)
    return []


COMMANDS = [["runs"], ["runs", "show", "RUN"], ["approvals"], ["approve", "X"], ["reject", "X", "--comment", "no"],
            ["audit", "verify"], ["audit", "export"], ["sync", "ROSTER"], ["plan", "ROSTER"], ["add", "ROSTER"],
            ["export"]]
RECORDS_COMMANDS = {"approvals", "approve", "reject", "audit"}  # the account's records, whatever --state-dir says


def test_a_state_directory_of_another_user_is_state_dir_unusable_on_every_command(make_emulator, tmp_path):
    from tests.e2e.test_nightly import cli, write

    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(3)])
    state = tmp_path / "state"
    made = cli("sync", str(roster), "--state-dir", str(state), "--rate", "none", emu=emu)  # owned by the service
    assert made.returncode == 0, made.stderr
    (state / "records" / "approvals").mkdir(parents=True)  # the service's records (audit trails, requests)
    prefix = _as_another_user(state)
    env = bare_env()
    env.update({"KORE_HOST": emu.url, "KORE_CLIENT_ID": "x", "KORE_CLIENT_SECRET": "y",
                "BULKPROV_POLICY_DIR": os.environ["BULKPROV_POLICY_DIR"],  # never the machine's own places
                "BULKPROV_RECORDS_DIR": str(state / "records")})  # the approval commands' own directory
    try:
        for command in COMMANDS:
            argv = [str(roster) if w == "ROSTER" else w for w in command]
            where = [] if command[0] in RECORDS_COMMANDS else ["--state-dir", str(state)]
            proc = subprocess.run([*prefix, sys.executable, "-m", "bulkprov", *argv, *where],
                                  capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
                                  stdin=subprocess.DEVNULL)
            assert proc.returncode == 2, (command, proc.returncode, proc.stderr)
            # a sending run checks the account's audit trail first (audit-unwritable), the rest the directory
            assert re.search(r"\[(state-dir-unusable|audit-unwritable)\]", proc.stderr), (command, proc.stderr)
            assert "internal error" not in proc.stderr, (command, proc.stderr)
            assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    finally:
        if not prefix:
            state.chmod(0o700)
