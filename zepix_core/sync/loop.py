"""The sync manager on the host's timer: one run at a time, on a thread of its own.

A run waits between retries (5, 10, 20 s for ``sync``), so it never runs on
the host's round: ``tick`` starts a run in the background when one is due and
hands back the alert decisions of finished runs, for the host to raise on its
own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from zepix_core.contract.logs import fields
from zepix_core.sync.manager import AlertDecision, SyncManager, SyncRun

log = logging.getLogger("zepix.sync")


class SyncLoop:
    def __init__(self, manager: SyncManager, interval: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.manager = manager
        self.interval = interval
        self._mono = monotonic
        self._next = monotonic() + interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._decisions: list[AlertDecision] = []
        self.last: SyncRun | None = None

    @property
    def enabled(self) -> bool:
        """``[sync] enabled``: false stops the host's own runs (its timer, a changed
        ``[sync]``, the one at shutdown); a run asked for by hand (``zepix sync
        --now``, ``POST /api/v1/sync``, Telegram ``/sync``) still goes."""
        return self.manager.settings.enabled

    def tick(self) -> list[AlertDecision]:
        """Start a run when one is due and none is going on; returns finished runs'
        alert decisions."""
        if self.enabled and self._mono() >= self._next and self.start("timer"):
            self._next = self._mono() + self.interval
        return self.drain()

    def drain(self) -> list[AlertDecision]:
        """The alert decisions of runs finished since the last call (a host whose
        scheduler keeps the due time starts runs itself and drains them here)."""
        with self._lock:
            decisions, self._decisions = self._decisions, []
        return decisions

    def start(self, trigger: str) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._thread = threading.Thread(target=self._run, args=(trigger,),
                                            name="zepix-sync", daemon=True)
            self._thread.start()
            return True

    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self, trigger: str) -> None:
        try:
            run = self.manager.run(trigger)
        except Exception:  # a bug must not end the host: the next tick tries again
            log.exception("sync run crashed", extra=fields(trigger=trigger))
            return
        with self._lock:
            self.last = run
            self._decisions.extend(run.alerts)

    def finish(self, timeout: float = 30.0) -> SyncRun | None:
        """At shutdown: cut a running run's retry waits short, then copy what the
        plugins wrote last, with a single try (none when ``[sync] enabled = false``)."""
        self.manager.retrier.stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("sync still running at shutdown", extra=fields(waited=timeout))
                return None
        if not self.enabled:
            return None
        try:
            return self.manager.run("shutdown")
        except Exception:
            log.exception("final sync crashed")
            return None
