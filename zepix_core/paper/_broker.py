"""The paper fill model: entries at the signal bar's close, exits at stop, target or reversal."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from zepix_core.contract.model import Bar

Direction = Literal["long", "short"]
Side = Literal["buy", "sell"]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Fill:
    """One paper order, filled in full at ``price``."""

    symbol: str
    side: Side
    quantity: float
    price: float
    ts: float
    reason: str

    def intent(self) -> dict[str, object]:
        """The trade intent the host expects back from ``on_bar``."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "price": self.price,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Position:
    symbol: str
    direction: Direction
    quantity: float
    entry: float
    stop: float
    target: float
    opened_at: float

    def pnl(self, price: float) -> float:
        """Profit of closing the position at ``price``."""
        sign = 1.0 if self.direction == "long" else -1.0
        return sign * (price - self.entry) * self.quantity


@dataclass(frozen=True)
class Trade:
    """A closed position."""

    position: Position
    exit: float
    closed_at: float
    reason: str

    @property
    def pnl(self) -> float:
        return self.position.pnl(self.exit)


class Book(Protocol):
    """Where a broker reports what it does (``_journal.Journal``: the plugin database)."""

    def signal(self, symbol: str, kind: str, side: str, price: float, ts: float,
               reason: str) -> None: ...

    def opened(self, position: Position, reason: str) -> None: ...

    def closed(self, trade: Trade) -> None: ...

    def close(self) -> None: ...


class PaperBroker:
    """Positions (at most one per symbol), fills and realised P&L.

    Entries are sized so that reaching the stop loses ``risk_per_trade`` of
    the current equity (starting equity plus realised P&L). Counters cover
    every trade; ``trades`` keeps only the most recent ``history`` of them.
    """

    def __init__(
        self, equity: float = 10_000.0, risk_per_trade: float = 0.01, history: int = 500
    ) -> None:
        self.starting_equity = equity
        self.risk_per_trade = risk_per_trade
        self._positions: dict[str, Position] = {}
        self._trades: deque[Trade] = deque(maxlen=history)
        self.orders_placed = 0
        self.entries_refused = 0
        self.closed_trades = 0
        self.wins = 0
        self.losses = 0
        self.realized_pnl = 0.0
        #: Told of every signal, entry and exit when set (the plugin's database).
        self.book: Book | None = None

    @property
    def trades(self) -> Sequence[Trade]:
        return tuple(self._trades)

    @property
    def positions(self) -> Sequence[Position]:
        return tuple(self._positions.values())

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    @property
    def equity(self) -> float:
        return self.starting_equity + self.realized_pnl

    def enter(
        self,
        symbol: str,
        direction: Direction,
        *,
        price: float,
        stop: float,
        target: float,
        ts: float,
        reason: str,
    ) -> list[Fill]:
        """Open a position at ``price``; reverse an opposite one first.

        Returns the fills (none when a position in ``direction`` is already
        open). An entry is refused, and counted in ``entries_refused``, when
        the equity left gives no positive size. Raises ``ValueError`` when the stop and target are not on the
        losing and winning sides of ``price``.
        """
        sign = 1.0 if direction == "long" else -1.0
        if not (sign * (price - stop) > 0 and sign * (target - price) > 0):
            raise ValueError(
                f"{direction} {symbol} at {price}: stop {stop} and target {target} "
                "must lie on either side of the entry"
            )
        held = self._positions.get(symbol)
        if held is not None and held.direction == direction:
            return []
        if self.book is not None:
            self.book.signal(symbol, f"entry_{direction}", "buy" if direction == "long" else
                             "sell", price, ts, reason)
        fills = [] if held is None else [self._close(held, price, ts, f"reverse: {reason}")]
        quantity = self.equity * self.risk_per_trade / abs(price - stop)
        if not (math.isfinite(quantity) and quantity > 0):
            self.entries_refused += 1
            return fills
        self._positions[symbol] = Position(symbol, direction, quantity, price, stop, target, ts)
        if self.book is not None:
            self.book.opened(self._positions[symbol], reason)
        fills.append(
            self._fill(
                symbol, "buy" if direction == "long" else "sell", quantity, price, ts, reason
            )
        )
        return fills

    def check_exits(self, bar: Bar) -> list[Fill]:
        """Close the position in ``bar.symbol`` if the bar reached its stop or target."""
        held = self._positions.get(bar.symbol)
        if held is None:
            return []
        long = held.direction == "long"
        stop_hit = bar.low <= held.stop if long else bar.high >= held.stop
        target_hit = bar.high >= held.target if long else bar.low <= held.target
        if stop_hit:
            gapped = bar.open < held.stop if long else bar.open > held.stop
            return [self._close(held, bar.open if gapped else held.stop, bar.ts, "stop-loss")]
        if target_hit:
            gapped = bar.open > held.target if long else bar.open < held.target
            return [self._close(held, bar.open if gapped else held.target, bar.ts, "take-profit")]
        return []

    def close(self, symbol: str, price: float, ts: float, reason: str) -> Fill | None:
        """Close the position in ``symbol`` at ``price``; ``None`` when flat."""
        held = self._positions.get(symbol)
        return None if held is None else self._close(held, price, ts, reason)

    def _close(self, held: Position, price: float, ts: float, reason: str) -> Fill:
        del self._positions[held.symbol]
        trade = Trade(held, price, ts, reason)
        self._trades.append(trade)
        self.closed_trades += 1
        self.realized_pnl += trade.pnl
        self.wins += int(trade.pnl > 0)
        self.losses += int(trade.pnl < 0)
        if self.book is not None:
            self.book.closed(trade)
        side: Side = "sell" if held.direction == "long" else "buy"
        return self._fill(held.symbol, side, held.quantity, price, ts, reason)

    def _fill(self, symbol: str, side: Side, qty: float, price: float, ts: float, why: str) -> Fill:
        self.orders_placed += 1
        return Fill(symbol, side, qty, price, ts, why)
