"""Risk limits: a plugin's realised P&L today and its drawdown from peak equity, against
``[risk]`` (defaults for every plugin) and ``[plugins.ID.risk]`` (one plugin's overrides).

Pure logic over realised P&L events ``(time, pnl)``: bot fills booked by the host
(``report_fill``) and paper trades the plugin closed in its database. The host's
``RiskWatch`` (``zepix_core.host.risk``) feeds it and acts on a breach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from zepix_core.loading.riskconfig import RiskLimits

#: Points of an equity curve the dashboard draws (a sparkline 140 px wide).
CURVE_POINTS = 60


@dataclass(frozen=True)
class RiskFigures:
    today_pnl: float       # realised within the UTC day of ``now``
    total_pnl: float
    equity: float          # starting equity plus every realised P&L
    peak_equity: float
    drawdown_pct: float    # below the peak now, in %


@dataclass
class PnlEvents:
    """One plugin's realised P&L events; order of arrival does not matter."""

    events: list[tuple[float, float]] = field(default_factory=list)

    def add(self, ts: float, pnl: float) -> None:
        if math.isfinite(ts) and math.isfinite(pnl):
            self.events.append((ts, pnl))

    def figures(self, now: float, starting_equity: float) -> RiskFigures:
        day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0,
                                                       microsecond=0).timestamp()
        equity = peak = starting_equity
        today = 0.0
        for ts, pnl in sorted(self.events):
            equity += pnl
            peak = max(peak, equity)
            if ts >= day:
                today += pnl
        drawdown = (peak - equity) / peak * 100.0 if peak > 0 else 100.0
        return RiskFigures(today, equity - starting_equity, equity, peak, max(0.0, drawdown))

    def curve(self, points: int = CURVE_POINTS) -> list[tuple[float, float]]:
        """Realised P&L over time: ``(time, cumulative P&L)`` at each distinct event time,
        oldest first, thinned to at most ``points`` evenly spaced ones (the first and the
        last always kept, so the curve ends at the total)."""
        totals: dict[float, float] = {}
        for ts, pnl in self.events:
            totals[ts] = totals.get(ts, 0.0) + pnl
        running, full = 0.0, []
        for ts in sorted(totals):
            running += totals[ts]
            full.append((ts, running))
        if len(full) <= points:
            return full
        step = (len(full) - 1) / (points - 1)
        return [full[round(i * step)] for i in range(points)]


def breach(limits: RiskLimits, figures: RiskFigures) -> str | None:
    """What is over a limit, with the figure and the limit; None when nothing is."""
    found = []
    if limits.daily_loss_limit > 0 and -figures.today_pnl >= limits.daily_loss_limit:
        found.append(f"daily loss {-figures.today_pnl:.2f} reached the limit "
                     f"{limits.daily_loss_limit:.2f}")
    if limits.max_drawdown_pct > 0 and figures.drawdown_pct >= limits.max_drawdown_pct:
        found.append(f"drawdown {figures.drawdown_pct:.2f}% from peak equity "
                     f"{figures.peak_equity:.2f} reached the limit {limits.max_drawdown_pct:g}%")
    return "; ".join(found) or None


__all__ = ["PnlEvents", "RiskFigures", "RiskLimits", "breach"]
