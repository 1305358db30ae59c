"""Queries on the fills a bot reported, the signal accuracy the host judged and what
became of the bars it was fed (``host.bars``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zepix_core.contract.model import Fill, Intent
from zepix_core.storage.db import Database, Row

_FILL = ("INSERT INTO fills (host_id, plugin_id, intent_id, symbol, side, quantity, price, "
         "time, fee) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _fill_row(host_id: str, intent: Intent, fill: Fill) -> tuple[object, ...]:
    return (host_id, intent.plugin_id, fill.intent_id, intent.symbol, intent.side,
            fill.quantity, fill.price, fill.time, fill.fee)


class TradeQueries(Database):
    def record_fill(self, host_id: str, intent: Intent, fill: Fill) -> int:
        return self.execute(_FILL, _fill_row(host_id, intent, fill))

    def record_fills(self, fills: Sequence[tuple[str, Intent, Fill]]) -> None:
        """Several ``(host_id, intent, fill)`` in one transaction (a backtest's, at its end)."""
        with self.transaction() as conn:
            conn.executemany(_FILL, [_fill_row(*f) for f in fills])

    def fills(self) -> list[Row]:
        """Every recorded fill, oldest first."""
        return self.query("SELECT * FROM fills ORDER BY id")

    def save_accuracy(self, counts: Mapping[str, tuple[int, int]]) -> None:
        """Set each plugin's (hits, judged) totals."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO signal_accuracy (plugin_id, hits, judged) VALUES (?, ?, ?) "
                "ON CONFLICT(plugin_id) DO UPDATE SET hits = excluded.hits, "
                "judged = excluded.judged",
                [(pid, hits, judged) for pid, (hits, judged) in counts.items()])

    def accuracy_counts(self) -> dict[str, tuple[int, int]]:
        return {r["plugin_id"]: (int(r["hits"]), int(r["judged"]))
                for r in self.query("SELECT * FROM signal_accuracy")}

    def save_bar_counts(self, host_id: str, rows: Sequence[tuple[str, str, str, int]]) -> None:
        """Set ``host_id``'s bar totals: (plugin, kind, detail, bars) each."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO bar_counts (host_id, plugin_id, kind, detail, bars) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(host_id, plugin_id, kind, detail) "
                "DO UPDATE SET bars = excluded.bars",
                [(host_id, *row) for row in rows])

    def bar_counts(self, host_id: str) -> list[Row]:
        return self.query("SELECT plugin_id, kind, detail, bars FROM bar_counts "
                          "WHERE host_id = ? ORDER BY plugin_id, kind, detail", (host_id,))
