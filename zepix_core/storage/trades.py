"""Queries on the fills a bot reported and the signal accuracy the host judged."""

from __future__ import annotations

from collections.abc import Mapping

from zepix_core.contract.model import Fill, Intent
from zepix_core.storage.db import Database, Row


class TradeQueries(Database):
    def record_fill(self, host_id: str, intent: Intent, fill: Fill) -> int:
        return self.execute(
            "INSERT INTO fills (host_id, plugin_id, intent_id, symbol, side, quantity, price, "
            "time, fee) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (host_id, intent.plugin_id, fill.intent_id, intent.symbol, intent.side,
             fill.quantity, fill.price, fill.time, fill.fee))

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
