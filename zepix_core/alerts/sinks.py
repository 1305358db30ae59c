"""Alert sinks and the thread that delivers alerts to them.

Sinks are plugins of the host's own hook ``HostSpec.alert_sink``: the
built-in ``LogSink`` (registered by default) and ``WebhookSink`` are written
exactly like a third-party sink would be. ``AlertDispatcher`` calls each
sink's implementation separately on a daemon thread behind a bounded queue,
so one slow or failing sink neither blocks the monitoring round nor stops the
other sinks; each delivery is retried with exponential backoff and full
jitter, then reported as undelivered.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pluggy

from zepix_core.contract.errors import ConfigError, describe
from zepix_core.contract.hookspecs import PROJECT, HostSpec, hookimpl
from zepix_core.contract.model import Alert, AlertLevel

log = logging.getLogger("zepix.alerts")

#: ``on_result(alert, sink_name, delivered, error)``
OnResult = Callable[[Alert, str, bool, "str | None"], None]

_LOG_LEVELS = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.HIGH: logging.ERROR,
    AlertLevel.CRITICAL: logging.CRITICAL,
}


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON-ready mapping; ``timestamp`` is ISO 8601 UTC and
    ``epoch`` the same instant in epoch seconds."""
    when = datetime.fromtimestamp(alert.timestamp, tz=UTC)
    return {
        "plugin_id": alert.plugin_id, "kind": alert.kind, "level": alert.level.value,
        "message": alert.message, "event": alert.event, "resolved": alert.resolved,
        "fingerprint": alert.fingerprint, "timestamp": when.isoformat(),
        "epoch": alert.timestamp, "details": alert.details,
    }


class LogSink:
    """Logs each alert as one line of key=value fields; a resolution logs at
    INFO, an alert at the logging level matching its alert level."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or log

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        level = logging.INFO if alert.resolved else _LOG_LEVELS[alert.level]
        self._logger.log(
            level, "alert plugin=%s kind=%s level=%s event=%s msg=%s",
            alert.plugin_id, alert.kind, alert.level.value, alert.event, alert.message,
            extra={"zepix_alert": alert_payload(alert)},
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a bodiless GET; fail instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSink:
    """POSTs each alert as a JSON document (``alert_payload``) to ``url``.

    Any answer but 2xx, a redirect included, and no answer within
    ``timeout`` seconds are failures, raised for the dispatcher to retry.
    """

    def __init__(self, url: str, timeout: float = 5.0,
                 headers: Mapping[str, str] | None = None, name: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook url must be http:// or https:// with a host, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "User-Agent": "zepix-alerts",
                        **(headers or {})}
        port = f":{parts.port}" if parts.port else ""
        self.name = name or f"webhook:{parts.hostname}{port}{parts.path}"
        self._opener = urllib.request.build_opener(_NoRedirect)

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        body = json.dumps(alert_payload(alert), default=str).encode()
        request = urllib.request.Request(self.url, data=body, headers=self.headers,
                                         method="POST")
        with self._opener.open(request, timeout=self.timeout) as response:
            response.read()


def build_host_manager(sinks: Iterable[object] = (), *, log_sink: bool = True
                       ) -> pluggy.PluginManager:
    """The host's own plugin manager: ``HostSpec`` hooks, the log sink
    (unless ``log_sink`` is false) and ``sinks``, each registered under its
    ``name`` attribute when it has one."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HostSpec)
    if log_sink:
        pm.register(LogSink(), name=LogSink.name)
    for sink in sinks:
        pm.register(sink, name=getattr(sink, "name", None))
    return pm


class AlertDispatcher:
    """Delivers alerts to every ``alert_sink`` of ``pm`` on one daemon thread.

    ``submit`` never blocks: when ``queue_size`` alerts are already waiting,
    the alert is dropped and reported undelivered. Each sink gets the alert
    once plus up to ``retries`` retries, sleeping ``rand() * min(max_backoff,
    backoff * 2**n)`` before retry ``n`` (full jitter, so sinks that failed
    together do not retry in lockstep). ``on_result`` hears of every delivery
    and every failure, from the delivery thread (a drop is reported from the
    caller of ``submit``).
    """

    def __init__(
        self, pm: pluggy.PluginManager, *, on_result: OnResult | None = None,
        retries: int = 3, backoff: float = 0.5, max_backoff: float = 30.0,
        queue_size: int = 1000, sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._pm = pm
        self._on_result = on_result
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self._sleep, self._rand = sleep, rand
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` for delivery; False when it was dropped."""
        with self._lock:
            if self._closed:
                self._report(alert, "dispatcher", False, "alert dispatcher is closed")
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="zepix-alerts",
                                                daemon=True)
                self._thread.start()
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self._report(alert, "dispatcher", False,
                             f"alert queue full ({self._queue.maxsize} waiting)")
                return False
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued, waiting at most ``timeout`` seconds; True
        when everything queued was handled."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return True
        try:
            self._queue.put(None, timeout=timeout)   # the stop mark, after the queued
        except queue.Full:
            return False
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            for impl in self._pm.hook.alert_sink.get_hookimpls():
                self._deliver(impl, item)

    def _deliver(self, impl: pluggy.HookImpl, alert: Alert) -> None:
        error = ""
        # A sink that retries through the retry framework itself gets one call.
        attempts = 1 if getattr(impl.plugin, "retries_itself", False) else self.retries + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._rand() * min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            try:
                impl.function(**{name: alert for name in impl.argnames})
            except BaseException as exc:  # noqa: BLE001 - a sink may raise anything; go on
                error = describe(exc)
            else:
                self._report(alert, impl.plugin_name, True, None)
                return
        log.warning("alert undelivered sink=%s plugin=%s kind=%s attempts=%d error=%s",
                    impl.plugin_name, alert.plugin_id, alert.kind, attempts, error)
        self._report(alert, impl.plugin_name, False,
                     error if attempts == 1 else f"{error} (after {attempts} attempts)")

    def _report(self, alert: Alert, sink: str, delivered: bool, error: str | None) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(alert, sink, delivered, error)
        except Exception as exc:  # noqa: BLE001 - a broken callback must not stop delivery
            log.error("alert on_result callback failed sink=%s error=%s", sink, describe(exc))
