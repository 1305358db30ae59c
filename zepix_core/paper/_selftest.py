"""Helpers for strategy self tests: named checks, accounting reconciliation, synthetic bars."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from zepix_core.contract.model import Bar


@dataclass(frozen=True)
class Check:
    """One named self-test check."""

    name: str
    passed: bool
    detail: str


def self_test_report(checks: Sequence[Check]) -> dict[str, object]:
    """The ``self_test`` answer: passed only when every check passed."""
    return {
        "passed": all(check.passed for check in checks),
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks],
    }


def round_trips(intents: Iterable[Mapping[str, object]]) -> list[float]:
    """P&L of every completed round trip in a sequence of intents, in order.

    Rebuilds positions from the intents alone (per symbol, one fill opens a
    position and the next closes it), so a self test can hold a broker's
    counts against what the strategy actually handed the host.
    """
    held: dict[str, Mapping[str, object]] = {}
    pnls: list[float] = []
    for intent in intents:
        symbol = str(intent["symbol"])
        opening = held.pop(symbol, None)
        if opening is None:
            held[symbol] = intent
            continue
        sign = 1.0 if opening["side"] == "buy" else -1.0
        pnls.append(sign * (_number(intent["price"]) - _number(opening["price"]))
                    * _number(opening["quantity"]))
    return pnls


def accounting_check(intents: Sequence[Mapping[str, object]], metrics: Mapping[str, float]) -> Check:
    """Check ``metrics`` against round trips rebuilt from ``intents``; needs at least one trip."""
    trips = round_trips(intents)
    expected = {
        "orders_placed": len(intents),
        "closed_trades": len(trips),
        "wins": sum(1 for pnl in trips if pnl > 0),
        "losses": sum(1 for pnl in trips if pnl < 0),
    }
    wrong = [f"{k} {metrics.get(k)} != {v}" for k, v in expected.items() if metrics.get(k) != v]
    if not math.isclose(sum(trips), metrics.get("realized_pnl", math.nan), abs_tol=1e-6):
        wrong.append(f"realized_pnl {metrics.get('realized_pnl')} != {sum(trips)}")
    if any(i["side"] not in ("buy", "sell") or not _number(i["quantity"]) > 0 for i in intents):
        wrong.append("an intent has a bad side or a non-positive quantity")
    if not trips:
        wrong.append("no round trip to reconcile")
    detail = "; ".join(wrong) or f"{len(intents)} orders and {len(trips)} round trips reconcile"
    return Check("accounting", not wrong, detail)


def _number(value: object) -> float:
    """An intent's figure (a plugin's reply, checked at the boundary); NaN if not a number."""
    return float(value) if isinstance(value, int | float) else math.nan


def synthetic_bars(
    closes: Sequence[float],
    *,
    symbol: str = "TEST",
    timeframe: str = "1m",
    start: float = 0.0,
    step: float = 60.0,
    wick: float = 0.001,
) -> list[Bar]:
    """Bars that open at the previous close and reach ``wick`` (a fraction) beyond their body.

    For self tests and unit tests: a deterministic series shaped by its closes.
    """
    bars: list[Bar] = []
    previous = closes[0] if closes else 0.0
    for i, close in enumerate(closes, start=1):
        high = max(previous, close) * (1 + wick)
        low = min(previous, close) * (1 - wick)
        bars.append(Bar(symbol, timeframe, start + i * step, previous, high, low, close, 1.0))
        previous = close
    return bars
