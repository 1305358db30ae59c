"""Queries on anomaly baselines: one JSON state per plugin, replaced on save."""

from __future__ import annotations

import json
from collections.abc import Mapping

from zepix_core.storage.db import Database


class BaselineQueries(Database):
    def save_baseline(self, plugin_id: str, state: Mapping[str, object], ts: float) -> None:
        self.execute("INSERT INTO anomaly_baselines (plugin_id, state, updated_at) "
                     "VALUES (?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET "
                     "state = excluded.state, updated_at = excluded.updated_at",
                     (plugin_id, json.dumps(state), ts))

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
