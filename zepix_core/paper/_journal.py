"""The paper broker's book written to the plugin's database: signals, entries, exits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
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

    def start(self, now: float) -> None:
        """Close what a previous session left open: paper positions do not survive it."""
        self._open.clear()
        self._write(lambda: [self.db.close_trade(t.id, t.entry_price, ts=now, reason=DROPPED,
                                                 pnl=0.0) for t in self.db.open_trades()])

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
            self._open[position.symbol] = trade.id
        self._write(write)

    def closed(self, trade: Trade) -> None:
        trade_id = self._open.pop(trade.position.symbol, None)
        if trade_id is not None:
            self._write(lambda: self.db.close_trade(trade_id, trade.exit, ts=trade.closed_at,
                                                    reason=trade.reason, pnl=trade.pnl))

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
