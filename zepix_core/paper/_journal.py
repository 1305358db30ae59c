"""The paper broker's book written to the plugin's database: signals, entries, exits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Fill as ReportedFill
from zepix_core.paper._broker import Position, Trade
from zepix_core.plugindb import PluginDatabase

log = logging.getLogger("zepix.paper")

#: Why trades left open by an earlier session are closed when a new one starts.
DROPPED = "paper session restarted; position dropped"


class Journal:
    """Records what a ``PaperBroker`` does in a ``PluginDatabase``.

    A database error never stops trading: it is counted through ``on_error``
    (the session's error counter) and logged, and the next write tries again.
    """

    def __init__(self, db: PluginDatabase, on_error: Callable[[str], None]) -> None:
        self.db = db
        self._on_error = on_error
        self._open: dict[str, int] = {}
        self._real_side: dict[str, str] = {}

    def start(self, now: float) -> None:
        """Close what a previous session left open: paper positions do not survive it.
        Trades of real fills (``source = bot``) stay open: the bot's positions do."""
        self._open.clear()
        self._real_side.clear()

        def write() -> None:
            for trade in self.db.open_trades():
                if trade.extra.get("source") == "bot":
                    self._open[f"bot:{trade.symbol}"] = trade.id
                    self._real_side[f"bot:{trade.symbol}"] = trade.side
                else:
                    self.db.close_trade(trade.id, trade.entry_price, ts=now, reason=DROPPED,
                                        pnl=0.0)
        self._write(write)

    def signal(self, symbol: str, kind: str, side: str, price: float, ts: float,
               reason: str) -> None:
        self._write(lambda: self.db.record_signal(symbol, kind, side=side, price=price, ts=ts,
                                                  detail={"reason": reason}))

    def opened(self, position: Position, reason: str) -> None:
        side = "buy" if position.direction == "long" else "sell"

        def write() -> None:
            trade = self.db.open_trade(position.symbol, side, position.quantity, position.entry,
                                       stop=position.stop, target=position.target,
                                       ts=position.opened_at, reason=reason)
            if trade.is_open:  # else a replay of a trade recorded (and closed) before
                self._open[position.symbol] = trade.id
        self._write(write)

    def closed(self, trade: Trade) -> None:
        trade_id = self._open.pop(trade.position.symbol, None)
        if trade_id is not None:
            self._write(lambda: self.db.close_trade(trade_id, trade.exit, ts=trade.closed_at,
                                                    reason=trade.reason, pnl=trade.pnl))

    def executed(self, fill: ReportedFill) -> None:
        """A fill the bot really executed: a signal ``fill``, and a trade of its own
        (marked ``source = bot``, ``ref`` the intent id) that a later fill on the
        other side of the same symbol closes, so the ledger holds real round trips
        beside the paper ones."""
        if fill.symbol is None or fill.side not in ("buy", "sell"):
            return

        def write() -> None:
            self.db.record_signal(fill.symbol or "", "fill", side=fill.side,
                                  price=fill.price, ts=fill.time,
                                  detail={"intent_id": fill.intent_id,
                                          "quantity": fill.quantity, "fee": fill.fee})
            key = f"bot:{fill.symbol}"
            open_id = self._open.get(key)
            if open_id is not None and self._real_side.get(key) != fill.side:
                self.db.close_trade(open_id, fill.price, ts=fill.time, fee=fill.fee,
                                    reason=f"bot fill of {fill.intent_id}")
                del self._open[key]
                return
            if open_id is None:
                trade = self.db.open_trade(fill.symbol or "", fill.side or "buy",
                                           fill.quantity, fill.price, ref=fill.intent_id,
                                           ts=fill.time, reason="bot fill",
                                           extra={"source": "bot", "fee": fill.fee})
                self._open[key], self._real_side[key] = trade.id, fill.side or ""
        self._write(write)

    def close(self) -> None:
        """Release the database's connections (deactivation); a later write reopens it."""
        self.db.close()

    def _write(self, work: Callable[[], object]) -> None:
        try:
            work()
        except (StorageError, ValueError) as exc:
            log.warning("paper journal write failed",
                        extra=fields(database=str(self.db.path), error=str(exc)))
            self._on_error(str(exc))
