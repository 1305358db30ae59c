"""Durability with real processes: a SIGKILLed host loses nothing committed, and one
database never has two live hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zepix_core.storage import Row, Store

pytestmark = pytest.mark.slow

ZEPIX = (sys.executable, "-m", "zepix_core.cli.main")


def _zepix(*args: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZEPIX, *args, "--db", str(db)], check=False, capture_output=True,
                          text=True, timeout=timeout)


@contextmanager
def running_host(db: Path) -> Iterator[subprocess.Popen[str]]:
    """``zepix run --interval 0.5`` on ``db``; killed at the end if still running."""
    proc = subprocess.Popen([*ZEPIX, "run", "--interval", "0.5", "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _wait_for(what: str, check: Callable[[], list[Row]], proc: subprocess.Popen[str],
              limit: float = 20.0) -> list[Row]:
    """Poll ``check()`` until it returns something truthy; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"host exited early ({proc.returncode}): {proc.communicate()[1]}")
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what} after {limit:.0f}s")


def _open_activations(db: Path, pid: int) -> list[Row]:
    """Open activations of the host process ``pid``, once it has beaten at least once."""
    if not db.exists():
        return []
    store = Store(db)
    try:
        hosts = {h["host_id"]: h for h in store.running_hosts() if h["pid"] == pid}
        beaten = any(h["heartbeat_at"] > h["started_at"] for h in hosts.values())
        rows = [r for r in store.open_activations() if r["host_id"] in hosts]
        return rows if beaten else []
    finally:
        store.close()


def test_sigkill_loses_nothing_and_next_start_closes_the_dangling(tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    with running_host(db) as proc:
        opened = _wait_for("open activations", lambda: _open_activations(db, proc.pid), proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    store = Store(db)
    [dead] = store.running_hosts()  # it never got to record a shutdown
    assert dead["pid"] == proc.pid
    after_kill = {r["id"]: r for r in store.history(limit=1000)}
    for row in opened:  # every activation committed before the kill survived as it was
        assert after_kill[row["id"]] == row
    dangling = [r for r in after_kill.values() if r["deactivated_at"] is None]
    assert {r["id"] for r in dangling} >= {r["id"] for r in opened}
    store.close()

    done = _zepix("run", "--once", db=db)
    assert done.returncode == 0, done.stderr

    store = Store(db)
    rows = {r["id"]: r for r in store.history(limit=1000)}
    for row in dangling:
        closed = rows[row["id"]]
        assert closed["deactivated_at"] == dead["heartbeat_at"]
        assert "crash" in closed["deactivation_reason"]
        assert "killed" in closed["deactivation_reason"]
        assert str(proc.pid) in closed["deactivation_reason"]
    assert store.running_hosts() == []
    assert store.open_activations() == []
    # The new host activated afresh and shut down cleanly.
    fresh = [r for r in rows.values() if r["host_id"] != dead["host_id"]]
    assert fresh and {r["deactivation_reason"] for r in fresh} == {"shutdown"}
    store.close()


def test_second_host_on_the_same_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "zepix.db"
    with running_host(db) as first:
        _wait_for("open activations", lambda: _open_activations(db, first.pid), first)
        second = _zepix("run", "--once", db=db)
        assert second.returncode == 2
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1, second.stderr
        assert f"another zepix host (pid {first.pid}) is running" in second.stderr
        assert first.poll() is None  # the running host is untouched
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
    store = Store(db)
    assert store.running_hosts() == [] and store.open_activations() == []
    store.close()
