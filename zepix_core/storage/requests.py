"""Queries on operator requests (``zepix restart``, ``upgrade``, ...) and supervision marks.

A command line writes a request; the running host applies it within one
round and records ``applied_at`` and an ``outcome``. With no host running the
command applies what it can itself (``zepix restart`` clears a give-up mark).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from zepix_core.storage.db import Database
from zepix_core.storage.rows import EventRow, RequestRow


class RequestQueries(Database):
    #: Every pending request as last read, with the ``PRAGMA data_version`` and the count
    #: of this connection's own writes to ``requests`` it was read at (``pending_requests``).
    _requests_read: tuple[int, int, list[RequestRow]] | None = None
    #: This connection's writes to ``requests`` (a TEMP trigger counts them), or None
    #: while no trigger watches (not installed yet, or it could not be).
    _request_writes: int | None = None

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
        ``requests`` (a TEMP trigger on this connection counts its writes, whatever
        code made them)."""
        with self._lock:
            pending = self._all_pending()
            return [r.copy() for r in pending  # copies: the kept rows stay as read
                    if (action is None or r["action"] == action)
                    and (plugin_id is None or r["plugin_id"] == plugin_id)]

    def _all_pending(self) -> list[RequestRow]:
        if self._request_writes is None:
            self._watch_requests()
        writes = self._request_writes
        try:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.DatabaseError:
            version, writes = -1, None  # read it plainly: the query says what is wrong
        kept = self._requests_read
        if writes is not None and kept is not None and kept[:2] == (version, writes):
            return kept[2]
        rows = self.rows_as(RequestRow, "SELECT * FROM requests WHERE applied_at IS NULL "
                            "ORDER BY requested_at, id")
        self._requests_read = None if writes is None else (version, writes, rows)
        return rows

    def _watch_requests(self) -> None:
        """Have this connection count its own writes to ``requests``; without the
        trigger (a read-only file, say) every call queries."""
        def wrote() -> None:
            self._request_writes = (self._request_writes or 0) + 1

        try:
            self._conn.create_function("zepix_requests_written", 0, wrote)
            for event in ("INSERT", "UPDATE", "DELETE"):
                self._conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS zepix_requests_{event.lower()} "
                    f"AFTER {event} ON main.requests BEGIN SELECT zepix_requests_written(); END")
        except sqlite3.DatabaseError:
            return
        self._request_writes = 0

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
