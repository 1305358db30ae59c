"""From verdicts to delivered alerts: the monitor's alert pipeline.

Each round, every breach a plugin's verdict holds is observed as firing and
every health condition still open for it but absent now as cleared;
``AlertManager`` decides what is news, the store records it, and
``AlertDispatcher`` delivers it to the sinks on its own thread, so a failing
sink never slows a round. Conditions the health rules do not judge (a
version change, a restart) are raised and cleared by their owners through
``raise_event``; a verdict never resolves them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zepix_core.alerts.alertmanager import AlertmanagerSink
from zepix_core.alerts.delivery import AlertDispatcher
from zepix_core.alerts.manager import AlertManager
from zepix_core.alerts.sinks import WebhookSink, build_host_manager, webhook_headers
from zepix_core.contract.configschema import require
from zepix_core.contract.errors import StorageError
from zepix_core.contract.logs import fields
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.contract.redact import redact_text
from zepix_core.health.rules import BREACH_KINDS, Verdict
from zepix_core.loading.tables import ALERTS
from zepix_core.retry import Retrier
from zepix_core.storage.repos import AlertRepo

log = logging.getLogger("zepix.alerts")

_RANK = {level: rank for rank, level in enumerate(AlertLevel)}
#: ``[alerts]`` with its defaults, declared in ``loading.tables``.
SETTINGS = ALERTS.defaults()

#: The one plugin id of alerts about the host itself (the database, the config,
#: an outbound operation failing): ``zepix:database``, ``zepix:retry:sync``, ...
#: It cannot clash with a plugin, whose ids are entry-point names.
HOST_ALERTS = "zepix"

#: The sink name a delivery is recorded under when a silence held the alert back.
SILENCED = "silenced"


@dataclass
class _Test:
    """A test alert in flight: the alert (kept, so its id is not reused), each sink's
    outcome, and whether to drop the entry once every sink answered."""

    alert: Alert
    expected: int
    forget: bool = False
    results: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    done: threading.Condition = field(default_factory=threading.Condition)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

#: Breaches of one condition share a fingerprint, so a missed ping that turns
#: into HUNG escalates the same alert instead of raising a second one; a memory
#: trend escalates the plugin's ``anomaly`` alert to HIGH.
CONDITION = {"ping_missed": "responsiveness", "hung": "responsiveness", "dead": "liveness",
             "memory_trend": "anomaly"}

#: The alert kinds verdicts own: opened by a breach, resolved when it is gone.
HEALTH_CONDITIONS = frozenset(CONDITION.get(kind, kind) for kind in BREACH_KINDS)


class Alerting:
    def __init__(self, store: AlertRepo, settings: Mapping[str, Any], clock: Callable[[], float],
                 wall: Callable[[], float],
                 sinks: Sequence[object] = (), retrier: Retrier | None = None) -> None:
        require(ALERTS, settings, ("alerts",), "[alerts]")
        self.store = store
        self.wall = wall
        self.manager = AlertManager(clock, wall,
                                    float(settings.get("cooldown", SETTINGS["cooldown"])))
        retrier = retrier if retrier is not None else Retrier()
        self.alertmanager = _alertmanager(settings, retrier, wall)
        extra = [*_webhook(settings), *([self.alertmanager] if self.alertmanager else [])]
        self.pm = build_host_manager([*sinks, *extra])
        self.dispatcher = AlertDispatcher(self.pm, on_result=self._delivered, retrier=retrier)
        self.dispatcher.retrier.stats.on_streak = self._retry_streak
        if self.alertmanager is not None:  # alerts a previous host left firing
            self.alertmanager.restore(_open_records(store))
        self.manager.restore(_open_records(store))
        #: Test alerts in flight (``test``): their outcomes, not recorded.
        self._tests: dict[int, _Test] = {}
        # AlertManager is not thread safe; crash callbacks raise alerts from worker
        # watcher threads while a round may be observing verdicts.
        self._lock = threading.RLock()

    def observe(self, plugin_id: str, verdict: Verdict) -> list[Alert]:
        """Turn one plugin's verdict into alert events, record and deliver them."""
        with self._lock:
            return self._observe(plugin_id, verdict)

    def _observe(self, plugin_id: str, verdict: Verdict) -> list[Alert]:
        firing: dict[str, tuple[AlertLevel, str, dict[str, object]]] = {}
        for breach in verdict.reasons:
            kind = CONDITION.get(breach.kind, breach.kind)
            if kind not in firing or _RANK[breach.level] > _RANK[firing[kind][0]]:
                firing[kind] = (breach.level, breach.message,
                                {"status": verdict.status.value, "value": breach.value,
                                 "limit": breach.limit})
        prefix = f"{plugin_id}:"
        opened = {fp[len(prefix):] for fp in self.manager.open_fingerprints()
                  if fp.startswith(prefix) and fp[len(prefix):] in HEALTH_CONDITIONS}
        events: list[Alert] = []
        for kind in sorted(set(firing) | opened):
            level, message, details = firing.get(kind, (AlertLevel.INFO, "", {}))
            events += self.manager.observe(plugin_id, kind, level, kind in firing, message,
                                           details)
        return self.emit(events)

    def raise_event(self, plugin_id: str, kind: str, level: AlertLevel, message: str,
                    firing: bool = True) -> list[Alert]:
        """An alert from outside the health rules (restarts, breaker, versions)."""
        with self._lock:
            return self.emit(self.manager.observe(plugin_id, kind, level, firing, message))

    def forget(self, plugin_id: str, why: str) -> list[Alert]:
        with self._lock:
            return self.emit(self.manager.resolve_plugin(plugin_id, why))

    def open_fingerprints(self) -> list[str]:
        with self._lock:
            return self.manager.open_fingerprints()

    def emit(self, events: list[Alert]) -> list[Alert]:
        if events:
            self.store.record_alerts(events)
            for alert in events:
                log.info("alert", extra=fields(plugin=alert.plugin_id, kind=alert.kind,
                                               level=alert.level.value, event=alert.event))
                silence = self._silence(alert)
                if silence is None:
                    self.dispatcher.submit(alert)
                else:
                    self._delivered(alert, SILENCED, False, silence)
        return events

    def _silence(self, alert: Alert) -> str | None:
        """Why ``alert`` is not delivered (a silence covers it), or None."""
        try:
            row = self.store.silence_for(alert.plugin_id, alert.kind, self.wall())
        except (StorageError, sqlite3.Error):  # unknown: deliver rather than lose it
            return None
        if row is None:
            return None
        return (f"silenced by silence {row['id']} ({row['actor']}: {row['reason']}) until "
                f"{_iso(row['until'])}")

    def test(self, actor: str, timeout: float = 30.0) -> list[dict[str, object]]:
        """Send a test alert through every sink and wait (up to ``timeout`` seconds) for
        each one's outcome: ``sink``, ``delivered``, ``error``. Then the same alert as
        resolved, so nothing stays firing (Alertmanager). Nothing is recorded."""
        names = [impl.plugin_name for impl in self.pm.hook.alert_sink.get_hookimpls()]
        alert = Alert(HOST_ALERTS, "test", AlertLevel.INFO,
                      f"test alert sent by {actor}: alert delivery works", self.wall(),
                      details={"test": True})
        test = self._tests[id(alert)] = _Test(alert, len(names))
        results, done = test.results, test.done
        try:
            self.dispatcher.submit(alert)
            with done:
                done.wait_for(lambda: len(results) >= len(names), timeout)
        finally:
            self._tests.pop(id(alert), None)
        ended = Alert(alert.plugin_id, alert.kind, alert.level, alert.message, self.wall(),
                      event="resolved", resolved=True, details=alert.details)
        self._tests[id(ended)] = _Test(ended, len(names), forget=True)  # not recorded either
        self.dispatcher.submit(ended)
        return [{"sink": name, "delivered": results[name][0] if name in results else False,
                 "error": results[name][1] if name in results else
                 f"no answer within {timeout:g}s"} for name in names]

    def _delivered(self, alert: Alert, sink: str, delivered: bool, error: str | None) -> None:
        error = None if error is None else redact_text(error)
        test = self._tests.get(id(alert))
        if test is not None and test.alert is alert:
            with test.done:
                test.results[sink] = (delivered, error)
                test.done.notify_all()
            if test.forget and len(test.results) >= test.expected:
                self._tests.pop(id(alert), None)
            return
        try:
            self.store.record_delivery(alert.fingerprint, sink, delivered, error, self.wall())
        except (StorageError, sqlite3.Error) as exc:  # bookkeeping never kills delivery
            log.warning("delivery not recorded", extra=fields(sink=sink, error=str(exc)))

    def _retry_streak(self, operation: str, streak: int, firing: bool,
                      error: str | None) -> None:
        """An outbound operation exhausted its retries ``streak`` times in a row
        (``firing``), or succeeded again."""
        message = (f"{operation}: retries exhausted {streak} times in a row; last error: "
                   f"{error}" if firing else f"{operation}: delivering again")
        self.raise_event(HOST_ALERTS, f"retry:{operation}", AlertLevel.HIGH, message, firing)

    def start_watchdog(self, pid: int) -> None:
        """The host runs: keep Alertmanager's ``ZepixWatchdog`` firing (if configured)."""
        if self.alertmanager is not None:
            self.alertmanager.start_watchdog(pid)

    def close(self, timeout: float = 5.0) -> None:
        self.dispatcher.close(timeout)
        if self.alertmanager is not None:
            self.alertmanager.close()


def _alertmanager(settings: Mapping[str, Any], retrier: Retrier,
                  wall: Callable[[], float]) -> AlertmanagerSink | None:
    url = settings.get("alertmanager_url")
    if not url:
        return None
    resend = settings.get("alertmanager_resend", SETTINGS["alertmanager_resend"])
    return AlertmanagerSink(str(url), retrier, resend=float(resend), wall=wall)


def _webhook(settings: Mapping[str, Any]) -> list[WebhookSink]:
    timeout = settings.get("webhook_timeout", SETTINGS["webhook_timeout"])
    url = settings.get("webhook_url")
    if not url:
        return []
    headers = webhook_headers(settings.get("webhook_headers_file"),
                              settings.get("webhook_headers_env"))
    return [WebhookSink(url, timeout=float(timeout), headers=headers)]


def _open_records(store: AlertRepo) -> list[dict[str, object]]:
    return [{"plugin_id": r["plugin_id"], "kind": r["kind"], "level": r["level"],
             "message": r["message"], "fired_at": r["fired_at"], "sent_at": r["last_sent_at"],
             "sent_level": r["level"], "details": r["details"]}
            for r in store.alerts(unresolved=True, limit=10_000)]
