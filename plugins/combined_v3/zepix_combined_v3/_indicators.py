"""Incremental indicators: each takes one new value per bar and keeps O(1) state."""

from __future__ import annotations

from zepix_core import Bar


class Ema:
    """Exponential moving average, seeded with the simple average of the first ``period`` values."""

    def __init__(self, period: int) -> None:
        self.period = period
        self._alpha = 2.0 / (period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is not None:
            self.value += self._alpha * (x - self.value)
        else:
            self._seed.append(x)
            if len(self._seed) == self.period:
                self.value = sum(self._seed) / self.period
        return self.value


class _Wilder:
    """Wilder's smoothing: a simple average of the first ``period`` inputs, then
    ``avg += (x - avg) / period``."""

    def __init__(self, period: int) -> None:
        self.period = period
        self._count = 0
        self.value = 0.0

    @property
    def ready(self) -> bool:
        return self._count >= self.period

    def update(self, x: float) -> float:
        self._count += 1
        n = min(self._count, self.period)
        self.value += (x - self.value) / n
        return self.value


class Rsi:
    """Wilder's relative strength index over closes; ``None`` until ``period`` changes are seen."""

    def __init__(self, period: int = 14) -> None:
        self._gain = _Wilder(period)
        self._loss = _Wilder(period)
        self._previous: float | None = None

    def update(self, close: float) -> float | None:
        previous, self._previous = self._previous, close
        if previous is None:
            return None
        change = close - previous
        gain = self._gain.update(max(change, 0.0))
        loss = self._loss.update(max(-change, 0.0))
        if not self._gain.ready:
            return None
        if loss == 0.0:
            return 100.0 if gain > 0.0 else 50.0
        return 100.0 - 100.0 / (1.0 + gain / loss)


class Atr:
    """Wilder's average true range; ``None`` until ``period`` bars are seen."""

    def __init__(self, period: int = 14) -> None:
        self._range = _Wilder(period)
        self._previous_close: float | None = None

    def update(self, bar: Bar) -> float | None:
        prev = self._previous_close
        self._previous_close = bar.close
        true_range = bar.high - bar.low
        if prev is not None:
            true_range = max(true_range, abs(bar.high - prev), abs(bar.low - prev))
        value = self._range.update(true_range)
        return value if self._range.ready else None
