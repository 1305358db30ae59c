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
