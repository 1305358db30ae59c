"""Alertmanager sees one alert per (plugin, kind) whatever its severity, and a
``ZepixWatchdog`` while the host runs: against the real Alertmanager (Debian's
``prometheus-alertmanager``) and a real host."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.livehost import live_host, wait_until
from tests.paths import ROOT
from tests.servers import alertmanager, binary
from zepix_core.contract.model import AlertLevel

pytestmark = pytest.mark.slow

#: Firing alerts lapse four resends after their last send (20 s): the checks below wait
#: two resends at most, so a copy left to lapse would fail them.
RESEND = 5.0


def active(url: str, **labels: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{url}/api/v2/alerts", params={"active": "true", "silenced": "false",
                                                     "inhibited": "false"}, timeout=10).json()
    return [a for a in found if a["status"]["state"] == "active"
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def test_an_escalation_replaces_and_a_resolution_resolves(zepix_home: Path,
                                                        tmp_path: Path) -> None:
    with alertmanager(tmp_path / "am") as url:
        config = ("[host]\nwarmup_bars = 5\nbars_per_round = 1\n"
                  f'[alerts]\nalertmanager_url = "{url}"\nalertmanager_resend = {RESEND}\n')
        with live_host(zepix_home, config=config) as live:
            watchdog = wait_until(lambda: active(url, alertname="ZepixWatchdog"), timeout=30)
            assert watchdog[0]["labels"]["source"] == "zepix"
            alerting = live.host.monitor.alerting
            plugin = {"plugin": "combined_v3", "kind": "drill"}
            alerting.raise_event("combined_v3", "drill", AlertLevel.WARNING, "slow fills")
            wait_until(lambda: active(url, severity="warning", **plugin), timeout=30)
            alerting.raise_event("combined_v3", "drill", AlertLevel.CRITICAL, "no fills")
            # within one resend the critical alert stands alone: the warning is replaced
            wait_until(lambda: [a["labels"]["severity"] for a in active(url, **plugin)]
                       == ["critical"], timeout=RESEND * 2)
            alerting.raise_event("combined_v3", "drill", AlertLevel.CRITICAL, "fills back",
                                 firing=False)
            wait_until(lambda: active(url, plugin="combined_v3") == [], timeout=RESEND * 2)
            # the dead-man's switch fires all along
            assert active(url, alertname="ZepixWatchdog")


def test_the_documented_routing_with_the_dead_mans_switch_is_valid(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "http-api.md").read_text("utf-8")
    blocks = [b.split("```")[0] for b in doc.split("```yaml\n")[1:]]
    block = next(b for b in blocks if "ZepixWatchdog" in b)
    config = tmp_path / "alertmanager.yml"
    config.write_text(block, encoding="utf-8")
    check = subprocess.run([binary("amtool"), "check-config", str(config)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "inhibit_rules" in block and 'alertname="ZepixWatchdog"' in block
