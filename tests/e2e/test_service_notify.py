"""systemd's notify protocol, checked against a unix datagram socket the test listens
on: a real ``zepix run`` says READY=1 after activation, WATCHDOG=1 while its rounds
run and STOPPING=1 on SIGTERM; a host whose rounds stop stops petting the watchdog
(so systemd's WatchdogSec restarts it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_until
from zepix_core.app.notify import Notifier, Watchdog, watchdog_period
from zepix_core.host.host import create_host

FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"


class Listener:
    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.got: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.got.append(self.sock.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                return self.got

    def count(self, message: str) -> int:
        return sum(message in m.splitlines() for m in self.drain())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A unix socket path must stay under 108 bytes: not in pytest's deep tmp_path."""
    with tempfile.TemporaryDirectory(prefix="zx-", dir="/tmp") as found:
        yield Path(found)


def test_zepix_run_speaks_the_notify_protocol(zepix_home: Path) -> None:
    name = f"zepix-notify-{uuid.uuid4().hex[:12]}"
    listener = Listener(b"\0" + name.encode())  # an abstract socket, as systemd may give
    (zepix_home / "zepix.toml").write_text(FAST, encoding="utf-8")
    env = {**os.environ, "NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "400000"}
    run = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "run",
                            "--interval", "0.5"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: listener.count("READY=1"), timeout=120)
        ready_at = next(i for i, m in enumerate(listener.got) if "READY=1" in m.split("\n"))
        assert not any("WATCHDOG=1" in m for m in listener.got[:ready_at])
        wait_until(lambda: listener.count("WATCHDOG=1") >= 5, timeout=60)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-3000:]
    assert listener.count("STOPPING=1") == 1
    assert "shut down cleanly" in out
    listener.sock.close()


def test_the_watchdog_is_petted_only_while_rounds_are_fresh(
        zepix_home: Path, short_dir: Path) -> None:
    listener = Listener(str(short_dir / "notify"))
    (zepix_home / "zepix.toml").write_text(FAST, encoding="utf-8")
    host = create_host(zepix_home / "zepix.toml", zepix_home / "zepix.db")
    now = [time.time()]
    try:
        host.start()
        watchdog = Watchdog(Notifier(str(short_dir / "notify")), host, period=1.0,
                            every=0.5, clock=lambda: now[0])
        assert watchdog.limit == 13.0  # 3 late rounds + 10 s, as /healthz says
        assert watchdog.beat() and listener.count("WATCHDOG=1") == 1  # before a round
        host.round()
        now[0] = host.monitor.last_round[0] + 12.0  # type: ignore[index]
        assert watchdog.beat() and listener.count("WATCHDOG=1") == 2
        now[0] += 2.0   # the rounds stopped: 14 s since the last one
        assert not watchdog.beat() and not watchdog.beat()
        assert listener.count("WATCHDOG=1") == 2   # systemd restarts it after WatchdogSec
        host.round()    # the loop came back
        now[0] = host.monitor.last_round[0] + 1.0  # type: ignore[index]
        assert watchdog.beat() and listener.count("WATCHDOG=1") == 3
    finally:
        host.shutdown()
        host.store.close()
        listener.sock.close()


def test_no_socket_no_messages_and_the_environment_is_cleaned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier.from_environment().send("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/zepix.sock")
    notifier = Notifier.from_environment()
    assert "NOTIFY_SOCKET" not in os.environ  # plugins and workers cannot speak for it
    assert not notifier.send("READY=1")       # logged, never raised
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_period() == 15.0
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")   # meant for another process
    assert watchdog_period() is None
