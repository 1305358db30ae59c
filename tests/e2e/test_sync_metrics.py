"""The ledger sync's series on /metrics (issue 25 item 2: "sync lag and failures") against
what the test itself did and counted: rows copied, the syncs it made fail, when the
last one succeeded."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.livehost import BUNDLED, live_host, wait_until
from zepix_core.cli.main import main
from zepix_core.sync.manager import plugin_databases

pytestmark = pytest.mark.slow

#: A sync only when asked (the test counts them), failing at once (no retry waits).
CONFIG = ("[host]\nwarmup_bars = 300\nbars_per_round = 2\n"
          "[retry.sync]\nmax_attempts = 1\n[sync]\ninterval = 86400\nurl = \"{url}\"\n")


def series(text: str, name: str) -> dict[str, float]:
    """plugin -> value of one series, parsed by prometheus-client's own parser."""
    return {s.labels["plugin"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def trades(home: Path) -> dict[str, int]:
    counts = {}
    for pid, path in plugin_databases(home / "plugins").items():
        with sqlite3.connect(path) as conn:
            counts[pid] = int(conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0])
    return counts


def ledger(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {pid: int(n) for pid, n in conn.execute(
            "SELECT plugin_id, COUNT(*) FROM aggregated_trades GROUP BY plugin_id")}


def sync_now() -> int:
    try:
        return main(["sync", "--now"])
    except SystemExit as exc:
        return int(exc.code or 0)


def test_sync_series_say_what_the_syncs_did(zepix_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    central = zepix_home / "central.db"
    with live_host(zepix_home, config=CONFIG.format(url=f"sqlite:///{central}")) as live, \
            live.client() as http:
        wait_until(lambda: sum(trades(zepix_home).values()) > 0, timeout=120)
        live.host.clocks.stop.set()  # the loop stops (no more trades); the API stays up
        wait_until(lambda: not live.host.started, timeout=60)
        before = time.time()
        assert sync_now() == 0
        after = time.time()
        text = http.get("/metrics").text
        mine, theirs = trades(zepix_home), ledger(central)
        assert theirs == {pid: n for pid, n in mine.items() if n}  # every trade is in
        assert series(text, "zepix_sync_consecutive_failures") == {pid: 0 for pid in BUNDLED}
        assert series(text, "zepix_sync_lag_seconds") == {pid: 0 for pid in BUNDLED}
        succeeded = series(text, "zepix_sync_last_success_timestamp_seconds")
        assert set(succeeded) == set(BUNDLED)
        assert all(before <= at <= after for at in succeeded.values()), (before, succeeded)
        # the ledger becomes unreachable (its directory is a file): two syncs fail
        blocked = zepix_home / "blocked"
        blocked.write_text("", encoding="utf-8")
        (zepix_home / "zepix.toml").write_text(
            CONFIG.format(url=f"sqlite:///{blocked / 'central.db'}"), encoding="utf-8")
        assert [sync_now(), sync_now()] == [1, 1]
        text = http.get("/metrics").text
    assert series(text, "zepix_sync_consecutive_failures") == {pid: 2 for pid in BUNDLED}
    assert series(text, "zepix_sync_last_success_timestamp_seconds") == succeeded
    # The host's ledger (its config in force) holds every trade: no lag there. Nothing
    # reached the file's new target: there a plugin with trades lags, one without does not
    # (tests/e2e/test_sync_lag_agrees.py: every surface computes the lag the same way).
    assert series(text, "zepix_sync_lag_seconds") == {pid: 0 for pid in BUNDLED}
    capsys.readouterr()
    assert main(["sync", "status", "--json"]) == 0
    lag = {r["plugin_id"]: r["lag_seconds"] for r in json.loads(capsys.readouterr().out)}
    assert {pid for pid, s in lag.items() if s > 0} == {pid for pid, n in mine.items() if n}
