from __future__ import annotations

import math
import random

import pytest

from zepix_core.health.sketch import Sketch, WindowStats


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rel_error", [0.01, 0.05])
def test_percentiles_stay_within_the_stated_relative_error(seed: int, rel_error: float) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    stats = WindowStats(rel_error=rel_error, clock=clock)
    # Latencies of real work are skewed: mostly fast, with a long tail.
    values = [rng.lognormvariate(-3.0, 1.5) for _ in range(20_000)]
    for i, value in enumerate(values):
        clock.now = 1000.0 + i * 0.1
        stats.record(value)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        estimate = stats.percentile(q)
        assert estimate is not None
        truth = exact(values, q)
        assert abs(estimate - truth) <= rel_error * truth * (1 + 1e-9), (q, estimate, truth)


def test_snapshot_reports_milliseconds_calls_and_error_rate() -> None:
    clock = FakeClock()
    stats = WindowStats(clock=clock)
    for i in range(100):
        stats.record(0.010 if i < 90 else 2.0, error=i % 10 == 0)
    snap = stats.snapshot()
    assert snap.calls == 100
    assert snap.errors == 10
    assert snap.error_rate == pytest.approx(0.10)
    assert snap.p50_ms == pytest.approx(10.0, rel=0.01)
    assert snap.p95_ms == pytest.approx(2000.0, rel=0.01)
    assert snap.p99_ms == pytest.approx(2000.0, rel=0.01)


def test_empty_window_has_no_percentiles_and_zero_error_rate() -> None:
    snap = WindowStats(clock=FakeClock()).snapshot()
    assert (snap.p50_ms, snap.p95_ms, snap.p99_ms) == (None, None, None)
    assert (snap.calls, snap.errors, snap.error_rate) == (0, 0, 0.0)


def test_old_sub_windows_expire_as_the_clock_moves() -> None:
    clock = FakeClock(0.0)
    stats = WindowStats(window=60.0, slots=6, clock=clock)
    stats.record(5.0, error=True)          # slot [0, 10)
    clock.now = 25.0
    stats.record(0.1)                      # slot [20, 30)
    assert stats.snapshot().calls == 2
    assert stats.percentile(1.0) == pytest.approx(5.0, rel=0.01)

    clock.now = 59.9                       # both still inside the window
    assert stats.snapshot().calls == 2
    clock.now = 60.0                       # the first slot has left the window
    snap = stats.snapshot()
    assert (snap.calls, snap.errors) == (1, 0)
    assert stats.percentile(1.0) == pytest.approx(0.1, rel=0.01)

    clock.now = 80.0
    assert stats.snapshot().calls == 0
    assert stats.percentile(0.5) is None


def test_a_reused_slot_starts_empty() -> None:
    clock = FakeClock(0.0)
    stats = WindowStats(window=60.0, slots=6, clock=clock)
    stats.record(1.0)
    clock.now = 61.0                       # same ring index, next lap
    stats.record(0.2)
    snap = stats.snapshot()
    assert snap.calls == 1
    assert stats.percentile(0.0) == pytest.approx(0.2, rel=0.01)


def test_memory_is_bounded_by_the_bucket_cap() -> None:
    clock = FakeClock(0.0)
    stats = WindowStats(window=10.0, slots=2, clock=clock, max_buckets=64)
    rng = random.Random(7)
    for i in range(5000):
        clock.now = i * 0.002               # spans both slots
        stats.record(10 ** rng.uniform(-6, 6))
    assert stats.bucket_count() <= 2 * 64
    assert stats.snapshot().calls == 5000


def test_collapsing_keeps_the_high_percentiles_accurate() -> None:
    sketch = Sketch(rel_error=0.01, max_buckets=100, min_value=1e-9)
    rng = random.Random(11)
    values = [10 ** rng.uniform(-9, 3) for _ in range(10_000)]
    for value in values:
        sketch.add(value)
    assert len(sketch.buckets) <= 100
    assert sketch.count == len(values)
    for q in (0.95, 0.99):
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact(values, q)) <= 0.01 * exact(values, q) * (1 + 1e-9)


def test_values_below_the_minimum_count_as_zero() -> None:
    sketch = Sketch(rel_error=0.01, max_buckets=10, min_value=1e-6)
    for value in (0.0, 0.0, 0.0, 1.0):
        sketch.add(value)
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(1.0) == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_durations_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        WindowStats(clock=FakeClock()).record(bad)


def test_quantile_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="quantile"):
        WindowStats(clock=FakeClock()).percentile(95)
