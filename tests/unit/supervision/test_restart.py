"""Restart policy: backoff, jitter, cap, give-up, intensity and resets on a fake clock."""

from __future__ import annotations

import pytest

from zepix_core.supervision.restart import RestartPolicy


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def policy(rand: float = 0.5, **kwargs: object) -> RestartPolicy:
    # rand() == 0.5 is the middle of the jitter band, so delays are exact.
    return RestartPolicy(clock=FakeClock(), rand=lambda: rand, **kwargs)  # type: ignore[arg-type]


def test_backoff_doubles_per_attempt_then_gives_up_after_three() -> None:
    p = policy()
    decisions = [p.on_failure(now=t) for t in (0.0, 2.0, 5.0, 10.0)]
    assert [(d.restart, d.delay, d.attempt) for d in decisions] == [
        (True, 1.0, 1), (True, 2.0, 2), (True, 4.0, 3), (False, 0.0, 4)]
    assert decisions[3].reason == "gave up after 3 attempts"
    assert decisions[0].reason == "restart 1 of 3 in 1.0s"
    # Given up means down until an operator acts, however long it waits.
    later = p.on_failure(now=10_000.0)
    assert not later.restart and later.reason == "gave up after 3 attempts"
    assert p.gave_up == "gave up after 3 attempts"


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.8), (0.999999, 1.2)])
def test_jitter_stays_within_the_fraction(rand: float, factor: float) -> None:
    p = policy(rand=rand, base=10.0)
    assert p.on_failure(now=0.0).delay == pytest.approx(10.0 * factor, rel=1e-5)


def test_cap_is_a_hard_ceiling_even_with_jitter() -> None:
    p = policy(rand=0.999999, base=1.0, cap=5.0, max_attempts=10, intensity=(100, 1.0))
    delays = [p.on_failure(now=float(t)).delay for t in range(6)]
    assert delays[:3] == pytest.approx([1.2, 2.4, 4.8], rel=1e-5)
    assert delays[3:] == [5.0, 5.0, 5.0]


def test_jitter_actually_varies_with_the_random_source() -> None:
    values = iter([0.1, 0.9])
    p = RestartPolicy(rand=lambda: next(values), clock=FakeClock())
    first = p.on_failure(now=0.0).delay
    p2 = RestartPolicy(rand=lambda: next(values), clock=FakeClock())
    assert first != p2.on_failure(now=0.0).delay


def test_stable_period_ends_the_incident() -> None:
    p = policy()
    p.on_failure(now=0.0)
    p.on_failure(now=2.0)
    p.on_started(now=5.0)
    assert not p.observe_healthy(now=100.0)  # up 95 s: not yet stable
    assert p.attempt == 2
    assert p.observe_healthy(now=125.0)      # up 120 s: incident over
    d = p.on_failure(now=130.0)
    assert (d.restart, d.attempt, d.delay) == (True, 1, 1.0)


def test_failure_after_a_long_quiet_run_is_a_new_incident_without_health_checks() -> None:
    p = policy()
    for t in (0.0, 2.0, 5.0):
        p.on_failure(now=t)
    p.on_started(now=10.0)
    d = p.on_failure(now=200.0)  # no observe_healthy call in between
    assert d.restart and d.attempt == 1


def test_a_short_run_does_not_end_the_incident() -> None:
    p = policy()
    for t in (0.0, 2.0, 5.0):
        p.on_started(now=t - 1.0)
        assert p.on_failure(now=t).restart
    p.on_started(now=10.0)
    assert not p.on_failure(now=60.0).restart


def test_intensity_limit_spans_incidents() -> None:
    # One restart per incident, each after a stable period: never 3 attempts,
    # but 5 restarts within 300 s is too many.
    p = policy(stable_after=30.0)
    times = [0.0, 40.0, 80.0, 120.0, 160.0]
    for t in times:
        d = p.on_failure(now=t)
        assert d.restart and d.attempt == 1
        p.on_started(now=t + 1.0)
    d = p.on_failure(now=200.0)
    assert not d.restart
    assert d.reason == "restart intensity exceeded: 5 restarts in 300s"


def test_intensity_window_slides() -> None:
    p = policy(stable_after=30.0)
    for t in [0.0, 40.0, 80.0, 120.0, 160.0]:
        p.on_failure(now=t)
        p.on_started(now=t + 1.0)
    # The restart at t=0 has left the 300 s window by t=300.
    assert p.on_failure(now=300.0).restart


def test_reset_brings_back_a_plugin_that_was_given_up_on() -> None:
    p = policy()
    for t in (0.0, 2.0, 5.0, 10.0):
        p.on_failure(now=t)
    assert p.gave_up is not None
    p.reset()
    assert p.gave_up is None and p.attempt == 0
    d = p.on_failure(now=11.0)
    assert (d.restart, d.attempt, d.delay) == (True, 1, 1.0)


def test_clock_is_used_when_no_time_is_given() -> None:
    clock = FakeClock(50.0)
    p = RestartPolicy(clock=clock, rand=lambda: 0.5, stable_after=10.0)
    p.on_failure()
    p.on_started()
    clock.now = 61.0
    assert p.observe_healthy()


@pytest.mark.parametrize("kwargs", [{"base": 0.0}, {"factor": 0.5}, {"cap": 0.1},
                                    {"jitter": 1.0}, {"max_attempts": 0},
                                    {"intensity": (0, 10.0)}])
def test_nonsense_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]
