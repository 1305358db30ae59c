"""Presentation at the edge: tables for people, one JSON document for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from zepix_core.app.records import TIME_FIELDS, iso, jsonable

__all__ = ["TIME_FIELDS", "emit_json", "iso", "jsonable", "table"]


def emit_json(document: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    json.dump(jsonable(document), stream, indent=2, sort_keys=False, allow_nan=False)
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
    """A plain aligned table; long cells are cut to ``width`` with an ellipsis."""
    stream = out or sys.stdout
    heads = list(headers or [c.upper() for c in columns])
    cells = [[_cut(_cell(row.get(c), c), width) for c in columns] for row in rows]
    sizes = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    lines = [heads, *cells]
    for line in lines:
        stream.write("  ".join(v.ljust(sizes[i]) for i, v in enumerate(line)).rstrip() + "\n")
    if not rows:
        stream.write("(none)\n")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
