"""Health over time: one plugin's snapshots as rows, and every plugin's incidents.

``zepix health ID --hours H`` and ``GET /api/v1/health/{id}/history`` show
``series``; ``zepix health --incidents`` and ``GET /api/v1/incidents`` show
``incidents``: periods during which a plugin's status was not HEALTHY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from zepix_core.contract.model import HealthStatus
from zepix_core.storage import Row, Store

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


def series_row(snap: Mapping[str, Any]) -> dict[str, Any]:
    latency = snap.get("latency_ms") or {}
    return {
        "timestamp": snap["timestamp"], "status": snap["status"],
        "version": snap.get("version"), "p50_ms": latency.get("p50"),
        "p95_ms": latency.get("p95"), "p99_ms": latency.get("p99"),
        "calls": snap.get("calls"), "errors": snap.get("errors"),
        "error_rate": snap.get("error_rate"), "breaker": snap.get("breaker"),
        "reasons": list(snap.get("reasons") or []),
    }


def series(store: Store, plugin_id: str, hours: float, now: float) -> list[dict[str, Any]]:
    """One plugin's snapshots over the last ``hours``, oldest first."""
    since = now - check_hours(hours) * HOUR
    return [series_row(s) for s in store.snapshots_since(plugin_id, since)]


def incidents(store: Store, hours: float, now: float) -> list[dict[str, Any]]:
    """Periods of non-HEALTHY status of every plugin over the last ``hours``, newest
    first; ``ended_at`` is None while one goes on."""
    since = now - check_hours(hours) * HOUR
    found: list[dict[str, Any]] = []
    for plugin_id, rows in groupby(store.statuses_since(since), key=lambda r: r["plugin_id"]):
        found += periods(plugin_id, list(rows), now)
    found.sort(key=lambda p: p["started_at"], reverse=True)
    return found


def periods(plugin_id: str, rows: Sequence[Row], now: float) -> list[dict[str, object]]:
    """Runs of non-HEALTHY ``status`` in ``rows`` (one plugin, oldest first)."""
    found: list[dict[str, object]] = []
    current: dict[str, Any] | None = None
    for row in rows:
        if row["status"] == HealthStatus.HEALTHY.value:
            if current is not None:
                found.append(_close(current, row["ts"]))
                current = None
            continue
        if current is None:
            current = {"plugin_id": plugin_id, "started_at": row["ts"], "ended_at": None,
                       "worst": row["status"], "statuses": [], "rounds": 0}
        current["rounds"] += 1
        if row["status"] not in current["statuses"]:
            current["statuses"].append(row["status"])
        if SEVERITY.get(row["status"], 0) > SEVERITY.get(current["worst"], 0):
            current["worst"] = row["status"]
        current["last_seen"] = row["ts"]
    if current is not None:
        found.append({**current, "duration_s": now - current["started_at"]})
    return found


def _close(period: dict[str, Any], ended_at: float) -> dict[str, Any]:
    return {**period, "ended_at": ended_at, "duration_s": ended_at - period["started_at"]}
