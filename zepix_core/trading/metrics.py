"""Performance figures of an equity curve: pure functions over lists of floats.

Returns are fractions (0.05 is 5 %); a figure that cannot be computed (too few
points, no variation) is None rather than a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

YEAR = 365.25 * 86400.0


def total_return(equity: Sequence[float]) -> float | None:
    """Last over first value, minus one."""
    if len(equity) < 2 or equity[0] <= 0:
        return None
    return equity[-1] / equity[0] - 1.0


def annualised(total: float | None, seconds: float) -> float | None:
    """``total`` earned over ``seconds``, compounded to one year."""
    if total is None or seconds <= 0 or total <= -1.0:
        return None
    try:
        return float((1.0 + total) ** (YEAR / seconds)) - 1.0
    except OverflowError:  # a large return over minutes does not compound to a number
        return None


def drawdowns(equity: Sequence[float]) -> list[float]:
    """At each point, how far below its running peak the curve is (0 or negative)."""
    peak = -math.inf
    out: list[float] = []
    for value in equity:
        peak = max(peak, value)
        out.append(value / peak - 1.0 if peak > 0 else 0.0)
    return out


def max_drawdown(equity: Sequence[float]) -> float:
    """The deepest fall from a peak, as a positive fraction (0.2 is 20 % down)."""
    return -min(drawdowns(equity), default=0.0)


def period_returns(equity: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in pairwise(equity) if a > 0]


def sharpe(returns: Sequence[float], periods_per_year: float) -> float | None:
    """Mean over sample standard deviation of per-period returns, scaled by
    sqrt(periods per year); risk-free rate zero. None without variation."""
    n = len(returns)
    if n < 2 or periods_per_year <= 0:
        return None
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(periods_per_year)


def exposure(in_market: Sequence[bool]) -> float | None:
    """The share of bars that ended with an open position."""
    return sum(in_market) / len(in_market) if in_market else None
