"""The V6 self test: detectors on textbook bars, then fresh plugins on fixed series.

Every check that runs the strategy builds its own probe, so the live plugin
is never touched and repeated runs give the same report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from zepix_core import Bar
from zepix_core.paper import Check, accounting_check, self_test_report, synthetic_bars

from ._patterns import Setup, engulfing, inside_breakout, pin_bar
from ._profiles import Profile


class Probe(Protocol):
    def on_bar(self, bar: Bar) -> list[dict[str, Any]] | None: ...

    def get_metrics(self) -> dict[str, int | float]: ...


def ohlc(o: float, h: float, low: float, c: float, ts: float = 0.0, tf: str = "1m") -> Bar:
    return Bar("TEST", tf, ts, o, h, low, c, 1.0)


def ramp(start: float, end: float, n: int) -> list[float]:
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def choppy(n: int) -> list[float]:
    """Swings of several sizes, so engulfing bars and pins form at swing levels."""
    return [
        100
        * (
            1
            + 0.05 * math.sin(2 * math.pi * i / 50)
            + 0.01 * math.sin(2.3 * i)
            + 0.006 * math.sin(5.1 * i)
        )
        for i in range(n)
    ]


def feed(probe: Probe, bars: Sequence[Bar]) -> list[dict[str, Any]]:
    return [intent for bar in bars for intent in probe.on_bar(bar) or []]


def _found(setup: Setup | None) -> tuple[str, str] | None:
    return None if setup is None else (setup.kind, setup.direction)


def check_patterns(profile: Profile) -> Check:
    wick = profile.wick_ratio
    cases = {
        "hammer": (_found(pin_bar(ohlc(100, 100.3, 97, 100.2), wick)), ("pin_bar", "long")),
        "shooting star": (_found(pin_bar(ohlc(100, 103, 99.9, 99.9), wick)), ("pin_bar", "short")),
        "bullish engulfing": (
            _found(engulfing(ohlc(100, 100.1, 98.9, 99), ohlc(98.9, 100.6, 98.8, 100.5))),
            ("engulfing", "long"),
        ),
        "bearish engulfing": (
            _found(engulfing(ohlc(99, 100.1, 98.9, 100), ohlc(100.1, 100.2, 98.4, 98.5))),
            ("engulfing", "short"),
        ),
        "inside breakout": (
            _found(
                inside_breakout(
                    ohlc(100, 104, 96, 101), ohlc(101, 102, 99, 100), ohlc(100, 105, 99.5, 104.5)
                )
            ),
            ("inside_breakout", "long"),
        ),
        "plain bar": (_found(pin_bar(ohlc(100, 101.2, 99.8, 101), wick)), None),
    }
    wrong = [name for name, (got, want) in cases.items() if got != want]
    return Check(
        "patterns",
        not wrong,
        f"misread: {wrong}" if wrong else f"{len(cases)} textbook bars read right",
    )


def check_support(profile: Profile, make: Callable[[], Probe]) -> Check:
    closes = ramp(110.0, 100.0, profile.swing_lookback + 5) + [99.5, 100.5]
    intents = feed(make(), synthetic_bars(closes, timeframe=profile.timeframe))
    got = (intents[0]["side"], intents[0]["reason"]) if intents else None
    want = ("buy", f"long: engulfing on {profile.timeframe}")
    return Check(
        "engulfing_at_support_goes_long", got == want, f"first intent {got}, expected {want}"
    )


def check_resistance(profile: Profile, make: Callable[[], Probe]) -> Check:
    bars = synthetic_bars(
        ramp(100.0, 110.0, profile.swing_lookback + 5), timeframe=profile.timeframe
    )
    star = ohlc(110.0, 112.0, 109.9, 110.1, ts=bars[-1].ts + 60.0, tf=profile.timeframe)
    intents = feed(make(), [*bars, star])
    got = (intents[0]["side"], intents[0]["reason"]) if intents else None
    want = ("sell", f"short: pin_bar on {profile.timeframe}")
    return Check(
        "pin_bar_at_resistance_goes_short", got == want, f"first intent {got}, expected {want}"
    )


def check_accounting(profile: Profile, make: Callable[[], Probe]) -> Check:
    probe = make()
    intents = feed(probe, synthetic_bars(choppy(800), timeframe=profile.timeframe))
    return accounting_check(intents, probe.get_metrics())


def check_other_timeframes(profile: Profile, make: Callable[[], Probe]) -> Check:
    other = "1h" if profile.timeframe != "1h" else "1m"
    probe = make()
    intents = feed(probe, synthetic_bars(choppy(200), timeframe=other))
    evaluated = probe.get_metrics()["signals_processed"]
    ok = not intents and evaluated == 0
    return Check(
        "ignores_other_timeframes",
        ok,
        f"{other} bars: {len(intents)} intents, {evaluated} evaluated",
    )


def run_self_test(profile: Profile, make: Callable[[], Probe]) -> dict[str, Any]:
    """Every check for ``profile``, each strategy check on a fresh probe from ``make``."""
    return self_test_report(
        [
            check_patterns(profile),
            check_support(profile, make),
            check_resistance(profile, make),
            check_accounting(profile, make),
            check_other_timeframes(profile, make),
        ]
    )
