"""The ``zepix health`` table shows what every health view shows (issue 28 audit):
the activation's uptime and the critical errors beside the error rate."""

from __future__ import annotations

from zepix_core.cli.commands.health import HEALTH_COLUMNS, health_row


def test_the_table_row_has_uptime_and_critical_errors() -> None:
    snap = {"plugin_id": "p", "status": "HEALTHY", "timestamp": 1000.0,
            "uptime_seconds": 2 * 3600 + 5.0, "critical_errors": 3, "error_rate": 0.25}
    row = health_row(snap, now=1030.0)
    assert (row["age"], row["uptime"], row["critical"], row["err_rate"]) == (
        "30s", "2h", 3, "25.0%")
    assert {"uptime", "critical"} <= set(HEALTH_COLUMNS)
    assert health_row({**snap, "uptime_seconds": None}, now=1030.0)["uptime"] is None
