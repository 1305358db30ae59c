"""Pause, resume and the breaker against a real ``zepix run`` subprocess (issue 28).

Two plugins write every bar they get to a file of their own; the test pauses one
with the CLI and watches its file stop while the other's grows, restarts the host
and sees the pause kept, resumes it over HTTP and sees its bars come back. The
history says who asked for each.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from tests.servers import free_port
from tests.venvs import clean_env, one_json
from tests.waiting import wait_for, wait_until


def recorder(path: Path) -> str:
    """The good plugin, writing each bar it gets to ``path``."""
    hook = "    def on_bar(self, bar):\n"
    return good_plugin().replace(hook, hook + f"        with open({str(path)!r}, 'a') as out:\n"
                                 "            out.write(f'{bar.symbol} {bar.ts}\\n')\n")


def config(port: int) -> str:
    off = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
    return (f"[host]\ninterval = 0.3\nwarmup_bars = 2\nbars_per_round = 2\n"
            f"[http]\nlisten = \"127.0.0.1:{port}\"\n{off}")


def bars(home: Path, pid: str) -> int:
    path = home / f"{pid}.bars"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def zepix(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


class Run:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "run"],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def alive(self) -> bool:
        assert self.proc.poll() is None, self.proc.communicate()[1]
        return True

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], int]]:
    dists = DistFactory(tmp_path / "site")
    for pid in ("alpha", "beta"):
        dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_rec:Plugin"},
                  {f"{pid}_rec": recorder(tmp_path / f"{pid}.bars")})
    port = free_port()
    (tmp_path / "zepix.toml").write_text(config(port), encoding="utf-8")
    env = clean_env(tmp_path, PYTHONPATH=str(dists.root), ZEPIX_API_TOKEN="desk-token",
                    ZEPIX_HTTP_LISTEN=f"127.0.0.1:{port}")
    yield tmp_path, env, port


def grows(home: Path, pid: str, by: int = 8) -> None:
    start = bars(home, pid)
    wait_until(lambda: bars(home, pid) >= start + by, timeout=60, step=0.1)


def stays(home: Path, paused: str, running: str) -> None:
    """After the pause took effect (one window of the running plugin's bars), the paused
    plugin gets none while the running one gets many."""
    grows(home, running)
    before = bars(home, paused)
    grows(home, running, by=16)
    assert bars(home, paused) == before


@pytest.mark.slow
def test_pause_stops_bars_across_restart_and_resume_brings_them_back(
        desk: tuple[Path, dict[str, str], int]) -> None:
    home, env, port = desk
    run = Run(home, env)
    try:
        grows(home, "alpha")
        grows(home, "beta")
        done = zepix(home, "pause", "alpha", "--reason", "maintenance window", env=env)
        assert done.returncode == 0, done.stderr
        assert "paused: alpha" in done.stdout
        stays(home, "alpha", "beta")
        rows = {r["id"]: r for r in one_json(zepix(home, "plugins", "--json", env=env).stdout)}
        assert rows["alpha"]["paused"] is True
        assert rows["alpha"]["paused_reason"] == "maintenance window"
        assert rows["beta"]["paused"] is False
    finally:
        run.stop()

    run = Run(home, env)  # the pause outlives the host
    try:
        url = f"http://127.0.0.1:{port}"
        if not wait_for(lambda: run.alive() and _up(url), timeout=60):
            run.proc.terminate()
            try:
                got = httpx.get(f"{url}/healthz", timeout=5).text
            except httpx.HTTPError as exc:
                got = repr(exc)
            run.proc.terminate()
            raise AssertionError(got + run.proc.communicate()[1])
        stays(home, "alpha", "beta")
        refused = httpx.post(f"{url}/api/v1/plugins/alpha/resume", timeout=30)
        assert refused.status_code == 401  # a change needs the operator token
        auth = {"Authorization": "Bearer desk-token"}
        answer = httpx.post(f"{url}/api/v1/plugins/alpha/resume", headers=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["changed"] == ["alpha"] and answer.json()["paused"] == []
        grows(home, "alpha")  # back at once

        answer = httpx.post(f"{url}/api/v1/pause", headers=auth,
                            json={"reason": "stop trading now"}, timeout=30)
        assert {"alpha", "beta", *BUNDLED} == set(answer.json()["paused"])  # every plugin
        frozen = bars(home, "alpha"), bars(home, "beta")
        answer = httpx.post(f"{url}/api/v1/breakers/beta/open", headers=auth, timeout=30)
        assert answer.json()["state"] == "OPEN" and answer.json()["forced_open"] is True
        done = zepix(home, "resume", "--all", env=env)
        assert done.returncode == 0 and "resumed: alpha, beta" in done.stdout, done.stderr
        grows(home, "alpha")
        # HTTP acts before it answers: at most the feed already handed out finishes.
        assert bars(home, "beta") <= frozen[1] + 2  # and its breaker is forced open
        done = zepix(home, "breaker", "reset", "beta", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert one_json(done.stdout)["outcome"] == "breaker CLOSED"
        grows(home, "beta")
    finally:
        run.stop()

    events = one_json(zepix(home, "history", "--events", "--json", env=env).stdout)
    kinds = [(e["plugin_id"], e["kind"], e["actor"]) for e in events]
    cli_actor = [a for pid, k, a in kinds if (pid, k) == ("alpha", "pause")][-1]  # oldest
    assert cli_actor not in ("api", "host")
    assert ("alpha", "resume", "api") in kinds
    assert ("beta", "pause", "api") in kinds and ("alpha", "resume", cli_actor) in kinds
    assert ("beta", "breaker_open", "api") in kinds
    assert ("beta", "breaker_reset", cli_actor) in kinds
    detail = next(e["detail"] for e in events if e["kind"] == "pause" and e["actor"] == "api")
    assert "stop trading now" in detail


def _up(url: str) -> Any:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
