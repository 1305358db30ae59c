"""Anomaly detection inside the real monitoring round, on a fake clock.

A host built by ``create_host`` watches a real dist-info plugin whose signals
can be stopped while bars keep reaching it; the round must make it DEGRADED
with a reason, raise an ``anomaly`` WARNING alert, show the bands in the
snapshot and in ``zepix health ID``, and keep the baselines across a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.distfactory import DistFactory
from zepix_core import HealthStatus
from zepix_core.cli.main import main
from zepix_core.host.host import Host, create_host
from zepix_core.testing import FakeClock

SIGNALLING = '''
from zepix_core import hookimpl

STATE = {"stop": False}


class Plugin:
    def __init__(self):
        self.signals = 0

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.signals}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def on_bar(self, bar):
        if not STATE["stop"] and bar.timeframe == "1m":
            self.signals += 1
        return None
'''

CONFIG = "[anomaly]\nwarmup = 8\nconsecutive = 2\n"


@pytest.fixture
def sig(dists: DistFactory) -> ModuleType:
    dists.add("zepix-sig", "1.0.0", {"sig": "sig_plugin:Plugin"}, {"sig_plugin": SIGNALLING})
    import sig_plugin  # type: ignore[import-not-found]

    sig_plugin.STATE["stop"] = False
    return sig_plugin


@pytest.fixture
def hosts(dists: DistFactory, tmp_path: Path, sig: ModuleType) -> Iterator[list[Host]]:
    made: list[Host] = []
    yield made
    for host in made:
        host.shutdown()
        host.store.close()


def start(hosts: list[Host], dists: DistFactory, tmp_path: Path, clock: FakeClock,
          config: str = CONFIG) -> Host:
    path = tmp_path / "zepix.toml"
    path.write_text(config, encoding="utf-8")
    host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)],
                       clocks=clock.clocks())
    host.start()
    hosts.append(host)
    return host


def rounds(host: Host, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        host.work()
        clock.advance(30)
        host.round()


def test_a_signal_stop_degrades_alerts_and_shows_against_its_band(
    hosts: list[Host], dists: DistFactory, tmp_path: Path, sig: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    host = start(hosts, dists, tmp_path, clock)
    rounds(host, clock, 20)
    assert host.monitor.watched["sig"].health.status is HealthStatus.HEALTHY
    assert host.store.alerts(plugin_id="sig") == []

    sig.STATE["stop"] = True
    for waited in range(1, 11):
        rounds(host, clock, 1)
        if host.monitor.watched["sig"].health.status is HealthStatus.DEGRADED:
            break
    assert waited <= 5
    snap = {s["plugin_id"]: s for s in host.store.latest_snapshots()}["sig"]
    assert snap["status"] == "DEGRADED"
    assert any("no new signal" in r or "signals per hour" in r for r in snap["reasons"])
    [alert] = host.store.alerts(plugin_id="sig")
    assert (alert["kind"], alert["level"], alert["resolved"]) == ("anomaly", "WARNING", 0)
    bands = snap["anomaly"]["bands"]
    assert {"p95_latency_ms", "signals_per_hour", "intents_per_hour"} <= set(bands)
    assert "rss_mb" not in bands  # in process: the host's memory, not the plugin's
    assert bands["signals_per_hour"]["low"] > 0 and bands["signals_per_hour"]["high"] > 0

    db = str(tmp_path / "zepix.db")
    assert main(["health", "sig", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "metrics against their baseline bands" in out
    line = next(x for x in out.splitlines() if x.startswith("signals_per_hour"))
    assert ".." in line
    assert main(["health", "sig", "--json", "--db", db]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["anomaly"]["bands"]["signals_per_hour"]["high"] > 0


def test_baselines_are_reloaded_by_the_next_host(
    hosts: list[Host], dists: DistFactory, tmp_path: Path,
) -> None:
    clock = FakeClock()
    first = start(hosts, dists, tmp_path, clock)
    rounds(first, clock, 12)
    learned = first.monitor.watched["sig"].anomaly
    assert learned is not None
    center = learned.detector.baselines["signals_per_hour"].center
    first.shutdown()
    saved = first.store.baseline("sig")
    assert saved is not None and saved["rounds"] == 12

    second = start(hosts, dists, tmp_path, clock)
    restored = second.monitor.watched["sig"].anomaly
    assert restored is not None and restored.detector.rounds == 12
    assert restored.detector.baselines["signals_per_hour"].center == pytest.approx(center)


def test_anomaly_detection_can_be_turned_off_per_plugin(
    hosts: list[Host], dists: DistFactory, tmp_path: Path, sig: ModuleType,
) -> None:
    clock = FakeClock()
    host = start(hosts, dists, tmp_path, clock,
                 CONFIG + "\n[plugins.sig.anomaly]\nenabled = false\n")
    rounds(host, clock, 12)
    sig.STATE["stop"] = True
    rounds(host, clock, 10)
    assert host.monitor.watched["sig"].health.status is HealthStatus.HEALTHY
    assert host.store.alerts(plugin_id="sig") == []
    snap = host.store.latest_snapshots()[0]
    assert snap["anomaly"]["enabled"] is False


def test_a_bad_anomaly_setting_stops_the_host_with_a_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("[anomaly]\nconsecutive = -1\n", encoding="utf-8")
    code = main(["run", "--once", "--config", str(config), "--db", str(tmp_path / "z.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"{config}:2: anomaly.consecutive: got -1" in err


def test_an_unreadable_saved_baseline_is_learned_afresh(
    hosts: list[Host], dists: DistFactory, tmp_path: Path,
) -> None:
    from zepix_core.storage import Store

    store = Store(tmp_path / "zepix.db")
    store.save_baseline("sig", {"rounds": 50, "metrics": {"rss_mb": {"n": "x"}}}, 0.0)
    store.close()
    host = start(hosts, dists, tmp_path, FakeClock())
    feed = host.monitor.watched["sig"].anomaly
    assert feed is not None and feed.detector.rounds == 0


def test_a_memory_trend_escalates_the_plugins_anomaly_alert_to_high(tmp_path: Path) -> None:
    from zepix_core.health.alerting import Alerting
    from zepix_core.health.anomaly import Finding
    from zepix_core.health.baselines import breaches
    from zepix_core.health.rules import Verdict
    from zepix_core.storage import Store

    clock = FakeClock()
    store = Store(tmp_path / "zepix.db")
    alerting = Alerting(store, {}, clock.monotonic, clock.time)
    try:
        band = Finding("rss_mb", "band", "anomaly: RSS 60 MB outside its band 38 MB .. 46 MB")
        trend = Finding("rss_mb", "memory_trend", "memory grows 1 MB/min: RSS 60 MB reaches "
                        "the 500 MB limit in about 7.3 h", 60.0, 500.0, 7.3 * 3600)
        alerting.observe("p", Verdict(HealthStatus.DEGRADED, tuple(breaches([band]))))
        clock.advance(30)  # inside the cooldown: only an escalation is news
        alerting.observe("p", Verdict(HealthStatus.DEGRADED, tuple(breaches([band, trend]))))
        [row] = store.alerts(plugin_id="p")
        assert (row["kind"], row["level"]) == ("anomaly", "HIGH")
        assert row["details"]["escalated_from"] == "WARNING" and "in about 7.3 h" in row["message"]
        clock.advance(30)
        alerting.observe("p", Verdict(HealthStatus.HEALTHY))
        assert store.alerts(plugin_id="p")[0]["resolved"] == 1
    finally:
        alerting.close()
        store.close()
