"""Queries on operator controls: which plugins are paused, why, and by whom; silences.

A pause is one row per plugin in ``pauses``; it outlives the host that saw it
(``zepix pause`` with no host running pauses the next start). Each pause and
resume is also an event in the timeline (``zepix history --events``) with its actor.
"""

from __future__ import annotations

from typing import cast

from zepix_core.storage.db import Database
from zepix_core.storage.rows import PauseRow, SilenceRow


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

    def pauses(self) -> dict[str, PauseRow]:
        """Every paused plugin: ``plugin_id`` -> {``reason``, ``actor``, ``paused_at``}."""
        return {r["plugin_id"]: r for r in self.rows_as(PauseRow, 
            "SELECT plugin_id, reason, actor, paused_at FROM pauses ORDER BY plugin_id")}

    # -- silences ------------------------------------------------------------
    def add_silence(self, plugin_id: str, kind: str | None, until: float, reason: str,
                    actor: str, now: float) -> int:
        """Silence ``plugin_id`` (one ``kind``, or all with None) until ``until``."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO silences (plugin_id, kind, until, reason, actor, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               (plugin_id, kind, until, reason, actor, now))
            conn.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                         "VALUES (?, ?, 'silence', NULL, ?, ?)",
                         (now, plugin_id, actor,
                          f"silence {cur.lastrowid} of {kind or 'every kind'}: {reason}"))
            return int(cur.lastrowid or 0)

    def silences(self, now: float | None = None) -> list[SilenceRow]:
        """Silences not removed, newest first; with ``now``, only those not expired."""
        return self.rows_as(SilenceRow, "SELECT * FROM silences WHERE removed_at IS NULL "
                          "AND (? IS NULL OR until > ?) ORDER BY id DESC", (now, now))

    def remove_silence(self, silence_id: int, actor: str, now: float) -> SilenceRow | None:
        """End a silence now; the removed row, or None when there is no such active one."""
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM silences WHERE id = ? AND removed_at IS NULL",
                               (silence_id,)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE silences SET removed_at = ? WHERE id = ?", (now, silence_id))
            conn.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                         "VALUES (?, ?, 'unsilence', NULL, ?, ?)",
                         (now, row["plugin_id"], actor, f"silence {silence_id} removed"))
            return cast("SilenceRow", dict(row))

    def silence_for(self, plugin_id: str, kind: str, now: float) -> SilenceRow | None:
        """The active silence covering an alert of ``plugin_id`` and ``kind``, if any."""
        rows = self.rows_as(SilenceRow, "SELECT * FROM silences WHERE removed_at IS NULL AND until > ? "
                          "AND plugin_id IN (?, '*') AND (kind IS NULL OR kind = ?) "
                          "ORDER BY until DESC LIMIT 1", (now, plugin_id, kind))
        return rows[0] if rows else None
