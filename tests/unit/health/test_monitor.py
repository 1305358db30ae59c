"""The monitoring round on a fake clock, over real dist-info plugins.

The host is built with ``create_host`` exactly as ``zepix run`` builds it;
only time is injected. The one plugin that needs controlling (``ctl``) reads
a module-level ``STATE``: it can block ``health_ping`` on an Event the test
releases, and report another version. Deadlines are real (``ping_timeout``
is 0.05 s where a ping must miss), so the few real waits are tiny.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import HealthStatus
from zepix_core.cli.commands.health import age, health_row
from zepix_core.contract.errors import PluginBusy
from zepix_core.execution.calls import HookCall, run_calls
from zepix_core.execution.ports import Clocks
from zepix_core.health.monitor import PRUNE_EVERY
from zepix_core.host.host import Host, create_host
from zepix_core.storage import Store

T0 = 1_700_000_000.0
DAY = 86400.0

CONTROLLED = '''
import threading
from zepix_core import hookimpl

GATE = threading.Event()
STATE = {"block": False, "version": "1.0.0", "self_test": True}


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {"version": STATE["version"], "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        if STATE["block"]:
            GATE.wait()
        return {"ok": True}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": 1}

    @hookimpl
    def self_test(self):
        return STATE["self_test"]

    @hookimpl
    def on_bar(self, bar):
        return None
'''


class FakeTime:
    """Monotonic and wall clocks that move only when told; ``tick`` makes
    every monotonic read advance, so timed work has a measurable duration."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.epoch = T0
        self.tick = 0.0

    def monotonic(self) -> float:
        self.mono += self.tick
        return self.mono

    def wall(self) -> float:
        return self.epoch

    def advance(self, seconds: float, *, wall: bool = True) -> None:
        self.mono += seconds
        if wall:
            self.epoch += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def ctl(dists: DistFactory) -> Iterator[ModuleType]:
    """Installs ``ctl`` and ``good`` as real distributions; yields ctl's module."""
    dists.add("zepix-ctl", "1.0.0", {"ctl": "ctl_plugin:Plugin"}, {"ctl_plugin": CONTROLLED})
    dists.add("zepix-good", "1.0.0", {"good": "good_plugin:Plugin"},
              {"good_plugin": good_plugin()})
    import ctl_plugin  # type: ignore[import-not-found]

    yield ctl_plugin
    ctl_plugin.GATE.set()  # no test leaves a thread blocked


HostFactory = Callable[..., Host]


@pytest.fixture
def make_host(dists: DistFactory, tmp_path: Path, clock: FakeTime,
              ctl: ModuleType) -> Iterator[HostFactory]:
    hosts: list[Host] = []

    def build(config: str = "") -> Host:
        path = tmp_path / "zepix.toml"
        path.write_text(config, encoding="utf-8")
        host = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)],
                           clocks=Clocks(monotonic=clock.monotonic, wall=clock.wall))
        host.start()
        hosts.append(host)
        return host

    yield build
    ctl.GATE.set()
    for host in hosts:
        host.shutdown()
        host.store.close()


def status(host: Host, plugin_id: str = "ctl") -> HealthStatus:
    return host.monitor.watched[plugin_id].health.status


def latest(host: Host, plugin_id: str = "ctl") -> dict[str, Any]:
    return {s["plugin_id"]: s for s in host.store.latest_snapshots()}[plugin_id]


def alert_rows(host: Host, plugin_id: str = "ctl") -> dict[str, dict[str, Any]]:
    """The newest alert row per kind."""
    rows = reversed(host.store.alerts(plugin_id=plugin_id))
    return {r["kind"]: r for r in rows}


def timed_round(host: Host) -> float:
    start = time.perf_counter()
    host.round()
    return time.perf_counter() - start


# -- status transitions --------------------------------------------------------

def test_the_first_round_turns_unknown_into_healthy(make_host: HostFactory) -> None:
    host = make_host()
    assert status(host) is HealthStatus.UNKNOWN
    host.round()
    assert status(host) is HealthStatus.HEALTHY and status(host, "good") is HealthStatus.HEALTHY
    snap = latest(host)
    assert snap["status"] == "HEALTHY" and snap["timestamp"] == T0
    assert snap["self_test_passed"] is True and snap["metrics"] == {"signals_processed": 1}
    assert snap["resources"]["scope"] == "host" and "not attributable" in snap["resources"]["note"]
    assert host.store.alerts() == []


def test_one_missed_ping_degrades_two_make_it_hung_and_an_answer_resolves(
    make_host: HostFactory, ctl: ModuleType, clock: FakeTime,
) -> None:
    host = make_host("[plugins.ctl]\nping_timeout = 0.05\n")
    ctl.STATE["block"] = True
    host.round()
    assert status(host) is HealthStatus.DEGRADED
    assert "health ping missed its deadline" in latest(host)["reasons"][0]
    [fired] = host.store.alerts(plugin_id="ctl")
    assert (fired["kind"], fired["level"], fired["resolved"]) == ("responsiveness", "WARNING", 0)

    clock.advance(30)  # well inside the 300 s cooldown
    host.round()
    assert status(host) is HealthStatus.HUNG
    assert "2 health pings in a row" in latest(host)["reasons"][0]
    [escalated] = host.store.alerts(plugin_id="ctl")  # the same alert, escalated at once
    assert (escalated["level"], escalated["repeats"]) == ("CRITICAL", 0)
    assert escalated["details"]["escalated_from"] == "WARNING"
    assert escalated["last_sent_at"] == T0 + 30

    ctl.GATE.set()
    ctl.STATE["block"] = False
    clock.advance(30)
    stuck = host.monitor.watched["ctl"].stuck
    assert stuck is not None
    stuck.result(timeout=5)  # the ping it was stuck in has returned
    host.round()
    assert status(host) is HealthStatus.HEALTHY
    [resolved] = host.store.alerts(plugin_id="ctl")
    assert resolved["resolved"] == 1 and resolved["resolved_at"] == T0 + 60
    assert resolved["fired_at"] == T0


def test_a_hung_plugin_delays_neither_other_plugins_nor_the_next_round(
    make_host: HostFactory, ctl: ModuleType,
) -> None:
    host = make_host("[plugins.ctl]\nping_timeout = 1.0\n")
    ctl.STATE["block"] = True
    first = timed_round(host)
    assert 1.0 <= first < 1.0 + 0.9  # only the hung plugin's own deadline was waited
    assert status(host, "good") is HealthStatus.HEALTHY
    assert latest(host, "good")["metrics"]["signals_processed"] == 0
    second = timed_round(host)
    assert second < 0.9  # a plugin stuck in a call is not called again, nor waited for
    assert status(host) is HealthStatus.HUNG and status(host, "good") is HealthStatus.HEALTHY
    errors = latest(host)["hook_errors"]["health_ping"]
    assert errors["timeouts"] == 2 and errors["last_message"].startswith(PluginBusy.__name__)
    # No work is queued behind the stuck call; the healthy plugin gets its bars.
    assert not host.monitor.accepts_work("ctl") and host.monitor.accepts_work("good")
    started = time.perf_counter()
    host.work()
    assert time.perf_counter() - started < 0.9  # not one on_bar deadline (1 s)
    host.round()
    assert latest(host, "good")["signals_processed"] > 0
    assert host.monitor.watched["ctl"].health.work.snapshot().calls == 0


def test_no_activity_past_the_heartbeat_is_stale_until_work_resumes(
    make_host: HostFactory, clock: FakeTime,
) -> None:
    host = make_host()
    host.round()
    clock.advance(301)
    host.round()
    assert status(host) is HealthStatus.STALE
    assert latest(host)["reasons"] == ["no activity for 301 s (limit 300 s)"]
    assert alert_rows(host)["stale"]["level"] == "HIGH"
    host.work()  # on_bar answered: the host notes activity now
    clock.advance(1)
    host.round()
    assert status(host) is HealthStatus.HEALTHY
    stale = alert_rows(host)["stale"]
    assert stale["resolved"] == 1 and stale["resolved_at"] == T0 + 302


def test_a_p95_past_the_threshold_degrades_and_alerts_once_per_cooldown(
    make_host: HostFactory, clock: FakeTime,
) -> None:
    host = make_host("[thresholds]\np95_latency_ms = 1\nheartbeat_s = 10000\n")
    clock.tick = 0.005  # every on_bar call now takes at least 5 ms of monotonic time
    host.work()
    clock.tick = 0.0
    host.round()
    assert status(host) is HealthStatus.DEGRADED and status(host, "good") is HealthStatus.DEGRADED
    assert latest(host)["reasons"][0].startswith("p95 latency")
    assert latest(host)["latency_ms"]["p95"] >= 5
    for _ in range(5):  # 5 more rounds inside the cooldown: nothing new is sent
        clock.advance(50)
        host.round()
    latency = alert_rows(host)["latency"]
    assert (latency["level"], latency["repeats"], latency["fired_at"]) == ("WARNING", 0, T0)
    clock.advance(50)  # 300 s since it fired: one repeat
    # Monotonic time sums many 5 ms ticks above; a hair more keeps float rounding from
    # landing it a hair short of the 300 s cooldown.
    clock.advance(1e-6, wall=False)
    host.round()
    assert alert_rows(host)["latency"]["repeats"] == 1
    assert len(host.store.alerts(plugin_id="ctl")) == 1
    clock.advance(3700)  # the latency window is empty again: the condition clears
    host.work()
    host.round()
    assert status(host) is HealthStatus.HEALTHY
    assert alert_rows(host)["latency"]["resolved_at"] == T0 + 300 + 3700


def test_a_stopped_executor_is_dead_and_critical_at_once(make_host: HostFactory) -> None:
    host = make_host()
    host.round()
    runner = host.slots["ctl"].runner
    assert runner is not None
    runner.close()
    host.round()
    assert status(host) is HealthStatus.DEAD
    liveness = alert_rows(host)["liveness"]
    assert (liveness["level"], liveness["message"]) == ("CRITICAL", "not running")
    assert status(host, "good") is HealthStatus.HEALTHY


# -- version checks ------------------------------------------------------------

def test_a_changed_plugin_version_is_an_event_and_a_warning_until_it_is_back(
    make_host: HostFactory, ctl: ModuleType, clock: FakeTime,
) -> None:
    host = make_host("[host]\nself_test_every = 2\n")
    host.round()  # the first round runs the self test; the version was read at activation
    ctl.STATE["version"] = "1.1.0"
    host.round()  # not due yet
    assert host.store.events("ctl") == []
    host.round()  # due every 2 rounds
    [event] = host.store.events("ctl")
    assert (event["kind"], event["version"]) == ("version_changed", "1.1.0")
    assert "reports 1.1.0; it reported 1.0.0 at activation" in event["detail"]
    changed = alert_rows(host)["version_changed"]
    assert (changed["level"], changed["resolved"]) == ("WARNING", 0)
    clock.advance(30)
    host.round()  # a verdict never resolves a condition it does not judge
    assert alert_rows(host)["version_changed"]["resolved"] == 0
    assert status(host) is HealthStatus.HEALTHY
    ctl.STATE["version"] = "1.0.0"
    host.round()
    assert alert_rows(host)["version_changed"]["resolved"] == 1
    assert "again, as at activation" in host.store.events("ctl")[0]["detail"]
    assert len(host.store.events("ctl")) == 2


def test_a_failing_periodic_self_test_degrades_until_one_passes(
    make_host: HostFactory, ctl: ModuleType,
) -> None:
    host = make_host("[host]\nself_test_every = 2\n")
    host.round()
    ctl.STATE["self_test"] = False
    host.round()
    assert status(host) is HealthStatus.HEALTHY  # not due: the last one passed
    host.round()
    assert status(host) is HealthStatus.DEGRADED
    assert latest(host)["reasons"] == ["self test failed"]
    ctl.STATE["self_test"] = True
    host.round()
    host.round()
    assert status(host) is HealthStatus.HEALTHY


# -- persistence and retention -------------------------------------------------

def test_one_snapshot_per_plugin_per_round_in_one_write_kept_across_a_restart(
    make_host: HostFactory, clock: FakeTime, tmp_path: Path,
) -> None:
    host = make_host()
    writes: list[int] = []
    save = host.store.save_snapshots

    def counting(ts: float, snapshots: Any) -> None:
        writes.append(len(snapshots))
        save(ts, snapshots)

    host.store.save_snapshots = counting  # type: ignore[method-assign]
    for _ in range(3):
        host.round()
        clock.advance(30)
    assert writes == [2, 2, 2]
    assert [s["timestamp"] for s in host.store.snapshots("ctl")] == [T0 + 60, T0 + 30, T0]
    host.shutdown()
    host.store.close()

    reopened = Store(tmp_path / "zepix.db")
    try:
        latest_rows = {s["plugin_id"]: s for s in reopened.latest_snapshots()}
        assert {pid: s["status"] for pid, s in latest_rows.items()} == {
            "ctl": "HEALTHY", "good": "HEALTHY"}
        assert latest_rows["ctl"]["timestamp"] == T0 + 60
    finally:
        reopened.close()


def test_retention_prunes_at_start_then_once_an_hour(
    make_host: HostFactory, clock: FakeTime,
) -> None:
    host = make_host("[host]\nretention_days = 30\n")
    store = host.store
    store.save_snapshots(T0 - 40 * DAY, [{"plugin_id": "gone", "status": "HEALTHY"},
                                         {"plugin_id": "ctl", "status": "HEALTHY"}])
    host.round()  # the first round prunes: ctl's 40-day-old row goes, gone's newest stays
    assert [s["timestamp"] for s in store.snapshots("ctl")] == [T0]
    assert len(store.snapshots("gone")) == 1
    clock.advance(301)
    host.round()  # STALE fires
    host.work()
    clock.advance(1)
    host.round()  # and resolves
    assert alert_rows(host)["stale"]["resolved"] == 1

    clock.epoch += 31 * DAY  # a month later in wall time, minutes later in monotonic
    clock.advance(60, wall=False)
    host.work()
    host.round()
    assert len(store.snapshots("ctl")) == 4 and "stale" in alert_rows(host)
    clock.advance(PRUNE_EVERY, wall=False)
    host.work()
    host.round()
    assert [s["timestamp"] for s in store.snapshots("ctl")] == [clock.epoch, clock.epoch]
    assert "stale" not in alert_rows(host)


def test_firing_alerts_outlive_a_restart_without_firing_again(
    make_host: HostFactory, ctl: ModuleType, clock: FakeTime,
) -> None:
    config = "[plugins.ctl]\nping_timeout = 0.05\n"
    first = make_host(config)
    ctl.STATE["block"] = True
    first.round()
    clock.advance(30)
    first.round()
    started = time.perf_counter()
    first.shutdown()  # the stuck plugin's deactivate hook is not waited for
    assert time.perf_counter() - started < 2.0
    [open_alert] = first.store.alerts(plugin_id="ctl", unresolved=True)
    assert open_alert["level"] == "CRITICAL"

    clock.advance(60)
    second = make_host(config)  # the plugin is still hung
    second.round()
    clock.advance(30)
    second.round()
    assert status(second) is HealthStatus.HUNG
    [still] = second.store.alerts(plugin_id="ctl")  # restored: not fired again
    assert (still["id"], still["repeats"], still["resolved"]) == (open_alert["id"], 0, 0)


def test_alerts_left_open_for_a_plugin_no_longer_active_resolve_at_start(
    make_host: HostFactory, ctl: ModuleType, clock: FakeTime,
) -> None:
    first = make_host("[plugins.ctl]\nping_timeout = 0.05\n")
    ctl.STATE["block"] = True
    first.round()
    first.shutdown()
    assert first.store.alerts(plugin_id="ctl", unresolved=True)
    clock.advance(60)
    second = make_host("[plugins.ctl]\nenabled = false\n")
    second.round()
    [resolved] = second.store.alerts(plugin_id="ctl")
    assert resolved["resolved"] == 1 and resolved["resolved_at"] == T0 + 60


def test_the_dashboard_row_says_how_old_a_snapshot_is_and_whose_resources_it_shows(
    make_host: HostFactory, clock: FakeTime,
) -> None:
    host = make_host()
    host.round()
    row = health_row(latest(host), now=T0 + 125)
    assert row["age"] == "2m" and row["status"] == "HEALTHY"
    assert row["rss_mb"].endswith(" (host)") and row["cpu"] is None  # first sample: unknown
    assert row["err_rate"] == "0.0%" and row["reasons"] is None
    assert [age(s) for s in (0.4, 59, 3600, 2 * DAY)] == ["0s", "59s", "1h", "2d"]


# -- the calls of a round ------------------------------------------------------

class OneAtATime:
    """A runner that, like a worker process, refuses a call while one runs.

    ``together``: a barrier every runner's first call waits at, so the calls only
    answer if all those runners are in a call at the same time."""

    def __init__(self, plugin_id: str, delay: float = 0.0,
                 together: threading.Barrier | None = None) -> None:
        self.plugin_id = plugin_id
        self.delay = delay
        self.together = together
        self.running = 0
        self.hooks: list[str] = []

    def submit(self, hook: str, kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self.running:
            future.set_exception(PluginBusy("busy", plugin_id=self.plugin_id))
            return future
        self.running += 1
        self.hooks.append(hook)
        future.set_running_or_notify_cancel()  # started: it can no longer be cancelled
        first = len(self.hooks) == 1

        def answer() -> None:
            if first and self.together is not None:
                try:
                    self.together.wait(60.0)
                except threading.BrokenBarrierError:
                    self.running -= 1
                    future.set_exception(RuntimeError("not called beside the others"))
                    return
            time.sleep(self.delay)
            self.running -= 1
            future.set_result(hook)

        threading.Thread(target=answer, daemon=True).start()
        return future

    def alive(self) -> bool:
        return True

    def close(self, timeout: float = 1.0) -> None:
        return None


def test_each_plugin_gets_its_checks_one_after_another_and_all_plugins_at_once() -> None:
    # All 20 first calls must be in flight at once to pass the barrier; each plugin's
    # three calls come one after another (a second call while one runs is refused).
    together = threading.Barrier(20)
    runners = [OneAtATime(f"p{i}", delay=0.01, together=together) for i in range(20)]
    checks = [HookCall("health_ping", 90.0), HookCall("get_metrics", 90.0),
              HookCall("self_test", 90.0)]
    outcomes = run_calls([(r, checks) for r in runners], time.monotonic)
    for runner, outcome in zip(runners, outcomes):
        assert runner.hooks == ["health_ping", "get_metrics", "self_test"]
        assert [r.value for r in outcome.results] == runner.hooks
        assert outcome.skipped == [] and outcome.stuck is None


def test_a_missed_deadline_ends_that_plugins_checks_and_reports_the_stuck_call() -> None:
    slow, quick = OneAtATime("slow", delay=120.0), OneAtATime("quick")
    checks = [HookCall("health_ping", 0.05), HookCall("get_metrics", 0.05)]
    started = time.perf_counter()
    [late, fine] = run_calls([(slow, checks), (quick, checks)], time.monotonic)
    assert time.perf_counter() - started < 60.0  # the deadline, not the 120 s call
    assert late.results[0].timed_out and late.skipped == ["get_metrics"]
    assert late.stuck is not None and not late.stuck.done()
    assert [r.ok for r in fine.results] == [True, True]


def test_deadlines_hold_on_a_clock_that_never_moves() -> None:
    frozen = OneAtATime("frozen", delay=120.0)
    started = time.perf_counter()
    [outcome] = run_calls([(frozen, [HookCall("health_ping", 0.05)])], lambda: 42.0)
    assert time.perf_counter() - started < 60.0  # the deadline, not the 120 s call
    assert outcome.results[0].timed_out

