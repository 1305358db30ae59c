"""Version management against a real host: live upgrade, the probation gate and its
automatic rollback, rollback to the last known good version, deprecation, the MAJOR
rule, and racing commands. Store versions are real wheels of ``zx-alpha`` (see
``tests/plugin_versions.py``) running in worker processes; ``beta`` is an
environment plugin in process, there to show that other plugins are untouched."""

from __future__ import annotations

import getpass
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from tests.paths import ROOT
from tests.waiting import wait_until
from zepix_core import PluginState
from zepix_core.loading.paths import store_dir
from zepix_core.storage import Store

USER = getpass.getuser()


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    yield rig
    rig.close()


def started_on_good_1_0(rig: pv.Rig) -> None:
    """alpha 1.0.0 alone in the store, started and through its first probation."""
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    assert rig.versions()["1.0.0"]["gate_passed"] is True


def test_upgrade_is_applied_live_within_one_round_and_passes_its_gate(rig: pv.Rig) -> None:
    started_on_good_1_0(rig)
    beta = rig.host.slots["beta"]
    rig.install("1.1.0")  # installed while the host runs: available, not active
    assert rig.versions()["1.1.0"]["state"] == "available"

    code, out, _ = rig.zepix("upgrade", "alpha", "1.1.0")
    assert code == 0 and "the running host" in out
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)  # the command only records
    rig.rounds(1)
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    assert rig.host.slots["beta"] is beta and beta.state is PluginState.ACTIVE  # untouched
    [request] = rig.host.store.requests("alpha")
    assert request["outcome"] == "applied: 1.1.0 is active, on probation for 3 round(s)"
    assert rig.versions()["1.1.0"]["note"] == "probation 0/3 rounds"
    assert rig.versions()["1.1.0"]["gate"] == "probation"

    rig.rounds(3)
    rows = rig.versions()
    assert [(v, r["state"], r["gate_passed"]) for v, r in rows.items()] == [
        ("1.0.0", "available", True), ("1.1.0", "active", True)]
    new, old = rig.host.store.history("alpha")[:2]
    why = f"{USER}: upgrade 1.0.0 -> 1.1.0 (request {request['id']})"
    assert (new["version"], new["activation_reason"]) == ("1.1.0", why)
    assert (old["version"], old["deactivation_reason"]) == ("1.0.0", why)
    assert [e["actor"] for e in rig.events("gate_passed")] == ["gate"]  # 1.0.0: quietly
    assert [r["version"] for r in rig.host.store.history("beta")] == ["1.0.0"]


@pytest.mark.parametrize("bad, cause", [
    ("1.2.0", "circuit breaker is OPEN"),   # its on_bar raises
    ("1.1.0", "self_test failed"),          # its self_test fails ($ZX_FAIL_SELF_TEST)
])
def test_a_version_that_fails_its_gate_is_rolled_back_automatically(
        rig: pv.Rig, monkeypatch: pytest.MonkeyPatch, bad: str, cause: str) -> None:
    monkeypatch.setenv("ZX_FAIL_SELF_TEST", "1.1.0")
    started_on_good_1_0(rig)
    rig.install(bad)
    assert rig.zepix("upgrade", "alpha", bad)[0] == 0
    rig.rounds(1)
    assert rig.running() == (bad, PluginState.ACTIVE)
    rig.rounds(2)
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)

    [failed] = rig.events("gate_failed")
    assert failed["actor"] == "gate" and cause in failed["detail"], failed["detail"]
    assert failed["detail"].startswith(f"alpha {bad} failed its gate")
    [alert] = rig.host.store.alerts("alpha", unresolved=True)
    assert (alert["kind"], alert["level"]) == ("version_gate", "HIGH")
    assert alert["message"].endswith("rollback to 1.0.0")
    back, tried = rig.host.store.history("alpha")[:2]
    assert back["version"] == "1.0.0" and back["activation_reason"].startswith("gate: ")
    assert tried["version"] == bad and tried["deactivation_reason"] == back["activation_reason"]
    rows = rig.versions()
    assert rows[bad]["gate_passed"] is False and rows[bad]["last_active"] is not None
    assert (rows[bad]["gate"], rows["1.0.0"]["gate"]) == ("failed", "passed")
    assert rows["1.0.0"]["state"] == "active" and rows["1.0.0"]["desired"] is True
    assert rig.host.store.version_book("alpha").desired["actor"] == "gate"  # type: ignore[index]


def test_rollback_goes_to_the_last_known_good_version(rig: pv.Rig) -> None:
    started_on_good_1_0(rig)
    rig.install("1.1.0", "1.2.0", "2.0.0")
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.rounds(4)                                                       # 1.1.0 passes
    code, _, err = rig.zepix("deprecate", "alpha", "1.1.0")
    assert code == 0 and "1.1.0 is the active version and keeps running" in err
    assert rig.zepix("upgrade", "alpha", "1.2.0")[0] == 0
    rig.rounds(3)                                                       # 1.2.0 fails
    # The gate falls back past the deprecated 1.1.0 that ran before it:
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)

    code, _, err = rig.zepix("upgrade", "alpha", "2.0.0")
    assert code == 2 and "crosses a MAJOR version" in err and "--force" in err
    assert err.count("\n") == 1
    assert rig.zepix("upgrade", "alpha", "2.0.0", "--force")[0] == 0
    rig.rounds(4)
    assert rig.running() == ("2.0.0", PluginState.ACTIVE)

    code, out, _ = rig.zepix("rollback", "alpha")
    assert code == 0
    assert ("rollback 2.0.0 -> 1.0.0, the last known good version (skipped 1.2.0 never "
            "passed its gate; 1.1.0 is deprecated)") in out
    rig.rounds(1)
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    [request] = [r for r in rig.host.store.requests("alpha") if r["action"] == "rollback"]
    assert request["outcome"] == "applied: 1.0.0 is active (it passed its gate before)"
    states = {v: r["state"] for v, r in rig.versions().items()}
    assert states == {"1.0.0": "active", "1.1.0": "deprecated", "1.2.0": "available",
                      "2.0.0": "available"}

    rig.zepix("deprecate", "alpha", "1.0.0")
    code, _, err = rig.zepix("rollback", "alpha")
    assert code == 2 and "no last known good version below 1.0.0" in err


def test_a_crashed_store_version_is_restarted_as_the_same_version(rig: pv.Rig) -> None:
    with (store_dir().parent / "zepix.toml").open("a") as config:
        config.write("\n[supervision]\nrestart_backoff = 0.05\nrestart_jitter = 0.0\n")
    started_on_good_1_0(rig)
    rig.install("1.1.0")
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.rounds(4)
    slot = rig.host.slots["alpha"]
    os.kill(slot.runner.pid, signal.SIGKILL)  # type: ignore[union-attr]
    wait_until(lambda: rig.events("crashed"), waiting_for="the supervisor to see the crash")

    def restarted() -> bool:  # rounds until the 0.05 s backoff has passed and one restarts it
        rig.rounds(1)
        return rig.host.slots["alpha"] is not slot

    wait_until(restarted)
    again = rig.host.slots["alpha"]
    assert again is not slot and (again.version, again.state) == ("1.1.0", PluginState.ACTIVE)
    assert rig.host.versions.in_store(again.record)
    assert rig.host.store.history("alpha")[0]["activation_reason"].startswith("restart 1 of")



def test_a_crashed_store_version_comes_back_between_rounds_after_its_backoff(
        rig: pv.Rig) -> None:
    with (store_dir().parent / "zepix.toml").open("a") as config:
        config.write("\n[supervision]\nrestart_backoff = 0.05\nrestart_jitter = 0.0\n")
    rig.install("1.0.0")
    rig.start()
    rig.rounds(1)
    host, slot = rig.host, rig.host.slots["alpha"]
    back: list[float] = []
    service = host.supervisor.service

    def watch() -> None:
        service()
        now = host.slots["alpha"]
        if not back and now is not slot and now.state is PluginState.ACTIVE:
            back.append(time.monotonic())
            host.clocks.stop.set()  # seen: end the wait early

    host.supervisor.service = watch  # type: ignore[method-assign]
    killer = threading.Timer(0.3, os.kill, (slot.runner.pid, signal.SIGKILL))  # type: ignore[union-attr]
    started = time.monotonic()
    killer.start()
    host.loop.idle(started + 60.0)  # the wait between two rounds 60 s apart
    killer.join()
    assert back, "not restarted during the wait"
    # The backoff (0.05 s) and a worker start (seconds on a loaded machine), not the
    # 60 s to the next round:
    assert back[0] - (started + 0.3) < 30.0
    again = host.slots["alpha"]
    assert (again.version, again.state) == ("1.0.0", PluginState.ACTIVE)
    assert host.versions.in_store(again.record)
    assert [e["kind"] for e in reversed(rig.host.store.events("alpha"))
            if e["kind"] in ("crashed", "restart")] == ["crashed", "restart"]


def test_a_worker_exit_reported_late_is_still_restarted_during_the_wait(
        rig: pv.Rig) -> None:
    """The worker is gone (``alive()`` is False) some time before its watcher reports
    the exit: on a loaded machine, long enough for the wait between rounds to look
    for live workers, find none, and sleep to the next round. It must keep polling."""
    with (store_dir().parent / "zepix.toml").open("a") as config:
        config.write("\n[supervision]\nrestart_backoff = 0.05\nrestart_jitter = 0.0\n")
    rig.install("1.0.0")
    rig.start()
    rig.rounds(1)
    host, slot = rig.host, rig.host.slots["alpha"]
    report, crashed = threading.Event(), host.supervisor.crashed
    back: list[float] = []

    def late(*args: Any) -> None:  # the watcher thread: held until the wait has begun
        report.wait(60)
        crashed(*args)

    def wait(seconds: float) -> bool:
        report.set()
        now = host.slots["alpha"]
        if not back and now is not slot and now.state is PluginState.ACTIVE:
            back.append(time.monotonic())
            host.clocks.stop.set()  # seen: end the wait early
        return host.clocks.stop.wait(max(0.0, seconds))

    host.supervisor.crashed = late  # type: ignore[method-assign]
    os.kill(slot.runner.pid, signal.SIGKILL)  # type: ignore[union-attr]
    wait_until(lambda: not slot.runner.alive(),  # type: ignore[union-attr]
               waiting_for="the watcher to reap the killed worker")
    host.clocks.wait = wait  # type: ignore[method-assign]
    started = time.monotonic()
    host.loop.idle(started + 90.0)  # the wait between two rounds 90 s apart
    assert back, "not restarted during the wait"
    assert back[0] - started < 45.0  # a worker start on a loaded machine, not the 90 s


def test_a_crash_during_probation_is_rolled_back_not_restarted_over(rig: pv.Rig) -> None:
    with (store_dir().parent / "zepix.toml").open("a") as config:
        config.write("\n[supervision]\nrestart_backoff = 30\n")
    started_on_good_1_0(rig)
    rig.install("1.1.0")
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.rounds(1)
    os.kill(rig.host.slots["alpha"].runner.pid, signal.SIGKILL)  # type: ignore[union-attr]
    wait_until(lambda: rig.events("crashed"), waiting_for="the supervisor to see the crash")
    rig.rounds(1)  # DEAD fails the gate: back to 1.0.0 before the restart is due
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    [failed] = rig.events("gate_failed")
    assert "DEAD" in failed["detail"], failed["detail"]
    rig.rounds(1)
    # The restart scheduled for 1.1.0 is cancelled: 1.0.0 gets bars at once.
    watched = rig.host.monitor.watched["alpha"]
    assert watched.health.work.snapshot().calls > 0
    assert not rig.events("restart")

def test_a_plugin_first_installed_while_the_host_runs_starts_with_an_upgrade(
        rig: pv.Rig) -> None:
    rig.start()
    assert "alpha" not in rig.host.slots
    rig.install("1.0.0")
    code, out, _ = rig.zepix("upgrade", "alpha", "1.0.0")
    assert code == 0 and "upgrade (none) -> 1.0.0" in out
    rig.rounds(1)
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    assert rig.host.slots["beta"].state is PluginState.ACTIVE


def test_bad_store_settings_are_one_line_usage_errors(rig: pv.Rig) -> None:
    config = store_dir().parent / "zepix.toml"
    for text, fix in (("probation_rounds = 2.5", "expected a whole number > 0"),
                      ("probation_round = 3", "did you mean 'probation_rounds'?")):
        config.write_text(f"[store]\n{text}\n")
        code, _, err = rig.zepix("rollback", "alpha")
        assert code == 2 and fix in err and err.count("\n") == 1
        # a view warns and goes on (to say that no version is installed yet)
        code, _, err = rig.zepix("versions", "alpha")
        warning, error = err.splitlines()
        assert warning.startswith("zepix: warning: ") and fix in warning
        assert code == 2 and "no version of 'alpha' is installed" in error


def test_without_a_host_the_next_start_runs_the_desired_version(rig: pv.Rig) -> None:
    rig.install("1.0.0", "1.1.0", "2.0.0")
    code, out, _ = rig.zepix("upgrade", "alpha", "1.0.0")
    assert code == 0 and "no host is running" in out
    code, _, err = rig.zepix("upgrade", "alpha", "2.0.0")
    assert code == 2 and "1.0.0 -> 2.0.0 crosses a MAJOR version" in err
    code, out, _ = rig.zepix("upgrade", "alpha", "1.1.0", "--json")
    assert code == 0 and json.loads(out)["applied"] is False

    rig.start()
    assert rig.running() == ("1.1.0", PluginState.ACTIVE)
    rig.rounds(1)
    outcomes = [r["outcome"] for r in rig.host.store.requests("alpha")]
    assert outcomes == ["alpha 1.1.0 is running", "superseded by request 2"]
    rig.rounds(2)
    assert rig.versions()["1.1.0"]["gate_passed"] is True


def test_a_deprecated_version_is_not_picked_at_startup(rig: pv.Rig) -> None:
    rig.install("1.0.0", "1.1.0")
    rig.zepix("upgrade", "alpha", "1.1.0")
    code, _, err = rig.zepix("deprecate", "alpha", "1.1.0")
    assert code == 0 and "warning: alpha 1.1.0 is the active version" in err
    rig.start()
    assert rig.running() == ("1.0.0", PluginState.ACTIVE)
    rig.rounds(1)
    desired = rig.host.store.version_book("alpha").desired
    assert desired is not None and (desired["version"], desired["actor"]) == ("1.0.0", "startup")
    code, _, err = rig.zepix("upgrade", "alpha", "1.1.0")
    assert code == 2 and "1.1.0 is deprecated" in err
    assert rig.zepix("deprecate", "alpha", "1.1.0", "--undo")[0] == 0
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0


def test_racing_upgrade_commands_and_a_running_host_leave_a_consistent_state(
        tmp_path_factory: pytest.TempPathFactory, zepix_home: Path) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0", "1.1.0", "2.0.0")
    (zepix_home / "zepix.toml").write_text(pv.CONFIG)
    zepix = [sys.executable, "-m", "zepix_core.cli.main"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run([*zepix, "upgrade", "alpha", "1.0.0"], env=env, check=False)
    assert first.returncode == 0
    host = subprocess.Popen([*zepix, "run", "--interval", "0.2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        store = Store(zepix_home / "zepix.db")
        wait_until(lambda: store.open_activations(), waiting_for="the host to activate alpha")
        racers = [subprocess.Popen([*zepix, "upgrade", "alpha", *args], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for args in (["1.1.0"], ["2.0.0", "--force"])]
        results = [(p.wait(60), *p.communicate()) for p in racers]
        assert all(code in (0, 2) for code, _, _ in results), results
        assert not any("locked" in err or "Traceback" in err for _, _, err in results)
        wait_until(lambda: not store.pending_requests(), waiting_for="the host to apply every request")
        wait_until(lambda: not store.probations(), waiting_for="the probation to end")
    finally:
        host.terminate()
        host.wait(30)
    # Accepted requests form one chain, as if the commands had run one after the other:
    chain = [re.search(r"(?:up|down)grade (\S+) -> (\S+)", e["detail"]).groups()  # type: ignore[union-attr]
             for e in reversed(store.events("alpha"))
             if e["kind"] in ("upgrade_requested", "downgrade_requested")]
    assert chain[0] == ("(none)", "1.0.0")
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(chain))
    accepted = sum(code == 0 for code, _, _ in results)
    assert len(chain) == 1 + accepted and chain[-1][1] == "2.0.0"
    book = store.version_book("alpha")
    assert book.desired is not None and book.desired["version"] == "2.0.0"
    assert book.running is None  # the host shut down and closed it
    history = store.history("alpha")
    assert history[0]["version"] == "2.0.0" and history[0]["deactivation_reason"] == "shutdown"
    assert all(a["deactivated_at"] is not None for a in history)
    assert store.versions("alpha") and not store.pending_requests()


