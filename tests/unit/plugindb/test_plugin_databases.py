"""context.database through the host: one file per plugin, opened where the plugin runs,
requires_db_schema, a corrupt file failing only its plugin, and the paper journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.distfactory import DistFactory
from zepix_core import PluginDatabase, PluginState
from zepix_core.host.host import Host, create_host
from zepix_core.paper import PaperSession
from zepix_core.plugindb import database_file
from zepix_core.testing import make_bar

WRITER = '''
import os

from zepix_core import hookimpl


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {{"version": "1.0.0", "requires_api": ">=1.0,<2",
                 "requires_db_schema": {schema!r}}}

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {{}}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        db = context.database
        db.open_trade("BTCUSD", "buy", 1.0, 100.0, ref=context.plugin_id,
                      extra={{"pid": os.getpid()}})
        db.migrate("mine", ["CREATE TABLE notes (text TEXT)"])
        with db.connection() as conn:
            conn.execute("INSERT INTO notes VALUES (?)", ("hello",))
'''


def _add(dists: DistFactory, name: str, ids: list[str], schema: str = ">=1.0,<2") -> None:
    module = name.replace("-", "_")
    dists.add(name, "1.0.0", {pid: f"{module}:Plugin" for pid in ids},
              {module: WRITER.format(schema=schema)})


def _host(dists: DistFactory, home: Path, config: str = "") -> Host:
    (home / "zepix.toml").write_text(config, encoding="utf-8")
    return create_host(home / "zepix.toml", home / "zepix.db", paths=[str(dists.root)])


def _db(home: Path, plugin_id: str) -> PluginDatabase:
    return PluginDatabase(database_file(plugin_id, home / "plugins" / plugin_id))


def test_two_plugins_of_one_distribution_get_two_files(dists: DistFactory,
                                                       zepix_home: Path) -> None:
    _add(dists, "zepix-pair", ["pair_a", "pair_b"])
    host = _host(dists, zepix_home)
    try:
        host.start()
        assert {pid: s.state for pid, s in host.slots.items()} == {
            "pair_a": PluginState.ACTIVE, "pair_b": PluginState.ACTIVE}
        host.round()
        snap = {s["plugin_id"]: s for s in host.store.latest_snapshots()}["pair_a"]
        assert snap["db_connections_max"] == 4 and snap["db_connections_active"] == 0
        assert snap["db_queries"] >= 3 and snap["db_query_time_avg_ms"] > 0
    finally:
        host.shutdown()
        host.store.close()
    for pid in ("pair_a", "pair_b"):
        db = _db(zepix_home, pid)
        assert [t.ref for t in db.trades()] == [pid]  # each file holds only its own trade
        with db.connection() as conn:
            assert conn.execute("SELECT text FROM notes").fetchall()[0][0] == "hello"
        db.close()


@pytest.mark.slow
def test_under_process_isolation_the_database_opens_in_the_worker(
        dists: DistFactory, zepix_home: Path) -> None:
    _add(dists, "zepix-iso", ["iso"])
    host = _host(dists, zepix_home, "[host]\nisolation = \"process\"\n")
    try:
        host.start()
        slot = host.slots["iso"]
        assert slot.state is PluginState.ACTIVE
        worker = slot.runner.pid  # type: ignore[union-attr]
        host.round()  # the worker's counts reach the snapshot through the file
        (snap,) = host.store.latest_snapshots()
        assert snap["db_queries"] >= 1 and snap["db_connections_max"] == 4
    finally:
        host.shutdown()
        host.store.close()
    db = _db(zepix_home, "iso")
    trade = db.trades()[0]
    assert trade.extra["pid"] == worker and worker != os.getpid()
    db.close()


def test_requires_db_schema_met_and_unmet(dists: DistFactory, zepix_home: Path) -> None:
    _add(dists, "zepix-fits", ["fits"], ">=1.0,<2")
    _add(dists, "zepix-future", ["future"], ">=2.0")
    host = _host(dists, zepix_home)
    try:
        host.start()
        fits, future = host.slots["fits"], host.slots["future"]
        assert fits.state is PluginState.ACTIVE
        assert future.state is PluginState.REJECTED
        assert future.reason is not None
        assert "requires_db_schema '>=2.0'" in future.reason
        assert "host database schema 1.0" in future.reason
    finally:
        host.shutdown()
        host.store.close()


def test_a_corrupt_database_fails_only_its_plugin_naming_the_file(
        dists: DistFactory, zepix_home: Path) -> None:
    _add(dists, "zepix-pair", ["pair_a", "pair_b"])
    bad = database_file("pair_a", zepix_home / "plugins" / "pair_a")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"garbage, not sqlite " * 500)
    host = _host(dists, zepix_home)
    try:
        host.start()
        a, b = host.slots["pair_a"], host.slots["pair_b"]
        assert a.state is PluginState.FAILED and a.reason is not None
        assert str(bad) in a.reason and "corrupt" in a.reason
        assert b.state is PluginState.ACTIVE
    finally:
        host.shutdown()
        host.store.close()


def test_the_paper_session_records_signals_and_trades(tmp_path: Path) -> None:
    db = PluginDatabase(tmp_path / "paper.db")
    session = PaperSession("p", "1m", clock=lambda: 1_767_225_600.0)
    session.start({}, db)
    broker = session.broker
    fills = broker.enter("BTCUSD", "long", price=100.0, stop=95.0, target=110.0,
                         ts=1_767_225_600.0, reason="breakout")
    assert len(fills) == 1
    (trade,) = db.open_trades()
    assert trade.side == "buy" and trade.quantity == pytest.approx(fills[0].quantity)
    broker.check_exits(make_bar(111.0, symbol="BTCUSD", ts=1_767_225_660.0, open=105.0))
    closed = db.trade(trade.id)
    assert closed is not None and closed.close_reason == "take-profit"
    assert closed.pnl == pytest.approx(broker.realized_pnl)
    day = db.daily_stats("2026-01-01")
    assert (day.signals, day.trades_opened, day.trades_closed, day.wins) == (1, 1, 1, 1)
    broker.enter("ETHUSD", "short", price=50.0, stop=55.0, target=40.0, ts=1_767_225_700.0,
                 reason="x")
    session.start({}, db)  # a new session: positions are gone, so is the open trade
    assert db.open_trades() == []
    assert db.trades()[0].close_reason == "paper session restarted; position dropped"
    db.close()
