"""Secrets never leave through a log line, an alert or an HTTP answer: URL
credentials become ``***@`` and fields named like a token or password become
``***`` (contract section 16; the config commands redact through the schema)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from tests.livehost import live_host, wait_until
from zepix_core.contract import logs
from zepix_core.contract.logs import fields
from zepix_core.contract.model import AlertLevel

URL = "postgresql://ledger:hunter2@db.example:5432/zepix"


def logged(json_lines: bool) -> str:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure(logging.INFO, json_lines=json_lines, stream=out)
    try:
        log = logging.getLogger("zepix.test")
        log.warning(f"cannot reach {URL}", extra=fields(
            url=URL, password="hunter2", api_token="tok-123", retries=3))
        try:
            raise ConnectionError(f"connect to {URL} refused")
        except ConnectionError:
            log.exception("sync failed", extra=fields(error=f"refused by {URL}"))
    finally:
        root.handlers[:], root.level = saved
    return out.getvalue()


def test_log_lines_show_no_secret_in_either_format() -> None:
    for json_lines in (False, True):
        text = logged(json_lines)
        assert "hunter2" not in text and "tok-123" not in text, text
        assert "***@db.example:5432" in text
        assert "retries" in text
    first = json.loads(logged(True).splitlines()[0])
    assert first["password"] == "***" and first["api_token"] == "***"
    assert first["retries"] == 3


def test_an_alert_with_url_credentials_is_stored_and_served_without_them(
        zepix_home: Path) -> None:
    config = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"
    with live_host(zepix_home, config=config) as live, live.client() as http:
        live.host.monitor.alerting.raise_event("combined_v3", "ledger", AlertLevel.CRITICAL,
                                               f"cannot reach {URL}")
        served = wait_until(lambda: [a for a in http.get("/api/v1/alerts").json()
                                     if a["kind"] == "ledger"], timeout=30)
        assert "hunter2" not in json.dumps(served)
        assert "***@db.example:5432" in served[0]["message"]
        stored = [a["message"] for a in live.host.store.alerts("combined_v3")]
        assert stored and not any("hunter2" in m for m in stored)
