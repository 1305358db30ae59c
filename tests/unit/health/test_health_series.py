"""Health over time: incidents from stored snapshots, ``zepix health ID --hours``
and ``--incidents``, windows seeded from a snapshot, and the Alertmanager sink's
payloads, re-sends and retries against a loopback stand-in."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tests.retryserver import ScriptedServer
from zepix_core.alerts.alertmanager import AlertmanagerSink
from zepix_core.alerts.delivery import AlertDispatcher
from zepix_core.alerts.sinks import build_host_manager
from zepix_core.cli.main import main
from zepix_core.cli.render import sparkline
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.health.sketch import LatencySnapshot, WindowStats
from zepix_core.retry import Retrier, RetryPolicy
from zepix_core.storage import Store
from zepix_core.testing import FakeClock
from zepix_core.views.series import check_hours, periods

NOW = time.time()
STORY = ["HEALTHY", "DEGRADED", "HUNG", "HEALTHY", "HEALTHY", "STALE", "STALE"]


def seed(db: Path) -> None:
    store = Store(db)
    for i, status in enumerate(STORY):  # one round a minute, ending a minute ago
        ts = NOW - (len(STORY) - i) * 60
        store.save_snapshots(ts, [{"plugin_id": "alpha", "status": status, "timestamp": ts,
                                   "latency_ms": {"p50": 1.0, "p95": 2.0 + i, "p99": 9.0},
                                   "calls": 10, "errors": i, "error_rate": i / 10}]
                             + [{"plugin_id": "beta", "status": "HEALTHY", "timestamp": ts}])
    store.close()


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def test_incidents_are_runs_of_non_healthy_status(zepix_home: Path) -> None:
    seed(zepix_home / "zepix.db")
    code, out = run("health", "--incidents", "--json")
    assert code == 0
    found = json.loads(out)
    assert [(p["plugin_id"], p["worst"], p["rounds"], p["ended_at"] is None)
            for p in found] == [("alpha", "STALE", 2, True), ("alpha", "HUNG", 2, False)]
    assert found[1]["statuses"] == ["DEGRADED", "HUNG"]
    assert found[1]["duration_s"] == pytest.approx(120, abs=1)
    code, text = run("health", "--incidents")
    assert code == 0 and "ongoing" in text and "HUNG" in text


def test_health_id_hours_shows_sparklines_or_rows(zepix_home: Path) -> None:
    seed(zepix_home / "zepix.db")
    code, out = run("health", "alpha", "--hours", "1", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["status"] for r in rows] == STORY
    assert [r["p95_ms"] for r in rows] == [2.0 + i for i in range(len(STORY))]
    code, text = run("health", "alpha", "--hours", "1")
    assert code == 0
    assert "p95 ms   ▂▃▄▅▆▇█  max 8" in text and "errors   ▁▂▃▄▆▇█  max 60.0%" in text
    assert "4 of 7 snapshots not HEALTHY; now STALE" in text
    assert main(["health", "alpha", "--hours", "200"]) == 2
    assert main(["health", "--hours", "2"]) == 2


def test_periods_and_bounds() -> None:
    rows = [{"ts": float(t), "status": s} for t, s in enumerate(["DEAD", "HEALTHY", "HUNG"])]
    found = periods("p", rows, now=10.0)
    assert [(p["started_at"], p["ended_at"], p["worst"]) for p in found] == [
        (0.0, 1.0, "DEAD"), (2.0, None, "HUNG")]
    assert found[1]["duration_s"] == 8.0
    for bad in (0, 0.5, 169):
        with pytest.raises(ValueError, match="between 1 and 168"):
            check_hours(bad)
    assert sparkline([0, 1, None, 2]) == "▁▄ █" and sparkline([]) == ""
    assert len(sparkline(list(range(500)), width=60)) == 60


def test_a_window_seeded_from_a_snapshot_reads_back_and_ages_out() -> None:
    clock = FakeClock(1000.0)
    window = WindowStats(window=3600, slots=60, clock=clock)
    window.seed(600.0, LatencySnapshot(2.0, 40.0, 90.0, calls=1000, errors=30, error_rate=0.03))
    snap = window.snapshot()
    assert snap.calls == 1000 and snap.errors == 30
    assert snap.p50_ms == pytest.approx(2.0, rel=0.02)
    assert snap.p95_ms == pytest.approx(40.0, rel=0.02)
    assert snap.p99_ms == pytest.approx(90.0, rel=0.02)
    clock.advance(3000.0)  # 3600 s after the summary was taken: gone with its window
    assert window.snapshot().calls == 0
    window.seed(4000.0, LatencySnapshot(1.0, 2.0, 3.0, 5, 0, 0.0))  # older than the window
    assert window.snapshot().calls == 0


def alert(event: str = "fired", resolved: bool = False) -> Alert:
    return Alert("stuck", "responsiveness", AlertLevel.CRITICAL, "2 pings missed",
                 timestamp=NOW - 5, event=event, resolved=resolved)


def bodies(server: ScriptedServer) -> list[list[dict[str, Any]]]:
    return [json.loads(body) for _, path, _, body in server.requests
            if path == "/api/v2/alerts"]


def test_the_alertmanager_sink_fires_resends_retries_and_resolves() -> None:
    server = ScriptedServer([503])  # the first send fails once, then is retried
    policy = RetryPolicy(strategy="fixed", base=0.01, max_delay=0.01, max_attempts=3, jitter=False)
    retrier = Retrier({"sink.alertmanager": policy})
    sink = AlertmanagerSink(server.url.split("/hooks")[0], retrier, resend=0.2)
    results: list[tuple[str, bool]] = []
    dispatcher = AlertDispatcher(build_host_manager([sink], log_sink=False), retrier=retrier,
                                 on_result=lambda a, name, ok, err: results.append((name, ok)))

    def until(what: Any) -> None:
        deadline = time.monotonic() + 20
        while not what() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert what()

    try:
        dispatcher.submit(alert())
        until(lambda: results)
        assert results == [("alertmanager", True)] and len(server.requests) == 2  # 503, 200
        first = bodies(server)[-1][0]
        assert first["labels"] == {"alertname": "zepix_responsiveness", "plugin": "stuck",
                                   "kind": "responsiveness", "severity": "critical",
                                   "source": "zepix"}
        assert first["annotations"]["summary"] == "2 pings missed"
        assert first["endsAt"] > first["startsAt"]
        until(lambda: len(bodies(server)) >= 4)  # re-sent while firing
        resent = bodies(server)[-1][0]
        assert resent["startsAt"] == first["startsAt"] and resent["endsAt"] >= first["endsAt"]
        dispatcher.submit(alert("resolved", resolved=True))
        until(lambda: len(results) == 2)
        last = next(b[0] for b in reversed(bodies(server)) if b[0]["endsAt"] < resent["endsAt"])
        assert last["labels"]["plugin"] == "stuck" and sink.firing == []
        assert retrier.stats.outcomes[0].operation == "sink.alertmanager"
        assert retrier.stats.outcomes[0].result == "retried"
    finally:
        dispatcher.close()
        sink.close()
        server.stop()
