"""``zepix status`` and the tables that must not look live when no host runs
(contract section 14), with real ``zepix run`` processes on one database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.livehost import BUNDLED, wait_until
from tests.servers import free_port
from zepix_core.cli.main import main

pytestmark = pytest.mark.slow

ZEPIX = str(Path(sys.executable).with_name("zepix"))
FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"


def zepix(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``zepix`` in a process of its own (a host, or a second host)."""
    return subprocess.run([ZEPIX, *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env)


class Cli:
    """``zepix`` in this process, for the reads (faster than a process each)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)


def test_no_host_running_is_said_everywhere(zepix_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (zepix_home / "zepix.toml").write_text(FAST, encoding="utf-8")
    assert zepix("run", "--once").returncode == 0
    cli = Cli(capsys)
    status = cli("status", "--json")
    assert status.returncode == 3, status.stderr
    doc = json.loads(status.stdout)
    assert doc["running"] is False and doc["pid"] is None and doc["http"] is None
    assert doc["recovered_from_crash"] is False
    plugins = cli("plugins")
    first = plugins.stdout.splitlines()[0]
    assert first.startswith("no zepix host is running on ")
    assert "ACTIVE" not in plugins.stdout and "READY (no host)" in plugins.stdout
    rows = json.loads(cli("plugins", "--json").stdout)
    assert {r["id"] for r in rows} >= set(BUNDLED) and all(r["running"] is False for r in rows)
    health = cli("health")
    assert health.stdout.startswith("no zepix host is running on ")
    assert "HEALTHY" not in health.stdout.replace("no host (last HEALTHY)", "")
    snaps = json.loads(cli("health", "--json").stdout)
    assert snaps and all(s["running"] is False for s in snaps)


def test_status_of_a_running_host_a_second_host_and_a_crash(
        zepix_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (zepix_home / "zepix.toml").write_text(FAST, encoding="utf-8")
    port = free_port()
    monkeypatch.setenv("ZEPIX_HTTP_LISTEN", f"127.0.0.1:{port}")
    env = dict(os.environ)
    cli = Cli(capsys)
    first = subprocess.Popen([ZEPIX, "run", "--interval", "0.5"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        doc = wait_until(lambda: _status_doc(cli, want=0), timeout=90)
        assert doc["running"] is True and doc["pid"] == first.pid
        assert doc["http"] == f"http://127.0.0.1:{port}"
        assert doc["plugins"]["by_state"]["ACTIVE"] == len(BUNDLED)
        assert doc["plugins"]["by_health"].get("HEALTHY", 0) + sum(
            n for s, n in doc["plugins"]["by_health"].items() if s != "HEALTHY") == len(BUNDLED)
        assert doc["round_age_seconds"] < 60 and doc["uptime_seconds"] > 0
        rows = json.loads(cli("plugins", "--json").stdout)
        assert all(r["running"] is True for r in rows if r["id"] in BUNDLED)
        assert not cli("plugins").stdout.startswith("no zepix host")
        # a second host on the same database and port: told who runs, not "port in use"
        second = zepix("run", "--once", env=env)
        assert second.returncode != 0
        assert f"another zepix host (pid {first.pid}) is running" in second.stderr
        assert "in use" not in second.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        first.send_signal(signal.SIGKILL)  # a crash: no shutdown
        first.communicate(timeout=60)
    assert cli("status").returncode == 3
    again = zepix("run", "--once")
    assert again.returncode == 0, again.stderr
    lines = [line for line in again.stdout.splitlines() if "recovered from a crash" in line]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0]
    assert json.loads(cli("status", "--json").stdout)["recovered_from_crash"] is True


def _status_doc(cli: Cli, want: int) -> dict[str, object] | None:
    done = cli("status", "--json")
    return json.loads(done.stdout) if done.returncode == want else None
