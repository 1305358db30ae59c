"""Latency percentiles over a sliding time window in bounded memory.

Each call's duration goes into a DDSketch-style histogram: bucket ``i`` holds
the values in ``(gamma**(i-1), gamma**i]`` with ``gamma = (1+a)/(1-a)``, and a
bucket answers with ``2*gamma**i/(gamma+1)``, which is within a relative error
``a`` of every value in it. So a percentile read from the sketch is within
``rel_error`` of the exact percentile (the sample of rank ``floor(q*(n-1))``)
for every value at or above ``min_value``; smaller values, zero included, are
counted in one zero bucket and read back as 0.

The window is a ring of ``slots`` sub-windows of ``window/slots`` seconds,
each with its own sketch; a query merges the live ones. A sub-window expires
as a whole, so the window covers between ``window - window/slots`` and
``window`` seconds of history. Memory is bounded by ``slots * max_buckets``
counters: when a sketch would grow past ``max_buckets`` buckets its lowest
buckets are folded into one, which can only lower the accuracy of the lowest
percentiles, never of p50/p95/p99 unless the data spans more than
``gamma**max_buckets`` (about 1e17 at the defaults).

Calls that answered (``record_many``, one per plugin and feed: the bot's thread)
are only appended to a buffer of the current sub-window; the buffer goes into the
sketch when anything reads or otherwise writes the window, when the sub-window
changes, or past ``PENDING`` values: every read sees every call, and the bot's
thread pays a list append per feed instead of a sketch update per bar.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Clock = Callable[[], float]

#: Durations kept in a window's buffer at most before they go into its sketch: with a
#: feed's sample (256) on top, ~25 kB a window (every round's read empties it).
PENDING = 512


@dataclass(frozen=True)
class LatencySnapshot:
    """Latency percentiles (milliseconds; None when the window is empty) and
    call counts over the window."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    calls: int
    errors: int
    error_rate: float


class Sketch:
    """A log-bucketed histogram with relative error ``rel_error``."""

    def __init__(self, rel_error: float, max_buckets: int, min_value: float) -> None:
        if not 0.0 < rel_error < 1.0:
            raise ValueError(f"rel_error must be in (0, 1), got {rel_error}")
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be at least 2, got {max_buckets}")
        self.rel_error = rel_error
        self.max_buckets = max_buckets
        self.min_value = min_value
        self._gamma = (1.0 + rel_error) / (1.0 - rel_error)
        self._log_gamma = math.log(self._gamma)
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0

    def add_all(self, values: Sequence[float]) -> None:
        """``add`` of each of ``values`` (once each), in one pass."""
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"cannot record a non-finite value: {values}")
        low, log_gamma, log, ceil = self.min_value, self._log_gamma, math.log, math.ceil
        buckets = self.buckets
        self.count += len(values)
        for value in values:
            if value < low:
                self.zeros += 1
            else:
                key = ceil(log(value) / log_gamma)
                buckets[key] = buckets.get(key, 0) + 1
        if len(buckets) > self.max_buckets:
            self._collapse()

    def add(self, value: float, times: int = 1) -> None:
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite value: {value}")
        self.count += times
        if value < self.min_value:
            self.zeros += times
            return
        key = math.ceil(math.log(value) / self._log_gamma)
        self.buckets[key] = self.buckets.get(key, 0) + times
        if len(self.buckets) > self.max_buckets:
            self._collapse()

    def merge(self, other: Sketch) -> None:
        self.count += other.count
        self.zeros += other.zeros
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        if len(self.buckets) > self.max_buckets:
            self._collapse()

    def _collapse(self) -> None:
        keys = sorted(self.buckets)
        cut = len(keys) - self.max_buckets
        folded = sum(self.buckets.pop(key) for key in keys[:cut + 1])
        self.buckets[keys[cut]] = folded

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` in [0, 1], or None when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        seen = self.zeros
        if seen > rank:
            return 0.0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return 2.0 * self._gamma**key / (self._gamma + 1.0)
        return 2.0 * self._gamma ** max(self.buckets) / (self._gamma + 1.0)


class _Slot:
    __slots__ = ("calls", "epoch", "errors", "sketch")

    def __init__(self, epoch: int, sketch: Sketch) -> None:
        self.epoch = epoch
        self.sketch = sketch
        self.calls = 0
        self.errors = 0


class WindowStats:
    """Calls, errors and latency percentiles over the last ``window`` seconds.

    Thread safe: calls are recorded from the threads that run plugin hooks
    while the monitoring round reads snapshots.
    """

    def __init__(
        self,
        window: float = 3600.0,
        slots: int = 60,
        rel_error: float = 0.01,
        clock: Clock = time.monotonic,
        max_buckets: int = 2048,
        min_value: float = 1e-6,
    ) -> None:
        if window <= 0 or slots < 1:
            raise ValueError(f"need window > 0 and slots >= 1, got {window}, {slots}")
        self.window = window
        self.slots = slots
        self.rel_error = rel_error
        self._width = window / slots
        self._clock = clock
        self._max_buckets = max_buckets
        self._min_value = min_value
        self._ring: list[_Slot | None] = [None] * slots
        self._lock = threading.Lock()
        #: Answered calls not yet in a sketch: their sub-window, durations and count.
        self._pending_epoch = 0
        self._pending: list[float] = []
        self._pending_calls = 0

    def _new_sketch(self) -> Sketch:
        return Sketch(self.rel_error, self._max_buckets, self._min_value)

    def _flush(self) -> None:
        """The buffered calls into their sub-window's sketch (under ``_lock``)."""
        if not self._pending_calls:
            return
        pending, calls = self._pending, self._pending_calls
        self._pending, self._pending_calls = [], 0
        slot = self._slot(self._pending_epoch, flush=False)
        slot.sketch.add_all(pending)
        slot.calls += calls

    def _slot(self, epoch: int, flush: bool = True) -> _Slot:
        """The sub-window of ``epoch``, started afresh when it holds an older one (under
        ``_lock``); buffered calls go in first, so no write overtakes them."""
        if flush:
            self._flush()
        index = epoch % self.slots
        slot = self._ring[index]
        if slot is None or slot.epoch != epoch:
            slot = self._ring[index] = _Slot(epoch, self._new_sketch())
        return slot

    def record(self, duration_s: float, error: bool = False) -> None:
        """Count one call that took ``duration_s`` seconds."""
        epoch = math.floor(self._clock() / self._width)
        with self._lock:
            slot = self._slot(epoch)
            slot.sketch.add(duration_s)
            slot.calls += 1
            slot.errors += error

    def seed(self, age: float, snap: LatencySnapshot) -> None:
        """Refill the window from a summary taken ``age`` seconds ago (a host restarted):
        ``snap.calls`` values placed so that p50, p95 and p99 read back as in ``snap``,
        ``snap.errors`` of them errors, all in the sub-window of that moment, so they
        age out of the window as the real calls would have."""
        if snap.calls <= 0 or snap.p50_ms is None or age >= self.window:
            return
        ranks = [math.floor(q * (snap.calls - 1)) + 1 for q in (0.50, 0.95, 0.99)]
        values = [v / 1000.0 for v in (snap.p50_ms, snap.p95_ms or snap.p50_ms,
                                       snap.p99_ms or snap.p95_ms or snap.p50_ms)]
        counts = [ranks[0], ranks[1] - ranks[0], snap.calls - ranks[1]]
        epoch = math.floor((self._clock() - max(0.0, age)) / self._width)
        with self._lock:
            slot = self._slot(epoch)
            for value, times in zip(values, counts, strict=True):
                if times > 0:
                    slot.sketch.add(value, times)
            slot.calls += snap.calls
            slot.errors += min(snap.errors, snap.calls)

    def record_many(self, durations: Sequence[float], sample: int = 256) -> None:
        """Count several calls that answered (a feed of bars): buffered, see the module.

        Of more than ``sample`` durations an even sample goes into the percentiles
        (a file replay feeds thousands of bars at once); every call is counted.
        """
        calls = len(durations)
        if calls > sample:
            durations = durations[::-(-calls // sample)]
        if not math.isfinite(sum(durations)):  # finite durations never sum to inf
            raise ValueError(f"cannot record a non-finite value: {durations}")
        epoch = math.floor(self._clock() / self._width)
        with self._lock:
            if epoch != self._pending_epoch or len(self._pending) >= PENDING:
                self._flush()
                self._pending_epoch = epoch
            self._pending.extend(durations)
            self._pending_calls += calls

    def _live(self) -> Iterable[_Slot]:
        now = math.floor(self._clock() / self._width)
        return [s for s in self._ring if s is not None and now - self.slots < s.epoch <= now]

    def _merged(self) -> tuple[Sketch, int, int]:
        merged = self._new_sketch()
        calls = errors = 0
        with self._lock:
            self._flush()
            for slot in self._live():
                merged.merge(slot.sketch)
                calls += slot.calls
                errors += slot.errors
        return merged, calls, errors

    def percentile(self, q: float) -> float | None:
        """The duration in seconds at quantile ``q`` (0.95 for p95) over the
        window, or None when no call was recorded in it."""
        return self._merged()[0].quantile(q)

    def bucket_count(self) -> int:
        """Histogram buckets held across all sub-windows (the memory in use)."""
        with self._lock:
            self._flush()
            return sum(len(s.sketch.buckets) for s in self._ring if s is not None)

    def snapshot(self) -> LatencySnapshot:
        sketch, calls, errors = self._merged()

        def ms(q: float) -> float | None:
            value = sketch.quantile(q)
            return None if value is None else value * 1000.0

        return LatencySnapshot(
            p50_ms=ms(0.50), p95_ms=ms(0.95), p99_ms=ms(0.99),
            calls=calls, errors=errors, error_rate=errors / calls if calls else 0.0,
        )
