"""Queries on anomaly baselines: one JSON state per plugin, replaced on save."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from zepix_core.storage.db import Database


class BaselineQueries(Database):
    def save_baseline(self, plugin_id: str, state: Mapping[str, object], ts: float) -> None:
        self.save_baselines([(plugin_id, state, ts)])

    def save_baselines(self, saved: Sequence[tuple[str, Mapping[str, object], float]]) -> None:
        """``save_baseline`` of each (plugin id, state, time) in one transaction (a round
        saves every plugin's at once: 1,000 transactions at 1,000 plugins)."""
        if not saved:
            return
        rows = [(pid, json.dumps(state), ts) for pid, state, ts in saved]
        with self.transaction() as conn:
            conn.executemany("INSERT INTO anomaly_baselines (plugin_id, state, updated_at) "
                             "VALUES (?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET "
                             "state = excluded.state, updated_at = excluded.updated_at", rows)

    def baseline(self, plugin_id: str) -> dict[str, object] | None:
        """The state saved for ``plugin_id``, or None (never saved, or unreadable)."""
        rows = self.query("SELECT state FROM anomaly_baselines WHERE plugin_id = ?",
                          (plugin_id,))
        if not rows:
            return None
        try:
            state = json.loads(rows[0]["state"])
        except ValueError:
            return None
        return state if isinstance(state, dict) else None
