"""Round trips of a backtest: from flat to flat (or a flip), as the ledger counts them.

A trip opens with the fill that takes a symbol's position away from zero and
closes with the fill that brings it back to zero or across it (the rest of a
flip opens the next trip). Entry and exit prices are the quantity-weighted
averages of the fills that added to and took from the position; ``pnl``
includes every fee of the trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The columns of ``--trades FILE.csv``, in order.
COLUMNS = ("plugin_id", "symbol", "side", "entry_time", "entry_price", "exit_time",
           "exit_price", "quantity", "pnl", "fees")


@dataclass
class Trip:
    """One round trip; ``side`` is ``long`` or ``short``."""

    plugin_id: str
    symbol: str
    side: str
    entry_time: float
    entry_price: float = 0.0
    exit_time: float | None = None
    exit_price: float = 0.0
    quantity: float = 0.0
    closed_qty: float = 0.0
    pnl: float = 0.0
    fees: float = 0.0

    @property
    def seconds(self) -> float | None:
        return None if self.exit_time is None else self.exit_time - self.entry_time


@dataclass
class Trips:
    """Builds one plugin's round trips from its fills, in fill order."""

    plugin_id: str
    closed: list[Trip] = field(default_factory=list)
    open: dict[str, tuple[float, Trip]] = field(default_factory=dict)

    def fill(self, symbol: str, signed: float, price: float, fee: float, ts: float) -> None:
        position, trip = self.open.get(symbol, (0.0, None))
        if trip is None or abs(position) < 1e-12:
            trip = Trip(self.plugin_id, symbol, "long" if signed > 0 else "short", ts)
            position = 0.0
        trip.fees += fee
        trip.pnl -= fee
        if position == 0.0 or (position > 0) == (signed > 0):
            trip.entry_price = ((trip.entry_price * trip.quantity + price * abs(signed))
                                / (trip.quantity + abs(signed)))
            trip.quantity += abs(signed)
            self.open[symbol] = (position + signed, trip)
            return
        closed = min(abs(signed), abs(position))
        direction = 1.0 if position > 0 else -1.0
        trip.pnl += closed * (price - trip.entry_price) * direction
        trip.exit_price = ((trip.exit_price * trip.closed_qty + price * closed)
                           / (trip.closed_qty + closed))
        trip.closed_qty += closed
        position -= direction * closed
        rest = signed + direction * closed
        if abs(position) >= 1e-12:
            self.open[symbol] = (position, trip)
            return
        trip.exit_time = ts
        self.closed.append(trip)
        del self.open[symbol]
        if abs(rest) >= 1e-12:
            self.fill(symbol, rest, price, 0.0, ts)

    def rows(self) -> list[list[object]]:
        return [[t.plugin_id, t.symbol, t.side, t.entry_time, t.entry_price, t.exit_time,
                 t.exit_price, t.quantity, t.pnl, t.fees] for t in self.closed]
