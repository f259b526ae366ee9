"""One settings path: every front end's run settings come from ``config.job_settings``; the stages read them
through read-only views (no ``settings: Any``) and never edit them while a run goes on."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkprov.approvals.flow import Approvals
from bulkprov.approvals.options import GateOptions, GuardOptions
from bulkprov.emulator import EmulatorConfig
from bulkprov.io import LoaderLimits
from bulkprov.jobs import JobSettings
from bulkprov.kore.auth import Credentials
from bulkprov.send.options import SendOptions
from bulkprov.sync.options import SyncOptions
from bulkprov.web import WebConfig, build_config, create_app
from tests.web.test_web_gate import PEOPLE, finished, people, run, sign_in, upload

ROOT = Path(__file__).resolve().parent.parent / "bulkprov"
BELOW_JOBS = ("sync", "approvals", "directory", "send", "outputs", "state", "check", "kore", "io")


def _stage_modules() -> list[Path]:
    return sorted(p for stage in BELOW_JOBS for p in (ROOT / stage).rglob("*.py"))


@pytest.mark.parametrize("path", _stage_modules(), ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_stage_takes_untyped_settings_or_edits_them(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.arg == "settings":
            annotation = ast.unparse(node.annotation) if node.annotation is not None else ""
            if annotation in ("", "Any", "object"):
                problems.append(f"line {node.lineno}: settings: {annotation or '(none)'}")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and leaf.value.id == "settings":
                    problems.append(f"line {leaf.lineno}: settings.{leaf.attr} assigned")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and \
                node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "settings":
            problems.append(f"line {node.lineno}: setattr(settings, ...)")
    assert problems == []


@pytest.mark.parametrize("view", [SendOptions, GuardOptions, GateOptions, SyncOptions], ids=lambda v: v.__name__)
def test_job_settings_are_every_stage_view(view) -> None:
    assert isinstance(JobSettings(command="add"), view)


def test_a_runs_settings_cannot_be_edited_only_replaced() -> None:
    """Made once, replaced, never edited: an assignment mid-run raises, and a list a caller passes is kept as a
    tuple (nothing appends to a run's protected users or ignored headers behind its back)."""
    given = ["ceo@acme-corp.com"]
    settings = JobSettings(command="sync", protected=given, ignore_columns=["Departmnt"],
                           approvals=Approvals(person="olga", where="cli@host"))
    for name, value in (("max_deletes", 0), ("protected", []), ("account", None), ("limits", LoaderLimits())):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(settings, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.approvals.approvers = ["mallory"]  # type: ignore[misc, union-attr]
    given.append("cfo@acme-corp.com")
    assert settings.protected == ("ceo@acme-corp.com",) and settings.ignore_columns == ("Departmnt",)
    changed = dataclasses.replace(settings, max_deletes=3)
    assert (changed.max_deletes, settings.max_deletes, changed.protected) == (3, 500, ("ceo@acme-corp.com",))


def test_the_page_makes_its_own_settings_and_leaves_the_callers_alone(tmp_path) -> None:
    """The page's run settings carry its upload cap's loader limits and its credentials' account: a new object,
    the one it was given unchanged (it used to be edited in place, under the caller's feet)."""
    emu = EmulatorConfig()
    creds = Credentials(client_id=emu.client_id, client_secret=emu.client_secret)
    given = JobSettings(command="add", host="https://bots.kore.ai")
    config = WebConfig(state_dir=tmp_path, job=given, credentials=creds, token="t" * 16, max_upload_bytes=1_000_000)
    assert (given.limits, given.account) == (LoaderLimits(), None)
    assert config.job is not given
    assert (config.job.limits.max_bytes, config.job.limits.max_uncompressed_bytes) == (1_000_000, 20_000_000)
    assert (config.job.account.host, config.job.account.client_id) == ("https://bots.kore.ai", emu.client_id)
    assert dataclasses.replace(config.job, limits=given.limits, account=None) == given


async def test_the_page_honours_the_profiles_rate_wait_cap(make_emulator, tmp_path):
    """Rate refusals go on past the longest rate window (1 s here) for as long as the profile's ``rate_wait_cap``
    says, on the page as on the command line (tests/e2e/test_integrity.py): the page drops no run setting."""
    emu = make_emulator(fail_rate=1.0, rate_refusal="429")
    creds = Credentials(client_id=EmulatorConfig().client_id, client_secret=EmulatorConfig().client_secret)
    profile = {"host": emu.url, "state_dir": str(tmp_path / "state"), "rate": "100/1", "max_attempts": 2,
               "rate_wait_cap": 3.0, "web_users": people(), "web_roles": PEOPLE}
    config = build_config(profile, {}, credentials=creds, max_upload_mb=1, secure_cookies=False)
    roster = b"Email,First Name,Last Name\n" + b"".join(f"u{i}@acme-corp.com,U,{i}\n".encode() for i in range(3))
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await sign_in(client, "olga")
        report = await upload(client, csrf, roster, action="add", name="joiners.csv")
        started = time.monotonic()
        job = await run(client, csrf, report, "add")
        await finished(client, job)
        waited = time.monotonic() - started
        page = await (await client.get(job)).text()
    assert "rate-limited" in page, "every row ends rate-limited"
    assert emu.state()["counts"]["rate_refusals"] > 2
    assert waited >= 3.0, "nothing is reported rate-limited before the profile's cap"
