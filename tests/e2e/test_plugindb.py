"""PluginDatabase: the host-owned tables, their API, migrations, threads, locks and damage."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from zepix_core import DB_SCHEMA_VERSION, PluginDatabase, StorageError
from zepix_core.plugindb import MIGRATIONS, DatabaseLocked, database_file, prepare
from zepix_core.testing import FakeClock

DAY1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def db(tmp_path: Path) -> PluginDatabase:
    clock = FakeClock(DAY1 + 3600)
    database = PluginDatabase(tmp_path / "zepix_demo.db", "demo", clock=clock)
    yield database
    database.close()


def test_file_is_created_in_wal_mode_with_the_host_tables(db: PluginDatabase) -> None:
    db.open()
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"trades", "signals", "daily_stats", "plugin_schema"} <= tables
    assert db.schema_version == len(MIGRATIONS)
    assert DB_SCHEMA_VERSION == "1.0"


def test_a_trade_from_open_to_close_with_daily_statistics(db: PluginDatabase) -> None:
    sig = db.record_signal("BTCUSD", "entry_long", side="buy", price=100.0, detail={"rsi": 61})
    trade = db.open_trade("BTCUSD", "buy", 2.0, 100.0, ref="T-1", stop=95.0, target=110.0,
                          reason="ema cross")
    assert sig > 0 and trade.is_open and trade.ref == "T-1" and trade.rev == 1
    assert db.open_trades() == [trade]
    moved = db.update_trade(trade.id, stop=98.0, extra={"trail": True})
    assert moved.stop == 98.0 and moved.extra == {"trail": True} and moved.rev == 2
    closed = db.close_trade(trade.id, 110.0, fee=1.5, reason="take-profit")
    assert closed.status == "closed" and closed.pnl == pytest.approx(2 * 10 - 1.5)
    assert db.open_trades() == [] and db.trade_by_ref("T-1") == closed
    assert db.trade_by_ref("nope") is None
    day = db.daily_stats("2026-01-01")
    assert (day.signals, day.trades_opened, day.trades_closed, day.wins, day.losses) == (
        1, 1, 1, 1, 0)
    assert day.pnl == pytest.approx(18.5) and day.fees == pytest.approx(1.5)
    assert db.daily_stats("2026-01-02").trades_opened == 0


def test_short_trade_loss_and_bad_calls_say_what_is_wrong(db: PluginDatabase) -> None:
    trade = db.open_trade("ETHUSD", "sell", 1.0, 50.0)
    assert db.close_trade(trade.id, 55.0).pnl == pytest.approx(-5.0)
    with pytest.raises(ValueError, match="already closed"):
        db.close_trade(trade.id, 40.0)
    with pytest.raises(ValueError, match="side must be"):
        db.open_trade("ETHUSD", "long", 1.0, 50.0)
    with pytest.raises(ValueError, match="cannot change status"):
        db.update_trade(trade.id, status="open")
    assert db.daily_stats("2026-01-01").losses == 1


def test_changes_since_reads_only_what_changed_after_the_cursor(db: PluginDatabase) -> None:
    a = db.open_trade("A", "buy", 1, 10)
    b = db.open_trade("B", "buy", 1, 10)
    assert [r["id"] for r in db.changes_since(0)] == [a.id, b.id]
    db.close_trade(a.id, 11)
    changed = db.changes_since(2)
    assert [(r["id"], r["status"], r["rev"]) for r in changed] == [(a.id, "closed", 3)]
    assert db.pending(3) == (None, None)
    oldest, newest = db.pending(0)
    assert newest == 3 and oldest == DAY1 + 3600


def test_plugin_migrations_run_once_and_in_order(db: PluginDatabase) -> None:
    steps = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"]
    assert db.migrate("notes", steps) == 1
    assert db.migrate("notes", steps) == 1  # nothing new
    steps.append(lambda conn: conn.execute("ALTER TABLE notes ADD COLUMN ts REAL"))
    assert db.migrate("notes", steps) == 2
    with db.connection() as conn:
        conn.execute("INSERT INTO notes (text, ts) VALUES (?, ?)", ("hi", 1.0))
        assert conn.execute("SELECT text FROM notes").fetchone()[0] == "hi"
    reopened = PluginDatabase(db.path)
    assert reopened.migrate("notes", steps) == 2  # kept in the file
    reopened.close()


def test_a_failing_plugin_migration_leaves_nothing_half_done(db: PluginDatabase) -> None:
    bad = ["CREATE TABLE good (x)", "CREATE TABLE half (y); CREATE TABLE broken ("]
    with pytest.raises(StorageError, match="zepix_demo.db"):
        db.migrate("mine", bad)
    with db.connection() as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "good" in names and "half" not in names
    assert db.migrate("mine", bad[:1]) == 1


def test_threads_share_one_database_safely(db: PluginDatabase) -> None:
    def work(n: int) -> None:
        for i in range(25):
            t = db.open_trade(f"S{n}", "buy", 1, 100 + i)
            db.record_signal(f"S{n}", "entry", trade_id=t.id)
            db.close_trade(t.id, 101 + i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trades = db.trades()
    assert len(trades) == 150 and all(not t.is_open for t in trades)
    revs = [r["rev"] for r in db.changes_since(0, 10_000)]  # each trade once, at its last change
    assert len(set(revs)) == 150 and max(revs) == 300
    stats = db.stats()
    assert stats.queries >= 150 * 4 and stats.connections_max == 4
    assert 1 <= stats.connections_open <= 4 and stats.connections_active == 0
    assert db.daily_stats("2026-01-01").trades_closed == 150


def test_two_plugins_get_two_files(tmp_path: Path) -> None:
    a = PluginDatabase(database_file("price_action_1m", tmp_path / "1m"))
    b = PluginDatabase(database_file("price_action_5m", tmp_path / "5m"))
    a.open_trade("X", "buy", 1, 1)
    assert b.open_trades() == [] and a.path != b.path
    assert a.path.name == "zepix_price_action_1m.db"
    a.close()
    b.close()


def test_it_pickles_as_its_path_and_opens_where_it_is_used(db: PluginDatabase) -> None:
    db.open_trade("X", "buy", 1, 1)
    copy = pickle.loads(pickle.dumps(db))
    assert copy.path == db.path and copy.plugin_id == "demo"
    assert [t.symbol for t in copy.open_trades()] == ["X"]
    copy.close()


def test_statistics_reach_the_file_for_the_host(tmp_path: Path) -> None:
    clock = FakeClock(DAY1)
    db = PluginDatabase(tmp_path / "s.db", clock=clock, stats_every=5.0)
    db.record_signal("X", "a")
    first = db.saved_stats()
    assert first is not None and first["queries"] >= 1
    db.record_signal("X", "b")
    assert db.saved_stats() == first  # not yet: written at most every 5 s
    clock.advance(6)
    db.record_signal("X", "c")
    later = db.saved_stats()
    assert later is not None and later["queries"] > first["queries"]
    assert later["connections_max"] == 4 and later["query_time_ms"] > 0
    db.close()


def test_a_corrupt_file_is_named_and_prepare_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "zepix_bad.db"
    path.write_bytes(b"definitely not sqlite " * 400)
    reason = prepare(PluginDatabase(path))
    assert reason is not None and str(path) in reason and "corrupt" in reason
    with pytest.raises(StorageError, match="zepix_bad.db"):
        PluginDatabase(path).open_trades()


def test_a_file_newer_than_the_host_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    assert "upgrade zepix-core" in (prepare(PluginDatabase(path)) or "")


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_lock_held_by_another_process_is_waited_out(tmp_path: Path) -> None:
    db = PluginDatabase(tmp_path / "l.db").open()
    holder = _hold_lock(db.path, 1.0)
    try:
        trade = db.open_trade("X", "buy", 1, 1)  # retried until the other process lets go
    finally:
        holder.wait(30)
    assert trade.id == 1
    db.close()


def test_a_lock_that_outlasts_the_wait_fails_the_call_not_the_database(tmp_path: Path) -> None:
    db = PluginDatabase(tmp_path / "l.db", lock_wait=0.3).open()
    holder = _hold_lock(db.path, 3.0)
    try:
        with pytest.raises(DatabaseLocked, match="locked"):
            db.open_trade("X", "buy", 1, 1)
        assert prepare(PluginDatabase(db.path, lock_wait=0.3)) is None  # never fatal
    finally:
        holder.wait(30)
    assert db.open_trade("X", "buy", 1, 1).id == 1  # and the next call goes through
    db.close()
