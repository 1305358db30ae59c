"""One plugin's book of real fills: positions with average cost, realised P&L, round trips."""

from __future__ import annotations

from dataclasses import dataclass, field

from zepix_core.contract.model import Fill, Intent


@dataclass
class Position:
    """A signed quantity (long > 0, short < 0) at an average cost per unit.

    ``trip_pnl`` is the realised P&L (fees included) of the round trip that
    is open now: it closes when the quantity returns to zero or flips side.
    """

    quantity: float = 0.0
    average_cost: float = 0.0
    trip_pnl: float = 0.0


@dataclass
class Ledger:
    """Positions and derived figures of one plugin, from the fills of its intents."""

    positions: dict[str, Position] = field(default_factory=dict)
    realised_pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0
    wins: int = 0
    losses: int = 0
    orders: set[str] = field(default_factory=set)
    first_fill: float | None = None
    last_fill: float | None = None

    def book(self, intent: Intent, fill: Fill) -> float:
        """Apply ``fill`` of ``intent``; returns the P&L it realised (fee included)."""
        signed = fill.quantity if intent.side == "buy" else -fill.quantity
        pos = self.positions.setdefault(intent.symbol, Position())
        realised = -fill.fee
        if pos.quantity and (pos.quantity > 0) != (signed > 0):  # reduces, closes or flips
            closed = min(abs(signed), abs(pos.quantity))
            direction = 1.0 if pos.quantity > 0 else -1.0
            realised += closed * (fill.price - pos.average_cost) * direction
            rest = signed + direction * closed  # what is left after closing
            pos.quantity -= direction * closed
            pos.trip_pnl += realised
            if abs(pos.quantity) < 1e-12:
                self._close_trip(pos)
            if rest:
                pos.quantity, pos.average_cost = rest, fill.price
        else:
            total = pos.quantity + signed
            pos.average_cost = ((pos.average_cost * abs(pos.quantity) + fill.price * abs(signed))
                                / abs(total))
            pos.quantity = total
            pos.trip_pnl += realised
        self.realised_pnl += realised
        self.fees += fill.fee
        self.fills += 1
        self.orders.add(fill.intent_id)
        self.first_fill = fill.time if self.first_fill is None else min(self.first_fill, fill.time)
        self.last_fill = fill.time if self.last_fill is None else max(self.last_fill, fill.time)
        return realised

    def _close_trip(self, pos: Position) -> None:
        if pos.trip_pnl > 0:
            self.wins += 1
        else:
            self.losses += 1
        pos.quantity, pos.average_cost, pos.trip_pnl = 0.0, 0.0, 0.0

    @property
    def win_rate(self) -> float | None:
        """Closed round trips that made money, over all closed round trips."""
        trips = self.wins + self.losses
        return self.wins / trips if trips else None

    @property
    def orders_per_hour(self) -> float | None:
        """Filled orders per hour of fill time: the orders after the first over the
        hours from first to last fill (one a minute is 60). None below two orders or
        when every fill has the same time."""
        if len(self.orders) < 2 or self.first_fill is None or self.last_fill is None:
            return None
        span = self.last_fill - self.first_fill
        return (len(self.orders) - 1) / (span / 3600.0) if span > 0 else None

    def summary(self) -> dict[str, object]:
        return {
            "fills": self.fills, "orders": len(self.orders),
            "realised_pnl": self.realised_pnl, "fees": self.fees,
            "round_trips": self.wins + self.losses, "wins": self.wins, "losses": self.losses,
            "win_rate": self.win_rate, "orders_per_hour": self.orders_per_hour,
            "positions": {sym: {"quantity": p.quantity, "average_cost": p.average_cost}
                          for sym, p in sorted(self.positions.items()) if p.quantity},
        }
