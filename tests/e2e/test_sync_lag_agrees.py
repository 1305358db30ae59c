"""Every surface that shows the ledger's sync lag shows the same figure, computed now:
``zepix status`` and ``GET /api/v1/status`` (``sync_lag_seconds``, the largest),
/metrics (``zepix_sync_lag_seconds{plugin}``) and ``zepix sync status`` (per plugin),
checked against the age of a trade the test wrote itself and never synced."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.livehost import BUNDLED, live_host
from zepix_core.cli.main import main
from zepix_core.plugindb import PluginDatabase

#: No plugin of the host's own trades (all disabled); no sync while the test runs.
CONFIG = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED) + (
    '[sync]\ninterval = 86400\nurl = "sqlite:///{central}"\n')


def series(text: str, name: str) -> dict[str, float]:
    """plugin -> value of one series, parsed by prometheus-client's own parser."""
    return {s.labels["plugin"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    main(list(argv))
    return json.loads(capsys.readouterr().out)


def test_status_api_metrics_and_sync_status_show_one_lag(
        zepix_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIG.format(central=zepix_home / "central.db")
    (zepix_home / "zepix.toml").write_text(config, encoding="utf-8")
    written = time.time() - 5_000.0  # a trade 5,000 s old that no sync copied yet
    db = PluginDatabase(zepix_home / "plugins" / "probe" / "zepix_probe.db", "probe",
                        clock=lambda: written)
    db.open_trade("BTCUSD", "buy", 1.0, 100.0)
    db.close()
    with live_host(zepix_home, config=config) as live, live.client() as http:
        before = time.time()
        status = _cli(capsys, "status", "--json")
        api = http.get("/api/v1/status").json()
        metrics = series(http.get("/metrics").text, "zepix_sync_lag_seconds")
        rows = _cli(capsys, "sync", "status", "--json")
        after = time.time()
    assert isinstance(status, dict) and isinstance(rows, list)
    [row] = rows
    figures = {"zepix status": status["sync_lag_seconds"], "api": api["sync_lag_seconds"],
               "metrics": metrics["probe"], "sync status": row["lag_seconds"]}
    for where, lag in figures.items():  # each read between `before` and `after`
        assert before - written <= lag <= after - written, (where, lag, before - written)
    assert set(metrics) == {"probe"} and row["plugin_id"] == "probe"
