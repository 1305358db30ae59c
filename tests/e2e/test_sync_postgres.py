"""The central ledger on a real PostgreSQL server started by the tests: three hosts syncing
at once into one ledger, and the server stopped and started again with catch-up."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.pgserver import PASSWORD, PgServer
from zepix_core import AlertLevel, PluginDatabase
from zepix_core.loading.syncconfig import PASSWORD_ENV, SyncSettings
from zepix_core.plugindb import database_file
from zepix_core.retry import Retrier
from zepix_core.storage import Store
from zepix_core.sync import SyncManager
from zepix_core.testing import FakeClock

pytestmark = pytest.mark.slow
T0 = 1_767_225_600.0


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    pg = PgServer()
    pg.start()
    yield pg
    pg.destroy()


def _ledger(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, password=PASSWORD) as conn:
        return conn.execute("SELECT host_id, plugin_id, trade_id, status, rev "
                            "FROM aggregated_trades ORDER BY 1, 2, 3").fetchall()


def _fill(home: Path, plugin_id: str, count: int) -> PluginDatabase:
    db = PluginDatabase(database_file(plugin_id, home / "plugins" / plugin_id), plugin_id,
                        clock=FakeClock(T0))
    for i in range(count):
        db.open_trade(f"S{i % 7}", "buy" if i % 2 else "sell", 1 + i, 100 + i)
    return db


SYNC = "import sys; from zepix_core.cli.main import main; sys.exit(main(['sync', '--now']))"


def _sync_all(homes: list[Path], url: str) -> list[subprocess.CompletedProcess[str]]:
    procs = []
    for n, home in enumerate(homes):
        env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db")}
        if n:  # host 0 reads its password from [sync] password_file instead
            env[PASSWORD_ENV] = PASSWORD
        procs.append(subprocess.Popen([sys.executable, "-c", SYNC], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return [subprocess.CompletedProcess(p.args, p.wait(120), *p.communicate()) for p in procs]


def test_three_hosts_sync_concurrently_with_no_row_lost_or_doubled(
        server: PgServer, tmp_path: Path) -> None:
    url = server.create_database("fleet")
    homes = [tmp_path / f"host{n}" for n in range(3)]
    dbs = []
    for home in homes:
        home.mkdir()
        (home / "pg-password").write_text(PASSWORD + "\n", encoding="utf-8")
        (home / "zepix.toml").write_text(
            f'[sync]\nurl = "{url}"\nbatch = 50\npassword_file = "{home / "pg-password"}"\n',
            encoding="utf-8")
        dbs += [_fill(home, "combined_v3", 300), _fill(home, "price_action_1m", 200)]
    for done in _sync_all(homes, url):  # three processes at once, a fresh ledger
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
    for db in dbs:  # every host closes some trades and opens new ones meanwhile
        for trade in db.open_trades()[:40]:
            db.close_trade(trade.id, trade.entry_price + 1)
        db.open_trade("NEW", "buy", 1, 1)
        db.close()
    for done in _sync_all(homes, url):
        assert done.returncode == 0, done.stderr
    rows = _ledger(url)
    assert len(rows) == 3 * (301 + 201)
    assert len({r[:3] for r in rows}) == len(rows)  # the key is unique; nothing doubled
    assert len({r[0] for r in rows}) == 3  # three host ids, though plugin and trade ids clash
    assert sum(1 for r in rows if r[3] == "closed") == 3 * 2 * 40


def test_server_stopped_then_started_again_sync_catches_up(
        server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url = server.create_database("outage")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    caplog.set_level(logging.DEBUG)
    clock, waits = FakeClock(T0), []
    store = Store(tmp_path / "zepix.db")
    manager = SyncManager(
        store, SyncSettings(url=url, warn_after=1, critical_after=2, connect_timeout=2),
        tmp_path / "plugins", wall=clock,
        retrier=Retrier(sleep=lambda s: (waits.append(s), clock.advance(s))))
    db = _fill(tmp_path, "combined_v3", 10)
    assert manager.run().rows == 10
    server.stop()
    try:
        db.open_trade("DOWN", "buy", 1, 1)  # recording goes on while the ledger is down
        down = manager.run()
        assert not down.ok and "central ledger unreachable" in (down.error or "")
        assert waits == [5.0, 10.0, 20.0]
        assert [d.level for d in down.alerts] == [AlertLevel.WARNING]
        db.close_trade(1, 150)
        assert [d.level for d in manager.run().alerts] == [AlertLevel.CRITICAL]
        (state,) = store.sync_status()
        assert state["consecutive_failures"] == 2 and state["lag_seconds"] > 0
    finally:
        server.start()
    back = manager.run()
    assert back.ok and back.rows == 2 and [d.firing for d in back.alerts] == [False]
    rows = _ledger(url)
    assert len(rows) == 11 and rows[0][3] == "closed"
    assert store.sync_status()[0]["consecutive_failures"] == 0
    runs = store.sync_runs()
    assert [(r["ok"], r["failed_tries"]) for r in runs] == [(1, 0), (0, 4), (0, 4), (1, 0)]
    logged = " ".join(r.getMessage() + json.dumps(getattr(r, "zepix_fields", {}), default=str)
                      for r in caplog.records)
    assert PASSWORD not in logged and PASSWORD not in (down.error or "")
    db.close()
    store.close()
