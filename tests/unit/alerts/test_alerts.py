"""Alert dedup, cooldown, CRITICAL handling, resolution and restart, on fake clocks."""

from __future__ import annotations

import json

import pytest

from zepix_core import Alert, AlertLevel
from zepix_core.alerts.manager import AlertManager

W, H, C = AlertLevel.WARNING, AlertLevel.HIGH, AlertLevel.CRITICAL
T0 = 1_700_000_000.0


class Clocks:
    """A monotonic and a wall clock that move together."""

    def __init__(self) -> None:
        self.mono = 100.0
        self.epoch = T0

    def clock(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.epoch

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.epoch += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def alerts(clocks: Clocks) -> AlertManager:
    return AlertManager(clock=clocks.clock, wall=clocks.wall, cooldown=300.0)


def events(sent: list[Alert]) -> list[tuple[str, str]]:
    return [(a.event, str(a.level)) for a in sent]


def test_a_new_condition_is_delivered_at_once(alerts: AlertManager) -> None:
    [alert] = alerts.observe("p1", "latency", W, True, "p95 6100 ms", {"p95_ms": 6100})
    assert (alert.plugin_id, alert.kind, alert.level, alert.event) == ("p1", "latency", W, "fired")
    assert alert.timestamp == T0 and not alert.resolved
    assert alert.details == {"p95_ms": 6100}
    assert alert.fingerprint == "p1:latency"


def test_a_condition_that_is_not_firing_and_was_not_open_says_nothing(
    alerts: AlertManager,
) -> None:
    assert alerts.observe("p1", "latency", W, False, "fine") == []


def test_still_firing_repeats_at_most_once_per_cooldown(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    alerts.observe("p1", "memory", W, True, "RSS 510 MB")
    sent: list[Alert] = []
    for _ in range(20):                       # 20 rounds of 30 s = 600 s
        clocks.advance(30)
        sent += alerts.observe("p1", "memory", W, True, f"RSS {510 + len(sent)} MB")
    assert events(sent) == [("repeated", "WARNING"), ("repeated", "WARNING")]
    assert [a.timestamp - T0 for a in sent] == [300, 600]
    assert sent[0].details["suppressed"] == 9
    assert sent[0].details["fired_at"] == T0


def test_dedup_is_on_plugin_and_kind_never_on_the_message(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    assert len(alerts.observe("p1", "latency", W, True, "p95 6100 ms")) == 1
    clocks.advance(30)
    assert alerts.observe("p1", "latency", W, True, "p95 7300 ms") == []
    assert len(alerts.observe("p1", "error_rate", W, True, "p95 7300 ms")) == 1
    assert len(alerts.observe("p2", "latency", W, True, "p95 7300 ms")) == 1
    assert alerts.open_fingerprints() == ["p1:error_rate", "p1:latency", "p2:latency"]


def test_clearing_sends_a_resolved_notice_and_forgets_the_condition(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    alerts.observe("p1", "status", H, True, "STALE: no activity for 320 s")
    clocks.advance(90)
    [done] = alerts.observe("p1", "status", H, False, "")
    assert (done.event, done.resolved, done.level) == ("resolved", True, H)
    assert done.message == "resolved: STALE: no activity for 320 s"
    assert done.timestamp == T0 + 90
    assert done.details == {"fired_at": T0, "duration_s": 90.0}
    assert alerts.open_fingerprints() == []
    assert alerts.observe("p1", "status", H, False, "") == []


def test_a_condition_firing_again_after_resolving_is_new(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    alerts.observe("p1", "cpu", W, True, "CPU 95 %")
    clocks.advance(30)
    alerts.observe("p1", "cpu", W, False, "CPU 40 %")
    clocks.advance(30)                        # well inside the cooldown
    assert events(alerts.observe("p1", "cpu", W, True, "CPU 97 %")) == [("fired", "WARNING")]


def test_escalation_to_critical_is_delivered_inside_the_cooldown(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    # One missed ping is DEGRADED; the second, 30 s later, is HUNG.
    alerts.observe("p1", "status", W, True, "DEGRADED: health ping missed")
    clocks.advance(30)
    [alert] = alerts.observe("p1", "status", C, True, "HUNG: 2 pings missed")
    assert (alert.event, alert.level) == ("fired", C)
    assert alert.details["escalated_from"] == "WARNING"


def test_any_rise_in_level_is_news(alerts: AlertManager, clocks: Clocks) -> None:
    alerts.observe("p1", "status", W, True, "DEGRADED")
    clocks.advance(30)
    assert events(alerts.observe("p1", "status", H, True, "STALE")) == [("fired", "HIGH")]


def test_an_unchanged_critical_repeats_per_cooldown_not_every_round(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    sent = alerts.observe("p1", "status", C, True, "DEAD")
    for _ in range(20):
        clocks.advance(30)
        sent += alerts.observe("p1", "status", C, True, "DEAD")
    assert events(sent) == [("fired", "CRITICAL"), ("repeated", "CRITICAL"),
                            ("repeated", "CRITICAL")]


def test_a_critical_that_fires_again_after_resolving_goes_out_at_once(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    alerts.observe("p1", "status", C, True, "DEAD")
    clocks.advance(30)
    assert events(alerts.observe("p1", "status", C, False, "running again")) == [
        ("resolved", "CRITICAL")]
    clocks.advance(30)
    assert events(alerts.observe("p1", "status", C, True, "DEAD")) == [("fired", "CRITICAL")]


def test_a_drop_in_level_waits_for_the_next_repeat(alerts: AlertManager, clocks: Clocks) -> None:
    alerts.observe("p1", "status", C, True, "HUNG")
    clocks.advance(30)
    assert alerts.observe("p1", "status", W, True, "DEGRADED: one miss") == []
    clocks.advance(30)
    # Back to the level already delivered inside the cooldown: nothing new to say.
    assert alerts.observe("p1", "status", C, True, "HUNG") == []
    clocks.advance(30)
    assert alerts.observe("p1", "status", W, True, "DEGRADED: one miss") == []
    clocks.advance(210)                       # 300 s since the HUNG was delivered
    assert events(alerts.observe("p1", "status", W, True, "DEGRADED")) == [
        ("repeated", "WARNING")]
    clocks.advance(30)
    assert events(alerts.observe("p1", "status", C, True, "HUNG")) == [("fired", "CRITICAL")]


def test_levels_may_be_given_as_strings(alerts: AlertManager) -> None:
    [alert] = alerts.observe("p1", "status", "HIGH", True, "STALE")
    assert alert.level is H
    with pytest.raises(ValueError):
        alerts.observe("p1", "x", "LOUD", True, "?")


def test_resolve_plugin_closes_all_its_alerts(alerts: AlertManager) -> None:
    alerts.observe("p1", "memory", W, True, "RSS")
    alerts.observe("p1", "cpu", W, True, "CPU")
    alerts.observe("p2", "cpu", W, True, "CPU")
    done = alerts.resolve_plugin("p1", "plugin deactivated")
    assert sorted(a.kind for a in done) == ["cpu", "memory"]
    assert all(a.resolved and a.message == "plugin deactivated" for a in done)
    assert alerts.open_fingerprints() == ["p2:cpu"]


def test_a_restarted_host_does_not_fire_again_what_it_already_reported(
    alerts: AlertManager, clocks: Clocks,
) -> None:
    alerts.observe("p1", "status", C, True, "HUNG")
    alerts.observe("p2", "memory", W, True, "RSS 600 MB", {"rss_mb": 600})
    clocks.advance(60)
    saved = json.loads(json.dumps(alerts.state()))      # through storage and back

    restarted_clocks = Clocks()
    restarted_clocks.mono = 5.0                         # a new process's monotonic clock
    restarted_clocks.epoch = clocks.epoch + 30          # 30 s of downtime
    restarted = AlertManager(restarted_clocks.clock, restarted_clocks.wall, cooldown=300.0)
    restarted.restore(saved)
    assert restarted.open_fingerprints() == ["p1:status", "p2:memory"]

    assert restarted.observe("p1", "status", C, True, "HUNG") == []
    restarted_clocks.advance(209)                       # 299 s since the last delivery
    assert restarted.observe("p1", "status", C, True, "HUNG") == []
    restarted_clocks.advance(1)
    assert events(restarted.observe("p1", "status", C, True, "HUNG")) == [
        ("repeated", "CRITICAL")]
    [done] = restarted.observe("p2", "memory", W, False, "RSS 200 MB")
    assert done.resolved and done.details["fired_at"] == T0


def test_restore_refuses_a_malformed_record(alerts: AlertManager) -> None:
    with pytest.raises(ValueError, match="malformed alert record"):
        alerts.restore([{"plugin_id": "p1", "kind": "cpu", "level": "LOUD"}])


def test_a_negative_cooldown_is_refused() -> None:
    with pytest.raises(ValueError, match="cooldown"):
        AlertManager(cooldown=-1)
