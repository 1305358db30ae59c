"""Delivering alerts to sinks: one queue and one thread per sink.

Each ``alert_sink`` implementation gets its own lane (a bounded queue served
by its own daemon thread), so a sink that is slow, drips its answer or waits
between retries delays neither the monitoring round nor any other sink. A
sink that names a ``retry_operation`` (the webhook: ``sink.webhook``) is
retried through the host's ``Retrier`` under that operation's policy; any
other sink (the log sink) is called once. ``close`` stops the retries, gives
each lane until its deadline, and reports what is still pending as not
delivered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import pluggy

from zepix_core.contract.errors import describe
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert
from zepix_core.contract.redact import redact_text
from zepix_core.retry import Retrier, RetryFailed

log = logging.getLogger("zepix.alerts")

#: ``on_result(alert, sink_name, delivered, error)``
OnResult = Callable[[Alert, str, bool, "str | None"], None]

SHUTDOWN = "not delivered: the host shut down before this sink was reached"


class _Lane:
    """One sink's queue and the thread that serves it."""

    def __init__(self, impl: pluggy.HookImpl, size: int, retrier: Retrier,
                 report: OnResult) -> None:
        self.impl, self.name = impl, impl.plugin_name
        self.operation: str | None = getattr(impl.plugin, "retry_operation", None)
        self.queue: queue.Queue[Alert | None] = queue.Queue(maxsize=size)
        self._retrier, self._report = retrier, report
        self.closing, self.abandoned = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, name=f"zepix-sink-{self.name}",
                                       daemon=True)
        self.thread.start()

    def put(self, alert: Alert) -> bool:
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self._report(alert, self.name, False,
                         f"not delivered: sink queue full ({self.queue.maxsize} waiting)")
            return False
        return True

    def finish(self) -> None:
        """Serve what is queued, then end."""
        self.closing.set()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass  # the thread ends when it finds the queue empty

    def abandon(self) -> None:
        """Out of time: report whatever is still queued as not delivered."""
        self.abandoned.set()
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._report(item, self.name, False, SHUTDOWN)
        try:
            self.queue.put_nowait(None)
        except queue.Full:  # pragma: no cover - drained above, and submit is closed
            pass

    def _serve(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.abandoned.is_set():
                self._report(item, self.name, False, SHUTDOWN)
                continue
            self._deliver(item)
            if self.closing.is_set() and self.queue.empty():
                return

    def _deliver(self, alert: Alert) -> None:
        def call() -> None:
            self.impl.function(**{name: alert for name in self.impl.argnames})

        try:
            if self.operation is None:
                call()
            else:
                self._retrier.run(self.operation, call)
        except RetryFailed as exc:
            self._failed(alert, str(exc), exc.outcome.attempts)
        except BaseException as exc:  # noqa: BLE001 - a sink may raise anything; go on
            self._failed(alert, describe(exc), 1)
        else:
            self._report(alert, self.name, True, None)

    def _failed(self, alert: Alert, error: str, attempts: int) -> None:
        error = redact_text(error)
        log.warning("alert undelivered", extra=fields(
            sink=self.name, plugin=alert.plugin_id, kind=alert.kind, attempts=attempts,
            error=error))
        self._report(alert, self.name, False, error)


class AlertDispatcher:
    """Delivers alerts to every ``alert_sink`` of ``pm``, each sink on its own lane.

    ``submit`` never blocks: a sink whose queue already holds ``queue_size``
    alerts drops the new one and reports it undelivered. ``on_result`` hears
    of every delivery and every failure, from the sink's thread (a drop is
    reported from the caller of ``submit``).
    """

    def __init__(self, pm: pluggy.PluginManager, *, on_result: OnResult | None = None,
                 retrier: Retrier | None = None, queue_size: int = 1000) -> None:
        self._pm = pm
        self._on_result = on_result
        self.retrier = retrier if retrier is not None else Retrier()
        self._size = queue_size
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._closed = False

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` for every sink; False when a sink dropped it."""
        with self._lock:
            if self._closed:
                self._report(alert, "dispatcher", False, "alert dispatcher is closed")
                return False
            lanes = [self._lane(impl) for impl in self._pm.hook.alert_sink.get_hookimpls()]
        accepted = [lane.put(alert) for lane in lanes]   # every lane, no short cut
        return all(accepted)

    def _lane(self, impl: pluggy.HookImpl) -> _Lane:
        lane = self._lanes.get(impl.plugin_name)
        if lane is None or lane.impl is not impl:
            lane = self._lanes[impl.plugin_name] = _Lane(impl, self._size, self.retrier,
                                                         self._report)
        return lane

    def close(self, timeout: float = 5.0) -> bool:
        """Stop retrying, deliver what is queued (one try each) within ``timeout``
        seconds, and report the rest as not delivered; True when nothing was left."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
        self.retrier.stop()
        for lane in lanes:
            lane.finish()
        for lane in lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
        late = [lane for lane in lanes if lane.thread.is_alive()]
        for lane in late:
            lane.abandon()
        return not late

    def _report(self, alert: Alert, sink: str, delivered: bool, error: str | None) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(alert, sink, delivered, error)
        except Exception as exc:  # noqa: BLE001 - a broken callback must not stop delivery
            log.error("alert on_result callback failed",
                      extra=fields(sink=sink, error=describe(exc)))
