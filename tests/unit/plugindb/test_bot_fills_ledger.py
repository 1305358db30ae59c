"""Fills a bot reports reach the issuing paper strategy's own database as real trades."""

from __future__ import annotations

import itertools
from pathlib import Path

import zepix_core
from zepix_core import Fill, PluginDatabase
from zepix_core.loading.paths import plugin_data_dir
from zepix_core.paper._journal import Journal
from zepix_core.plugindb import database_file
from zepix_core.testing import MarketReplay


def test_a_journal_pairs_real_fills_into_round_trips(tmp_path: Path) -> None:
    db = PluginDatabase(tmp_path / "p.db")
    errors: list[str] = []
    journal = Journal(db, errors.append)
    journal.start(0.0)
    journal.executed(Fill("i1", 2.0, 100.0, 60.0, fee=0.5, symbol="BTCUSD", side="buy"))
    journal.executed(Fill("i2", 1.0, 50.0, 90.0, symbol="ETHUSD", side="sell"))
    journal.executed(Fill("i3", 2.0, 110.0, 120.0, fee=0.5, symbol="BTCUSD", side="sell"))
    journal.executed(Fill("i4", 1.0, 1.0, 130.0))  # no symbol or side: nothing to book
    trades = {t.ref: t for t in db.trades()}
    assert errors == [] and set(trades) == {"i1", "i2"}
    btc = trades["i1"]
    assert (btc.status, btc.side, btc.exit_price, btc.extra["source"]) == (
        "closed", "buy", 110.0, "bot")
    assert trades["i2"].status == "open"
    journal.start(200.0)  # a new session keeps the bot's open position, unlike paper ones
    assert [t.ref for t in db.open_trades()] == ["i2"]
    with db.connection() as conn:  # the plugin's own view of its signals table
        kinds = [r[0] for r in conn.execute("SELECT kind FROM signals ORDER BY id")]
    assert kinds == ["fill", "fill", "fill"]
    db.close()


def test_a_reported_fill_lands_in_the_plugins_database(tmp_path: Path) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("[host]\ninterval = 30\n", encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db") as host:
        intents = []
        for bars in itertools.islice(MarketReplay(seed=7), 3000):
            intents = host.feed(bars)
            if intents:
                break
        assert intents, "the bundled strategies gave no intent in 3000 replay steps"
        first = intents[0]
        host.report_fill(Fill(first.id, first.quantity, 101.0, first.bar_time + 60))
        pid = first.plugin_id
    db = PluginDatabase(database_file(pid, plugin_data_dir(pid)))
    try:
        [trade] = [t for t in db.trades() if t.extra.get("source") == "bot"]
        assert (trade.ref, trade.symbol, trade.side) == (first.id, first.symbol, first.side)
    finally:
        db.close()
