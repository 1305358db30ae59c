"""Combined logic V3: an EMA trend on 5m bars, confirmed by RSI momentum.

Per symbol, the strategy's stance is *long* when the fast EMA is above the
slow one and RSI is at or above ``LONG_RSI``, *short* when the fast EMA is
below and RSI at or below ``SHORT_RSI``, and *flat* otherwise. A change of
stance into long or short is a signal: the paper broker enters at the bar's
close (reversing an opposite position) with a stop ``STOP_ATR`` and a target
``TARGET_ATR`` average true ranges away. A trend flip that momentum does not
confirm is counted as a momentum rejection and not traded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from zepix_core import Bar, VersionInfo, hookimpl
from zepix_core.paper import Clock, Fill, PaperStrategy

from ._indicators import Atr, Ema, Rsi
from ._selftest import run_self_test
from ._version import __version__

TIMEFRAME = "5m"
FAST, SLOW, RSI_PERIOD, ATR_PERIOD = 9, 21, 14, 14
LONG_RSI, SHORT_RSI = 55.0, 45.0
STOP_ATR, TARGET_ATR = 1.5, 3.0
FEATURES = ["on_bar", "paper_fills", "trend:ema", "momentum:rsi", f"timeframe:{TIMEFRAME}"]

Stance = Literal["long", "short", "flat"]


@dataclass(frozen=True)
class Reading:
    fast: float
    slow: float
    rsi: float
    atr: float

    @property
    def trend(self) -> int:
        return (self.fast > self.slow) - (self.fast < self.slow)

    @property
    def stance(self) -> Stance:
        if self.trend > 0 and self.rsi >= LONG_RSI:
            return "long"
        if self.trend < 0 and self.rsi <= SHORT_RSI:
            return "short"
        return "flat"


class _Tracker:
    """The indicators of one symbol and the stance they gave on the previous bar."""

    def __init__(self) -> None:
        self._fast, self._slow = Ema(FAST), Ema(SLOW)
        self._rsi, self._atr = Rsi(RSI_PERIOD), Atr(ATR_PERIOD)
        self.trend = 0
        self.stance: Stance = "flat"

    def read(self, bar: Bar) -> Reading | None:
        fast, slow = self._fast.update(bar.close), self._slow.update(bar.close)
        rsi, atr = self._rsi.update(bar.close), self._atr.update(bar)
        if fast is None or slow is None or rsi is None or atr is None:
            return None
        return Reading(fast, slow, rsi, atr)


class CombinedV3(PaperStrategy):
    """The ``combined_v3`` plugin: trend plus momentum on 5m bars, paper-filled."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        super().__init__("combined_v3", TIMEFRAME, clock=clock)

    def reset(self) -> None:
        self._trackers: dict[str, _Tracker] = {}
        self._signals = {"long_signals": 0, "short_signals": 0, "momentum_rejections": 0}

    def strategy_metrics(self) -> dict[str, int | float]:
        return dict(self._signals)

    @hookimpl
    def plugin_version(self) -> VersionInfo:
        return {
            "version": __version__,
            "requires_api": ">=1.0,<2",
            "requires_db_schema": ">=1.0,<2",
            "features": list(FEATURES),
            "author": "Zepix maintainers",
        }

    @hookimpl
    def self_test(self) -> dict[str, Any]:
        return run_self_test(lambda: CombinedV3(clock=lambda: 0.0))

    def evaluate(self, bar: Bar) -> list[Fill]:
        tracker = self._trackers.setdefault(bar.symbol, _Tracker())
        reading = tracker.read(bar)
        if reading is None:
            return []
        flipped = reading.trend not in (0, tracker.trend)
        previous = tracker.stance
        tracker.trend, tracker.stance = reading.trend, reading.stance
        if reading.stance == "flat":
            self._signals["momentum_rejections"] += int(flipped)
            return []
        if reading.stance == previous or reading.atr <= 0.0:
            return []
        self._signals[f"{reading.stance}_signals"] += 1
        sign = 1.0 if reading.stance == "long" else -1.0
        return self.session.broker.enter(
            bar.symbol,
            reading.stance,
            price=bar.close,
            stop=bar.close - sign * STOP_ATR * reading.atr,
            target=bar.close + sign * TARGET_ATR * reading.atr,
            ts=bar.ts,
            reason=f"{reading.stance}: ema{FAST}/{SLOW} trend, rsi {reading.rsi:.1f}",
        )
