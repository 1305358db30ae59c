"""/metrics and Alertmanager against the real servers (Debian's ``prometheus``,
``promtool`` and ``prometheus-alertmanager``), started by the tests on free
loopback ports."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, hanger, live_host, wait_until
from tests.servers import alertmanager, binary, prometheus

pytestmark = pytest.mark.slow

FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"


def test_a_live_scrape_passes_promtool_and_covers_every_plugin(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        wait_until(lambda: live.host.monitor.rounds >= 2)
        text = http.get("/metrics").text
    check = subprocess.run([binary("promtool"), "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    for pid in BUNDLED:
        assert f'zepix_plugin_health_status{{plugin="{pid}",status="healthy"}} 1.0' in text
        assert f'zepix_breaker_state{{plugin="{pid}",state="closed"}} 1.0' in text
        assert f'zepix_hook_latency_seconds_count{{hook="on_bar",plugin="{pid}"}}' in text
    assert "zepix_round_duration_seconds_count " in text and "zepix_rounds_total " in text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    assert all(name.startswith(("zepix_", "process_")) for name in names), names


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_a_real_prometheus_scrapes_the_running_host(zepix_home: Path, tmp_path: Path) -> None:
    with live_host(zepix_home, config=FAST) as live:
        target = live.url.removeprefix("http://")
        with prometheus(tmp_path / "prometheus", target) as url:
            found = wait_until(lambda: query(
                url, 'zepix_plugin_health_status{plugin="combined_v3",status="healthy"} == 1'),
                timeout=60, step=0.5)
            assert found[0]["metric"]["job"] == "zepix"
            up = query(url, 'up{job="zepix"}')
            assert up[0]["value"][1] == "1"


def am_alerts(url: str, plugin: str) -> list[dict[str, Any]]:
    return [a for a in httpx.get(f"{url}/api/v2/alerts", timeout=10).json()
            if a["labels"].get("plugin") == plugin]


def test_a_hung_plugin_alert_fires_and_resolves_in_alertmanager(
        zepix_home: Path, tmp_path: Path, dists: DistFactory) -> None:
    flag = zepix_home / "hang"
    with alertmanager(tmp_path / "am") as url:
        config = (FAST + f'[alerts]\nalertmanager_url = "{url}"\nalertmanager_resend = 1\n'
                  "cooldown = 1\n[plugins.stuck]\nping_timeout = 0.3\n")
        with live_host(zepix_home, dists, config, interval=0.5,
                       plugins={"stuck": hanger(flag), "fine": good_plugin()}) as live:
            flag.touch()
            fired = wait_until(lambda: [a for a in am_alerts(url, "stuck")
                                        if a["status"]["state"] == "active"
                                        and a["labels"]["kind"] == "responsiveness"
                                        and a["labels"]["severity"] == "critical"], timeout=60)
            labels = fired[0]["labels"]
            assert labels["alertname"] == "zepix_responsiveness" and labels["source"] == "zepix"
            assert fired[0]["annotations"]["summary"]
            wait_until(lambda: live.host.store.latest_snapshot("stuck")["status"] == "HUNG",
                       timeout=60)
            flag.unlink()
            wait_until(lambda: not am_alerts(url, "stuck"), timeout=60)
            sent = [d for a in live.host.store.alerts("stuck", limit=50)
                    for d in live.host.store.deliveries([a["id"]])[a["id"]]
                    if d["sink"] == "alertmanager"]
            assert sent and all(d["delivered"] for d in sent)
            assert am_alerts(url, "fine") == []
