"""Queries on the config change history (``zepix config history``).

``old`` and ``new`` are kept as JSON text, so a value reads back with its type
(``0.02``, ``true``, ``"~=3.2"``); None is a key that was not set.
"""

from __future__ import annotations

import json

from zepix_core.contract.configschema import redact_value
from zepix_core.storage.db import Database, Row

#: ``recorded``: written to the file, in force at the next start (not applied live).
STATUSES = ("applied", "recorded", "rejected")
#: The ``requests`` action of ``zepix config reload`` (plugin id ``*``): check the file now.
RELOAD = "config_reload"


class ConfigChangeQueries(Database):
    def add_config_change(self, now: float, key: str, old: object, new: object, status: str,
                          by: str, reason: str | None = None) -> int:
        """Record one change of ``key``; ``status`` is one of ``STATUSES``. Callers pass
        values already redacted (``loading.tables.hidden``); a value of a key named
        ``*token*``/``*password*`` and a URL's user information never reach the file."""
        leaf = key.rsplit(".", 1)[-1]
        old, new = redact_value(leaf, old), redact_value(leaf, new)
        assert status in STATUSES, status
        return self.execute(
            "INSERT INTO config_changes (timestamp, key, old, new, status, reason, by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, key, _encode(old), _encode(new), status, reason, by))

    def config_changes(self, limit: int | None = None) -> list[Row]:
        """Changes newest first: {timestamp, key, old, new, status, reason, by}."""
        rows = self.query(
            "SELECT timestamp, key, old, new, status, reason, by FROM config_changes "
            "ORDER BY timestamp DESC, id DESC LIMIT ?", (-1 if limit is None else limit,))
        return [{**row, "old": _decode(row["old"]), "new": _decode(row["new"])}
                for row in rows]

    def publish_config(self, host_id: str, document: dict[str, object], now: float) -> None:
        """Keep ``document`` (already redacted) as the config ``host_id`` uses now."""
        self.execute("INSERT INTO config_in_force (host_id, document, updated_at) "
                     "VALUES (?, ?, ?) ON CONFLICT(host_id) DO UPDATE SET "
                     "document = excluded.document, updated_at = excluded.updated_at",
                     (host_id, json.dumps(document, allow_nan=False, default=str), now))

    def config_in_force(self, host_id: str) -> dict[str, object] | None:
        """The config document ``host_id`` published last, or None."""
        rows = self.query("SELECT document FROM config_in_force WHERE host_id = ?", (host_id,))
        return json.loads(rows[0]["document"]) if rows else None

    def prune_config_changes(self, before: float) -> int:
        """Delete changes recorded before ``before``."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM config_changes WHERE timestamp < ?",
                                (before,)).rowcount


def _encode(value: object) -> str | None:
    return None if value is None else json.dumps(value, allow_nan=False, default=str)


def _decode(text: str | None) -> object:
    return None if text is None else json.loads(text)
