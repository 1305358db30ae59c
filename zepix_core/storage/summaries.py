"""Queries on the daily summaries sent (Telegram ``[telegram] daily_summary``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from zepix_core.storage.db import Database, Row


class SummaryQueries(Database):
    def summary_sent(self, due: float) -> Row | None:
        """The summary of the day that ended at ``due`` (epoch seconds), if it was sent."""
        rows = self.query("SELECT * FROM daily_summaries WHERE due = ?", (due,))
        return rows[0] if rows else None

    def record_summary(self, due: float, now: float, chats: Sequence[int], text: str) -> bool:
        """Note the summary for ``due`` as sent; False when it was already."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO daily_summaries (due, sent_at, chats, "
                               "text) VALUES (?, ?, ?, ?)",
                               (due, now, json.dumps(list(chats)), text))
            return cur.rowcount == 1

    def summaries(self, limit: int = 30) -> list[Row]:
        """The summaries sent, newest first."""
        return self.query("SELECT * FROM daily_summaries ORDER BY due DESC LIMIT ?", (limit,))

    def alerts_fired(self, start: float, end: float) -> list[Row]:
        """Alerts that first fired within ``[start, end)``, oldest first."""
        return self.query("SELECT plugin_id, kind, level, message, fired_at FROM alerts "
                          "WHERE fired_at >= ? AND fired_at < ? ORDER BY fired_at, id",
                          (start, end))

    def activations_between(self, start: float, end: float) -> list[Row]:
        """Activations within ``[start, end)``, oldest first, each with ``previous``: the
        version of the plugin's activation before it (None for its first)."""
        return self.query(
            "SELECT a.plugin_id, a.version, a.activated_at, a.activation_reason, "
            "(SELECT b.version FROM activations b WHERE b.plugin_id = a.plugin_id AND "
            "(b.activated_at < a.activated_at OR (b.activated_at = a.activated_at AND "
            "b.id < a.id)) ORDER BY b.activated_at DESC, b.id DESC LIMIT 1) AS previous "
            "FROM activations a WHERE a.activated_at >= ? AND a.activated_at < ? "
            "ORDER BY a.activated_at, a.id", (start, end))
