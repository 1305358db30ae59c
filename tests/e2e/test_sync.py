"""The sync manager into a SQLite ledger: changes only, idempotent upserts, retries through
the retry framework, alerts after failures in a row, a corrupt plugin database, a host
SIGKILLed mid-sync, and the CLI that reads it all."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.waiting import wait_until
from zepix_core import AlertLevel, PluginDatabase
from zepix_core.cli.main import main
from zepix_core.loading.syncconfig import SyncSettings
from zepix_core.plugindb import database_file
from zepix_core.retry import Retrier
from zepix_core.storage import Store
from zepix_core.storage.central import SqliteLedger
from zepix_core.sync import SyncManager
from zepix_core.testing import FakeClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def plugin_db(home: Path, plugin_id: str, clock: FakeClock | None = None) -> PluginDatabase:
    path = database_file(plugin_id, home / "plugins" / plugin_id)
    return PluginDatabase(path, plugin_id, clock=clock or FakeClock(T0))


def ledger_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT plugin_id, trade_id, status, rev FROM aggregated_trades "
                            "ORDER BY plugin_id, trade_id").fetchall()


class Rig:
    """A host database, plugin databases under ``home`` and a sync manager on fake time."""

    def __init__(self, home: Path, **settings: object) -> None:
        self.home = home
        self.clock = FakeClock(T0)
        self.waits: list[float] = []
        self.store = Store(home / "zepix.db")
        self.central = home / "central.db"
        self.settings = SyncSettings(url=f"sqlite://{self.central}", **settings)  # type: ignore[arg-type]
        self.lock_timeout = 30.0
        self.on_wait: Callable[[int], None] | None = None  # told the count of waits so far
        self.manager = SyncManager(
            self.store, self.settings, home / "plugins", wall=self.clock,
            retrier=Retrier(sleep=self._sleep),
            connect=lambda s: SqliteLedger(self.central, timeout=self.lock_timeout))

    def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        if self.on_wait is not None:
            self.on_wait(len(self.waits))


@pytest.fixture
def rig(zepix_home: Path) -> Rig:
    made = Rig(zepix_home, warn_after=2, critical_after=3)
    yield made
    made.store.close()


def test_sync_copies_new_and_changed_trades_once(rig: Rig) -> None:
    a, b = plugin_db(rig.home, "alpha"), plugin_db(rig.home, "beta")
    t1 = a.open_trade("BTCUSD", "buy", 1, 100)
    a.open_trade("ETHUSD", "sell", 2, 50)
    b.open_trade("BTCUSD", "buy", 3, 101, ref="MT5-9")
    run = rig.manager.run()
    assert run.ok and run.rows == 3
    assert ledger_rows(rig.central) == [("alpha", 1, "open", 1), ("alpha", 2, "open", 2),
                                        ("beta", 1, "open", 1)]
    a.close_trade(t1.id, 110)
    again = rig.manager.run()
    assert {p.plugin_id: p.rows for p in again.plugins} == {"alpha": 1, "beta": 0}
    assert ledger_rows(rig.central)[0] == ("alpha", 1, "closed", 3)
    assert rig.manager.run().rows == 0  # nothing changed: nothing read, nothing written
    with sqlite3.connect(rig.central) as conn:
        host_ids = {r[0] for r in conn.execute("SELECT host_id FROM aggregated_trades")}
        row = conn.execute("SELECT ref, synced_at, pnl FROM aggregated_trades "
                           "WHERE plugin_id = 'beta'").fetchone()
    assert host_ids == {rig.manager.host_id} and row == ("MT5-9", T0, None)
    for db in (a, b):
        db.close()


def test_upserting_an_old_copy_never_undoes_a_newer_one(rig: Rig) -> None:
    a = plugin_db(rig.home, "alpha")
    trade = a.open_trade("X", "buy", 1, 10)
    opened = a.changes_since(0)
    a.close_trade(trade.id, 12)
    ledger = SqliteLedger(rig.central)
    ledger.upsert("h", "alpha", a.changes_since(0), T0)
    ledger.upsert("h", "alpha", opened, T0)  # a replay of the older change
    assert [(r["status"], r["rev"]) for r in ledger.rows("h")] == [("closed", 2)]
    ledger.close()
    a.close()


HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("CREATE TABLE IF NOT EXISTS x (y)")
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_ledger_down_is_retried_alerted_and_caught_up(rig: Rig) -> None:
    a = plugin_db(rig.home, "alpha")
    a.open_trade("X", "buy", 1, 10)
    rig.lock_timeout = 0.05  # the central file stays locked by another process: "down"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(rig.central)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        first = rig.manager.run()
        assert not first.ok and "central ledger unreachable after 4 tries" in (first.error or "")
        assert rig.waits == [5.0, 10.0, 20.0]  # the sync policy: 3 retries, 5/10/20 s
        assert first.alerts == ()  # one failure: below warn_after
        a.open_trade("Y", "sell", 1, 20)  # recording goes on while the ledger is down
        second = rig.manager.run()
        assert [(d.level, d.firing) for d in second.alerts] == [(AlertLevel.WARNING, True)]
        third = rig.manager.run()
        assert [(d.level, d.firing) for d in third.alerts] == [(AlertLevel.CRITICAL, True)]
        (state,) = rig.store.sync_status()
        assert state["consecutive_failures"] == 3 and state["rev"] == 0
        assert state["lag_seconds"] == pytest.approx(rig.clock() - T0)
    finally:
        holder.communicate("\n", timeout=30)
    caught_up = rig.manager.run()
    assert caught_up.ok and caught_up.rows == 2
    assert [(d.firing, d.plugin_id) for d in caught_up.alerts] == [(False, "alpha")]
    assert len(ledger_rows(rig.central)) == 2
    assert rig.store.sync_status()[0]["consecutive_failures"] == 0
    runs = rig.store.sync_runs()
    assert [r["ok"] for r in runs] == [1, 0, 0, 0]
    (state,) = rig.store.sync_status()  # the outage stays visible after the catch-up
    assert "unreachable" in state["last_error"] and state["last_failure"] is not None


def test_a_ledger_outage_shorter_than_the_retries_is_ridden_out_and_shown(rig: Rig) -> None:
    a = plugin_db(rig.home, "alpha")
    a.open_trade("X", "buy", 1, 10)
    rig.lock_timeout = 0.05
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(rig.central)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    released = []

    def release(waits: int) -> None:  # the lock goes away during the second wait
        if waits == 2:
            holder.communicate("\n", timeout=30)
            released.append(True)
    rig.on_wait = release
    run = rig.manager.run()
    assert released and run.ok and run.rows == 1 and rig.waits == [5.0, 10.0]
    (state,) = rig.store.sync_status()
    assert state["consecutive_failures"] == 0
    assert state["last_error"].startswith("recovered after 2 failed tries")
    assert rig.store.sync_runs()[0]["failed_tries"] == 2
    a.close()
    a.close()


def test_a_corrupt_plugin_database_fails_only_that_plugin(rig: Rig) -> None:
    good = plugin_db(rig.home, "good")
    good.open_trade("X", "buy", 1, 10)
    bad = database_file("bad", rig.home / "plugins" / "bad")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a database at all " * 300)
    run = rig.manager.run()
    result = {p.plugin_id: p for p in run.plugins}
    assert result["good"].ok and result["good"].rows == 1
    assert result["bad"].error is not None and str(bad) in result["bad"].error
    assert rig.waits == []  # a local fault is not the ledger's: no retries
    good.close()


FILL_AND_SYNC = """
import sys
from zepix_core.cli.main import main
sys.exit(main(["sync", "--now"]))
"""


@pytest.mark.slow
def test_a_sync_killed_midway_completes_next_time_with_nothing_lost_or_doubled(
        zepix_home: Path) -> None:
    db = plugin_db(zepix_home, "busy")
    total = 4000
    with db.connection() as conn:  # many trades fast: one transaction
        conn.execute("BEGIN")
        for i in range(total):
            conn.execute("INSERT INTO trades (symbol, side, quantity, entry_price, opened_at, "
                         "updated_at, rev) VALUES (?, 'buy', 1, 1, ?, ?, ?)",
                         (f"S{i}", T0, T0, i + 1))
        conn.execute("COMMIT")
    db.close()
    (zepix_home / "zepix.toml").write_text("[sync]\nbatch = 1\n", encoding="utf-8")
    central = zepix_home / "central.db"
    env = {**os.environ, "ZEPIX_HOME": str(zepix_home)}
    proc = subprocess.Popen([sys.executable, "-c", FILL_AND_SYNC], env=env)
    deadline = time.monotonic() + 60
    copied = 0
    while copied < 50 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
        copied = _count(central)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    at_kill = _count(central)
    assert 0 < at_kill < total, "the kill should land in the middle of the sync"
    store = Store(zepix_home / "zepix.db")
    assert store.sync_runs()[0]["ended_at"] is None  # the killed run never finished
    store.close()
    assert main(["sync", "--now"]) == 0
    rows = ledger_rows(central)
    assert len(rows) == total and sorted(r[1] for r in rows) == list(range(1, total + 1))


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_cli_reads_status_history_trades_and_stats(zepix_home: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    db = plugin_db(zepix_home, "alpha", FakeClock(T0))
    t = db.open_trade("BTCUSD", "buy", 1, 100, ref="R1")
    db.close_trade(t.id, 90)
    db.open_trade("ETHUSD", "sell", 1, 50)
    db.record_signal("ETHUSD", "entry_short")
    db.close()
    assert main(["sync", "--now", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2
    assert main(["sync", "status", "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert set(status) >= {"plugin_id", "last_success", "rows", "lag_seconds",
                           "consecutive_failures"}
    assert status["rows"] == 2 and status["lag_seconds"] == 0
    assert status["last_success"].endswith("+00:00")
    assert main(["sync", "history", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["trigger"] == "cli" and run["ok"] == 1 and run["rows"] == 2
    assert main(["trades", "--open", "--json"]) == 0
    (open_trade,) = json.loads(capsys.readouterr().out)
    assert open_trade["symbol"] == "ETHUSD" and open_trade["opened_at"].startswith("2026-01-01")
    assert main(["trades", "alpha", "--limit", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["stats", "alpha", "--day", "2026-01-01", "--json"]) == 0
    (day,) = json.loads(capsys.readouterr().out)
    assert (day["signals"], day["trades_opened"], day["losses"]) == (1, 2, 1)
    assert main(["stats", "--day", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize("table, cause", [
    ("intervl = 3", "sync.intervl: unknown key; did you mean 'interval'?"),
    ("interval = 0", "sync.interval: got 0"),
    ('url = "mysql://u:secret@db/x"', "sync.url: got 'mysql://***@db/***'"),
    ("warn_after = 5\ncritical_after = 2", "critical_after must be >= sync.warn_after"),
])
def test_a_bad_sync_table_is_a_config_error_naming_the_key(
        zepix_home: Path, capsys: pytest.CaptureFixture[str], table: str, cause: str) -> None:
    (zepix_home / "zepix.toml").write_text(f"[sync]\n{table}\n", encoding="utf-8")
    assert main(["sync", "--now"]) == 2
    err = capsys.readouterr().err
    assert cause in err and "secret" not in err and err.count("\n") == 1


def test_defaults_put_the_ledger_in_the_data_directory(zepix_home: Path) -> None:
    from zepix_core.loading.config import Config

    settings = Config().sync()
    assert settings.url == f"sqlite://{(zepix_home / 'central.db').resolve()}"
    assert (settings.interval, settings.batch) == (300.0, 1000)


def test_a_hostile_row_fails_only_its_plugin_and_never_reaches_the_ledger(rig: Rig) -> None:
    evil, fine = plugin_db(rig.home, "evil"), plugin_db(rig.home, "fine")
    evil.open_trade("X", "buy", 1, 10)
    fine.open_trade("Y", "buy", 1, 10)
    with evil.connection() as conn:  # the plugin owns its file and can write anything
        conn.execute("INSERT INTO trades (symbol, side, quantity, entry_price, opened_at, "
                     "updated_at, rev) VALUES ('Z', 'buy', 'lots', 1, 1, 1, 2)")
    run = rig.manager.run()
    result = {p.plugin_id: p for p in run.plugins}
    assert result["fine"].ok and result["fine"].rows == 1
    assert "quantity = 'lots'; expected a finite number" in (result["evil"].error or "")
    assert str(evil.path) in (result["evil"].error or "") and rig.waits == []
    assert [r[0] for r in ledger_rows(rig.central)] == ["fine"]
    evil.close()
    fine.close()


@pytest.mark.slow
def test_zepix_run_leaves_exactly_the_plugin_trades_in_the_ledger(zepix_home: Path) -> None:
    """The issue's acceptance run, shortened: the five bundled plugins in worker processes,
    a sync every 3 s and a last one at shutdown."""
    (zepix_home / "zepix.toml").write_text(
        '[host]\nisolation = "process"\n[sync]\ninterval = 3\n', encoding="utf-8")
    env = {**os.environ, "ZEPIX_HOME": str(zepix_home), "ZEPIX_DB": str(zepix_home / "zepix.db")}
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "run", "--duration", "8",
                           "--interval", "2"], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    local = set()
    for path in sorted((zepix_home / "plugins").glob("*/zepix_*.db")):
        with sqlite3.connect(path) as conn:
            local |= {(path.parent.name, *r) for r in conn.execute(
                "SELECT id, status, rev FROM trades")}
    assert len({p for p, *_ in local}) >= 3 and len(local) > 5  # the strategies did trade
    assert set(ledger_rows(zepix_home / "central.db")) == local
    store = Store(zepix_home / "zepix.db")
    triggers = [r["trigger"] for r in store.sync_runs()]
    store.close()
    assert triggers[0] == "shutdown" and "timer" in triggers


def test_a_run_goes_in_the_background_one_at_a_time_and_once_more_at_shutdown(
        rig: Rig) -> None:
    from zepix_core.sync import SyncLoop

    a = plugin_db(rig.home, "alpha")
    a.open_trade("X", "buy", 1, 10)
    loop = SyncLoop(rig.manager, interval=10)
    assert loop.drain() == [] and not loop.running()
    assert loop.start("timer")  # what the host scheduler's sync timer does when due
    wait_until(lambda: loop.last is not None, waiting_for="the timed run to end")
    assert loop.last is not None and loop.last.trigger == "timer" and loop.last.rows == 1
    decisions = loop.drain()  # handed to the host once, to raise on its own thread
    assert [(d.plugin_id, d.firing) for d in decisions] == [("alpha", False)]
    assert loop.drain() == []
    a.open_trade("Y", "buy", 1, 10)
    final = loop.finish()
    assert final is not None and final.trigger == "shutdown" and final.rows == 1
    assert rig.manager.retrier.stopped  # a shutdown sync gets one try, no retry waits
    a.close()
