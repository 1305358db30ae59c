"""Structured log events: the fields travel as fields, rendering happens at the edge.

Code logs an event name and its fields::

    log.warning("plugin crashed", extra=fields(plugin=plugin_id, code=3))

:class:`KeyValueFormatter` renders that for people
(``... WARNING zepix.supervision plugin crashed plugin=x code=3``) and
:class:`JsonFormatter` as one JSON object per line
(``{"time": ..., "level": "WARNING", "logger": ..., "event": "plugin crashed",
"plugin": "x", "code": 3}``).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import TextIO

from zepix_core.contract.redact import redact_field, redact_source
from zepix_core.contract.terminal import printable

_KEY = "zepix_fields"


def fields(**values: object) -> dict[str, object]:
    """The ``extra`` argument of a logging call that carries ``values`` as fields."""
    return {_KEY: values}


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields attached to ``record`` (empty for a plain message)."""
    found = getattr(record, _KEY, None)
    return dict(found) if isinstance(found, dict) else {}


def _plain(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(_plain(value))
    if text == "" or any(c.isspace() or c in "\"=" for c in text):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """``time LEVEL logger event key=value ...`` for people reading a terminal."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s " + prefix + "%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return printable(self._line(record))  # a terminal reads it: no control characters

    def _line(self, record: logging.LogRecord) -> str:
        line = redact_source(super().format(record))  # no URL credentials in a log line
        extra = fields_of(record)
        if not extra:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(f"{k}={_text(redact_field(k, v))}" for k, v in extra.items())
        return f"{head} {pairs}{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """One strict JSON object per line, for log shippers."""

    def __init__(self, static: dict[str, object] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": redact_source(record.getMessage()),
            **self._static,
        }
        for key, value in fields_of(record).items():
            doc.setdefault(key, _plain(redact_field(key, value)))
        if record.exc_info:
            doc["exception"] = redact_source(self.formatException(record.exc_info))
        return json.dumps(doc, allow_nan=False)


def configure(level: int, *, json_lines: bool, stream: TextIO, prefix: str = "",
              static: dict[str, object] | None = None) -> None:
    """Send the root logger's records to ``stream`` in the chosen format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(static) if json_lines else KeyValueFormatter(prefix))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
