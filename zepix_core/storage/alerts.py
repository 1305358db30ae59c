"""Queries on alerts and their deliveries to sinks."""

from __future__ import annotations

import json
from collections.abc import Sequence

from zepix_core.contract import jsondoc
from zepix_core.contract.model import Alert
from zepix_core.storage.db import Database, Row
from zepix_core.storage.rows import AlertRow


class AlertQueries(Database):
    def record_alerts(self, alerts: Sequence[Alert]) -> list[int]:
        """Apply alert events in one transaction; returns each event's alert row id.

        ``fired`` opens a row (or, for an escalation, updates the open one),
        ``repeated`` bumps the open row, ``resolved`` closes it.
        """
        ids = []
        with self.transaction() as conn:
            for alert in alerts:
                row = conn.execute("SELECT id FROM alerts WHERE fingerprint = ? AND resolved = 0",
                                   (alert.fingerprint,)).fetchone()
                details = jsondoc.dumps(alert.details)
                if row is None and alert.event != "resolved":
                    cur = conn.execute(
                        "INSERT INTO alerts (fingerprint, plugin_id, kind, level, message, "
                        "fired_at, last_sent_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (alert.fingerprint, alert.plugin_id, alert.kind, alert.level.value,
                         alert.message, alert.timestamp, alert.timestamp, details))
                    ids.append(int(cur.lastrowid or 0))
                elif row is None:
                    ids.append(0)
                elif alert.event == "resolved":
                    conn.execute("UPDATE alerts SET resolved = 1, resolved_at = ? WHERE id = ?",
                                 (alert.timestamp, row["id"]))
                    ids.append(int(row["id"]))
                else:
                    conn.execute(
                        "UPDATE alerts SET level = ?, message = ?, last_sent_at = ?, "
                        "repeats = repeats + ?, details = ? WHERE id = ?",
                        (alert.level.value, alert.message, alert.timestamp,
                         1 if alert.event == "repeated" else 0, details, row["id"]))
                    ids.append(int(row["id"]))
        return ids

    def alerts(self, plugin_id: str | None = None, unresolved: bool = False,
               limit: int = 100, since: float | None = None) -> list[AlertRow]:
        """Alerts newest first; with ``since``, those fired or repeated at or after it."""
        rows = self.rows_as(AlertRow, 
            "SELECT * FROM alerts WHERE (? IS NULL OR plugin_id = ?) AND (? = 0 OR resolved = 0) "
            "AND (? IS NULL OR last_sent_at >= ? OR resolved_at >= ?) "
            "ORDER BY fired_at DESC, id DESC LIMIT ?",
            (plugin_id, plugin_id, int(unresolved), since, since, since, limit))
        for row in rows:
            row["details"] = json.loads(str(row["details"]))
        return rows

    def record_delivery(self, fingerprint: str, sink: str, delivered: bool, error: str | None,
                        ts: float) -> None:
        """Record one delivery attempt's outcome against the newest alert of ``fingerprint``."""
        self.execute("INSERT INTO alert_deliveries (alert_id, sink, delivered, error, ts) "
                     "VALUES ((SELECT MAX(id) FROM alerts WHERE fingerprint = ?), ?, ?, ?, ?)",
                     (fingerprint, sink, int(delivered), error, ts))

    def deliveries(self, alert_ids: Sequence[int]) -> dict[int, list[Row]]:
        """Every delivery attempt's outcome for each of ``alert_ids``, oldest first."""
        found: dict[int, list[Row]] = {int(i): [] for i in alert_ids}
        marks = ", ".join("?" for _ in found)
        if marks:
            # S608: one ? per id; the ids are parameters
            for row in self.query(f"SELECT * FROM alert_deliveries WHERE alert_id IN ({marks}) "  # noqa: S608
                                  "ORDER BY id", list(found)):  # marks: one ? per id
                found[int(row["alert_id"])].append(row)
        return found

    def prune_alerts(self, before: float) -> int:
        """Delete resolved alerts (and their deliveries) resolved before ``before``."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM alerts "
                         "WHERE resolved = 1 AND resolved_at < ?)", (before,))
            cur = conn.execute("DELETE FROM alerts WHERE resolved = 1 AND resolved_at < ?",
                               (before,))
            return cur.rowcount
