"""Every status rule, with a fake clock: no test here waits."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from zepix_core import AlertLevel, ConfigError, HealthStatus
from zepix_core.execution.runner import CallResult
from zepix_core.health.resources import ResourceSample
from zepix_core.health.rules import SEVERITY, Observation, PingReading, Thresholds, judge, worst
from zepix_core.health.shapes import PluginHealth, parse_metrics, parse_ping, parse_self_test
from zepix_core.health.sketch import LatencySnapshot

MB = 2**20
LIMITS = Thresholds()
NOW = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def mono() -> FakeClock:
    return FakeClock(500.0)


@pytest.fixture
def plugin(mono: FakeClock, wall: FakeClock) -> PluginHealth:
    return PluginHealth("demo", clock=mono, wall=wall)


def answered(hook: str, value: Any, duration: float = 0.01) -> CallResult:
    return CallResult("demo", hook, value=value, duration=duration)


def raised(hook: str, error: str = "RuntimeError: boom") -> CallResult:
    return CallResult("demo", hook, error=error, duration=0.01)


def timed_out(hook: str) -> CallResult:
    return CallResult("demo", hook, timed_out=True, duration=2.0,
                      error="HookTimeout: no answer within 2.00s")


def busy(hook: str) -> CallResult:
    return CallResult("demo", hook, error="PluginBusy: health_ping still running after 30.0s")


def sample(rss_mb: float = 50, cpu: float | None = 5.0, scope: Any = "process",
           running: bool = True) -> ResourceSample:
    return ResourceSample(4242, running, int(rss_mb * MB), cpu, 3, 10, scope)


def kinds(verdict: Any) -> list[str]:
    return [b.kind for b in verdict.reasons]


# -- UNKNOWN and HEALTHY ------------------------------------------------------

def test_unknown_before_the_first_check_then_healthy(plugin: PluginHealth) -> None:
    assert plugin.status.value == "UNKNOWN"      # before the first check
    plugin.record_ping(answered("health_ping", True))
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS, resources=sample())
    assert verdict.status is HealthStatus.HEALTHY and verdict.reasons == ()
    assert plugin.status is HealthStatus.HEALTHY


# -- DEAD ---------------------------------------------------------------------

def test_dead_when_not_running_and_nothing_else_is_judged() -> None:
    obs = Observation(alive=False, now=NOW, misses=5, last_activity=NOW - 9999,
                      resources=sample(rss_mb=9000))
    verdict = judge(obs, LIMITS)
    assert verdict.status is HealthStatus.DEAD
    assert kinds(verdict) == ["dead"]
    assert verdict.reasons[0].level is AlertLevel.CRITICAL


def test_dead_when_the_worker_process_is_a_zombie() -> None:
    zombie = ResourceSample(77, False, None, None, None, None, "process",
                            "zombie: exited but not yet reaped")
    verdict = judge(Observation(alive=True, now=NOW, resources=zombie), LIMITS)
    assert verdict.status is HealthStatus.DEAD
    assert "zombie" in verdict.reasons[0].message


# -- HUNG: consecutive misses --------------------------------------------------

def test_one_missed_ping_is_degraded_two_in_a_row_is_hung(plugin: PluginHealth) -> None:
    plugin.record_ping(timed_out("health_ping"))
    first = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert first.status is HealthStatus.DEGRADED
    assert kinds(first) == ["ping_missed"]

    plugin.record_ping(timed_out("health_ping"))
    second = plugin.assess(alive=True, now=NOW + 30, limits=LIMITS)
    assert second.status is HealthStatus.HUNG
    assert second.reasons[0].level is AlertLevel.CRITICAL
    assert "2 health pings in a row" in second.reasons[0].message


def test_a_busy_plugin_counts_as_a_miss(plugin: PluginHealth) -> None:
    # An in-process plugin whose previous ping still hangs answers PluginBusy at once.
    plugin.record_ping(timed_out("health_ping"))
    plugin.record_ping(busy("health_ping"))
    assert plugin.misses == 2
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.HUNG


def test_an_answer_ends_the_run_of_misses(plugin: PluginHealth) -> None:
    plugin.record_ping(timed_out("health_ping"))
    plugin.assess(alive=True, now=NOW, limits=LIMITS)
    plugin.record_ping(answered("health_ping", True))
    assert plugin.misses == 0
    assert plugin.assess(alive=True, now=NOW + 30, limits=LIMITS).status is HealthStatus.HEALTHY
    plugin.record_ping(timed_out("health_ping"))
    assert plugin.assess(alive=True, now=NOW + 60, limits=LIMITS).status is HealthStatus.DEGRADED


def test_hung_after_is_configurable(plugin: PluginHealth) -> None:
    limits = LIMITS.merged({"hung_after": 3})
    for _ in range(2):
        plugin.record_ping(timed_out("health_ping"))
    assert plugin.assess(alive=True, now=NOW, limits=limits).status is HealthStatus.DEGRADED
    plugin.record_ping(timed_out("health_ping"))
    assert plugin.assess(alive=True, now=NOW, limits=limits).status is HealthStatus.HUNG


# -- STALE ----------------------------------------------------------------------

def test_stale_once_last_activity_is_older_than_the_heartbeat(
    plugin: PluginHealth, wall: FakeClock,
) -> None:
    plugin.record_ping(answered("health_ping", {"ok": True, "last_activity": NOW}))
    wall.advance(300)
    assert plugin.assess(alive=True, now=wall(), limits=LIMITS).status is HealthStatus.HEALTHY
    wall.advance(1)
    plugin.record_ping(answered("health_ping", {"ok": True}))   # no news of work
    verdict = plugin.assess(alive=True, now=wall(), limits=LIMITS)
    assert verdict.status is HealthStatus.STALE
    assert verdict.reasons[0].value == pytest.approx(301)
    assert verdict.reasons[0].level is AlertLevel.HIGH


def test_fresh_activity_clears_stale(plugin: PluginHealth, wall: FakeClock) -> None:
    plugin.note_activity(NOW - 1000)
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.STALE
    plugin.record_ping(answered("health_ping", {"ok": True, "last_activity": NOW - 5}))
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.HEALTHY


def test_an_older_report_does_not_move_last_activity_back(plugin: PluginHealth) -> None:
    plugin.note_activity(NOW)
    plugin.note_activity(NOW - 600)
    assert plugin.last_activity == NOW


def test_no_last_activity_means_staleness_is_not_judged() -> None:
    assert judge(Observation(alive=True, now=NOW), LIMITS).status is HealthStatus.HEALTHY


# -- DEGRADED: each threshold -----------------------------------------------------

def test_p95_latency_over_the_limit_is_degraded_until_it_leaves_the_window(
    plugin: PluginHealth, mono: FakeClock,
) -> None:
    for _ in range(100):
        plugin.record_work(answered("on_bar", None, duration=6.0))
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert verdict.status is HealthStatus.DEGRADED and kinds(verdict) == ["latency"]
    assert verdict.reasons[0].value == pytest.approx(6000, rel=0.01)
    mono.advance(3600)
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.HEALTHY


def test_error_rate_over_the_limit_is_degraded(plugin: PluginHealth) -> None:
    for i in range(40):
        result = raised("on_bar") if i < 3 else answered("on_bar", None)
        plugin.record_work(result)
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert kinds(verdict) == ["error_rate"]
    assert verdict.reasons[0].value == pytest.approx(3 / 40)
    assert plugin.errors["on_bar"].exceptions == 3


def test_error_rate_is_not_judged_on_too_few_calls(plugin: PluginHealth) -> None:
    for i in range(5):
        plugin.record_work(raised("on_bar") if i < 2 else answered("on_bar", None))
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.HEALTHY


def test_a_wrong_shaped_work_return_counts_as_an_error(plugin: PluginHealth) -> None:
    for _ in range(20):
        plugin.record_work(answered("on_bar", "junk"), problem="on_bar returned str")
    assert plugin.work.snapshot().errors == 20
    assert plugin.errors["on_bar"].wrong_shape == 20
    assert kinds(plugin.assess(alive=True, now=NOW, limits=LIMITS)) == ["error_rate"]


@pytest.mark.parametrize(("resources", "kind"), [
    (sample(rss_mb=600), "memory"),
    (sample(cpu=95.0), "cpu"),
])
def test_resource_thresholds_of_a_worker_process(resources: ResourceSample, kind: str) -> None:
    verdict = judge(Observation(alive=True, now=NOW, resources=resources), LIMITS)
    assert verdict.status is HealthStatus.DEGRADED and kinds(verdict) == [kind]
    assert verdict.reasons[0].level is AlertLevel.WARNING


def test_host_wide_resources_are_not_pinned_on_an_in_process_plugin() -> None:
    host = sample(rss_mb=2000, cpu=300.0, scope="host")
    assert judge(Observation(alive=True, now=NOW, resources=host), LIMITS).status \
        is HealthStatus.HEALTHY


def test_unknown_cpu_on_the_first_sample_is_not_a_breach() -> None:
    verdict = judge(Observation(alive=True, now=NOW, resources=sample(cpu=None)), LIMITS)
    assert verdict.status is HealthStatus.HEALTHY


def test_ping_answering_not_ok_is_degraded(plugin: PluginHealth) -> None:
    plugin.record_ping(answered("health_ping", {"ok": False, "detail": "feed lost"}))
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert kinds(verdict) == ["ping_failed"]
    assert "feed lost" in verdict.reasons[0].message


def test_ping_raising_is_degraded_and_is_not_a_miss(plugin: PluginHealth, wall: FakeClock) -> None:
    plugin.record_ping(raised("health_ping", "ValueError: bad state"))
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert kinds(verdict) == ["ping_error"] and plugin.misses == 0
    record = plugin.errors["health_ping"]
    assert (record.exceptions, record.last_message, record.last_time) == (
        1, "ValueError: bad state", NOW)


def test_self_test_failure_is_degraded_until_it_passes(plugin: PluginHealth) -> None:
    plugin.record_self_test(answered("self_test", False))
    assert kinds(plugin.assess(alive=True, now=NOW, limits=LIMITS)) == ["self_test"]
    # The self test runs every N rounds; its result holds until the next run.
    assert kinds(plugin.assess(alive=True, now=NOW + 30, limits=LIMITS)) == ["self_test"]
    plugin.record_self_test(answered("self_test", {"passed": True}))
    assert plugin.assess(alive=True, now=NOW + 60, limits=LIMITS).status is HealthStatus.HEALTHY


def test_self_test_raising_counts_as_failed(plugin: PluginHealth) -> None:
    reply = plugin.record_self_test(raised("self_test"))
    assert not reply.passed
    assert plugin.errors["self_test"].exceptions == 1
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.DEGRADED


def test_get_metrics_returning_a_list_is_an_error_of_that_hook(plugin: PluginHealth) -> None:
    assert plugin.record_metrics(answered("get_metrics", [1, 2, 3])) is not None
    verdict = plugin.assess(alive=True, now=NOW, limits=LIMITS)
    assert kinds(verdict) == ["metrics"]
    assert "returned list" in verdict.reasons[0].message
    assert plugin.errors["get_metrics"].wrong_shape == 1
    # The problem belongs to the round it happened in.
    plugin.record_metrics(answered("get_metrics", {"wins": 1}))
    assert plugin.assess(alive=True, now=NOW, limits=LIMITS).status is HealthStatus.HEALTHY


def test_get_metrics_timing_out_is_recorded_as_a_timeout(plugin: PluginHealth) -> None:
    assert plugin.record_metrics(timed_out("get_metrics")) is None
    assert plugin.errors["get_metrics"].timeouts == 1
    assert kinds(plugin.assess(alive=True, now=NOW, limits=LIMITS)) == ["metrics"]


# -- worst wins -------------------------------------------------------------------

def test_the_worst_status_wins_and_every_reason_is_kept() -> None:
    obs = Observation(
        alive=True, now=NOW, ping=PingReading("missed", "HookTimeout"), misses=2,
        last_activity=NOW - 1000, self_test_passed=False, resources=sample(rss_mb=900),
        latency=LatencySnapshot(10.0, 9000.0, 9500.0, calls=100, errors=50, error_rate=0.5),
    )
    verdict = judge(obs, LIMITS)
    assert verdict.status is HealthStatus.HUNG
    assert kinds(verdict) == ["hung", "stale", "latency", "error_rate", "self_test", "memory"]


def test_stale_beats_degraded() -> None:
    obs = Observation(alive=True, now=NOW, last_activity=NOW - 301,
                      resources=sample(cpu=99.0))
    assert judge(obs, LIMITS).status is HealthStatus.STALE


def test_severity_order() -> None:
    assert SEVERITY[0] is HealthStatus.DEAD and SEVERITY[-1] is HealthStatus.UNKNOWN
    assert worst([HealthStatus.DEGRADED, HealthStatus.STALE, HealthStatus.HEALTHY]) \
        is HealthStatus.STALE
    assert worst([]) is HealthStatus.HEALTHY


# -- thresholds ----------------------------------------------------------------

def test_threshold_defaults() -> None:
    t = Thresholds()
    assert (t.p95_latency_ms, t.error_rate, t.memory_mb, t.cpu_percent, t.heartbeat_s,
            t.hung_after) == (5000.0, 0.05, 500.0, 80.0, 300.0, 2)


def test_per_plugin_overrides_merge_over_the_global_ones() -> None:
    globals_ = Thresholds().merged({"memory_mb": 1000, "cpu_percent": 150.0})
    mine = globals_.merged({"memory_mb": 2000}, plugin_id="combined_v3")
    assert (mine.memory_mb, mine.cpu_percent, mine.p95_latency_ms) == (2000, 150.0, 5000.0)
    judged = judge(Observation(alive=True, now=NOW, resources=sample(rss_mb=1500)), mine)
    assert judged.status is HealthStatus.HEALTHY


@pytest.mark.parametrize(("overrides", "message"), [
    ({"memory": 100}, "memory: unknown key; known: p95_latency_ms"),
    ({"cpu_percent": "80"}, "cpu_percent: got '80'; expected a number > 0"),
    ({"cpu_percent": True}, "expected a number > 0"),
    ({"hung_after": 2.5}, "expected a whole number > 0"),
    ({"error_rate": 5}, "in (0, 1]"),
    ({"heartbeat_s": -1}, "> 0"),
    ({"p95_latency_ms": math.inf}, "expected a finite number"),
])
def test_bad_overrides_name_the_plugin_and_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"plugins.demo.thresholds.") as caught:
        Thresholds().merged(overrides, plugin_id="demo")
    assert message in str(caught.value)
    assert caught.value.plugin_id == "demo"


# -- the shapes of health hook answers ----------------------------------------------

@pytest.mark.parametrize(("value", "ok", "problems"), [
    (True, True, 0),
    (False, False, 0),
    ({"ok": True, "last_activity": NOW, "detail": "fine"}, True, 0),
    ({"ok": "yes"}, False, 1),
    ({"ok": True, "last_activity": "yesterday"}, True, 1),
    ({"ok": True, "detail": 5}, True, 1),
    (None, False, 1),
    ([True], False, 1),
    (1, False, 1),
])
def test_parse_ping(value: Any, ok: bool, problems: int) -> None:
    reply = parse_ping(value)
    assert (reply.ok, len(reply.problems)) == (ok, problems)


def test_a_wrong_shaped_ping_is_an_error_of_the_hook(plugin: PluginHealth) -> None:
    reading = plugin.record_ping(answered("health_ping", "pong"))
    assert reading.outcome == "error"
    assert plugin.errors["health_ping"].wrong_shape == 1
    assert kinds(plugin.assess(alive=True, now=NOW, limits=LIMITS)) == ["ping_error"]


def test_parse_metrics_keeps_numbers_and_reports_the_rest() -> None:
    reply = parse_metrics({"wins": 3, "losses": 1, "signals_processed": 10,
                           "sharpe": 1.5, "mood": "good", "flag": True, "bad": math.nan})
    assert dict(reply.values) == {"wins": 3, "losses": 1, "signals_processed": 10, "sharpe": 1.5}
    assert len(reply.problems) == 3
    assert reply.win_rate == pytest.approx(0.75)
    assert dict(reply.custom) == {"sharpe": 1.5}


def test_win_rate_is_none_before_any_closed_trade() -> None:
    assert parse_metrics({"signals_processed": 4}).win_rate is None
    assert parse_metrics({"wins": 0, "losses": 0}).win_rate is None
    assert parse_metrics({"losses": 2}).win_rate == 0.0


@pytest.mark.parametrize(("value", "passed", "problems"), [
    (True, True, 0),
    (False, False, 0),
    ({"passed": True, "checks": [{"name": "feed", "passed": True, "detail": ""}]}, True, 0),
    ({"passed": True, "checks": [{"name": "feed", "passed": False}]}, False, 0),
    ({"passed": True, "checks": "all good"}, False, 1),
    ({"passed": "yes"}, False, 1),
    ("passed", False, 1),
])
def test_parse_self_test(value: Any, passed: bool, problems: int) -> None:
    reply = parse_self_test(value)
    assert (reply.passed, len(reply.problems)) == (passed, problems)


def test_error_records_count_each_kind_with_the_last_message_and_time(
    plugin: PluginHealth, wall: FakeClock,
) -> None:
    plugin.record_ping(raised("health_ping", "KeyError: 'x'"))
    wall.advance(30)
    plugin.record_ping(timed_out("health_ping"))
    wall.advance(30)
    plugin.record_ping(answered("health_ping", 42))
    record = plugin.errors["health_ping"]
    assert (record.exceptions, record.timeouts, record.wrong_shape, record.count) == (1, 1, 1, 3)
    assert record.last_time == NOW + 60
    assert "returned int" in record.last_message
    assert "get_metrics" not in plugin.errors


def test_work_recorded_from_several_threads_loses_no_error(plugin: PluginHealth) -> None:
    def work() -> None:
        for _ in range(500):
            plugin.record_work(raised("on_bar"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert plugin.errors["on_bar"].exceptions == 2000
    assert plugin.work.snapshot().errors == 2000


def test_dead_names_how_the_worker_ended() -> None:
    obs = Observation(alive=False, now=1_700_000_000.0,
                      exit_detail="worker of plugin p (pid 7) was killed by SIGKILL")
    verdict = judge(obs, Thresholds())
    assert verdict.status is HealthStatus.DEAD
    assert verdict.reasons[0].message == (
        "not running: worker of plugin p (pid 7) was killed by SIGKILL")

