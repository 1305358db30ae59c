"""The seeds' /admin/system/... paths answer as aliases of /api/v1 (issue 28): the same
documents under the same token rules; the summaries count per status."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.livehost import live_host

FAST = "[host]\nwarmup_bars = 5\nbars_per_round = 1\n"


def test_the_seeds_admin_paths_work(zepix_home: Path) -> None:
    with live_host(zepix_home, config=FAST) as live, live.client() as http, \
            live.client(token=True) as admin:
        health = http.get("/api/v1/health").json()
        summary = http.get("/admin/system/bot-health/summary").json()
        assert summary["total"] == len(health) >= 5
        assert summary["counts"] == dict(sorted(Counter(s["status"] for s in health).items()))
        assert 0 <= summary["availability"]["combined_v3"]["24h"] <= 1
        assert http.get("/admin/system/bot-health/unhealthy").status_code == 200
        one = http.get("/admin/system/bot-health/combined_v3").json()
        assert one["plugin_id"] == "combined_v3" and "uptime_seconds" in one
        assert http.get("/admin/system/bot-health/nope").status_code == 404
        history = http.get("/admin/system/bot-health/history/combined_v3?hours=24")
        assert history.status_code == 200 and history.json()
        assert http.get("/admin/system/bot-health/unhealthy-history?hours=24").status_code == 200

        breakers = http.get("/admin/system/circuit-breakers/summary").json()
        assert breakers["counts"] == {"CLOSED": breakers["total"]} and breakers["open"] == []
        assert http.get("/admin/system/circuit-breakers/combined_v3").json() == \
            http.get("/api/v1/breakers/combined_v3").json()
        assert http.post("/admin/system/circuit-breakers/combined_v3/reset").status_code == 401
        reset = admin.post("/admin/system/circuit-breakers/combined_v3/reset")
        assert reset.status_code == 200 and reset.json()["state"] == "CLOSED"
        events = live.host.store.events("combined_v3")
        assert any(e["kind"] == "breaker_reset" and e["actor"] == "api" for e in events)

        assert http.get("/admin/system/retry-statistics").json() == \
            http.get("/api/v1/retries").json()
        assert http.post("/admin/system/retry-statistics/reset").status_code == 401
        assert admin.post("/admin/system/retry-statistics/reset").json()["reset"] is True
        assert admin.post("/admin/system/bot-health/persist-now").status_code == 200
        paths = http.get("/openapi.json").json()["paths"]
        assert not any(p.startswith("/admin") for p in paths)  # /api/v1 is the documented API


def test_availability_is_the_share_of_healthy_rounds(tmp_path: Path) -> None:
    from zepix_core.storage import Store

    store = Store(tmp_path / "z.db")
    try:
        now = 1_800_000_000.0
        statuses = [("a", now - 3 * 86_400, "DEAD")] + [
            ("a", now - 3600 * h, "HEALTHY" if h % 4 else "DEGRADED") for h in range(1, 9)]
        with store.transaction() as conn:
            for pid, ts, status in statuses:
                conn.execute("INSERT INTO health_snapshots (plugin_id, ts, status, data) "
                             "VALUES (?, ?, ?, '{}')", (pid, ts, status))
        # 24 h: hours 1..8, h = 4 and 8 DEGRADED: 6 of 8; 7 d: plus the DEAD one: 6 of 9.
        assert store.availability(now - 86_400) == {"a": 6 / 8}
        assert store.availability(now - 7 * 86_400) == {"a": 6 / 9}
    finally:
        store.close()
