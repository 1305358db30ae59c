"""The figures of a backtest: one plugin's book, the host's ledger, the timeframes seen.

Percent figures are stated twice: as fractions under the older names
(``total_return``, ``max_drawdown``...) and in percent under contract section
19's names (``total_return_pct``...). Sharpe and Sortino come from the daily
returns of the whole equity curve (``metrics.risk``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from zepix_core.host.host import Host
from zepix_core.trading import metrics

if TYPE_CHECKING:
    from zepix_core.app.book import Book


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100.0


def curve(times: Sequence[float], equity: Sequence[float]) -> dict[str, object]:
    """The figures of an equity curve alone (a plugin's or the benchmark's)."""
    total = metrics.total_return(equity)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    annual = metrics.annualised(total, span)
    risk = metrics.risk(metrics.daily_returns(times, equity), metrics.trading_days(times))
    drawdown = metrics.max_drawdown(equity)
    return {
        "start_equity": equity[0] if equity else None,
        "end_equity": equity[-1] if equity else None,
        "total_return": total, "annualised_return": annual, "max_drawdown": drawdown,
        "total_return_pct": _pct(total), "annual_return_pct": _pct(annual),
        "max_drawdown_pct": _pct(drawdown),
        "sharpe": risk.sharpe, "sortino": risk.sortino,
        "volatility_pct": _pct(risk.volatility),
    }


def figures(book: Book, host: Host, plugin_id: str) -> dict[str, object]:
    """The report of one plugin: its book's curve and trips, the host's ledger and
    accuracy, the settings it ran with."""
    ledger = host.trades.ledgers.get(plugin_id)
    accuracy = host.trades.accuracy.summary(plugin_id)
    trips = book.trips.closed
    pnls = [t.pnl for t in trips]
    durations = [t.seconds for t in trips if t.seconds is not None]
    slot = host.slots.get(plugin_id)
    exposure = metrics.exposure(book.in_market)
    return {
        "plugin_id": plugin_id,
        "params": dict(slot.values) if slot is not None else {},
        "trades": len(trips),
        "fills": ledger.fills if ledger else 0,
        "win_rate": (sum(1 for p in pnls if p > 0) / len(pnls)) if pnls else None,
        **curve(book.times, book.equity),
        "profit_factor": metrics.profit_factor(pnls),
        "expectancy": metrics.expectancy(pnls),
        "exposure": exposure, "exposure_pct": _pct(exposure),
        "avg_trade_seconds": sum(durations) / len(durations) if durations else None,
        "max_trade_seconds": max(durations, default=None),
        "signal_accuracy": accuracy["signal_accuracy"],
        "accuracy_samples": accuracy["accuracy_samples"],
        "fees": ledger.fees if ledger else 0.0,
        "errors": book.errors, "first_error": book.first_error, "ruined": book.ruined,
    }


def traded_timeframes(host: Host, plugin_id: str) -> set[str]:
    """The timeframes a plugin says it trades: ``timeframe:X`` features of its meta and
    the values of its declared settings named ``timeframe`` or ``timeframes``."""
    slot = host.slots.get(plugin_id)
    if slot is None:
        return set()
    found = {f.partition(":")[2] for f in (slot.meta.features if slot.meta else ())
             if f.startswith("timeframe:")}
    for key in ("timeframe", "timeframes"):
        value = slot.values.get(key)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return {f for f in found if f}


def missing_timeframes(host: Host, plugin_id: str, seen: Iterable[str]) -> str | None:
    """A warning when a plugin trades timeframes of which the run gave it no bar."""
    wanted, given = traded_timeframes(host, plugin_id), set(seen)
    if not wanted or wanted & given:
        return None
    return (f"{plugin_id} trades {', '.join(sorted(wanted))} bars but the source gave only "
            f"{', '.join(sorted(given)) or 'none'}: it could not trade (a csv of 1m bars "
            "is aggregated to 5m, 15m and 1h; other timeframes need their own rows)")
