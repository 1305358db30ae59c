"""The V3 self test: the strategy run on fresh instances over fixed synthetic bars.

Nothing here touches the live plugin: every check builds its own probe, so
the test is idempotent and may run while the live instance trades.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from zepix_core import Bar
from zepix_core.paper import Check, accounting_check, self_test_report, synthetic_bars

from ._indicators import Atr, Ema, Rsi


class Probe(Protocol):
    def on_bar(self, bar: Bar) -> list[dict[str, Any]] | None: ...

    def get_metrics(self) -> dict[str, int | float]: ...


def zigzag(n: int, level: float = 100.0, swing: float = 0.003) -> list[float]:
    """A trendless series alternating ``swing`` above and below ``level``."""
    return [level * (1 + swing * (-1) ** i) for i in range(n)]


def trend(start: float, n: int, rate: float) -> list[float]:
    """``n`` closes compounding at ``rate`` per bar from ``start``."""
    return [start * (1 + rate) ** i for i in range(1, n + 1)]


def waves(n: int) -> list[float]:
    """Slow swings with a little fast noise: enough turns for several round trips."""
    return [
        100 * (1 + 0.06 * math.sin(2 * math.pi * i / 60) + 0.004 * math.sin(1.7 * i))
        for i in range(n)
    ]


def feed(probe: Probe, bars: Sequence[Bar]) -> list[dict[str, Any]]:
    intents: list[dict[str, Any]] = []
    for bar in bars:
        intents.extend(probe.on_bar(bar) or [])
    return intents


def check_indicators() -> Check:
    ema = Ema(3)
    values = [ema.update(x) for x in (1.0, 2.0, 3.0, 4.0)]
    rising, falling = Rsi(5), Rsi(5)
    up = [rising.update(float(x)) for x in range(10)][-1]
    down = [falling.update(float(-x)) for x in range(10)][-1]
    atr = Atr(3)
    last = [atr.update(b) for b in synthetic_bars([100.0] * 6, wick=0.01)][-1]
    results = {"ema": values == [None, None, 2.0, 3.0], "rsi": (up, down) == (100.0, 0.0)}
    results["atr"] = last is not None and math.isclose(last, 2.0)
    failed = [name for name, ok in results.items() if not ok]
    return Check("indicators", not failed, f"wrong: {failed}" if failed else "ema, rsi, atr exact")


def check_direction(make: Callable[[], Probe], side: str) -> Check:
    rate = 0.004 if side == "buy" else -0.004
    closes = zigzag(30) + trend(100.0, 30, rate)
    intents = feed(make(), synthetic_bars(closes, timeframe="5m", step=300.0))
    first = intents[0]["side"] if intents else None
    name = "uptrend_goes_long" if side == "buy" else "downtrend_goes_short"
    return Check(name, first == side, f"first intent side {first!r}, expected {side!r}")


def check_accounting(make: Callable[[], Probe]) -> Check:
    probe = make()
    intents = feed(probe, synthetic_bars(waves(600), timeframe="5m", step=300.0))
    return accounting_check(intents, probe.get_metrics())


def check_other_timeframes(make: Callable[[], Probe]) -> Check:
    probe = make()
    bars = synthetic_bars(zigzag(30) + trend(100.0, 30, 0.004), timeframe="1m")
    intents = feed(probe, bars)
    metrics = probe.get_metrics()
    ok = not intents and metrics["signals_processed"] == 0 and metrics["bars_received"] == len(bars)
    return Check("ignores_other_timeframes", ok, f"{len(bars)} 1m bars gave {len(intents)} intents")


def run_self_test(make: Callable[[], Probe]) -> dict[str, Any]:
    """Every check on its own fresh probe built by ``make``."""
    return self_test_report(
        [
            check_indicators(),
            check_direction(make, "buy"),
            check_direction(make, "sell"),
            check_accounting(make),
            check_other_timeframes(make),
        ]
    )
