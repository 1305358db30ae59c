"""The host's loop thread, and alerts raised on other threads while it works.

Whatever changes the host's plugins (restarts, give-ups, requests, rounds)
runs on the host's loop thread, which holds ``busy`` except while it waits
between rounds. Alert bookkeeping (``AlertManager``) is not shared between
threads, so an alert raised on another thread, such as a worker's watcher
reporting a crash, goes out at once while the loop waits, and otherwise waits
in an outbox until the loop ``flush``es it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from zepix_core.contract.model import AlertLevel

#: ``(plugin_id, kind, level, message, firing)``, as ``AlertManager.raise_event`` takes them.
Alert = tuple[str, str, AlertLevel, str, bool]
Deliver = Callable[[str, str, AlertLevel, str, bool], object]


class LoopThread:
    """``busy`` while the loop thread works on the host; ``deliver`` raises an alert."""

    def __init__(self, deliver: Deliver) -> None:
        self.busy = threading.RLock()
        self._deliver = deliver
        self._lock = threading.Lock()  # guards the outbox
        self._outbox: list[Alert] = []
        self._held = 0

    def hold(self) -> None:
        """The loop thread works on the host until ``let_go`` (``Host.run``)."""
        self.busy.acquire()
        self._held += 1

    def let_go(self) -> None:
        self._held -= 1
        self.busy.release()

    def wait(self, wait: Callable[[float], bool], seconds: float) -> bool:
        """``wait(seconds)`` on the loop thread with ``busy`` let go meanwhile, so alerts
        from other threads go out at once; returns what ``wait`` returned."""
        held, self._held = self._held, 0
        for _ in range(held):
            self.busy.release()
        try:
            return wait(seconds)
        finally:
            for _ in range(held):
                self.busy.acquire()
            self._held = held

    def alert(self, plugin_id: str, kind: str, level: AlertLevel, message: str,
              firing: bool = True) -> None:
        """Raise now when the loop thread is not inside the host, else when it is done."""
        if self.busy.acquire(blocking=False):
            try:
                self._deliver(plugin_id, kind, level, message, firing)
            finally:
                self.busy.release()
            return
        with self._lock:
            self._outbox.append((plugin_id, kind, level, message, firing))

    def flush(self) -> None:
        """Raise the alerts held back while the loop thread was busy (loop thread)."""
        if not self._outbox:
            return
        with self._lock:
            outbox, self._outbox = self._outbox, []
        for alert in outbox:
            self._deliver(*alert)
