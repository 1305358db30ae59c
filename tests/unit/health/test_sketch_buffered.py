"""The answered calls of a feed are buffered before they reach the sketch (issue 26,
item 2: the bot's thread pays a list append per feed, not a sketch update per bar);
every read still sees every call, in the sub-window it was made in."""

from __future__ import annotations

import random

import pytest

from zepix_core.health.histogram import BUCKETS, HookLatency
from zepix_core.health.sketch import PENDING, WindowStats


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pair(clock: Clock) -> tuple[WindowStats, WindowStats]:
    """A window fed through the buffer, and one fed call by call (the reference)."""
    return (WindowStats(window=600.0, slots=10, clock=clock),
            WindowStats(window=600.0, slots=10, clock=clock))


def test_buffered_answers_read_back_as_calls_recorded_one_by_one() -> None:
    rng = random.Random(7)
    clock = Clock()
    buffered, direct = _pair(clock)
    for step in range(3000):
        durations = [rng.lognormvariate(-9, 1.0) for _ in range(rng.randint(1, 3))]
        buffered.record_many(durations)
        for duration in durations:
            direct.record(duration)
        if step % 97 == 0:  # reads and other writes between the feeds
            assert buffered.snapshot() == direct.snapshot()
            buffered.record(0.5, error=True)
            direct.record(0.5, error=True)
        clock.now += 0.37  # several sub-windows go by, and out of the window
    assert buffered.snapshot() == direct.snapshot()
    assert buffered.bucket_count() == direct.bucket_count()
    for q in (0.5, 0.9, 0.99):
        assert buffered.percentile(q) == direct.percentile(q)


def test_a_full_buffer_and_a_new_sub_window_each_go_into_the_sketch_at_once() -> None:
    clock = Clock()
    buffered, direct = _pair(clock)
    for _ in range(PENDING + 5):
        buffered.record_many([0.001])
        direct.record(0.001)
    clock.now += 60.0  # the next sub-window: the buffer belongs to the last one
    buffered.record_many([0.002])
    direct.record(0.002)
    clock.now += 540.0  # the first sub-window now out of the window
    assert buffered.snapshot() == direct.snapshot()
    assert buffered.snapshot().calls == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_answer_is_refused_where_it_is_recorded(bad: float) -> None:
    stats = WindowStats(clock=Clock())
    with pytest.raises(ValueError, match="non-finite"):
        stats.record_many([0.001, bad])
    assert stats.snapshot().calls == 0


def test_histogram_counts_every_answer_in_its_bucket() -> None:
    rng = random.Random(3)
    latency = HookLatency()
    durations = [rng.lognormvariate(-8, 2.0) for _ in range(2000)]
    for start in range(0, len(durations), 7):
        latency.observe_many("a", "on_bar", durations[start:start + 7])
    hist = latency.snapshot()[("a", "on_bar")]
    expected = [0] * (len(BUCKETS) + 1)
    for duration in durations:  # independent: the first bound at or above the value
        expected[next((i for i, b in enumerate(BUCKETS) if duration <= b), len(BUCKETS))] += 1
    assert hist.counts == expected
    assert hist.total == pytest.approx(sum(durations))
