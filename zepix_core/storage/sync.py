"""Queries of the sync manager on the host's database: identity, cursors, runs.

The cursor of a plugin database is the last ``rev`` (its change counter) the
central ledger is known to hold, one per ledger target: a new ``[sync] url``
starts at 0 and gets every trade. It only moves forward, and only after the
ledger committed the rows up to it, so a host killed mid-sync copies those
rows again next time; the ledger's upsert makes that harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from zepix_core.storage.db import Database, Row


class SyncQueries(Database):
    def sync_host_id(self, prefix: str) -> str:
        """This host's id in the central ledger: made once (``prefix``-random), then kept."""
        with self.transaction() as conn:
            row = conn.execute("SELECT host_id FROM sync_identity WHERE id = 1").fetchone()
            if row is not None:
                return str(row["host_id"])
            made = f"{prefix}-{uuid.uuid4().hex[:12]}"
            conn.execute("INSERT INTO sync_identity (id, host_id) VALUES (1, ?)", (made,))
            return made

    def sync_cursor(self, plugin_id: str, database: str, target: str) -> int:
        """The last ``rev`` of ``plugin_id`` that ledger ``target`` holds (0: none yet);
        the plugin's status row now names ``target``."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO sync_state (plugin_id, database, target) VALUES (?, ?, ?) "
                         "ON CONFLICT (plugin_id) DO UPDATE SET database = excluded.database, "
                         "target = excluded.target", (plugin_id, database, target))
            row = conn.execute("SELECT rev FROM sync_cursors WHERE plugin_id = ? AND target = ?",
                               (plugin_id, target)).fetchone()
            rev = 0 if row is None else int(row["rev"])
            conn.execute("UPDATE sync_state SET rev = ? WHERE plugin_id = ?", (rev, plugin_id))
            return rev

    def advance_sync_cursor(self, plugin_id: str, target: str, revs: Sequence[int]) -> None:
        """Record that ledger ``target`` holds ``plugin_id``'s changes ``revs`` (a batch).
        ``rows`` counts only the changes past the cursor as it is now: two syncs that
        copied the same batch at once count it once."""
        with self.transaction() as conn:
            row = conn.execute("SELECT rev FROM sync_cursors WHERE plugin_id = ? AND target = ?",
                               (plugin_id, target)).fetchone()
            before = 0 if row is None else int(row["rev"])
            fresh = sum(1 for rev in revs if rev > before)
            top = max(revs, default=before)
            conn.execute("INSERT INTO sync_cursors (plugin_id, target, rev) VALUES (?, ?, ?) "
                         "ON CONFLICT (plugin_id, target) DO UPDATE SET "
                         "rev = MAX(rev, excluded.rev)", (plugin_id, target, top))
            conn.execute("UPDATE sync_state SET rev = MAX(rev, ?), rows = rows + ? "
                         "WHERE plugin_id = ?", (top, fresh, plugin_id))

    def sync_cursors(self, target: str) -> dict[str, int]:
        """Each plugin's cursor for ledger ``target``."""
        return {str(r["plugin_id"]): int(r["rev"]) for r in self.query(
            "SELECT plugin_id, rev FROM sync_cursors WHERE target = ?", (target,))}

    def reset_sync_cursors(self, target: str, plugin_id: str | None = None) -> int:
        """Backfill: ``target`` is sent every trade again (of ``plugin_id``, else all)."""
        with self.transaction() as conn:
            return int(conn.execute("DELETE FROM sync_cursors WHERE target = ? AND "
                                    "(? IS NULL OR plugin_id = ?)",
                                    (target, plugin_id, plugin_id)).rowcount)

    def adopt_sync_cursors(self, target: str, same: Callable[[str], bool]) -> int:
        """Merge the cursors kept under each other name of ``target`` (``same(name)``)
        into ``target``'s, keeping the furthest; returns how many names went."""
        with self.transaction() as conn:
            others = [str(r["target"]) for r in conn.execute(
                "SELECT DISTINCT target FROM sync_cursors WHERE target != ?", (target,))]
            gone = [name for name in others if same(name)]
            for name in gone:
                conn.execute("INSERT INTO sync_cursors (plugin_id, target, rev) "
                             "SELECT plugin_id, ?, rev FROM sync_cursors WHERE target = ? "
                             "ON CONFLICT (plugin_id, target) DO UPDATE SET "
                             "rev = MAX(rev, excluded.rev)", (target, name))
                conn.execute("DELETE FROM sync_cursors WHERE target = ?", (name,))
            return len(gone)

    def sync_succeeded(self, plugin_id: str, now: float, lag: float | None,
                       recovered: str | None = None) -> None:
        """A sync of ``plugin_id`` that went through; ``recovered`` says which failed
        tries it took (kept as the last error, so an outage stays visible)."""
        self.execute("UPDATE sync_state SET last_success = ?, last_attempt = ?, "
                     "lag_seconds = ?, consecutive_failures = 0, "
                     "last_error = COALESCE(?, last_error), "
                     "last_failure = CASE WHEN ? IS NULL THEN last_failure ELSE ? END "
                     "WHERE plugin_id = ?", (now, now, lag, recovered, recovered, now, plugin_id))

    def sync_failed(self, plugin_id: str, now: float, error: str, lag: float | None) -> int:
        """Count one more failure in a row; returns how many there are now."""
        with self.transaction() as conn:
            conn.execute("UPDATE sync_state SET last_attempt = ?, last_error = ?, "
                         "last_failure = ?, lag_seconds = ?, "
                         "consecutive_failures = consecutive_failures + 1 "
                         "WHERE plugin_id = ?", (now, error, now, lag, plugin_id))
            row = conn.execute("SELECT consecutive_failures FROM sync_state WHERE plugin_id = ?",
                               (plugin_id,)).fetchone()
            return 0 if row is None else int(row["consecutive_failures"])

    def sync_status(self) -> list[Row]:
        return self.query("SELECT * FROM sync_state ORDER BY plugin_id")

    def begin_sync_run(self, started_at: float, trigger: str, target: str) -> int:
        return self.execute("INSERT INTO sync_runs (started_at, trigger, target) "
                            "VALUES (?, ?, ?)", (started_at, trigger, target))

    def end_sync_run(self, run_id: int, ended_at: float, ok: bool, rows: int, plugins: int,
                     failed: int, failed_tries: int, error: str | None) -> None:
        """Close run ``run_id``: ``failed`` plugins, ``failed_tries`` ledger calls that
        failed (retried or not)."""
        self.execute("UPDATE sync_runs SET ended_at = ?, ok = ?, rows = ?, plugins = ?, "
                     "failed = ?, failed_tries = ?, error = ? WHERE id = ?",
                     (ended_at, int(ok), rows, plugins, failed, failed_tries, error, run_id))

    def sync_runs(self, limit: int = 50) -> list[Row]:
        """Runs, newest first; a run with no ``ended_at`` was interrupted (or is going on)."""
        return self.query("SELECT * FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT ?",
                          (limit,))
