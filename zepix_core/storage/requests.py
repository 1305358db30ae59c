"""Queries on operator requests (``zepix restart``, ``upgrade``, ...) and supervision marks.

A command line writes a request; the running host applies it within one
round and records ``applied_at`` and an ``outcome``. With no host running the
command applies what it can itself (``zepix restart`` clears a give-up mark).
"""

from __future__ import annotations

from collections.abc import Sequence

from zepix_core.storage.kept import KeptReads
from zepix_core.storage.rows import EventRow, RequestRow


class RequestQueries(KeptReads):
    def add_request(self, plugin_id: str, action: str, actor: str, now: float,
                    version: str | None = None, force: bool = False) -> int:
        """Queue one request; returns its id."""
        return self.execute(
            "INSERT INTO requests (plugin_id, action, version, force, actor, requested_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (plugin_id, action, version, int(force), actor, now))

    def pending_requests(self, action: str | None = None,
                         plugin_id: str | None = None) -> list[RequestRow]:
        """Requests not applied yet, oldest first.

        A running host asks every round, once per kind, and the answer is almost
        always none: the pending requests are read once and kept until the table may
        have changed, i.e. another connection committed (``PRAGMA data_version``:
        ``zepix restart``, ``upgrade``, ... from a shell) or this one wrote to
        ``requests`` (``KeptReads``)."""
        pending = self.kept_read("pending_requests", ("requests",), lambda: self.rows_as(
            RequestRow, "SELECT * FROM requests WHERE applied_at IS NULL "
            "ORDER BY requested_at, id"))
        return [r.copy() for r in pending  # copies: the kept rows stay as read
                if (action is None or r["action"] == action)
                and (plugin_id is None or r["plugin_id"] == plugin_id)]

    def finish_request(self, request_id: int, now: float, outcome: str) -> bool:
        """Mark a request applied; False when it already was (another host took it)."""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE requests SET applied_at = ?, outcome = ? "
                               "WHERE id = ? AND applied_at IS NULL", (now, outcome, request_id))
            return cur.rowcount == 1

    def request(self, request_id: int) -> RequestRow | None:
        rows = self.rows_as(RequestRow, "SELECT * FROM requests WHERE id = ?", (request_id,))
        return rows[0] if rows else None

    def requests(self, plugin_id: str | None = None, limit: int = 100) -> list[RequestRow]:
        """Requests newest first, applied or not."""
        return self.rows_as(RequestRow, "SELECT * FROM requests WHERE (? IS NULL OR plugin_id = ?) "
                          "ORDER BY requested_at DESC, id DESC LIMIT ?",
                          (plugin_id, plugin_id, limit))

    def last_event(self, plugin_id: str, kinds: Sequence[str]) -> EventRow | None:
        """The newest event of ``plugin_id`` whose kind is one of ``kinds``."""
        if not kinds:
            return None
        marks = ", ".join("?" for _ in kinds)  # placeholders only; the kinds are parameters
        # S608: placeholders only; the kinds are parameters
        rows = self.rows_as(EventRow, f"SELECT * FROM events WHERE plugin_id = ? AND kind IN ({marks}) "  # noqa: S608
                          "ORDER BY ts DESC, id DESC LIMIT 1", (plugin_id, *kinds))
        return rows[0] if rows else None
