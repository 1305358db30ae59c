"""Performance figures of an equity curve: pure functions over lists of floats.

Returns are fractions (0.05 is 5 %); a figure that cannot be computed (too few
points, no variation) is None rather than a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    append = out.append
    for value in equity:
        if value > peak:  # noqa: PLR1730 - max() is a call per point of a whole curve
            peak = value
        append(value / peak - 1.0 if peak > 0 else 0.0)
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


DAY = 86400.0
#: Daily returns below which nothing is annualised: compounding a day or two to a
#: year gives figures in the millions that mean nothing.
MIN_DAYS = 7


def daily_returns(times: Sequence[float], equity: Sequence[float]) -> list[float]:
    """Returns between the last equity of each UTC day that has one (the whole curve,
    first day to last): the series Sharpe and Sortino are computed on. Empty once the
    curve is not positive (a return from zero or below means nothing)."""
    last: dict[int, float] = {}
    for ts, value in zip(times, equity, strict=True):
        last[int(ts // DAY)] = value
    closes = [last[d] for d in sorted(last)]
    if any(v <= 0 for v in closes):
        return []
    return [b / a - 1.0 for a, b in pairwise(closes)]


def trading_days(times: Sequence[float]) -> int:
    """Days in a year of this market: 365 when its bars fall on weekends (crypto),
    252 otherwise (an exchange's calendar)."""
    if not times:
        return 365
    # 1970-01-01 was a Thursday: weekday 5 and 6 (Saturday, Sunday) are days 2 and 3
    weekend = sum(1 for ts in times if int(ts // DAY) % 7 in (2, 3))
    return 365 if weekend / len(times) > 2 / 7 * 0.6 else 252


@dataclass(frozen=True)
class Risk:
    """Annualised figures of daily returns, compounded (as backtesting.py states them):
    the geometric mean daily return to the power of ``days``; volatility of compounded
    returns; Sharpe and Sortino against a risk-free rate of zero."""

    annual_return: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None


def risk(returns: Sequence[float], days: int) -> Risk:
    """``Risk`` of daily ``returns`` in a market of ``days`` trading days a year. None
    for a figure that needs more returns, variation or losses than there are."""
    n = len(returns)
    if n < MIN_DAYS or any(r <= -1.0 for r in returns):
        return Risk(None, None, None, None)
    gmean = math.exp(math.fsum(math.log1p(r) for r in returns) / n) - 1.0
    annual = (1.0 + gmean) ** days - 1.0
    mean = math.fsum(returns) / n
    var = math.fsum((r - mean) ** 2 for r in returns) / (n - 1)
    try:
        vol = math.sqrt(max(0.0, (var + (1.0 + gmean) ** 2) ** days
                            - (1.0 + gmean) ** (2 * days)))
    except OverflowError:
        vol = math.inf
    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / n) * math.sqrt(days)
    return Risk(annual, vol if vol > 0 else None,
                annual / vol if 0 < vol < math.inf else None,
                annual / downside if downside > 0 else None)


def profit_factor(pnls: Sequence[float]) -> float | None:
    """Gross profit over gross loss of closed trades; None without a losing trade."""
    loss = -math.fsum(p for p in pnls if p < 0)
    return math.fsum(p for p in pnls if p > 0) / loss if loss > 0 else None


def expectancy(pnls: Sequence[float]) -> float | None:
    """The mean P&L of a closed trade (fees included), in money."""
    return math.fsum(pnls) / len(pnls) if pnls else None
