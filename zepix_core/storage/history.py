"""Queries on hosts, seen versions, activations, plugin states and events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from zepix_core.storage.db import Database, Row
from zepix_core.storage.rows import EventRow, HostRow, StatusRow


class HistoryQueries(Database):
    # -- hosts -------------------------------------------------------------
    def begin_host(self, host_id: str, pid: int, now: float,
                   alive: Callable[[HostRow], bool] = lambda row: False) -> HostRow | None:
        """Register a host, unless a host for which ``alive`` holds is already running.

        Check and insert share one write transaction, so of two hosts starting at
        the same moment exactly one registers. Returns the running host that
        prevented it, or None once registered.
        """
        with self.transaction() as conn:
            for found in conn.execute("SELECT * FROM hosts WHERE stopped_at IS NULL"):
                row = cast("HostRow", dict(found))
                if alive(row):
                    return row
            conn.execute("INSERT INTO hosts (host_id, pid, started_at, heartbeat_at) "
                         "VALUES (?, ?, ?, ?)", (host_id, pid, now, now))
        return None

    def heartbeat(self, host_id: str, now: float) -> None:
        self.execute("UPDATE hosts SET heartbeat_at = ? WHERE host_id = ?", (now, host_id))

    def end_host(self, host_id: str, now: float, reason: str) -> None:
        self.execute("UPDATE hosts SET stopped_at = ?, heartbeat_at = ?, stop_reason = ? "
                     "WHERE host_id = ?", (now, now, reason, host_id))

    def hosts(self, limit: int = 2) -> list[HostRow]:
        """The latest hosts to register, newest first."""
        return self.rows_as(HostRow, "SELECT * FROM hosts ORDER BY started_at DESC, rowid DESC LIMIT ?",
                          (limit,))

    def running_hosts(self) -> list[HostRow]:
        return self.rows_as(HostRow, "SELECT * FROM hosts WHERE stopped_at IS NULL ORDER BY started_at")

    def close_dead_host(self, host: HostRow, reason: str) -> int:
        """Close a host that ended without shutting down, and its open activations.

        The activations end at the host's last heartbeat: the last moment it is
        known to have been running. Returns how many activations were closed.
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE activations SET deactivated_at = ?, deactivation_reason = ? "
                "WHERE host_id = ? AND deactivated_at IS NULL",
                (host["heartbeat_at"], reason, host["host_id"]))
            conn.execute("UPDATE hosts SET stopped_at = ?, stop_reason = ? WHERE host_id = ?",
                         (host["heartbeat_at"], reason, host["host_id"]))
            return cur.rowcount

    # -- versions ----------------------------------------------------------
    def record_version(self, plugin_id: str, version: str, distribution: str,
                       source: str, now: float) -> None:
        self.execute(
            "INSERT INTO plugin_versions (plugin_id, version, distribution, source, first_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (plugin_id, version) DO UPDATE SET "
            "distribution = excluded.distribution, source = excluded.source",
            (plugin_id, version, distribution, source, now))

    def record_release(self, plugin_id: str, version: str, release: Mapping[str, str | None]
                       ) -> None:
        """Keep what ``version`` says about itself (``commit_id``, ``author``,
        ``features`` as JSON, ``build_date``, ``release_notes``); a value not given
        leaves the one recorded before."""
        keys = ("commit_id", "author", "features", "build_date", "release_notes")
        self.execute(
            "UPDATE plugin_versions SET commit_id = COALESCE(?, commit_id), "
            "author = COALESCE(?, author), features = COALESCE(?, features), "
            "build_date = COALESCE(?, build_date), "
            "release_notes = COALESCE(?, release_notes) WHERE plugin_id = ? AND version = ?",
            (*(release.get(k) for k in keys), plugin_id, version))

    def versions(self, plugin_id: str) -> list[Row]:
        return self.query("SELECT * FROM plugin_versions WHERE plugin_id = ? "
                          "ORDER BY first_seen", (plugin_id,))

    # -- activations -------------------------------------------------------
    def open_activation(self, plugin_id: str, version: str, distribution: str,
                        host_id: str, now: float, reason: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO activations (plugin_id, version, distribution, host_id, "
                "activated_at, activation_reason) VALUES (?, ?, ?, ?, ?, ?)",
                (plugin_id, version, distribution, host_id, now, reason))
            conn.execute("UPDATE plugin_versions SET last_active = ? "
                         "WHERE plugin_id = ? AND version = ?", (now, plugin_id, version))
            return int(cur.lastrowid or 0)

    def close_activation(self, activation_id: int, now: float, reason: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE activations SET deactivated_at = ?, deactivation_reason = ? "
                "WHERE id = ? AND deactivated_at IS NULL", (now, reason, activation_id))
            conn.execute(
                "UPDATE plugin_versions SET last_active = ? WHERE (plugin_id, version) = "
                "(SELECT plugin_id, version FROM activations WHERE id = ?)",
                (now, activation_id))

    def history(self, plugin_id: str | None = None, limit: int = 200,
                since: float | None = None) -> list[Row]:
        """Activations, newest first; with ``since``, those running at or after it."""
        return self.query(
            "SELECT * FROM activations WHERE (? IS NULL OR plugin_id = ?) AND (? IS NULL OR "
            "deactivated_at IS NULL OR deactivated_at >= ?) "
            "ORDER BY activated_at DESC, id DESC LIMIT ?",
            (plugin_id, plugin_id, since, since, limit))

    def open_activations(self) -> list[Row]:
        return self.query("SELECT * FROM activations WHERE deactivated_at IS NULL")

    # -- plugin states -----------------------------------------------------
    def set_status(self, plugin_id: str, distribution: str, version: str, state: str,
                   reason: str | None, now: float) -> None:
        self.execute(
            "INSERT INTO plugin_status (plugin_id, distribution, version, state, reason, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET "
            "distribution = excluded.distribution, version = excluded.version, "
            "state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at",
            (plugin_id, distribution, version, state, reason, now))

    def statuses(self) -> dict[str, StatusRow]:
        return {r["plugin_id"]: r for r in self.rows_as(StatusRow, "SELECT * FROM plugin_status")}

    # -- events ------------------------------------------------------------
    def record_event(self, plugin_id: str, kind: str, detail: str, now: float,
                     version: str | None = None, actor: str = "host") -> None:
        self.execute("INSERT INTO events (ts, plugin_id, kind, version, actor, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (now, plugin_id, kind, version, actor, detail))

    def events(self, plugin_id: str | None = None, limit: int = 200,
               since: float | None = None) -> list[EventRow]:
        return self.rows_as(
            EventRow, "SELECT * FROM events WHERE (? IS NULL OR plugin_id = ?) AND (? IS NULL OR ts >= ?) "
            "ORDER BY ts DESC, id DESC LIMIT ?", (plugin_id, plugin_id, since, since, limit))

    def gate_verdicts(self, plugin_id: str) -> dict[str, str]:
        """version -> the kind of its latest gate event (``gate_passed``/``gate_failed``)."""
        rows = self.query("SELECT version, kind FROM events WHERE plugin_id = ? AND kind IN "
                          "('gate_passed', 'gate_failed') AND version IS NOT NULL "
                          "ORDER BY ts, id", (plugin_id,))
        return {str(r["version"]): str(r["kind"]) for r in rows}
