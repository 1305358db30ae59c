"""One plugin's book in a backtest (cash, positions, equity curve, round trips) and
the costs it trades under; the report and the picture read it, the engine
(``app.backtest``) keeps it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from zepix_core.contract.model import Fill, Intent
from zepix_core.trading.trips import Trips

__all__ = ["Book", "Costs"]


@dataclass(frozen=True)
class Costs:
    """``fee``: a share of each fill's notional (0.001 is 10 bp); ``slippage``: a share
    of the price paid against the order; ``capital``: each plugin's starting equity."""

    fee: float = 0.0
    slippage: float = 0.0
    capital: float = 10_000.0


@dataclass
class Book:
    """One plugin's cash, positions and equity curve, marked at every instant."""

    cash: float
    positions: dict[str, float] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    in_market: list[bool] = field(default_factory=list)
    #: (time, price, side) of every fill, for the picture's markers.
    marks: list[tuple[float, float, str]] = field(default_factory=list)
    trips: Trips = field(default_factory=lambda: Trips(""))
    #: Equity reached zero: what it held was sold at that close and it trades no more.
    ruined: bool = False
    #: Hook calls that raised, missed their deadline or answered something invalid.
    errors: int = 0
    first_error: str | None = None
    #: Whether some position is open: known from the fills, not asked at every mark.
    holding: bool = field(default=False, repr=False, compare=False)

    def fill(self, intent: Intent, fill: Fill) -> None:
        signed = fill.quantity if intent.side == "buy" else -fill.quantity
        self.cash -= signed * fill.price + fill.fee
        self.positions[intent.symbol] = self.positions.get(intent.symbol, 0.0) + signed
        self.holding = any(abs(q) > 1e-12 for q in self.positions.values())
        self.marks.append((fill.time, fill.price, intent.side))
        self.trips.fill(intent.symbol, signed, fill.price, fill.fee, fill.time)

    def mark(self, ts: float, closes: Mapping[str, float]) -> None:
        positions = self.positions
        if len(positions) == 1:  # ``sum`` of one term, without the generator
            [(symbol, quantity)] = positions.items()
            value = self.cash + (0 + quantity * closes.get(symbol, 0.0))
        else:
            value = self.cash + sum(q * closes.get(s, 0.0) for s, q in positions.items())
        self.times.append(ts)
        self.equity.append(value)
        self.in_market.append(self.holding)
        if value <= 0 and not self.ruined:
            self.ruined, self.cash, self.positions, self.holding = True, value, {}, False
