"""The documents the operator surfaces share: ``zepix plugins/health --json``, the
embedding API's reads (and later HTTP). Built here so every edge returns the same."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from zepix_core.execution.lifecycle import PluginSlot

#: Record fields holding epoch seconds, shown as ISO 8601 UTC.
TIME_FIELDS = frozenset({
    "timestamp", "ts", "activated_at", "deactivated_at", "first_seen", "last_active",
    "fired_at", "last_sent_at", "resolved_at", "requested_at", "applied_at", "started_at",
    "stopped_at", "heartbeat_at", "last_activity", "updated_at", "last_error_at",
    "first_fill", "last_fill",
})


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def jsonable(value: Any, key: str = "") -> Any:
    """Times to ISO strings (by field name), enums and other objects to plain data;
    a non-finite float becomes None, so the document is strict JSON."""
    if key in TIME_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso(float(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def plugin_row(slot: PluginSlot) -> dict[str, Any]:
    """One plugin as ``zepix plugins --json`` lists it."""
    meta = slot.meta.as_dict() if slot.meta else {}
    return {
        "id": slot.plugin_id, "distribution": slot.record.distribution,
        "version": slot.version, "state": slot.state.value, "reason": slot.reason,
        "reported_version": meta.get("version"), "requires_api": meta.get("requires_api"),
        "requires": meta.get("requires", {}), "features": meta.get("features", []),
        "isolation": slot.config.isolation, "entry_point": slot.record.value,
    }
