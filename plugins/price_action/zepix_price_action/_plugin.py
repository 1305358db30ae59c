"""Price action V6: pin bars, engulfing bars and inside-bar breakouts at swing levels.

One implementation, four plugins: each subclass trades one timeframe with the
``Profile`` tuned for it. Per symbol the plugin keeps the last
``swing_lookback`` bars. A reversal setup (pin bar, engulfing) is traded only
when its extreme lies at the window's swing low (long) or swing high
(short); an inside-bar breakout is traded wherever it happens. The stop goes
a tenth of the window's mean bar range beyond the setup's extreme, the target
``reward`` times that risk beyond the entry (the bar's close).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, ClassVar

from zepix_core import Bar, VersionInfo, hookimpl
from zepix_core.paper import Clock, Fill, PaperStrategy

from ._patterns import Setup, at_swing_level, detect
from ._profiles import PROFILES, Profile
from ._selftest import run_self_test
from ._version import __version__

KINDS = ("engulfing", "pin_bar", "inside_breakout")


class PriceActionPlugin(PaperStrategy):
    """The shared implementation; the entry points are its per-timeframe subclasses."""

    profile: ClassVar[Profile]

    def __init__(self, *, clock: Clock = time.time) -> None:
        if not hasattr(type(self), "profile"):
            raise TypeError("use a per-timeframe subclass such as PriceAction5m")
        super().__init__(self.profile.plugin_id, self.profile.timeframe, clock=clock)

    def reset(self) -> None:
        self._history: dict[str, deque[Bar]] = {}
        self._setups = dict.fromkeys(
            [*(f"setups_{kind}" for kind in KINDS), "setups_out_of_context"], 0
        )

    def strategy_metrics(self) -> dict[str, int | float]:
        return dict(self._setups)

    @hookimpl
    def plugin_version(self) -> VersionInfo:
        features = ["on_bar", "paper_fills", "swing_context", *KINDS]
        features.append(f"timeframe:{self.profile.timeframe}")
        return {
            "version": __version__,
            "requires_api": ">=1.0,<2",
            "requires_db_schema": ">=1.0,<2",
            "features": features,
            "author": "Zepix maintainers",
        }

    @hookimpl
    def self_test(self) -> dict[str, Any]:
        return run_self_test(self.profile, lambda: type(self)(clock=lambda: 0.0))

    def evaluate(self, bar: Bar) -> list[Fill]:
        lookback = self.profile.swing_lookback
        window = self._history.setdefault(bar.symbol, deque(maxlen=lookback))
        setup = detect(window, bar, self.profile.wick_ratio) if len(window) == lookback else None
        fills = [] if setup is None else self._trade(setup, window, bar)
        window.append(bar)
        return fills

    def _trade(self, setup: Setup, window: deque[Bar], bar: Bar) -> list[Fill]:
        self._setups[f"setups_{setup.kind}"] += 1
        if setup.reversal and not at_swing_level(setup, window, self.profile.zone):
            self._setups["setups_out_of_context"] += 1
            return []
        buffer = 0.1 * sum(b.high - b.low for b in window) / len(window)
        sign = 1.0 if setup.direction == "long" else -1.0
        stop = setup.extreme - sign * buffer
        risk = sign * (bar.close - stop)
        if risk <= 0:
            return []
        return self.session.broker.enter(
            bar.symbol,
            setup.direction,
            price=bar.close,
            stop=stop,
            target=bar.close + sign * self.profile.reward * risk,
            ts=bar.ts,
            reason=f"{setup.direction}: {setup.kind} on {self.profile.timeframe}",
        )


class PriceAction1m(PriceActionPlugin):
    profile = PROFILES["1m"]


class PriceAction5m(PriceActionPlugin):
    profile = PROFILES["5m"]


class PriceAction15m(PriceActionPlugin):
    profile = PROFILES["15m"]


class PriceAction1h(PriceActionPlugin):
    profile = PROFILES["1h"]
