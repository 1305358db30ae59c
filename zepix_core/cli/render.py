"""Presentation at the edge: tables for people, one JSON document for machines."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

#: Record fields holding epoch seconds, shown as ISO 8601 UTC.
TIME_FIELDS = frozenset({
    "timestamp", "ts", "activated_at", "deactivated_at", "first_seen", "last_active",
    "fired_at", "last_sent_at", "resolved_at", "requested_at", "applied_at", "started_at",
    "stopped_at", "heartbeat_at", "last_activity", "updated_at", "last_error_at",
    "opened_at", "closed_at", "last_success", "last_attempt", "ended_at", "synced_at",
    "last_failure",
})


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def jsonable(value: Any, key: str = "") -> Any:
    """Times to ISO strings (by field name), enums and other objects to plain data."""
    if key in TIME_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso(float(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def emit_json(document: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    json.dump(jsonable(document), stream, indent=2, sort_keys=False)
    stream.write("\n")


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key in TIME_FIELDS and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
          headers: Sequence[str] | None = None, out: TextIO | None = None,
          width: int = 60) -> None:
    """A plain aligned table; a cell longer than ``width`` wraps onto further lines."""
    stream = out or sys.stdout
    heads = list(headers or [c.upper() for c in columns])
    cells = [[_wrap(_cell(row.get(c), c), width) for c in columns] for row in rows]
    sizes = [max([len(h)] + [len(line) for r in cells for line in r[i]])
             for i, h in enumerate(heads)]
    for row in [[[h] for h in heads], *cells]:
        for n in range(max(len(c) for c in row)):
            parts = [(c[n] if n < len(c) else "").ljust(sizes[i]) for i, c in enumerate(row)]
            stream.write("  ".join(parts).rstrip() + "\n")
    if not rows:
        stream.write("(none)\n")


def _wrap(text: str, width: int) -> list[str]:
    text = " ".join(text.split())
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def wrapped(name: str, value: Any, indent: int = 0, width: int = 76) -> str:
    """``name: value`` for a detail view, the value wrapped under itself."""
    head = " " * indent + f"{name + ':':<14} "
    lines = _wrap(_cell(value, name), max(20, width - len(head)))
    return head + ("\n" + " " * len(head)).join(lines) + "\n"
