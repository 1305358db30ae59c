"""/metrics tells the truth: its figures against the host's own, through the real
Prometheus (Debian's ``prometheus`` and ``promtool``), plus the shipped alert rules
and Grafana dashboard under deploy/."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.livehost import BUNDLED, live_host, wait_until
from tests.paths import ROOT
from tests.servers import binary, prometheus

pytestmark = pytest.mark.slow

DEPLOY = ROOT / "deploy"
FAST = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n"
STEADY = "[host]\nwarmup_bars = 50\nbars_per_round = 40\n"


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], parsed by prometheus-client's own parser."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, []).append((dict(s.labels), s.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str,
          **labels: str) -> float:
    hits = [v for got, v in found.get(name, []) if all(got.get(k) == w for k, w in labels.items())]
    assert len(hits) == 1, (name, labels, found.get(name))
    return hits[0]


def test_every_series_exists_from_activation_with_lower_case_labels(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        wait_until(lambda: live.host.monitor.rounds >= 1)
        head = http.head("/metrics")
        text = http.get("/metrics").text
        measured = {pid: live.host.trades.fields(pid)["host_measured"] for pid in BUNDLED}
        ended = live.host.monitor.last_round
    assert head.status_code == 200 and head.content == b""
    found = samples(text)
    assert value(found, "zepix_build_info", version=metadata.version("zepix-core")) == 1
    for pid in BUNDLED:
        dist = "zepix-combined-v3" if pid == "combined_v3" else "zepix-price-action"
        info = [labels for labels, _ in found["zepix_plugin_info"] if labels["plugin"] == pid]
        assert info == [{"plugin": pid, "version": info[0]["version"], "distribution": dist}]
        assert value(found, "zepix_plugin_health_status", plugin=pid, status="healthy") == 1
        assert value(found, "zepix_plugin_state", plugin=pid, state="active") == 1
        assert value(found, "zepix_breaker_state", plugin=pid, state="closed") == 1
        # every counter of the plugin is there before its first event
        for hook in ("on_bar", "health_ping", "get_metrics"):
            assert value(found, "zepix_hook_errors_total", plugin=pid, hook=hook) == 0
        assert value(found, "zepix_plugin_restarts_total", plugin=pid) == 0
        assert value(found, "zepix_intents_total", plugin=pid) >= 0
        for level in ("info", "warning", "high", "critical"):
            assert value(found, "zepix_alerts_firing", plugin=pid, level=level) == 0
        assert value(found, "zepix_plugin_paused", plugin=pid) == 0
        assert value(found, "zepix_plugin_realized_pnl", plugin=pid) == pytest.approx(
            measured[pid]["realised_pnl"])
        assert value(found, "zepix_plugin_open_positions", plugin=pid) == len(
            measured[pid]["positions"])
    assert ended is not None
    assert value(found, "zepix_last_round_timestamp_seconds") >= ended[0]
    assert value(found, "zepix_round_duration_seconds_count") >= 1
    assert value(found, "zepix_config_last_reload_successful") == 1
    assert value(found, "zepix_config_last_reload_success_timestamp_seconds") > 0
    assert value(found, "process_resident_memory_bytes") > 0
    assert "zepix_retry_retry" not in text
    for name, rows in found.items():
        for labels, _ in rows:
            for key, got in labels.items():
                if key in ("status", "state", "level"):
                    assert got == got.lower(), (name, labels)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", (promql, answer)
    return list(answer["data"]["result"])


def test_prometheus_p95_agrees_with_the_hosts_own_and_every_dashboard_query_runs(
        zepix_home: Path, tmp_path: Path) -> None:
    """A steady run of the bundled plugins, then the host stops its loop (the API stays up)
    so Prometheus scrapes the very calls the host's own window holds."""
    pid = "price_action_1m"
    with live_host(zepix_home, config=STEADY) as live:
        watched = live.host.monitor.watched[pid]
        with prometheus(tmp_path / "prometheus", live.url.removeprefix("http://")) as url:
            wait_until(lambda: watched.health.work.snapshot().calls >= 400, timeout=120)
            live.host.clocks.stop.set()
            wait_until(lambda: not live.host.started, timeout=60)
            own = watched.health.work.snapshot()
            assert own.p95_ms is not None
            selector = f'zepix_hook_latency_seconds_count{{plugin="{pid}",hook="on_bar"}}'
            wait_until(lambda: [r for r in query(url, selector)
                                if float(r["value"][1]) == own.calls], timeout=60, step=0.5)
            found = query(url, "histogram_quantile(0.95, zepix_hook_latency_seconds_bucket"
                          f'{{plugin="{pid}",hook="on_bar"}})')
            p95_ms = float(found[0]["value"][1]) * 1000
            print(f"{pid} on_bar p95: Prometheus {p95_ms:.4f} ms, host {own.p95_ms:.4f} ms "
                  f"over {own.calls} calls")
            assert abs(p95_ms - own.p95_ms) <= 0.25 * own.p95_ms, (p95_ms, own.p95_ms)
            for title, expr in dashboard_queries():
                promql = expr.replace("$plugin", ".+").replace("$__rate_interval", "1m")
                assert "$" not in promql, (title, promql)
                assert query(url, promql) is not None, title


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads((DEPLOY / "grafana" / "zepix.json").read_text(encoding="utf-8"))
    found = [(panel["title"], target["expr"]) for panel in board["panels"]
             for target in panel.get("targets", [])]
    found += [("variable " + v["name"], v["query"]["query"])
              for v in board.get("templating", {}).get("list", [])
              if isinstance(v.get("query"), dict) and "query" in v["query"]]
    assert len(found) >= 10
    return [(title, re.sub(r"label_values\((\w+), *(\w+)\)", r"\1", expr))
            for title, expr in found]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=DEPLOY / "prometheus")


def test_the_shipped_alert_rules_pass_their_promtool_tests() -> None:
    check = promtool("check", "rules", "rules.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    tested = promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    tests = (DEPLOY / "prometheus" / "rules_test.yml").read_text(encoding="utf-8")
    for alert in re.findall(r"- alert: (\w+)", rules):
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"


def test_a_paused_plugin_shows_as_paused(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http:
        live.host.store.pause("price_action_5m", "drill", "test", 0.0)
        live.host.refresh_pauses()
        found = samples(http.get("/metrics").text)
    assert value(found, "zepix_plugin_paused", plugin="price_action_5m") == 1
    assert value(found, "zepix_plugin_paused", plugin="combined_v3") == 0
