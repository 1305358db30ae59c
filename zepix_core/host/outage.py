"""The host's database outage state: a locked or full ``zepix.db`` never stops trading.

A write that fails marks the outage (``Store.outage``) and is logged; what could
not be written waits (``storage.deferred``). Every round raises or resolves the
CRITICAL ``zepix:database`` alert from that state, naming the process that holds
the write lock when another one does (``dblock``), and the WARNING
``zepix:open_files`` while 80 % of the open-file limit is used (``limits``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel
from zepix_core.health.alerting import HOST_ALERTS
from zepix_core.health.resources import ResourceSample
from zepix_core.host.dblock import describe_holder, write_lock_holders
from zepix_core.host.limits import files_alert
from zepix_core.storage import Store

log = logging.getLogger("zepix.host")

__all__ = ["Outage", "Raise"]

#: ``(plugin_id, kind, level, message, firing)``: ``Alerting.raise_event``.
Raise = Callable[[str, str, AlertLevel, str, bool], object]


class Outage:
    """Marks failed writes and turns the outage into the host's alerts each round."""

    def __init__(self, store: Store, raise_event: Raise,
                 workers: Callable[[], Mapping[int | None, str]],
                 host_sample: Callable[[], ResourceSample | None]) -> None:
        self.store = store
        self._raise = raise_event
        self._workers = workers          # worker pid -> plugin id, to name a lock holder
        self._host_sample = host_sample  # the round's host sample (its open files)

    def failed(self, step: str, exc: StorageError) -> None:
        """A write of ``step`` failed: the outage is known; trading goes on."""
        self.store.outage = str(exc)
        log.error("database write failed; trading goes on",
                  extra=fields(step=step, error=str(exc), pending=self.store.pending))

    def best_effort(self, step: str, write: Callable[..., object], *args: object) -> None:
        """``write(*args)``; a failure is ``failed``, never raised."""
        try:
            write(*args)
        except StorageError as exc:
            self.failed(step, exc)

    def alert_storage(self) -> None:
        """``zepix:database``: firing while the outage lasts, resolved after."""
        outage = self.store.outage
        message = (f"database {self.store.path} unavailable: {outage}; "
                   f"{self.store.pending} write(s) waiting{self.lock_holders()}" if outage
                   else f"database {self.store.path} available")
        try:
            self._raise(HOST_ALERTS, "database", AlertLevel.CRITICAL, message,
                        outage is not None)
        except StorageError as exc:  # recorded once the database is back
            self.store.outage = str(exc)

    def lock_holders(self) -> str:
        """``; the write lock is held by pid 12 (...), the worker of plugin 'x'`` while
        another process holds the database's write lock (``dblock``), else ""."""
        try:
            holders = write_lock_holders(self.store.path)
        except Exception:  # naming the holder is a help, never a new failure
            log.exception("lock holders not read")
            return ""
        workers = self._workers()
        named = [describe_holder(pid) + (f", the worker of plugin {workers[pid]!r}"
                                         if pid in workers else "") for pid in holders]
        return f"; the write lock is held by {'; '.join(named)}" if named else ""

    def alert_files(self) -> None:
        """``zepix:open_files`` while 80 % of the open-file limit is used (``limits``)."""
        sample = self._host_sample()
        fds = sample.fds if sample is not None else None  # listed by psutil, with its own
        found = files_alert(None if fds is None else max(0, fds - 1))
        if found is None:
            return
        firing, message = found
        try:
            self._raise(HOST_ALERTS, "open_files", AlertLevel.WARNING, message, firing)
        except StorageError as exc:
            self.store.outage = str(exc)
