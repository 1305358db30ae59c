"""Alert sink for Prometheus Alertmanager's v2 API (``POST /api/v2/alerts``).

Each alert becomes an Alertmanager alert with labels ``alertname``,
``plugin``, ``kind`` and ``severity`` (bounded: no message, no version),
the message as the ``summary`` annotation and ``startsAt`` from when it
first fired. Alertmanager forgets an alert that is not re-sent before its
``endsAt``, so a firing alert is sent again every ``resend`` seconds with
``endsAt`` four resends ahead (a host that dies lets its alerts lapse
instead of firing for ever); a resolution is sent once with ``endsAt`` now.

Alertmanager's identity of an alert is its whole label set, severity
included; the host's is (plugin, kind). So every send that fires, escalates
or resolves an alert also ends the copies of the other severities (``endsAt``
now): an escalation replaces the warning instead of leaving it beside the
critical, and a resolution leaves nothing of that (plugin, kind) firing.
Alertmanager notifies nothing for a resolved copy it never notified as firing.

While the host runs, ``start_watchdog`` keeps an always-firing ``ZepixWatchdog``
alert (the dead-man's switch): when the host dies it lapses, and a
dead-man's-switch receiver pages on its absence.
Every send goes through the retry framework as operation
``sink.alertmanager``, so the dispatcher does not retry it a second time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from zepix_core.contract.errors import ConfigError
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert
from zepix_core.contract.redact import redact_url
from zepix_core.retry import Retrier, RetryFailed
from zepix_core.retry.http import request

log = logging.getLogger("zepix.alerts")

OPERATION = "sink.alertmanager"

#: Alertmanager's ``severity`` label values (the alert levels, lower case).
SEVERITIES = ("info", "warning", "high", "critical")
WATCHDOG = "ZepixWatchdog"


class Payload(TypedDict):
    """One alert as Alertmanager's ``POST /api/v2/alerts`` takes it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str  # Alertmanager's field names
    endsAt: NotRequired[str]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class AlertmanagerSink:
    """Delivers alerts to the Alertmanager at ``url`` (its base, e.g. ``http://am:9093``)."""

    name = "alertmanager"
    retry_operation = OPERATION

    def __init__(self, url: str, retrier: Retrier, *, resend: float = 60.0,
                 timeout: float = 5.0, wall: Callable[[], float] = time.time) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"alerts.alertmanager_url must be http:// or https://, got "
                              f"{redact_url(url)!r}")
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.retrier, self.resend, self.timeout, self.wall = retrier, resend, timeout, wall
        self._firing: dict[str, Payload] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start_watchdog(self, pid: int) -> None:
        """Fire ``ZepixWatchdog`` now and keep re-sending it until ``close``."""
        payload: Payload = {"labels": {"alertname": WATCHDOG, "source": "zepix", "severity": "none"},
                            "annotations": {
                                "summary": f"the zepix host (pid {pid}) is running; always "
                                           "firing while it does (a dead-man's switch)"},
                            "startsAt": _iso(self.wall())}
        with self._lock:
            self._firing[WATCHDOG] = payload
            self._ensure_thread()
        self._wake.set()

    def restore(self, records: Iterable[Mapping[str, object]]) -> None:
        """Alerts a previous host left firing: keep re-sending them."""
        for r in records:
            fired = r["fired_at"]
            self._remember(str(r["plugin_id"]), str(r["kind"]), str(r["level"]),
                           str(r["message"]),
                           float(fired) if isinstance(fired, int | float) else self.wall())

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        if alert.resolved:
            with self._lock:
                payload = self._firing.pop(alert.fingerprint, None)
            if payload is None:
                payload = self._payload(alert.plugin_id, alert.kind, alert.level.value,
                                        alert.message, alert.timestamp)
            payload["endsAt"] = _iso(self.wall())
            self.post([payload, *self._others(payload)])
            return
        payload = self._remember(alert.plugin_id, alert.kind, alert.level.value,
                                 alert.message, alert.timestamp)
        self.post([self._due(payload), *self._others(payload)])

    def _others(self, payload: Payload) -> list[Payload]:
        """Copies of ``payload`` with every other severity, ended now."""
        now = _iso(self.wall())
        return [{**payload, "labels": {**payload["labels"], "severity": severity},
                 "endsAt": now}
                for severity in SEVERITIES if severity != payload["labels"]["severity"]]

    def _remember(self, plugin_id: str, kind: str, level: str, message: str,
                  fired_at: float) -> Payload:
        fingerprint = f"{plugin_id}:{kind}"
        with self._lock:
            old = self._firing.get(fingerprint)
            payload = self._payload(plugin_id, kind, level, message,
                                    fired_at if old is None else 0.0)
            if old is not None:
                payload["startsAt"] = old["startsAt"]
            self._firing[fingerprint] = payload
            self._ensure_thread()
        return payload

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._resend_loop, daemon=True,
                                            name="zepix-alertmanager")
            self._thread.start()

    @staticmethod
    def _payload(plugin_id: str, kind: str, level: str, message: str,
                 fired_at: float) -> Payload:
        return {"labels": {"alertname": f"zepix_{kind}", "plugin": plugin_id, "kind": kind,
                           "severity": level.lower(), "source": "zepix"},
                "annotations": {"summary": message}, "startsAt": _iso(fired_at)}

    def _due(self, payload: Payload) -> Payload:
        return {**payload, "endsAt": _iso(self.wall() + 4 * self.resend)}

    def post(self, alerts: Sequence[Payload]) -> None:
        """One POST; raises on failure (the caller retries)."""
        body = json.dumps(alerts).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "zepix-alerts"}
        request(self.endpoint, body=body, headers=headers, timeout=self.timeout)

    def _resend_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.resend)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                firing = [self._due(p) for p in self._firing.values()]
            if not firing:
                continue
            try:
                self.retrier.run(OPERATION, lambda batch=firing: self.post(batch))  # type: ignore[misc]
            except RetryFailed as exc:
                log.warning("alertmanager resend failed",
                            extra=fields(alerts=len(firing), error=str(exc)))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def firing(self) -> list[str]:
        """``plugin:kind`` of the alerts re-sent (the watchdog aside)."""
        with self._lock:
            return sorted(key for key in self._firing if key != WATCHDOG)
