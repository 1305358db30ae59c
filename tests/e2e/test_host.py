"""The host over real dist-info plugins: activation order, failures, resolution verdicts,
clean shutdown on SIGTERM, and rounds a hung plugin cannot stall.

Each test plugin appends what happens to it (``activate <id>``,
``deactivate <id> <reason>``) to a log file, so the order is observed from
inside the plugins rather than inferred from the host's records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.distfactory import DistFactory
from zepix_core import PluginState
from zepix_core.host.host import Host, create_host
from zepix_core.storage import Store

RECORDING = '''
import threading

from zepix_core import hookimpl

LOG = {log!r}
ID = {pid!r}


def note(text):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(text + "\\n")


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {{"version": {version!r}, "requires_api": ">=1.0,<2", "requires": {requires!r}}}

    @hookimpl
    def health_ping(self, now):
        if {hang!r}:
            threading.Event().wait()
        return {{"ok": True, "last_activity": now}}

    @hookimpl
    def get_metrics(self):
        return {{"signals_processed": 0}}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        if {fail!r}:
            raise RuntimeError("exchange credentials missing")
        note("activate " + ID)

    @hookimpl
    def deactivate(self, reason):
        note("deactivate " + ID + " " + reason)
'''


class Plugins:
    """Adds recording plugins to a ``DistFactory`` and reads what they logged."""

    def __init__(self, dists: DistFactory, log: Path) -> None:
        self.dists = dists
        self.log = log

    def add(self, pid: str, version: str = "1.0.0", requires: Mapping[str, str] | None = None,
            *, fail: bool = False, hang: bool = False) -> None:
        source = RECORDING.format(log=str(self.log), pid=pid, version=version,
                                  requires=dict(requires or {}), fail=fail, hang=hang)
        self.dists.add(f"zepix-{pid.replace('_', '-')}", version,
                       {pid: f"rec_{pid}:Plugin"}, {f"rec_{pid}": source})

    def events(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []


@pytest.fixture
def plugins(dists: DistFactory, tmp_path: Path) -> Plugins:
    return Plugins(dists, tmp_path / "events.log")


def host_for(dists: DistFactory, tmp_path: Path, config: str = "") -> Host:
    path = tmp_path / "zepix.toml"
    path.write_text(config, encoding="utf-8")
    return create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])


def states(host: Host) -> dict[str, tuple[PluginState, str | None]]:
    return {pid: (slot.state, slot.reason) for pid, slot in host.slots.items()}


def test_activation_in_dependency_order_and_shutdown_in_reverse(
        plugins: Plugins, dists: DistFactory, tmp_path: Path) -> None:
    # Names sort against the dependency order, so a sorted walk would be wrong.
    plugins.add("alpha", requires={"bravo": ">=1"})
    plugins.add("bravo", requires={"charlie": "~=1.0"})
    plugins.add("charlie")
    plugins.add("delta")
    host = host_for(dists, tmp_path)
    host.run(once=True)

    events = plugins.events()
    activated = [e.split()[1] for e in events if e.startswith("activate")]
    deactivated = [e.split()[1] for e in events if e.startswith("deactivate")]
    assert sorted(activated) == ["alpha", "bravo", "charlie", "delta"]
    assert activated.index("charlie") < activated.index("bravo") < activated.index("alpha")
    assert deactivated == activated[::-1]
    assert all(e.endswith(" shutdown") for e in events if e.startswith("deactivate"))

    history = Store(tmp_path / "zepix.db").history()
    assert {(r["plugin_id"], r["activation_reason"], r["deactivation_reason"])
            for r in history} == {(p, "startup", "shutdown") for p in activated}
    by_id = {r["plugin_id"]: r for r in history}
    assert by_id["charlie"]["activated_at"] <= by_id["bravo"]["activated_at"]
    assert by_id["bravo"]["deactivated_at"] <= by_id["charlie"]["deactivated_at"]


def test_failed_activation_is_isolated_and_blocks_its_dependents(
        plugins: Plugins, dists: DistFactory, tmp_path: Path) -> None:
    plugins.add("broker", fail=True)
    plugins.add("strategy", requires={"broker": ">=1"})
    plugins.add("other")
    host = host_for(dists, tmp_path)
    host.start()
    try:
        got = states(host)
        state, reason = got["broker"]
        assert state is PluginState.FAILED
        assert reason is not None
        for word in ("'broker'", "zepix-broker", "activate failed", "RuntimeError",
                     "exchange credentials missing"):
            assert word in reason
        state, reason = got["strategy"]
        assert state is PluginState.FAILED
        assert "required plugin(s) broker did not activate" in (reason or "")
        assert got["other"] == (PluginState.ACTIVE, None)
        assert [s.plugin_id for s in host.active()] == ["other"]
    finally:
        host.shutdown()
    assert plugins.events() == ["activate other", "deactivate other shutdown"]
    assert [r["plugin_id"] for r in host.store.history()] == ["other"]


def test_dependency_cycle_is_rejected_naming_the_cycle(
        plugins: Plugins, dists: DistFactory, tmp_path: Path) -> None:
    plugins.add("left", requires={"right": ">=1"})
    plugins.add("right", requires={"left": ">=1"})
    plugins.add("bystander")
    host = host_for(dists, tmp_path)
    host.discover()
    host.release()
    for pid in ("left", "right"):
        state, reason = states(host)[pid]
        assert state is PluginState.REJECTED
        assert "dependency cycle" in (reason or "")
        assert "left" in (reason or "") and "right" in (reason or "")
        assert f"zepix-{pid}" in (reason or "")
    assert host.order == ["bystander"]


def test_operator_config_disables_and_pins(plugins: Plugins, dists: DistFactory,
                                           tmp_path: Path) -> None:
    plugins.add("muted")
    plugins.add("pinned", version="1.4.0")
    plugins.add("fits", version="2.1.0")
    host = host_for(dists, tmp_path, "[plugins.muted]\nenabled = false\n\n"
                                     "[plugins.pinned]\nversion = \">=2,<3\"\n\n"
                                     "[plugins.fits]\nversion = \"~=2.0\"\n")
    host.run(once=True)
    got = states(host)
    assert got["muted"][0] is PluginState.INACTIVE
    assert "enabled = false" in (got["muted"][1] or "")
    assert got["pinned"][0] is PluginState.REJECTED
    pin = str(SpecifierSet(">=2,<3"))
    assert f"version 1.4.0 does not satisfy the pin '{pin}'" in (got["pinned"][1] or "")
    assert [e for e in plugins.events() if e.startswith("activate")] == ["activate fits"]


@pytest.mark.parametrize("config, allowed", [
    ("", False),
    ("[host]\nallow_prereleases = true\n", True),
    ("[plugins.beta]\nallow_prereleases = true\n", True),
    ("[host]\nallow_prereleases = true\n[plugins.beta]\nallow_prereleases = false\n", False),
])
def test_prerelease_needs_permission(plugins: Plugins, dists: DistFactory, tmp_path: Path,
                                     config: str, allowed: bool) -> None:
    plugins.add("beta", version="2.0.0b1")
    host = host_for(dists, tmp_path, config)
    host.start()
    host.shutdown()
    state, reason = states(host)["beta"]
    if allowed:
        assert plugins.events() == ["activate beta", "deactivate beta shutdown"]
    else:
        assert state is PluginState.REJECTED
        assert "2.0.0b1 is a pre-release" in (reason or "")
        assert "allow_prereleases" in (reason or "")
        assert plugins.events() == []


def test_hung_plugin_does_not_stall_the_round(plugins: Plugins, dists: DistFactory,
                                              tmp_path: Path) -> None:
    plugins.add("frozen", hang=True)
    plugins.add("lively")
    host = host_for(dists, tmp_path, "[plugins.frozen]\nping_timeout = 0.3\n\n"
                                     "[plugins.lively]\nping_timeout = 0.3\n")
    host.start()
    try:
        for _ in range(3):  # the first round also runs self tests
            began = time.monotonic()
            host.round()
            assert time.monotonic() - began < 1.5
        latest = {s["plugin_id"]: s["status"] for s in host.store.latest_snapshots()}
        assert latest["lively"] == "HEALTHY"
        assert latest["frozen"] == "HUNG"
    finally:
        host.shutdown()


@pytest.mark.slow
def test_sigterm_shuts_a_running_host_down_cleanly(plugins: Plugins, dists: DistFactory,
                                                   tmp_path: Path) -> None:
    plugins.add("upstream")
    plugins.add("downstream", requires={"upstream": ">=1"})
    db = tmp_path / "zepix.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(dists.root), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "run", "--interval",
                             "0.5", "--db", str(db)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while plugins.events()[:2] != ["activate upstream", "activate downstream"]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "shut down cleanly" in out
    assert plugins.events() == ["activate upstream", "activate downstream",
                                "deactivate downstream shutdown", "deactivate upstream shutdown"]
    store = Store(db)
    assert store.running_hosts() == [] and store.open_activations() == []
    ours = [r for r in store.history() if r["plugin_id"] in ("upstream", "downstream")]
    assert len(ours) == 2 and {r["deactivation_reason"] for r in ours} == {"shutdown"}


def test_warm_up_feeds_history_before_the_first_round(dists: DistFactory,
                                                      tmp_path: Path) -> None:
    from tests.distfactory import good_plugin

    dists.add("zepix-counter", "1.0.0", {"counter": "counter_mod:Plugin"},
              {"counter_mod": good_plugin()})
    host = host_for(dists, tmp_path, '[host]\nwarmup_bars = 10\nbars_per_round = 2\n'
                                     'market_symbols = ["BTCUSD"]\n')
    rounds: list[str] = []
    host.run(once=True, on_round=rounds.append)
    [snap] = host.store.latest_snapshots()
    # 10 warm-up steps and 2 round steps of one symbol: 12 one-minute bars, plus the
    # 5m bars closing at minutes 5 and 10.
    assert snap["signals_processed"] == 14
    [summary] = rounds
    assert summary.startswith("round 1: 1 HEALTHY") and summary.endswith("; 2 bars, 0 trade intents")
