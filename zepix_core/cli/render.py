"""Presentation at the edge: tables for people, one JSON document for machines."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import TextIO

from zepix_core.contract.terminal import printable
from zepix_core.views.jsonable import TIME_FIELDS, iso, jsonable

__all__ = ["TIME_FIELDS", "emit_json", "iso", "jsonable", "table"]

__all__ = ["TIME_FIELDS", "emit_json", "iso", "jsonable", "sparkline", "table"]

def emit_json(document: object, out: TextIO | None = None) -> None:
    """One strict JSON document (no NaN, no Infinity) and a newline."""
    stream = out or sys.stdout
    json.dump(jsonable(document), stream, indent=2, sort_keys=False, allow_nan=False)
    stream.write("\n")


def _cell(value: object, key: str) -> str:
    return printable(_shown(value, key))


def _shown(value: object, key: str) -> str:
    if value is None:
        return "-"
    if key in TIME_FIELDS and isinstance(value, (int, float)):
        shown = iso(float(value))
        return "?" if shown is None else shown[:19].replace("T", " ")
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str],
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


def wrapped(name: str, value: object, indent: int = 0, width: int = 76) -> str:
    """``name: value`` for a detail view, the value wrapped under itself."""
    head = " " * indent + f"{name + ':':<14} "
    lines = _wrap(_cell(value, name), max(20, width - len(head)))
    return head + ("\n" + " " * len(head)).join(lines) + "\n"


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 60) -> str:
    """``values`` as one line of block characters, scaled from 0 to their maximum and
    averaged into at most ``width`` cells; a cell without values is a space."""
    if len(values) > width:
        step = len(values) / width
        groups = [values[int(i * step):int((i + 1) * step)] for i in range(width)]
    else:
        groups = [[v] for v in values]
    cells = [[v for v in g if v is not None] for g in groups]
    means = [sum(c) / len(c) if c else None for c in cells]
    top = max((m for m in means if m is not None), default=0.0)
    return "".join(" " if m is None else
                   _BARS[0] if top <= 0 else _BARS[min(7, int(m / top * 7.999))]
                   for m in means)
