"""Structured logs: fields travel as fields; text for people, one JSON object per line for machines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from zepix_core.contract.logs import JsonFormatter, KeyValueFormatter, fields, fields_of


def _record(message: str, **values: object) -> logging.LogRecord:
    logger = logging.getLogger("zepix.test")
    return logger.makeRecord("zepix.test", logging.WARNING, __file__, 1, message, (), None,
                             extra=fields(**values))


def test_fields_are_kept_apart_from_the_message() -> None:
    record = _record("crash", plugin="p1", code=3)
    assert record.getMessage() == "crash"
    assert fields_of(record) == {"plugin": "p1", "code": 3}


def test_text_puts_fields_after_the_event_and_quotes_what_needs_it() -> None:
    line = KeyValueFormatter().format(_record("gate failed", plugin="p1", why="p95 too high",
                                              version="1.2.0"))
    assert line.endswith('WARNING zepix.test gate failed plugin=p1 why="p95 too high" '
                         'version=1.2.0')


def test_json_is_one_strict_object_per_event() -> None:
    line = JsonFormatter().format(_record("breaker", plugin="p1", ratio=float("nan"),
                                          path=Path("/x")))
    doc = json.loads(line)
    assert doc["event"] == "breaker" and doc["level"] == "WARNING"
    assert doc["logger"] == "zepix.test" and doc["plugin"] == "p1"
    assert doc["ratio"] == "nan" and doc["path"] == "/x"  # never NaN, never a crash
    assert doc["time"].endswith("+00:00")


def test_a_plain_stdlib_message_still_renders() -> None:
    logger = logging.getLogger("zepix.test.plain")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        logger.warning("disk %s is %d%% full", "/var", 93)
    finally:
        logger.removeHandler(handler)
    assert json.loads(stream.getvalue())["event"] == "disk /var is 93% full"


def test_run_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    env = {**os.environ, "ZEPIX_HOME": str(tmp_path), "ZEPIX_DB": str(tmp_path / "z.db")}
    done = subprocess.run(
        [sys.executable, "-m", "zepix_core.cli.main", "run", "--once", "--log-format", "json",
         "-v"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    docs = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    activated = {d["plugin"] for d in docs if d["event"] == "activated"}
    assert {"combined_v3", "price_action_1m"} <= activated
    assert all({"time", "level", "logger", "event"} <= d.keys() for d in docs)
