"""The supervisor's decisions on a fake clock: restarts with growing delays, giving up,
the stable period and the intensity limit, hung plugins, the circuit breaker, operator
restarts, and the give-up mark across host starts.

Plugins are real ``*.dist-info`` distributions run in process. A "worker" here is an
in-process runner that can exit like a worker process does: it reports to the
supervisor exactly as ``ProcessRunner``'s ``on_exit`` would, so the decisions are
tested without processes or real waits (tests/e2e/test_supervision_e2e.py has those).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import PluginState
from zepix_core.contract.errors import ConfigError
from zepix_core.execution.runner import InProcessRunner
from zepix_core.host.host import Host
from zepix_core.loading.config import load_config
from zepix_core.loading.discovery import EntryRecord, load_plugin
from zepix_core.supervision.guard import SupervisionLimits
from zepix_core.supervision.operator import clear_mark
from zepix_core.testing import FakeClock, make_host

FAST = """
[plugins.{pid}]
isolation = "process"
{extra}
"""


class FakeWorker(InProcessRunner):
    """An in-process runner that exits like a worker: closed, then reported to the
    supervisor as ``ProcessRunner``'s watcher reports an unrequested exit."""

    def __init__(self, host: Host, record: EntryRecord) -> None:
        super().__init__(record.plugin_id, load_plugin(record))
        self.host = host
        self.pid = os.getpid()  # a live process, so resource sampling sees it running

    def exit(self, code: int | None = 3, sig: int | None = None) -> None:
        self.close()
        self.host.supervisor.crashed(self.plugin_id, self, code, sig)  # type: ignore[arg-type]


Build = Callable[..., Host]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def build(dists: DistFactory, tmp_path: Path, clock: FakeClock) -> Iterator[Build]:
    """Hosts on one database in ``tmp_path/home``; each is started, and shut down at the end."""
    hosts: list[Host] = []

    def make(config: str = "", start: bool = True) -> Host:
        host = make_host(tmp_path / "home", clock, config=config, paths=[str(dists.root)])
        host.supervisor.rand = lambda: 0.5  # no jitter: delays are exactly base * 2**n
        host.factories["process"] = lambda rec, cfg: FakeWorker(host, rec)
        hosts.append(host)
        if start:
            host.start()
        return host

    yield make
    for host in hosts:
        host.shutdown()
        host.store.close()


def install(dists: DistFactory, pid: str, source: str | None = None) -> None:
    dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_mod:Plugin"},
              {f"{pid}_mod": source or good_plugin()})


def worker(host: Host, pid: str = "crasher") -> FakeWorker:
    runner = host.slots[pid].runner
    assert isinstance(runner, FakeWorker)
    return runner


def reasons(host: Host, pid: str) -> list[tuple[str, str | None]]:
    """(activation reason, deactivation reason) of every activation, oldest first."""
    return [(r["activation_reason"], r["deactivation_reason"])
            for r in reversed(host.store.history(pid))]


#: Event kinds the supervisor records (other owners record theirs beside them).
OURS = {"crashed", "restart", "restart_failed", "gave_up", "hung", "dead", "memory_limit",
        "stable", "breaker", "operator_restart", "retry"}


def events(host: Host, pid: str) -> list[dict[str, Any]]:
    """The supervisor's events about ``pid``, newest first."""
    return [e for e in host.store.events(pid) if e["kind"] in OURS]


def kinds(host: Host, pid: str) -> list[str]:
    return [e["kind"] for e in reversed(events(host, pid))]


def open_alerts(host: Host, pid: str) -> dict[str, dict[str, Any]]:
    return {a["kind"]: a for a in host.store.alerts(pid, unresolved=True)}


# -- configuration -------------------------------------------------------------

def test_limits_merge_defaults_then_supervision_then_the_plugin(tmp_path: Path) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text("[supervision]\nrestart_backoff = 0.5\nmax_restarts = 2\n"
                    "[plugins.a]\nmax_restarts = 5\nmemory_limit_mb = 300\n", encoding="utf-8")
    config = load_config(path)
    a, b = SupervisionLimits.of(config, "a"), SupervisionLimits.of(config, "b")
    assert (a.restart_backoff, a.max_restarts, a.memory_limit_mb) == (0.5, 5, 300)
    assert (b.restart_backoff, b.max_restarts, b.memory_limit_mb) == (0.5, 2, None)
    assert (b.hung_grace, b.breaker_failures, b.breaker_open_for) == (30.0, 5, 60.0)


@pytest.mark.parametrize(("text", "message"), [
    ("[supervision]\nmax_restart = 3\n",
     "supervision.max_restart: unknown key; did you mean 'max_restarts'?"),
    ("[plugins.a]\nmax_restarts = 0\n",
     "plugins.a.max_restarts: got 0; expected a whole number >= 1"),
    ("[plugins.a]\nmemory_limit_mb = \"lots\"\n",
     "plugins.a.memory_limit_mb: got 'lots'; expected a number > 0"),
    ("[supervision]\nrestart_jitter = 1.5\n",
     "supervision.restart_jitter: got 1.5; expected a number in [0, 1)"),
    ("[plugins.a]\nhung_grace = -1\n",
     "plugins.a.hung_grace: got -1; expected a number >= 0"),
])
def test_bad_supervision_settings_name_the_key_and_the_fix(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_cap_below_the_backoff_stops_the_host_from_starting(
        build: Build, dists: DistFactory) -> None:
    with pytest.raises(ConfigError, match="plugins.x: restart_backoff_cap .2. is below "
                                          "restart_backoff .5.; raise the cap"):
        build("[plugins.x]\nrestart_backoff = 5\nrestart_backoff_cap = 2\n", start=False)


# -- crashes, backoff, giving up -------------------------------------------------

def test_crashes_restart_with_growing_delays_then_give_up_with_a_critical_alert(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    install(dists, "steady")
    host = build(FAST.format(pid="crasher", extra=""))
    delays = []
    for attempt in (1, 2, 3):
        worker(host).exit(3)
        due = host.supervisor.guards["crasher"].due
        assert due is not None
        delays.append(due - clock.monotonic())
        host.supervisor.service()
        assert host.slots["crasher"].runner is not None and not host.slots["crasher"].runner.alive()
        clock.advance(delays[-1] - 0.01)
        host.supervisor.service()  # not yet due
        assert not worker(host).alive()
        clock.advance(0.01)
        host.supervisor.service()
        assert host.slots["crasher"].state is PluginState.ACTIVE and worker(host).alive()
    assert delays == [1.0, 2.0, 4.0]
    worker(host).exit(None, 9)
    host.supervisor.service()
    slot = host.slots["crasher"]
    assert slot.state is PluginState.FAILED and slot.runner is None
    assert "gave up after 3 attempts; last failure: crash: worker pid" in (slot.reason or "")
    assert "was killed by SIGKILL" in (slot.reason or "")
    assert host.store.statuses()["crasher"]["state"] == "FAILED"
    story = reasons(host, "crasher")
    assert story[0][0] == "startup"
    assert [a for a, _ in story[1:]] == [f"restart {n} of 3 after crash: worker pid "
                                         f"{os.getpid()} exited with code 3" for n in (1, 2, 3)]
    assert story[-1][1] is not None and story[-1][1].startswith("gave up after 3 attempts")
    assert kinds(host, "crasher") == ["crashed", "restart"] * 3 + ["crashed", "gave_up"]
    gave_up = open_alerts(host, "crasher")["gave_up"]
    assert gave_up["level"] == "CRITICAL" and "zepix restart crasher" in gave_up["message"]
    assert host.slots["steady"].state is PluginState.ACTIVE
    assert "1 HEALTHY" in host.round() and host.slots["crasher"].state is PluginState.FAILED


def test_a_crash_is_dead_at_once_with_its_exit_code_recorded(
        build: Build, dists: DistFactory) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra=""))
    host.round()
    worker(host).exit(7)
    [snap] = [s for s in host.store.latest_snapshots() if s["plugin_id"] == "crasher"]
    assert snap["status"] == "DEAD" and "exited with code 7" in snap["reasons"][0]
    [event] = events(host, "crasher")
    assert event["kind"] == "crashed"
    assert event["detail"] == f"worker pid {os.getpid()} exited with code 7; restart 1 of 3 in 1.0s"
    alert = open_alerts(host, "crasher")["liveness"]
    assert alert["level"] == "CRITICAL" and alert["message"].startswith("worker exited with code 7")
    host.round()  # the round's own DEAD verdict is the same alert, not a second one
    assert [a["kind"] for a in host.store.alerts("crasher")].count("liveness") == 1


def test_a_stable_period_ends_the_incident_and_attempts_start_again(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra="stable_after = 100"))
    for _ in range(2):
        worker(host).exit(3)
        clock.advance(5)
        host.supervisor.service()
    assert host.supervisor.guards["crasher"].policy.attempt == 2
    host.round()
    clock.advance(100)
    host.round()
    assert host.supervisor.guards["crasher"].policy.attempt == 0
    assert kinds(host, "crasher")[-1] == "stable"
    worker(host).exit(3)
    assert events(host, "crasher")[0]["detail"].endswith("restart 1 of 3 in 1.0s")


def test_the_intensity_limit_gives_up_across_incidents(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra="stable_after = 10\nrestart_intensity = 2\n"
                                                  "restart_window = 1000"))
    for _ in range(2):
        worker(host).exit(3)
        clock.advance(2)
        host.supervisor.service()
        clock.advance(10)
        host.round()  # stable: each crash is a new incident, attempt 1 of 3
    worker(host).exit(3)
    host.supervisor.service()
    slot = host.slots["crasher"]
    assert slot.state is PluginState.FAILED
    assert "gave up: restart intensity exceeded: 2 restarts in 1000s" in (slot.reason or "")


def refusing_plugin(flag: Path) -> str:
    """A good plugin whose activate raises while ``flag`` exists."""
    return good_plugin().replace(
        "        self.active = True\n",
        f"        import os\n        if os.path.exists({str(flag)!r}):\n"
        "            raise RuntimeError('no broker session')\n        self.active = True\n")


def test_a_restart_that_cannot_activate_counts_as_another_failure(
        build: Build, dists: DistFactory, clock: FakeClock, tmp_path: Path) -> None:
    flag = tmp_path / "refuse"
    install(dists, "crasher", refusing_plugin(flag))
    host = build(FAST.format(pid="crasher", extra=""))
    flag.touch()
    worker(host).exit(3)
    clock.advance(1)
    host.supervisor.service()
    assert host.slots["crasher"].state is PluginState.FAILED
    [event] = [e for e in events(host, "crasher") if e["kind"] == "restart_failed"]
    assert "activate failed: RuntimeError: no broker session" in event["detail"]
    assert event["detail"].endswith("restart 2 of 3 in 2.0s")
    flag.unlink()
    clock.advance(2)
    host.supervisor.service()
    assert host.slots["crasher"].state is PluginState.ACTIVE



# -- another owner replaces the plugin -----------------------------------------------

def test_a_restart_due_for_an_instance_another_owner_replaced_is_cancelled(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra=""))
    worker(host).exit(3)
    # What a gate rollback does in the same round (HostVersions._move): reload, started.
    fresh = host.reload("crasher", "gate: rollback to 1.0.0")
    host.supervisor.started("crasher")
    assert host.supervisor.admits_work(fresh)  # fed from the next bar, not after the backoff
    clock.advance(5)
    host.round()
    assert host.slots["crasher"] is fresh and fresh.state is PluginState.ACTIVE
    assert kinds(host, "crasher") == ["crashed"]
    assert [a for a, _ in reasons(host, "crasher")] == ["startup", "gate: rollback to 1.0.0"]


def test_a_restart_is_not_made_over_a_replacement_that_did_not_activate(
        build: Build, dists: DistFactory, clock: FakeClock, tmp_path: Path) -> None:
    flag = tmp_path / "refuse"
    install(dists, "crasher", refusing_plugin(flag))
    host = build(FAST.format(pid="crasher", extra=""))
    worker(host).exit(3)
    flag.touch()
    replaced = host.reload("crasher", "gate: rollback to 1.0.0")
    assert replaced.state is PluginState.FAILED
    clock.advance(5)
    host.supervisor.service()
    assert host.slots["crasher"] is replaced  # the other owner's outcome stands
    assert kinds(host, "crasher") == ["crashed"]
    assert len(reasons(host, "crasher")) == 1

# -- hung plugins ------------------------------------------------------------------

HANGS_ONCE = '''
import threading
from zepix_core import hookimpl

GATE = threading.Event()
MADE = []


class Plugin:
    def __init__(self):
        MADE.append(self)
        self.hangs = len(MADE) == 1

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        if self.hangs:
            GATE.wait()
        return True

    @hookimpl
    def get_metrics(self):
        return {}

    @hookimpl
    def self_test(self):
        return True
'''


def test_a_hung_in_process_plugin_is_abandoned_and_reloaded_after_its_grace(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "frozen", HANGS_ONCE)
    host = build("[plugins.frozen]\nping_timeout = 0.05\nhung_grace = 20\n")
    try:
        first = host.slots["frozen"]
        for _ in range(3):
            host.round()
            clock.advance(10)
        assert host.monitor.watched["frozen"].health.status.value == "HUNG"
        assert host.slots["frozen"] is first  # HUNG for 10 s of 20: still in its grace
        host.round()
        assert host.supervisor.guards["frozen"].due is not None
        clock.advance(1)
        host.supervisor.service()
        fresh = host.slots["frozen"]
        assert fresh is not first and fresh.state is PluginState.ACTIVE
        host.round()
        assert host.monitor.watched["frozen"].health.status.value == "HEALTHY"
        [(_, ended), (started, _)] = reasons(host, "frozen")
        assert ended == started
        assert started.startswith("restart 1 of 3 after hung: 4 health pings in a row missed "
                                  "their deadline (PluginBusy: health_ping still running")
        assert "HUNG for 20s" in started
    finally:
        module("frozen_mod").GATE.set()


def module(name: str) -> Any:
    return sys.modules[name]


# -- the circuit breaker -------------------------------------------------------------

FLAKY = '''
from zepix_core import hookimpl

FAIL = [True]
BARS = []


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": len(BARS)}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def on_bar(self, bar):
        BARS.append(bar)
        if FAIL[0]:
            raise ValueError("indicator state corrupt")
'''


def test_the_breaker_opens_starves_the_plugin_of_bars_and_closes_with_alerts(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "flaky", FLAKY)
    install(dists, "steady")
    host = build("[host]\nbars_per_round = 5\n[plugins.flaky]\nbreaker_open_for = 30\n")
    mod = module("flaky_mod")
    host.work()
    assert len(mod.BARS) == 5  # five failures in a row, then nothing more
    host.round()
    snap = {s["plugin_id"]: s for s in host.store.latest_snapshots()}
    assert snap["flaky"]["breaker"] == "OPEN" and snap["steady"]["breaker"] == "CLOSED"
    assert snap["flaky"]["breaker_detail"]["retry_in_s"] == 30
    alert = open_alerts(host, "flaky")["breaker"]
    assert alert["level"] == "HIGH"
    assert alert["message"].startswith("circuit breaker OPEN: 5 consecutive failures")
    clock.advance(29)
    host.work()
    assert len(mod.BARS) == 5
    mod.FAIL[0] = False
    clock.advance(1)
    host.work()  # HALF_OPEN: trial bars succeed, two close it, the rest flow again
    assert len(mod.BARS) > 7
    host.round()
    snap = {s["plugin_id"]: s for s in host.store.latest_snapshots()}
    assert snap["flaky"]["breaker"] == "CLOSED"
    assert "breaker" not in open_alerts(host, "flaky")
    [resolved] = [a for a in host.store.alerts("flaky") if a["kind"] == "breaker"]
    assert resolved["resolved"] == 1
    details = [e["detail"] for e in reversed(events(host, "flaky"))]
    assert details == ["CLOSED -> OPEN: 5 consecutive failures",
                       "OPEN -> HALF_OPEN: open for 30s, trying again",
                       "HALF_OPEN -> CLOSED: 2 trial calls succeeded"]
    assert host.slots["flaky"].state is PluginState.ACTIVE  # the breaker never restarts


# -- operators and the give-up mark ------------------------------------------------

def give_up(host: Host, clock: FakeClock, pid: str = "crasher") -> None:
    for _ in range(3):
        worker(host, pid).exit(3)
        clock.advance(10)
        host.supervisor.service()
    worker(host, pid).exit(3)
    host.supervisor.service()
    assert host.slots[pid].state is PluginState.FAILED


def test_an_operator_restart_request_is_applied_within_one_round(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra=""))
    give_up(host, clock)
    request = host.store.add_request("crasher", "restart", "alice", clock.time())
    host.round()
    assert host.slots["crasher"].state is PluginState.ACTIVE
    row = host.store.request(request)
    assert row is not None and row["outcome"] == "ACTIVE" and row["applied_at"] == clock.time()
    assert reasons(host, "crasher")[-1] == (f"operator restart (request {request} by alice)",
                                            None)
    assert "gave_up" not in open_alerts(host, "crasher")
    assert kinds(host, "crasher")[-1] == "operator_restart"
    worker(host).exit(3)  # the count starts again
    assert events(host, "crasher")[0]["detail"].endswith("restart 1 of 3 in 1.0s")
    unknown = host.store.add_request("ghost", "restart", "alice", clock.time())
    host.round()
    assert host.store.request(unknown)["outcome"] == "not restarted: no plugin ghost is installed"


def test_given_up_stays_down_across_starts_until_config_changes_or_an_operator_acts(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    config = FAST.format(pid="crasher", extra="")
    first = build(config)
    give_up(first, clock)
    first.shutdown()

    second = build(config)
    slot = second.slots["crasher"]
    assert slot.state is PluginState.FAILED and slot.runner is None
    assert "gave up after 3 attempts" in (slot.reason or "")
    assert "crasher" not in [s.plugin_id for s in second.active()]
    second.shutdown()

    third = build(config + "stake = 0.02\n")  # the plugin's own table changed: try again
    assert third.slots["crasher"].state is PluginState.ACTIVE
    assert events(third, "crasher")[0]["detail"] == ("its config changed since it was given "
                                                     "up on; activating")
    give_up(third, clock)
    third.shutdown()

    status = third.store.statuses()["crasher"]
    request = third.store.add_request("crasher", "restart", "bob", clock.time())
    clear_mark(third.store, request, status, clock.time())  # `zepix restart` with no host
    assert third.store.statuses()["crasher"]["state"] == "INACTIVE"
    fourth = build(config + "stake = 0.02\n")
    assert fourth.slots["crasher"].state is PluginState.ACTIVE


def test_a_restart_request_left_pending_is_applied_at_the_next_start(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    config = FAST.format(pid="crasher", extra="")
    first = build(config)
    give_up(first, clock)
    first.shutdown()
    request = first.store.add_request("crasher", "restart", "carol", clock.time())
    second = build(config)
    assert second.slots["crasher"].state is PluginState.ACTIVE
    assert second.store.request(request)["outcome"] == "applied at host start"


def test_the_run_loop_restarts_between_rounds_not_at_the_next_one(
        build: Build, dists: DistFactory, clock: FakeClock) -> None:
    install(dists, "crasher")
    host = build(FAST.format(pid="crasher", extra="") + "\n[host]\ninterval = 60\n",
                 start=False)
    seen: list[tuple[float, str]] = []
    original = host.supervisor.service

    def service() -> None:
        original()
        slot = host.slots.get("crasher")
        if slot is not None and slot.runner is not None:
            seen.append((clock.monotonic(), "up" if slot.runner.alive() else "down"))

    host.supervisor.service = service  # type: ignore[method-assign]

    def on_round(summary: str) -> None:
        if len(seen) < 2:
            worker(host).exit(3)

    started = clock.monotonic()
    host.run(duration=30, on_round=on_round)
    back = next(at for at, state in seen if state == "up" and at > started)
    assert back - started == pytest.approx(1.0)  # restarted 1 s after the crash, not at 60 s


def test_process_isolation_uses_the_supervisors_worker_factory(
        dists: DistFactory, clock: FakeClock, tmp_path: Path) -> None:
    host = make_host(tmp_path / "h", clock, paths=[str(dists.root)])
    try:
        assert host.factories["process"] == host.supervisor.process_runner
    finally:
        host.shutdown()
        host.store.close()
