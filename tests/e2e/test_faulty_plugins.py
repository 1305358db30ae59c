"""Deliberately faulty plugins beside the five bundled ones, under a real ``zepix run``.

Four real distributions (``*.dist-info`` plus a module) are written to a
temporary directory put on ``PYTHONPATH``, so the ``zepix`` of this virtual
environment discovers them beside the bundled plugins (installed editable):

- ``fault_hang`` blocks forever in ``health_ping``;
- ``fault_raise`` raises in ``health_ping`` and ``get_metrics``;
- ``fault_list`` returns a list from ``get_metrics``;
- ``fault_leak`` keeps 8 MiB more memory on every ``get_metrics`` call. It
  asks for ``isolation = "process"``: with a worker process its RSS is its
  own and judged (``memory_mb = 100``); a host that runs it in process can
  only show the growth in the host's RSS, which is not attributable to it.

One 20 s run at a 1 s interval is shared by the tests below; it then reads
``zepix health --json`` and ``zepix alerts --json`` like an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.storage import Store

pytestmark = pytest.mark.slow

DURATION = 20.0
BUNDLED = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m",
           "price_action_1h")
MiB = 2**20

# The faulty plugins subclass a conforming one and break one thing each.
BASE = "import threading\n" + good_plugin(class_name="Base")

FAULTS = {
    "fault_hang": '''
class Plugin(Base):
    @hookimpl
    def health_ping(self, now):
        threading.Event().wait()
''',
    "fault_raise": '''
class Plugin(Base):
    @hookimpl
    def health_ping(self, now):
        raise RuntimeError("ping exploded")

    @hookimpl
    def get_metrics(self):
        raise ValueError("metrics exploded")
''',
    "fault_list": '''
class Plugin(Base):
    @hookimpl
    def get_metrics(self):
        return [("signals_processed", self.bars)]
''',
    "fault_leak": '''
class Plugin(Base):
    def __init__(self):
        super().__init__()
        self.hoard = []

    @hookimpl
    def get_metrics(self):
        block = bytearray(8 * 2**20)
        block[::4096] = b"x" * len(range(0, len(block), 4096))  # touch every page
        self.hoard.append(block)
        return {"signals_processed": self.bars, "hoarded_bytes": len(self.hoard) * len(block)}
''',
}

CONFIG = """
[plugins.fault_leak]
isolation = "process"

[plugins.fault_leak.thresholds]
memory_mb = 100
cpu_percent = 1000  # its own CPU is judged too, and a warming worker can pass 80 %
"""


@dataclass
class Run:
    elapsed: float
    ended: float
    returncode: int
    stdout: str
    stderr: str
    health: dict[str, dict[str, Any]]
    alerts: list[dict[str, Any]]
    db: Path


def _zepix() -> list[str]:
    script = Path(sys.executable).with_name("zepix")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", ("import sys; from zepix_core.cli.main import main; "
            "sys.exit(main())")]


def _cli(*args: str, env: dict[str, str]) -> Any:
    done = subprocess.run([*_zepix(), *args, "--json"], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("faulty")
    site = DistFactory(root / "site")
    for plugin_id, source in FAULTS.items():
        site.add(f"zepix-{plugin_id.replace('_', '-')}", "1.0.0",
                 {plugin_id: f"{plugin_id}:Plugin"}, {plugin_id: BASE + source})
    home = root / "home"
    home.mkdir()
    config = root / "zepix.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONHOME", "VIRTUAL_ENV"}}
    env.update(ZEPIX_HOME=str(home), ZEPIX_DB=str(home / "zepix.db"),
               PYTHONPATH=str(site.root))
    started = time.monotonic()
    done = subprocess.run([*_zepix(), "run", "--duration", f"{DURATION:g}", "--interval", "1",
                           "--config", str(config)], env=env, capture_output=True, text=True,
                          timeout=DURATION + 60, check=False)
    elapsed, ended = time.monotonic() - started, time.time()
    health = {s["plugin_id"]: s for s in _cli("health", "--config", str(config), env=env)}
    alerts = _cli("alerts", "--config", str(config), env=env)
    return Run(elapsed, ended, done.returncode, done.stdout, done.stderr, health, alerts,
               home / "zepix.db")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_the_run_ends_on_time_with_a_round_every_second(run: Run) -> None:
    assert run.returncode == 0, run.stderr[-2000:]
    # Start-up and a clean shutdown take about a second on an idle machine; the
    # hung plugin's deactivate hook is not waited for, since it is stuck in
    # health_ping (waiting for it would cost its 60 s deadline). A loaded 2-core
    # machine may take several times longer to start Python and discover.
    assert run.elapsed < DURATION + 30, run.stderr[-2000:]
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) >= DURATION / 2, run.stdout
    assert "shut down cleanly" in run.stdout


def test_the_bundled_plugins_stay_healthy_with_fresh_snapshots(run: Run) -> None:
    last_round = max(_epoch(s["timestamp"]) for s in run.health.values())
    assert run.ended - last_round < 5  # the last round was one interval before the stop
    for plugin_id in BUNDLED:
        snap = run.health[plugin_id]
        assert (snap["status"], snap["reasons"]) == ("HEALTHY", []), snap
        assert _epoch(snap["timestamp"]) == last_round
        assert snap["ping_misses"] == 0 and snap["hook_errors"] == {}
        assert snap["calls"] > 0 and snap["errors"] == 0  # bars kept reaching them


def test_each_faulty_plugin_is_classified_by_the_rules(run: Run) -> None:
    hang, boom, listed = (run.health[p] for p in ("fault_hang", "fault_raise", "fault_list"))
    assert hang["status"] == "HUNG"
    assert "health pings in a row missed their deadline" in hang["reasons"][0]
    assert hang["ping_misses"] >= DURATION - 2
    assert boom["status"] == "DEGRADED"
    # Each reason names the error, then where the plugin raised it.
    assert [r.split(" (at ")[0] for r in boom["reasons"]] == [
        "health ping error: RuntimeError: ping exploded",
        "get_metrics: ValueError: metrics exploded"]
    assert all(r.endswith(f" in {hook})") for r, hook in
               zip(boom["reasons"], ("health_ping", "get_metrics"), strict=True))
    assert listed["status"] == "DEGRADED"
    assert listed["reasons"] == [("get_metrics returned list, expected a mapping of name -> "
                                 "number")]
    assert listed["hook_errors"]["get_metrics"]["wrong_shape"] >= DURATION - 2


def test_a_growing_plugin_is_judged_only_on_memory_that_is_its_own(run: Run) -> None:
    leak = run.health["fault_leak"]
    hoarded = leak["metrics"]["hoarded_bytes"]
    assert hoarded >= (DURATION - 2) * 8 * MiB
    resources = leak["resources"]
    if resources["scope"] == "process":  # a worker process: the figure is the plugin's
        assert resources["pid"] != run.health["combined_v3"]["resources"]["pid"]
        assert resources["rss_bytes"] > hoarded
        assert leak["status"] == "DEGRADED"
        assert leak["reasons"][0].startswith("RSS ") and "(process)" in leak["reasons"][0]
        return
    # In process: the growth shows in the host's RSS, never pinned on the plugin.
    assert "not attributable" in resources["note"] and leak["status"] == "HEALTHY"
    store = Store(run.db)
    try:
        first, *_, last = reversed(store.snapshots("combined_v3", limit=1000))
    finally:
        store.close()
    grown = last["resources"]["rss_bytes"] - first["resources"]["rss_bytes"]
    assert grown > 0.8 * (hoarded - 8 * MiB)


def test_alerts_fire_once_per_condition_and_stay_open_while_it_holds(run: Run) -> None:
    expected = {("fault_hang", "responsiveness"), ("fault_raise", "ping_error"),
                ("fault_raise", "metrics"), ("fault_list", "metrics")}
    if run.health["fault_leak"]["resources"]["scope"] == "process":
        expected.add(("fault_leak", "memory"))
    seen = [(a["plugin_id"], a["kind"]) for a in run.alerts]
    assert sorted(seen) == sorted(expected)  # one row per fingerprint, none for the others
    for alert in run.alerts:
        # Default cooldown 300 s > the whole run: never repeated; still firing at
        # shutdown, so left open for the next host to restore.
        assert alert["repeats"] == 0 and alert["resolved"] is False, alert
    levels = {(a["plugin_id"], a["kind"]): a["level"] for a in run.alerts}
    assert levels[("fault_hang", "responsiveness")] == "CRITICAL"  # escalated from WARNING
    assert levels[("fault_list", "metrics")] == "WARNING"
