"""Queries on health snapshots: one row per plugin per round, pruned by age."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from zepix_core.contract import jsondoc
from zepix_core.storage.db import Database, Row


class SnapshotQueries(Database):
    def save_snapshots(self, ts: float, snapshots: Sequence[Mapping[str, object]]) -> None:
        """Write one round's snapshots in one transaction (``plugin_id``, ``status``, data)."""
        rows = [(s["plugin_id"], ts, s["status"], jsondoc.dumps_plain(s))
                for s in snapshots]
        with self.transaction() as conn:
            conn.executemany("INSERT INTO health_snapshots (plugin_id, ts, status, data) "
                             "VALUES (?, ?, ?, ?)", rows)

    def latest_snapshots(self) -> list[Row]:
        """The newest snapshot of every plugin, decoded."""
        rows = self.query(
            "SELECT s.* FROM health_snapshots s JOIN (SELECT plugin_id, MAX(id) AS id "
            "FROM health_snapshots GROUP BY plugin_id) m ON s.id = m.id ORDER BY s.plugin_id")
        return [_decode(r) for r in rows]

    def snapshots(self, plugin_id: str, limit: int = 100) -> list[Row]:
        rows = self.query("SELECT * FROM health_snapshots WHERE plugin_id = ? "
                          "ORDER BY id DESC LIMIT ?", (plugin_id, limit))
        return [_decode(r) for r in rows]

    def prune_snapshots(self, before: float) -> int:
        """Delete snapshots older than ``before``, keeping each plugin's newest one."""
        with self.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM health_snapshots WHERE ts < ? AND id NOT IN "
                "(SELECT MAX(id) FROM health_snapshots GROUP BY plugin_id)", (before,))
            return cur.rowcount


def _decode(row: Row) -> Row:
    data = json.loads(row.pop("data"))
    return {**data, **row}
