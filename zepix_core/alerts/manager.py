"""Turning conditions observed each round into alert events worth delivering.

``AlertManager.observe`` is called every round for every condition the host
judges (firing or not) and returns the events to hand to the alert sinks:

- A condition is identified by its fingerprint, ``plugin_id:kind``; the
  message text (with its changing numbers) never makes a new alert.
- A condition that starts firing is delivered at once (``fired``).
- While it keeps firing it is repeated at most once per ``cooldown``
  (``repeated``), carrying the current level and message.
- A rise above the level last delivered is delivered at once (``fired``,
  with ``escalated_from``): a worse condition is news. So CRITICAL is never
  held back by the cooldown: a condition that escalates to CRITICAL, or a
  CRITICAL that fires again after resolving, goes out at once. An unchanged
  CRITICAL still repeats once per cooldown, not every round: a page every
  30 s buries everything else and says nothing new.
- A drop in level is not news on its own; the next repeat carries it.
- When the condition clears, a ``resolved`` event goes out at once and the
  fingerprint is forgotten, so a later firing is new again.

``state()`` and ``restore()`` carry the open alerts across a restart as plain
records, so a restarted host neither fires again what it already reported
nor forgets to resolve it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.contract.redact import redact_source

_RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.HIGH: 2, AlertLevel.CRITICAL: 3}


@dataclass
class _Open:
    """An alert that is firing. ``sent_at`` is wall time, ``sent_mono`` the
    monotonic time of the last delivery, which the cooldown is measured on."""

    plugin_id: str
    kind: str
    level: AlertLevel
    message: str
    fired_at: float
    sent_at: float
    sent_mono: float
    sent_level: AlertLevel
    details: dict[str, object] = field(default_factory=dict)
    suppressed: int = 0


class AlertManager:
    """Deduplicates, throttles and resolves alerts; used by the monitoring
    round only (not thread safe). ``clock`` is monotonic, ``wall`` epoch."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        cooldown: float = 300.0,
    ) -> None:
        if cooldown < 0:
            raise ValueError(f"cooldown must not be negative, got {cooldown}")
        self.cooldown = cooldown
        self._clock = clock
        self._wall = wall
        self._open: dict[str, _Open] = {}

    def observe(
        self,
        plugin_id: str,
        kind: str,
        level: AlertLevel | str,
        firing: bool,
        message: str,
        details: Mapping[str, object] | None = None,
    ) -> list[Alert]:
        """Note whether a condition fires this round; return the events to deliver."""
        message = redact_source(message)  # stored, shown and sent: never URL credentials
        key = f"{plugin_id}:{kind}"
        current = self._open.get(key)
        if not firing:
            if current is None:
                return []
            del self._open[key]
            return [self._resolution(current, message, details)]
        level = AlertLevel(level)
        if current is None:
            now = self._wall()
            current = self._open[key] = _Open(
                plugin_id, kind, level, message, fired_at=now, sent_at=now,
                sent_mono=self._clock(), sent_level=level, details=dict(details or {}))
            return [self._event(current, "fired", {})]
        current.level, current.message = level, message
        current.details = dict(details or {})
        if _RANK[level] > _RANK[current.sent_level]:
            return [self._send(current, "fired", {"escalated_from": str(current.sent_level)})]
        if self._clock() - current.sent_mono >= self.cooldown:
            extra = {"fired_at": current.fired_at, "suppressed": current.suppressed}
            return [self._send(current, "repeated", extra)]
        current.suppressed += 1
        return []

    def resolve_plugin(self, plugin_id: str, message: str) -> list[Alert]:
        """Resolve every open alert of a plugin the host no longer checks
        (deactivated, uninstalled)."""
        keys = [k for k, a in self._open.items() if a.plugin_id == plugin_id]
        return [self._resolution(self._open.pop(k), message, None) for k in keys]

    def open_fingerprints(self) -> list[str]:
        return sorted(self._open)

    def _send(self, current: _Open, event: str, extra: Mapping[str, object]) -> Alert:
        current.sent_at, current.sent_mono = self._wall(), self._clock()
        current.sent_level, current.suppressed = current.level, 0
        return self._event(current, event, extra)

    def _event(self, current: _Open, event: str, extra: Mapping[str, object]) -> Alert:
        return Alert(current.plugin_id, current.kind, current.level, current.message,
                     timestamp=current.sent_at, event=event,
                     details={**current.details, **extra})

    def _resolution(self, current: _Open, message: str,
                    details: Mapping[str, object] | None) -> Alert:
        now = self._wall()
        extra = {"fired_at": current.fired_at, "duration_s": now - current.fired_at}
        return Alert(current.plugin_id, current.kind, current.level,
                     message or f"resolved: {current.message}", timestamp=now,
                     event="resolved", resolved=True, details={**(details or {}), **extra})

    def state(self) -> list[dict[str, object]]:
        """The open alerts as plain records (JSON-ready), for persistence."""
        return [
            {"plugin_id": a.plugin_id, "kind": a.kind, "level": a.level.value,
             "message": a.message, "fired_at": a.fired_at, "sent_at": a.sent_at,
             "sent_level": a.sent_level.value, "suppressed": a.suppressed,
             "details": dict(a.details)}
            for a in self._open.values()
        ]

    def restore(self, records: Iterable[Mapping[str, object]]) -> None:
        """Replace the open alerts with ``records`` from ``state()``.

        The cooldown continues from each alert's last delivery (wall time), so
        a condition still firing after a restart repeats only when due.
        Raises ``ValueError`` naming the record for a malformed one.
        """
        restored: dict[str, _Open] = {}
        for record in records:
            try:
                alert = self._from_record(record)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"malformed alert record {dict(record)!r:.200}: {exc!r}") from exc
            restored[f"{alert.plugin_id}:{alert.kind}"] = alert
        self._open = restored

    def _from_record(self, record: Mapping[str, Any]) -> _Open:
        sent_at = float(record["sent_at"])
        age = max(0.0, self._wall() - sent_at)
        return _Open(
            plugin_id=str(record["plugin_id"]), kind=str(record["kind"]),
            level=AlertLevel(record["level"]), message=str(record["message"]),
            fired_at=float(record["fired_at"]), sent_at=sent_at,
            sent_mono=self._clock() - age, sent_level=AlertLevel(record["sent_level"]),
            details=dict(record.get("details") or {}),
            suppressed=int(record.get("suppressed", 0)),
        )
