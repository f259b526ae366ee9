"""Unattended operation: config profiles, JSON logs, the webhook, --max-runtime."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import results_by_row, write_roster


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_profile_webhook_and_json_logs(make_emulator, tmp_path):
    emu = make_emulator()
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    env = kore_env(emu)
    (tmp_path / "kore.env").write_text(f"KORE_CLIENT_ID={env['KORE_CLIENT_ID']}\n"
                                       f"KORE_CLIENT_SECRET={env['KORE_CLIENT_SECRET']}\n")
    (tmp_path / "bulkprov.toml").write_text(f"""
[profiles.nightly]
host = "{emu.url}"
env_file = "{tmp_path / 'kore.env'}"
rate = "none"
settle = 0
batch_size = 7
log_format = "json"
state_dir = "{tmp_path / 'state'}"
webhook = "http://127.0.0.1:{server.server_port}/hook/s3cr3t-token"
""")
    roster = tmp_path / "r.csv"
    write_roster(roster, 20, invalid={2: {"Email": "x"}})
    proc = bulkprov("add", str(roster), "--profile", "nightly", "--config", str(tmp_path / "bulkprov.toml"),
                    "-o", str(tmp_path / "res.xlsx"))
    server.shutdown()
    assert proc.returncode == 1, proc.stderr
    assert len(emu.state()["requests"]) == 3, "batch size 7 from the profile: 19 users in 3 requests"
    (path, body), = _Hook.received
    assert path == "/hook/s3cr3t-token"
    assert body["totals"] == {"success": 19, "invalid": 1} and body["exit_code"] == 1
    assert body["results_path"].endswith("res.xlsx") and body["run_id"]
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["run_id"] == body["run_id"] for line in lines if line["run_id"])
    assert "s3cr3t-token" not in proc.stderr, "the webhook URL's token is never logged"
    assert (tmp_path / "state" / "ledger.sqlite3").is_file()


def test_config_refuses_secrets_and_unknown_keys(tmp_path):
    roster = tmp_path / "r.csv"
    write_roster(roster, 2)
    for text, needle in (('client_secret = "x"', "must not be in a config file"),
                         ('batchsize = 5', "unknown setting"), ('batch_size = "five"', "must be a int")):
        (tmp_path / "bulkprov.toml").write_text(text + "\n")
        proc = bulkprov("add", str(roster), "--config", str(tmp_path / "bulkprov.toml"), "--host",
                        "http://127.0.0.1:9")
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    proc = bulkprov("add", str(roster), "--config", str(tmp_path / "bulkprov.toml"), "--profile", "nope")
    assert proc.returncode == 2


def test_a_config_that_is_a_device_a_directory_or_a_silent_pipe_is_one_clear_line(tmp_path):
    """Nothing a scheduler hands over as --config can hang the run or end in a traceback."""
    import os

    roster = tmp_path / "r.csv"
    write_roster(roster, 2)
    os.mkfifo(tmp_path / "fifo.toml")
    for config, needle in (("/dev/zero", "not a regular file"), (str(tmp_path), "not a regular file"),
                           (str(tmp_path / "fifo.toml"), None)):
        proc = bulkprov("add", str(roster), "--dry-run", "--config", config, timeout=30)
        assert "Traceback" not in proc.stderr
        if needle:
            assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        else:  # a pipe nobody writes is an empty config: the run goes on with the defaults
            assert proc.returncode == 0, proc.stderr


def test_max_runtime_stops_like_sigterm(make_emulator, tmp_path):
    emu = make_emulator(latency=0.2)
    roster = tmp_path / "r.csv"
    write_roster(roster, 100)
    proc = bulkprov("add", str(roster), "-o", str(tmp_path / "res.xlsx"), "--batch-size", "5", "--concurrency",
                    "1", "--rate", "none", "--max-runtime", "1.5", env=kore_env(emu))
    assert proc.returncode == 3, proc.stderr
    results = results_by_row(tmp_path / "res.xlsx")
    assert len(results) == 100
    statuses = [r["status"] for r in results.values()]
    assert "success" in statuses and "not_attempted" in statuses
    assert "max-runtime" in proc.stderr
    assert len(emu.state()["users"]) == statuses.count("success")
