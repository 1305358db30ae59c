"""Price-action setups as pure functions of a few closed bars.

Each detector returns a ``Setup`` naming the pattern, its direction and the
extreme a protective stop goes beyond, or ``None``. Reversal setups (pin bar,
engulfing) only count at a swing level, which ``at_swing_level`` decides;
the inside-bar breakout is a continuation and needs no level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zepix_core import Bar
from zepix_core.paper import Direction


@dataclass(frozen=True)
class Setup:
    kind: str
    direction: Direction
    extreme: float
    reversal: bool


def pin_bar(bar: Bar, wick_ratio: float) -> Setup | None:
    """A bar that rejected one side: a long wick (``wick_ratio`` bodies, 60% of
    the range) on that side and a short one (at most 25%) on the other."""
    span = bar.high - bar.low
    if span <= 0:
        return None
    body = max(abs(bar.close - bar.open), 0.05 * span)
    lower = min(bar.open, bar.close) - bar.low
    upper = bar.high - max(bar.open, bar.close)
    if lower >= wick_ratio * body and lower >= 0.6 * span and upper <= 0.25 * span:
        return Setup("pin_bar", "long", bar.low, reversal=True)
    if upper >= wick_ratio * body and upper >= 0.6 * span and lower <= 0.25 * span:
        return Setup("pin_bar", "short", bar.high, reversal=True)
    return None


def engulfing(prev: Bar, bar: Bar) -> Setup | None:
    """A bar whose body covers the previous, opposite-coloured body entirely."""
    prev_body, body = prev.close - prev.open, bar.close - bar.open
    covers = max(bar.open, bar.close) >= max(prev.open, prev.close) and min(
        bar.open, bar.close
    ) <= min(prev.open, prev.close)
    if not covers or abs(body) <= abs(prev_body):
        return None
    if prev_body < 0 < body:
        return Setup("engulfing", "long", min(prev.low, bar.low), reversal=True)
    if body < 0 < prev_body:
        return Setup("engulfing", "short", max(prev.high, bar.high), reversal=True)
    return None


def inside_breakout(mother: Bar, inside: Bar, bar: Bar) -> Setup | None:
    """A bar closing beyond the range of a mother bar that held the bar after it."""
    if not (inside.high < mother.high and inside.low > mother.low):
        return None
    if bar.close > mother.high:
        return Setup("inside_breakout", "long", inside.low, reversal=False)
    if bar.close < mother.low:
        return Setup("inside_breakout", "short", inside.high, reversal=False)
    return None


def detect(history: Sequence[Bar], bar: Bar, wick_ratio: float) -> Setup | None:
    """The first setup ``bar`` completes after ``history`` (two bars at least),
    engulfing before pin bar before inside-bar breakout."""
    return (
        engulfing(history[-1], bar)
        or pin_bar(bar, wick_ratio)
        or inside_breakout(history[-2], history[-1], bar)
    )


def at_swing_level(setup: Setup, window: Sequence[Bar], zone: float) -> bool:
    """Whether a reversal setup's extreme lies within ``zone`` (a fraction of the
    window's high-low span) of the swing low (long) or swing high (short)."""
    high = max(b.high for b in window)
    low = min(b.low for b in window)
    reach = zone * (high - low)
    if setup.direction == "long":
        return setup.extreme <= low + reach
    return setup.extreme >= high - reach
