"""Circuit breaker transitions on a fake clock, and once fed by a real failing plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import Bar
from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import BreakerState
from zepix_core.execution.runner import call
from zepix_core.execution.worker import ProcessRunner
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.supervision.breaker import CircuitBreaker, Transition
from zepix_core.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic=0.0)


@pytest.fixture
def events() -> list[Transition]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, events: list[Transition]) -> CircuitBreaker:
    return CircuitBreaker(clock=clock.monotonic, on_transition=events.append)


def feed(breaker: CircuitBreaker, outcomes: str) -> None:
    """Record outcomes written as 'x' (failure) and '.' (success)."""
    for ch in outcomes:
        assert breaker.allow()
        breaker.record(ch == ".")


def trip(breaker: CircuitBreaker, clock: FakeClock) -> None:
    feed(breaker, "xxxxx")
    clock.advance(60.0)
    assert breaker.state is HALF_OPEN


def test_five_consecutive_failures_open_and_block_calls(
        breaker: CircuitBreaker, events: list[Transition]) -> None:
    feed(breaker, "xxxx.xxxx")
    assert breaker.state is CLOSED and events == []
    feed(breaker, "x")
    assert breaker.state is OPEN and not breaker.allow()
    assert [(e.old, e.new, e.reason) for e in events] == [
        (CLOSED, OPEN, "5 consecutive failures")]


def test_failure_rate_over_min_calls_opens(
        breaker: CircuitBreaker, events: list[Transition]) -> None:
    feed(breaker, "x." * 9 + "x")   # 19 calls, 10 failures: under min_calls
    assert breaker.state is CLOSED
    feed(breaker, ".")               # 20 calls, 10 failures: rate 50%
    assert breaker.state is OPEN
    assert events[-1].reason == "10 of the last 20 calls failed (threshold 50%)"


def test_rate_below_threshold_stays_closed_in_a_rolling_window(
        breaker: CircuitBreaker) -> None:
    feed(breaker, "xx..." * 20)      # 40% failures, never 5 in a row
    assert breaker.state is CLOSED
    stats = breaker.stats()
    assert stats.calls_in_window == 50 and stats.failure_rate == pytest.approx(0.4)


def test_open_turns_half_open_after_open_for(
        breaker: CircuitBreaker, clock: FakeClock, events: list[Transition]) -> None:
    feed(breaker, "xxxxx")
    assert breaker.stats().retry_at == 60.0
    clock.advance(59.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    assert events[-1].new is HALF_OPEN and events[-1].at == 60.0


def test_half_open_limits_trials_in_flight(
        breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker, clock)
    assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
    breaker.record(True)             # one trial answered: one slot free
    assert breaker.allow()


def test_two_successes_close(
        breaker: CircuitBreaker, clock: FakeClock, events: list[Transition]) -> None:
    trip(breaker, clock)
    feed(breaker, ".")
    assert breaker.state is HALF_OPEN
    feed(breaker, ".")
    assert breaker.state is CLOSED
    assert (events[-1].old, events[-1].reason) == (HALF_OPEN, "2 trial calls succeeded")
    # Closed afresh: the failures that opened it are forgotten.
    feed(breaker, "xxxx")
    assert breaker.state is CLOSED


def test_failure_in_half_open_reopens_for_another_period(
        breaker: CircuitBreaker, clock: FakeClock, events: list[Transition]) -> None:
    trip(breaker, clock)
    feed(breaker, ".x")
    assert breaker.state is OPEN
    assert events[-1].reason == "a trial call failed while half open"
    clock.advance(59.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.state is HALF_OPEN


def test_answers_that_arrive_while_open_are_ignored(
        breaker: CircuitBreaker, clock: FakeClock) -> None:
    feed(breaker, "xxxxx")
    breaker.record(True)
    breaker.record(True)
    clock.advance(60.0)
    assert breaker.state is HALF_OPEN
    breaker.record(True)             # no trial was allowed yet: not a trial answer
    assert breaker.state is HALF_OPEN


def test_reset_closes_by_operator(breaker: CircuitBreaker, events: list[Transition]) -> None:
    feed(breaker, "xxxxx")
    breaker.reset()
    assert breaker.state is CLOSED and events[-1].reason == "reset by operator"


def test_callback_may_read_the_breaker() -> None:
    seen: list[BreakerState] = []
    holder: list[CircuitBreaker] = []
    b = CircuitBreaker(on_transition=lambda e: seen.append(holder[0].state))
    holder.append(b)
    feed(b, "xxxxx")
    assert seen == [OPEN]


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"rate_threshold": 0.0},
                                    {"min_calls": 60}, {"half_open_trials": 1}])
def test_nonsense_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


FLAKY = good_plugin().replace(
    "    def on_bar(self, bar):\n        self.bars += 1\n",
    "    def on_bar(self, bar):\n        self.bars += 1\n"
    "        if self.bars <= 6:\n"
    "            raise RuntimeError(f'feed gap at bar {self.bars}')\n")


@pytest.fixture
def flaky_runner(dists: DistFactory) -> Iterator[ProcessRunner]:
    dists.add("zepix-flaky", "1.0.0", {"flaky": "flaky_mod:Plugin"}, {"flaky_mod": FLAKY})
    [rec] = enumerate_plugins([str(dists.root)])
    runner = ProcessRunner(rec, extra_paths=[str(dists.root)])
    yield runner
    runner.close(timeout=1.0)


def test_real_failing_plugin_through_a_worker_trips_and_recovers(
        flaky_runner: ProcessRunner, clock: FakeClock, events: list[Transition]) -> None:
    breaker = CircuitBreaker(clock=clock.monotonic, on_transition=events.append)
    bar = Bar("BTCUSD", "1m", 60.0, 1.0, 2.0, 0.5, 1.5, 10.0)
    errors: list[str | None] = []

    def tick() -> None:
        if breaker.allow():
            result = call(flaky_runner, "on_bar", 2.0, {"bar": bar})
            errors.append(result.error)
            breaker.record(result.ok)

    for _ in range(8):
        tick()
    # Five failures opened it; the three later bars never reached the plugin.
    assert len(errors) == 5 and breaker.state is OPEN
    assert all(e is not None and "RuntimeError: feed gap at bar" in e for e in errors)
    clock.advance(60.0)
    for _ in range(3):
        tick()
    # Trial 6 fails (the plugin's sixth bar) and reopens; after another
    # period two good bars close it.
    assert breaker.state is OPEN
    clock.advance(60.0)
    tick()
    tick()
    assert breaker.state is CLOSED
    assert [(e.old.value, e.new.value) for e in events] == [
        ("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
    assert errors[5] is not None and errors[6:] == [None, None]


def test_the_success_threshold_comes_from_the_config(tmp_path: Path) -> None:
    """``breaker_successes`` (issue 28, the seeds' success_threshold): trial calls in a
    row that close a HALF_OPEN breaker, per plugin or for all."""
    from zepix_core.contract.model import BreakerState as State
    from zepix_core.loading.config import load_config
    from zepix_core.supervision.guard import SupervisionLimits, new_breaker

    path = tmp_path / "zepix.toml"
    path.write_text("[supervision]\nbreaker_successes = 4\nbreaker_open_for = 10\n"
                    "[plugins.calm]\nbreaker_successes = 1\n", encoding="utf-8")
    config = load_config(path)
    now = [0.0]
    for plugin_id, needed in (("busy", 4), ("calm", 1)):
        breaker = new_breaker(SupervisionLimits.of(config, plugin_id), lambda: now[0], lambda t: None)
        breaker.force_open()
        breaker.reset()
        for _ in range(5):
            breaker.record(False)
        assert breaker.state is State.OPEN
        now[0] += 11
        for trial in range(1, needed + 1):
            assert breaker.allow()
            breaker.record(True)
            assert breaker.state is (State.CLOSED if trial == needed else State.HALF_OPEN)
    path.write_text("[supervision]\nbreaker_successes = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="breaker_successes"):
        load_config(path)
