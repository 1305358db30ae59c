"""Records to plain JSON data: epoch-second time fields become ISO 8601 UTC strings."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from zepix_core.contract.jsondoc import JSON

#: Record fields holding epoch seconds, shown as ISO 8601 UTC.
TIME_FIELDS = frozenset({
    "timestamp", "ts", "activated_at", "deactivated_at", "first_seen", "last_active",
    "fired_at", "last_sent_at", "resolved_at", "requested_at", "applied_at", "started_at",
    "stopped_at", "heartbeat_at", "last_activity", "updated_at", "last_error_at",
    "ended_at", "last_seen", "opened_at", "closed_at", "last_success", "last_attempt",
    "synced_at", "last_failure", "first_fill", "last_fill",
})


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC; None for no time or one no calendar can show (NaN, year 58883)."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return None


def jsonable(value: object, key: str = "") -> JSON:
    """Times to ISO strings (by field name), enums and other objects to plain data."""
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


def jsonable_rows(rows: Iterable[Mapping[str, object]]) -> list[dict[str, JSON]]:
    """``jsonable`` of each record of ``rows``."""
    return [{str(k): jsonable(v, str(k)) for k, v in row.items()} for row in rows]
