"""Queries on operator controls: which plugins are paused, why, and by whom.

A pause is one row per plugin in ``pauses``; it outlives the host that saw it
(``zepix pause`` with no host running pauses the next start). Each pause and
resume is also an event in the timeline (``zepix history --events``) with its actor.
"""

from __future__ import annotations

from zepix_core.storage.db import Database, Row


class ControlQueries(Database):
    def pause(self, plugin_id: str, reason: str, actor: str, now: float) -> bool:
        """Pause ``plugin_id`` (record the event); False when it was paused already
        (the first reason stays)."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO pauses (plugin_id, reason, actor, "
                               "paused_at) VALUES (?, ?, ?, ?)",
                               (plugin_id, reason, actor, now))
            if cur.rowcount != 1:
                return False
            conn.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                         "VALUES (?, ?, 'pause', NULL, ?, ?)",
                         (now, plugin_id, actor, f"paused: {reason}"))
            return True

    def resume(self, plugin_id: str, actor: str, now: float) -> bool:
        """Undo a pause (record the event); False when ``plugin_id`` was not paused."""
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM pauses WHERE plugin_id = ?", (plugin_id,))
            if cur.rowcount != 1:
                return False
            conn.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                         "VALUES (?, ?, 'resume', NULL, ?, 'resumed')", (now, plugin_id, actor))
            return True

    def pauses(self) -> dict[str, Row]:
        """Every paused plugin: ``plugin_id`` -> {``reason``, ``actor``, ``paused_at``}."""
        return {r["plugin_id"]: r for r in self.query(
            "SELECT plugin_id, reason, actor, paused_at FROM pauses ORDER BY plugin_id")}
