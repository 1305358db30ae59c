"""Queries on snapshots over time: one plugin's rows, and every plugin's status series."""

from __future__ import annotations

import json

from zepix_core.storage.db import Database, Row


class SeriesQueries(Database):
    def snapshots_since(self, plugin_id: str, since: float) -> list[Row]:
        """One plugin's snapshots taken at or after ``since``, oldest first, decoded."""
        rows = self.query("SELECT * FROM health_snapshots WHERE plugin_id = ? AND ts >= ? "
                          "ORDER BY ts, id", (plugin_id, since))
        return [{**json.loads(r.pop("data")), **r} for r in rows]

    def statuses_since(self, since: float) -> list[Row]:
        """``plugin_id``, ``ts``, ``status`` of every snapshot since ``since``, by plugin
        then time; the last snapshot before ``since`` of each plugin comes first, so a
        period that began earlier is seen from its start."""
        return self.query(
            "SELECT plugin_id, ts, status FROM health_snapshots WHERE ts >= ? "
            "UNION ALL SELECT s.plugin_id, s.ts, s.status FROM health_snapshots s JOIN "
            "(SELECT plugin_id, MAX(id) AS id FROM health_snapshots WHERE ts < ? "
            "GROUP BY plugin_id) m ON s.id = m.id ORDER BY plugin_id, ts", (since, since))

    def latest_snapshot(self, plugin_id: str) -> Row | None:
        rows = self.query("SELECT * FROM health_snapshots WHERE plugin_id = ? "
                          "ORDER BY id DESC LIMIT 1", (plugin_id,))
        return {**json.loads(rows[0].pop("data")), **rows[0]} if rows else None

    def availability(self, since: float) -> dict[str, float]:
        """Per plugin, the share (0 to 1) of its health snapshots since ``since`` (one a
        round) that were HEALTHY."""
        rows = self.query("SELECT plugin_id, SUM(status = 'HEALTHY') AS up, COUNT(*) AS n "
                          "FROM health_snapshots WHERE ts >= ? GROUP BY plugin_id", (since,))
        return {r["plugin_id"]: int(r["up"]) / int(r["n"]) for r in rows if r["n"]}

    def event_counts(self, kind: str) -> dict[str, int]:
        """How many events of ``kind`` each plugin has (restarts, for /metrics)."""
        rows = self.query("SELECT plugin_id, COUNT(*) AS n FROM events WHERE kind = ? "
                          "GROUP BY plugin_id", (kind,))
        return {r["plugin_id"]: int(r["n"]) for r in rows}
