"""Anomaly detection: the pure detector, its settings, and the measured targets.

The targets (at most one false alarm per plugin per simulated week, every
injected fault alerted within 10 rounds) are held on seeded metric streams
shaped like the five bundled plugins (bench/anomaly_sim.py), driven straight
into the detector and through the alert manager's dedup and cooldown; one
test runs the fuller path (``PluginHealth`` and the fixed rules beside the
baseline) to show what detection adds. bench/bench_anomaly.py runs the real
plugins over the market replay for docs/health.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from bench.anomaly_sim import FAULTS, WEEK, StreamSource, plugin_ids, run, samples
from zepix_core.alerts.manager import AlertManager
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import AlertLevel, HealthStatus
from zepix_core.health.anomaly import Detector, Sample
from zepix_core.health.anomalyspec import AnomalySettings
from zepix_core.health.baselines import breaches, check_settings, settings_for, with_anomalies
from zepix_core.health.rules import Verdict
from zepix_core.loading.config import load_config
from zepix_core.testing import FakeClock

T0 = 1_704_067_200.0


def feed(detector: Detector, values: list[float], metric: str = "p95_latency_ms") -> None:
    for i, value in enumerate(values):
        detector.observe(Sample(T0 + 30 * i, {metric: value}))


def steady(n: int, level: float = 1.0) -> list[float]:
    return [level * (1.0 + 0.05 * ((i * 7) % 5 - 2) / 2) for i in range(n)]


# -- the detector ------------------------------------------------------------------

def test_a_single_spike_neither_moves_the_baseline_nor_alerts() -> None:
    detector = Detector(AnomalySettings(warmup=50))
    feed(detector, steady(200))
    base = detector.baselines["p95_latency_ms"]
    before = base.typical(0)
    for i, value in enumerate([500.0, 1.0, 1.0, 1.0]):
        found = detector.observe(Sample(T0 + 30 * (200 + i), {"p95_latency_ms": value}))
        assert found.findings == ()
    assert base.typical(0) == pytest.approx(before, rel=0.02)


def test_k_rounds_out_of_band_make_an_anomaly_naming_metric_value_and_band() -> None:
    detector = Detector(AnomalySettings(warmup=50, consecutive=3))
    feed(detector, steady(200, 0.3))
    found = [detector.observe(Sample(T0 + 30 * (200 + i), {"p95_latency_ms": 6.0})).findings
             for i in range(3)]
    assert found[0] == () and found[1] == ()
    [finding] = found[2]
    assert finding.metric == "p95_latency_ms" and finding.value == 6.0
    assert re.search(r"p95 latency 6 ms outside its band 0\.\d+ ms \.\. 0\.\d+ ms",
                     finding.message), finding.message
    assert finding.message.endswith("for 3 rounds")
    band = next(b for b in detector.observe(
        Sample(T0 + 30 * 203, {"p95_latency_ms": 6.0})).bands if b.metric == "p95_latency_ms")
    assert band.anomalous and band.high is not None and band.high < 1.0
    # Back inside: it stays an anomaly for K rounds, then clears.
    back = [detector.observe(Sample(T0 + 30 * (204 + i), {"p95_latency_ms": 0.3})).findings
            for i in range(3)]
    assert back[0] and back[1] and back[2] == ()


def test_nothing_is_judged_during_warm_up() -> None:
    detector = Detector(AnomalySettings(warmup=100, consecutive=1))
    feed(detector, steady(20))
    for i in range(50):
        found = detector.observe(Sample(T0 + 30 * (20 + i), {"error_rate": 0.5}))
        assert found.warming and found.findings == ()


def test_a_memory_slope_that_reaches_the_limit_in_the_horizon_alerts_high_with_the_time() -> None:
    detector = Detector(AnomalySettings(warmup=20, horizon_hours=24))
    verdict = Verdict(HealthStatus.HEALTHY)
    found = ()
    for i in range(60):
        rss = 40.0 + (0.5 * (i - 40) if i >= 40 else 0.0)  # 1 MB per minute from round 40
        found = detector.observe(Sample(T0 + 30 * i, {"rss_mb": rss}, memory_limit_mb=500)).findings
        if any(f.kind == "memory_trend" for f in found):
            break
    assert i - 40 < 10
    trend = next(f for f in found if f.kind == "memory_trend")
    assert "reaches the 500 MB limit in about" in trend.message and trend.eta_s is not None
    assert 3600 < trend.eta_s < 24 * 3600
    judged = with_anomalies(verdict, breaches(found))
    assert judged.status is HealthStatus.DEGRADED
    assert next(b for b in judged.reasons if b.kind == "memory_trend").level is AlertLevel.HIGH


def test_a_slow_leak_that_stays_far_from_the_limit_is_not_a_memory_trend() -> None:
    detector = Detector(AnomalySettings(warmup=20, horizon_hours=24))
    for i in range(400):  # 1 MB per hour: 460 h to the limit
        found = detector.observe(Sample(T0 + 30 * i, {"rss_mb": 40.0 + i / 120},
                                        memory_limit_mb=500))
        assert not any(f.kind == "memory_trend" for f in found.findings)


def test_a_signal_stop_while_bars_arrive_is_silence_but_no_bars_is_not() -> None:
    detector = Detector(AnomalySettings(warmup=30))
    for i in range(60):
        detector.observe(Sample(T0 + 30 * i, {}, signals=2 if i % 3 == 0 else 0))
    for i in range(60, 80):  # the market is closed: no bars, no signals, no alarm
        assert detector.observe(Sample(T0 + 30 * i, {}, signals=0, fed=False)).findings == ()
    found = [detector.observe(Sample(T0 + 30 * i, {}, signals=0)).findings
             for i in range(80, 90)]
    first = next(i for i, f in enumerate(found) if f)
    assert first <= 7 and "no new signal for" in found[first][0].message


def test_the_hour_of_day_season_is_learned() -> None:
    detector = Detector(AnomalySettings(warmup=10))
    late = 0
    for i in range(2880 * 4):  # four days; every day 03:00-04:00 runs at 4x the CPU
        hour = int((T0 + 30 * i) // 3600) % 24
        found = detector.observe(Sample(T0 + 30 * i, {"cpu_percent": 40.0 if hour == 3 else 10.0}))
        late += bool(found.findings) and i >= 2880 * 2
    assert late == 0  # after two days of it, 03:00 is expected to be busy
    at_five = T0 + 2880 * 4 * 30 + 5 * 3600
    found = [detector.observe(Sample(at_five + 30 * j, {"cpu_percent": 40.0})).findings
             for j in range(3)]
    assert found[-1]  # the same value at 05:00 is an anomaly


def test_baselines_survive_a_restart_through_state_and_restore() -> None:
    first = Detector(AnomalySettings(warmup=50))
    feed(first, steady(300, 0.3))
    second = Detector(AnomalySettings(warmup=50))
    second.restore(first.state())
    probe = Sample(T0 + 30 * 300, {"p95_latency_ms": 0.31})
    assert second.observe(probe).bands == first.observe(probe).bands
    assert second.rounds == first.rounds
    with pytest.raises(ValueError, match="malformed baseline state"):
        Detector(AnomalySettings()).restore({"metrics": {"rss_mb": {"n": "x"}}})


# -- settings ----------------------------------------------------------------------

def test_settings_come_from_anomaly_then_the_plugins_own_table(tmp_path: Path) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text("[anomaly]\nsensitivity = 5.0\nwarmup = 60\n\n"
                    "[plugins.noisy.anomaly]\nconsecutive = 5\nenabled = false\n")
    config = load_config(path)
    check_settings(config)
    assert settings_for(config, "other") == AnomalySettings(sensitivity=5.0, warmup=60)
    assert settings_for(config, "noisy") == AnomalySettings(
        enabled=False, sensitivity=5.0, warmup=60, consecutive=5)


@pytest.mark.parametrize(("text", "message"), [
    ("[anomaly]\nsensitivity = 0\n", "anomaly.sensitivity: got 0; expected a number > 0"),
    ("[anomaly]\nwarmup = 2.5\n", "anomaly.warmup: got 2.5; expected a whole number >= 1"),
    ("[anomaly]\nenabled = \"yes\"\n", "anomaly.enabled: got 'yes'; expected true or false"),
    ("[anomaly]\nsensitivty = 3\n", "anomaly.sensitivty: unknown key; did you mean 'sensitivity'?"),
    ("[plugins.p.anomaly]\nconsecutive = 0\n",
     "plugins.p.anomaly.consecutive: got 0; expected a whole number >= 1"),
])
def test_a_bad_setting_is_one_line_naming_the_key(tmp_path: Path, text: str,
                                                  message: str) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        check_settings(load_config(path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


# -- the measured targets, on seeded streams ---------------------------------------

def alerts_opened(stream: Iterable[Sample], settings: AnomalySettings) -> list[int]:
    """Rounds at which an ``anomaly`` alert was opened (dedup and cooldown applied)."""
    clock = FakeClock(wall=T0)
    manager = AlertManager(clock.monotonic, clock.time, cooldown=300.0)
    detector = Detector(settings)
    opened = []
    for index, sample in enumerate(stream):
        clock.advance(30)
        found = breaches(detector.observe(sample).findings)
        level = AlertLevel.HIGH if any(b.level is AlertLevel.HIGH for b in found) \
            else AlertLevel.WARNING
        for alert in manager.observe("p", "anomaly", level, bool(found),
                                     found[0].message if found else ""):
            if alert.event == "fired" and "escalated_from" not in alert.details:
                opened.append(index)
    return opened


@pytest.mark.parametrize("plugin_id", plugin_ids())
def test_at_most_one_false_alarm_per_plugin_in_a_simulated_week(plugin_id: str) -> None:
    assert len(alerts_opened(samples(plugin_id, WEEK, seed=7), AnomalySettings())) <= 1


#: The 1h strategy signals once every 12 rounds at the default 5 replay steps per
#: round; no detector can call its silence sooner than its own cadence allows.
SPARSE = {("signal_stop", "price_action_1h"): 24}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_injected_fault_is_alerted_within_10_rounds(fault: str) -> None:
    start = 601  # just after a signal of every plugin: the worst moment for a signal stop
    for plugin_id in plugin_ids():
        stream = samples(plugin_id, start + 40, fault=fault, start=start, seed=11)
        opened = [r for r in alerts_opened(stream, AnomalySettings()) if r >= start]
        assert opened, f"{fault} on {plugin_id} never alerted"
        assert opened[0] - start + 1 <= SPARSE.get((fault, plugin_id), 10), (plugin_id, opened)


def test_the_full_path_alerts_an_error_burst_long_before_the_fixed_threshold() -> None:
    """PluginHealth and the fixed rules beside the baseline, on the same calls."""
    start, settings = 300, AnomalySettings(warmup=120)
    [outcome] = run(StreamSource(seed=3), ["combined_v3"], start + 80, fault="error_burst",
                    start=start, settings=settings)
    anomaly, fixed = outcome.delay(start)
    assert anomaly is not None and anomaly <= 10
    assert fixed is None or fixed > anomaly + 20  # the fixed 5 % is judged over an hour
    assert [r for r in outcome.anomaly_alerts if r < start] == []
