"""Health over time: one plugin's snapshots as rows, and every plugin's incidents.

``zepix health ID --hours H`` and ``GET /api/v1/health/{id}/history`` show
``series``; ``zepix health --incidents`` and ``GET /api/v1/incidents`` show
``incidents``: periods during which a plugin's status was not HEALTHY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import TypedDict

from zepix_core.contract.model import HealthStatus
from zepix_core.storage import Store

HOUR = 3600.0
MAX_HOURS = 168

#: Worse statuses outrank milder ones when a period is summed up.
SEVERITY = {status.value: rank for rank, status in enumerate(
    (HealthStatus.HEALTHY, HealthStatus.UNKNOWN, HealthStatus.DEGRADED,
     HealthStatus.STALE, HealthStatus.HUNG, HealthStatus.DEAD))}


def check_hours(hours: float) -> float:
    """``hours`` if within 1..168, else ValueError with the one line to show."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be between 1 and {MAX_HOURS}, got {hours:g}")
    return hours


class SeriesRow(TypedDict):
    """One health snapshot as ``zepix health ID --hours H`` shows it."""

    timestamp: float
    status: str
    version: str | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    calls: float | None
    errors: float | None
    error_rate: float | None
    breaker: str | None
    reasons: list[object]


def series_row(snap: Mapping[str, object]) -> SeriesRow:
    found = snap.get("latency_ms")
    latency: Mapping[str, object] = found if isinstance(found, Mapping) else {}
    reasons = snap.get("reasons")
    return SeriesRow(
        timestamp=_time(snap["timestamp"]), status=str(snap["status"]),
        version=_text(snap.get("version")), p50_ms=_number(latency.get("p50")),
        p95_ms=_number(latency.get("p95")), p99_ms=_number(latency.get("p99")),
        calls=_number(snap.get("calls")), errors=_number(snap.get("errors")),
        error_rate=_number(snap.get("error_rate")), breaker=_text(snap.get("breaker")),
        reasons=list(reasons) if isinstance(reasons, list | tuple) else [],
    )


def _number(value: object) -> float | None:
    """A figure of a stored snapshot (an int stays an int), else None."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def series(store: Store, plugin_id: str, hours: float, now: float) -> list[SeriesRow]:
    """One plugin's snapshots over the last ``hours``, oldest first."""
    since = now - check_hours(hours) * HOUR
    return [series_row(s) for s in store.snapshots_since(plugin_id, since)]


class Incident(TypedDict, total=False):
    """A run of non-HEALTHY status of one plugin (``ended_at`` None while it goes on)."""

    plugin_id: str
    started_at: float
    ended_at: float | None
    worst: str
    statuses: list[str]
    rounds: int
    last_seen: float
    duration_s: float


def incidents(store: Store, hours: float, now: float) -> list[Incident]:
    """Periods of non-HEALTHY status of every plugin over the last ``hours``, newest
    first; ``ended_at`` is None while one goes on."""
    since = now - check_hours(hours) * HOUR
    found: list[Incident] = []
    for plugin_id, rows in groupby(store.statuses_since(since), key=lambda r: r["plugin_id"]):
        found += periods(plugin_id, list(rows), now)
    found.sort(key=lambda p: p["started_at"], reverse=True)
    return found


def periods(plugin_id: str, rows: Sequence[Mapping[str, object]], now: float) -> list[Incident]:
    """Runs of non-HEALTHY ``status`` in ``rows`` (one plugin, oldest first)."""
    found: list[Incident] = []
    current: Incident | None = None
    for row in rows:
        status, ts = str(row["status"]), _time(row["ts"])
        if status == HealthStatus.HEALTHY.value:
            if current is not None:
                found.append({**current, "ended_at": ts, "duration_s": ts - current["started_at"]})
                current = None
            continue
        if current is None:
            current = {"plugin_id": plugin_id, "started_at": ts, "ended_at": None,
                       "worst": status, "statuses": [], "rounds": 0}
        current["rounds"] += 1
        if status not in current["statuses"]:
            current["statuses"].append(status)
        if SEVERITY.get(status, 0) > SEVERITY.get(current["worst"], 0):
            current["worst"] = status
        current["last_seen"] = ts
    if current is not None:
        found.append({**current, "duration_s": now - current["started_at"]})
    return found


def _time(value: object) -> float:
    """A ``ts`` column (REAL NOT NULL, written by the host)."""
    return float(value) if isinstance(value, int | float) else 0.0
