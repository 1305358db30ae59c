"""Writes that may wait while the database is unavailable (locked or full).

A running host must keep trading when a backup tool holds the write lock past
``busy_timeout`` or the disk fills up. With ``defer_writes`` on (``Host.run``
turns it on), snapshots, events and alerts that cannot be written wait here in
a bounded buffer, oldest first, and go out with the next write that succeeds
or the next ``flush_deferred``. ``outage`` says why the database is
unavailable, or is None while it is fine. A heartbeat that cannot be written
is dropped: the next one replaces it. Without ``defer_writes`` (the CLI's
short-lived commands) every write fails loudly, as before.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert
from zepix_core.storage.alerts import AlertQueries
from zepix_core.storage.history import HistoryQueries
from zepix_core.storage.snapshots import SnapshotQueries

log = logging.getLogger("zepix.storage")

#: Writes kept while the database is unavailable; older ones are dropped beyond this.
PENDING_LIMIT = 2000

_Write = Callable[[], Any]


class DeferredWrites(HistoryQueries, SnapshotQueries, AlertQueries):
    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self.defer_writes = False
        self.outage: str | None = None
        self.dropped = 0
        self._pending: deque[tuple[str, _Write]] = deque()

    @property
    def pending(self) -> int:
        """How many writes wait for the database."""
        return len(self._pending)

    def flush_deferred(self) -> bool:
        """Write what waits, oldest first; True when nothing waits any more."""
        with self._lock:  # the loop thread and a worker's watcher may both write
            return self._flush()

    def _flush(self) -> bool:
        while self._pending:
            _, write = self._pending[0]
            try:
                write()
            except StorageError as exc:
                self._unavailable(exc)
                return False
            self._pending.popleft()
        if self.outage is not None:
            log.warning("database available again", extra=fields(path=str(self.path),
                                                                 dropped=self.dropped))
        self.outage = None
        return True

    def _deferred(self, what: str, write: _Write, default: Any = None) -> Any:
        if not self.defer_writes:
            return write()
        with self._lock:
            return self._write_or_keep(what, write, default)

    def _write_or_keep(self, what: str, write: _Write, default: Any) -> Any:
        if self._pending and not self._flush():
            self._keep(what, write)
            return default
        try:
            result = write()
        except StorageError as exc:
            self._unavailable(exc)
            self._keep(what, write)
            return default
        self.outage = None
        return result

    def _keep(self, what: str, write: _Write) -> None:
        if len(self._pending) >= PENDING_LIMIT:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append((what, write))

    def _unavailable(self, exc: StorageError) -> None:
        if self.outage is None:
            log.error("database unavailable; writes wait", extra=fields(
                path=str(self.path), error=str(exc), pending=len(self._pending)))
        self.outage = str(exc)

    # -- the writes that may wait ------------------------------------------
    def save_snapshots(self, ts: float, snapshots: Sequence[Mapping[str, Any]]) -> None:
        rows = [dict(s) for s in snapshots]
        self._deferred("snapshots", lambda: SnapshotQueries.save_snapshots(self, ts, rows))

    def record_event(self, plugin_id: str, kind: str, detail: str, now: float,
                     version: str | None = None, actor: str = "host") -> None:
        self._deferred("event", lambda: HistoryQueries.record_event(
            self, plugin_id, kind, detail, now, version, actor))

    def record_alerts(self, alerts: Sequence[Alert]) -> list[int]:
        kept = list(alerts)
        ids: list[int] = self._deferred(
            "alerts", lambda: AlertQueries.record_alerts(self, kept), default=[])
        return ids

    def heartbeat(self, host_id: str, now: float) -> None:
        if not self.defer_writes:
            HistoryQueries.heartbeat(self, host_id, now)
            return
        try:
            HistoryQueries.heartbeat(self, host_id, now)
        except StorageError as exc:  # the next heartbeat replaces this one
            self._unavailable(exc)
