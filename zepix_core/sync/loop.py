"""The sync manager's runs: one at a time, on a thread of its own.

A run waits between retries (5, 10, 20 s for ``sync``), so it never runs on
the host's round. When a run is due is the host scheduler's ``sync`` timer
(``host.loop``, every ``interval`` seconds): it calls ``start``, and ``drain``
hands back the alert decisions of finished runs, for the host to raise on its
own thread.
"""

from __future__ import annotations

import logging
import threading

from zepix_core.contract.logs import fields
from zepix_core.sync.manager import AlertDecision, SyncManager, SyncRun

log = logging.getLogger("zepix.sync")


class SyncLoop:
    def __init__(self, manager: SyncManager, interval: float) -> None:
        self.manager = manager
        #: Seconds between two timed runs (the scheduler's ``sync`` timer reads it).
        self.interval = interval
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

    def drain(self) -> list[AlertDecision]:
        """The alert decisions of runs finished since the last call."""
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
        except Exception:  # a bug must not end the host: the next run tries again
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
