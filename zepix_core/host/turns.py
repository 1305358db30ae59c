"""Whose turn it is: a round's health calls run with the loop let go, so bars never
wait on a plugin's health hook.

The loop lock (``LoopThread.busy``) keeps one writer at a time on the monitor,
breakers and alert bookkeeping; it is held for a round's planning and for its
judging, never while the round waits on plugins. Meanwhile the host still never
runs two hooks of one plugin at the same time: a plugin inside its health checks
is ``checking``, a feed gives it no bar but keeps the bars for it (``hold``), and
the next feed, or the end of the round, hands them over once its checks are over
and it still answers; a plugin that missed its ping gets no work, as before, so
its kept bars are dropped with that reason (``host.bars``). A fill waits for the
plugin's checks with the loop let go.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from zepix_core.contract.logs import fields
from zepix_core.contract.model import Bar, Intent
from zepix_core.contract.process import own

log = logging.getLogger("zepix.host")

T = TypeVar("T")

#: Seconds a feed waits, once per round, for a plugin in its health checks (the loop
#: let go meanwhile) before it keeps the bars for it: an ordinary check is over long
#: before, so the plugin answers the bar in time; a hung one costs this, not its deadline.
GRACE = 0.25

#: Bars kept at most for one plugin while it is in its health checks; the oldest go first.
BACKLOG = 10_000

#: Seconds ``close`` waits for the checks thread to end (a round's calls are bounded).
CLOSE_WAIT = 5.0

#: One round's calls and where their outcome goes (``value``, ``error``, ``done``).
_Job = tuple[Callable[[], object], dict[str, object]]


class Turns:
    """The plugins inside a round's health calls now, and the bars kept for them."""

    def __init__(self, busy: threading.RLock, limit: int = BACKLOG) -> None:
        self.busy = busy
        #: Waits on it let the loop go (every recursion level), as ``wait`` does.
        self.cond = threading.Condition(busy)
        self.limit = limit
        self._lock = threading.Lock()  # ``checking``: cleared on the round's call thread
        self.checking: set[str] = set()
        #: Plugins a feed waited for in vain this round: later feeds keep their bars at once.
        self.overdue: set[str] = set()
        self.backlog: dict[str, list[Bar]] = {}
        #: Intents answered on kept bars handed over by a round, for the next feed.
        self.late: list[Intent] = []
        #: A round is between its planning and its judging (rounds never overlap).
        self.rounding = False
        #: The rounds' calls go to one long-lived ``zepix-checks`` thread (parked on the
        #: queue between rounds: no wake-up while idle), started at the first round and
        #: ended by ``close``; a thread started per round cost ~100 us of CPU a round.
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the round's side (loop held) ---------------------------------------
    def begin(self) -> None:
        """Take the round's turn; another thread's round first ends (loop let go)."""
        while self.rounding:
            self.cond.wait(0.5)
        self.rounding = True

    def outside(self, plugin_ids: list[str], work: Callable[[], T]) -> T:
        """Run ``work`` (the round's plugin calls) on the checks thread while this one
        waits with the loop let go; ``plugin_ids`` are ``checking`` until ``done``."""
        with self._lock:
            self.checking.update(plugin_ids)
        box: dict[str, object] = {}
        thread = self._thread
        if thread is None or not thread.is_alive():
            thread = self._thread = own(threading.Thread(
                target=self._serve, name="zepix-checks", daemon=True))
            thread.start()
        self._jobs.put((work, box))
        if self._closed:  # a round after shutdown: its thread ends after these calls
            self._jobs.put(None)
            self._thread = None
        self.cond.wait_for(lambda: "done" in box)
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    def _serve(self) -> None:
        """The checks thread: each round's calls in turn, until ``close``."""
        while (job := self._jobs.get()) is not None:
            work, box = job
            try:
                box["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - raised again on the round's thread
                box["error"] = exc
            finally:
                with self.cond:
                    box["done"] = True
                    self.cond.notify_all()
            # Parked until the next round, this frame would keep the round's calls, their
            # futures and outcomes alive: ~28 objects a plugin pushed into the oldest
            # garbage-collector generation every round, so a full collection every
            # other round at 1,000 plugins. Let go, they are freed when the round ends.
            del job, work, box

    def close(self) -> None:
        """End the checks thread (shutdown); a later round's calls get a thread that
        ends after them."""
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        if thread is not threading.current_thread():
            thread.join(CLOSE_WAIT)

    def done(self, plugin_id: str) -> None:
        """The plugin's checks are over (any thread): it may have work again."""
        with self._lock:
            self.checking.discard(plugin_id)
        if self.busy.acquire(blocking=False):  # wake a feed or fill waiting for it
            try:
                self.cond.notify_all()
            finally:
                self.busy.release()

    def end(self) -> None:
        """The round is judged: no plugin is in its checks any more."""
        with self._lock:
            self.checking.clear()
        self.overdue.clear()
        self.rounding = False
        self.cond.notify_all()

    # -- the feed's side (loop held) ----------------------------------------
    def is_checking(self, plugin_id: str) -> bool:
        with self._lock:
            return plugin_id in self.checking

    def is_overdue(self, plugin_id: str) -> bool:
        return plugin_id in self.overdue

    def wait_out(self, plugin_ids: list[str], grace: float) -> None:
        """Wait (loop let go) up to ``grace`` seconds of real time for the plugins to be
        out of their checks; those still in are ``overdue`` until the round ends."""
        end = time.monotonic() + grace
        while any(self.is_checking(pid) for pid in plugin_ids):
            left = end - time.monotonic()
            if left <= 0:
                self.overdue.update(pid for pid in plugin_ids if self.is_checking(pid))
                return
            self.cond.wait(min(left, 0.05))

    def hold(self, plugin_id: str, bars: list[Bar]) -> list[Bar]:
        """Keep ``bars`` for a plugin in its checks (at most ``limit``, newest kept);
        returns the oldest ones let go to stay within it."""
        kept = self.backlog.setdefault(plugin_id, [])
        kept.extend(bars)
        if len(kept) <= self.limit:
            return []
        over = kept[:len(kept) - self.limit]
        del kept[:len(over)]
        log.warning("bars kept for a plugin in its checks dropped", extra=fields(
            plugin=plugin_id, dropped=len(over), limit=self.limit))
        return over

    def take(self, plugin_id: str) -> list[Bar]:
        return self.backlog.pop(plugin_id, [])

    def wait_free(self, plugin_id: str) -> None:
        """Wait (loop let go) until the plugin is out of its checks: at the latest when
        the round is judged, and every call of a round is bounded."""
        while self.is_checking(plugin_id):
            self.cond.wait(0.05)
